"""``voltlab fastcharge``: a tiny BO budget end to end, constraints checked on the reported protocols."""

from __future__ import annotations

import json

import pytest

from voltlab.cli import main


@pytest.mark.slow
def test_fastcharge_small_budget(tmp_path, capsys, monkeypatch):
    pytest.importorskip("pybamm")
    monkeypatch.setenv("PYBAMM_DISABLE_TELEMETRY", "true")
    out = tmp_path / "fc.json"
    with pytest.raises(SystemExit) as exc:
        main(["fastcharge", "--budget", "3", "--windows", "0,40,80", "--vmax", "4.2", "--tmax", "45",
              "--fade-cycles", "2", "--out", str(out)])
    printed = capsys.readouterr().out
    assert exc.value.code == 0
    assert "CC-CV baseline" in printed and "BO multi-step" in printed and "Window search" in printed
    assert "fade after 2 cycles (%)" in printed
    r = json.loads(out.read_text())
    assert r["fade_cycles"] == 2
    for method in ("cccv", "bo"):  # SEI and plating ageing: a small positive fade, plating loss >= 0
        assert 0.0 < r[f"{method}_capacity_fade_percent"] < 5.0
        assert r[f"{method}_plating_loss_mah"] >= 0.0 and r[f"{method}_lli_percent"] > 0.0
    for method in ("cccv", "window_search", "bo"):
        assert r[f"{method}_feasible"] is True
        assert r[f"{method}_max_voltage_volt"] <= 4.2 + 1e-4
        assert r[f"{method}_max_temperature_celsius"] <= 45.0
        assert r[f"{method}_min_plating_margin_volt"] >= 0.0
        assert 20.0 < r[f"{method}_time_to_target_min"] < 120.0  # 0 -> 80 % of a 5 Ah cell at ~0.4-2.4C
    # the campaign starts from the best CC-CV rate, so its best is never slower
    assert r["bo_time_to_target_min"] <= r["cccv_time_to_target_min"] + 1e-6
    # ... and from the window search's protocol, which is > 20 % faster than CC-CV on two 40 % windows
    assert r["bo_time_to_target_min"] <= r["window_search_time_to_target_min"] + 1e-6
    assert r["window_search_speedup_vs_cccv_percent"] > 20.0 and r["window_search_simulations"] > 10
