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
              "--out", str(out)])
    printed = capsys.readouterr().out
    assert exc.value.code == 0
    assert "CC-CV baseline" in printed and "BO multi-step" in printed
    r = json.loads(out.read_text())
    for method in ("cccv", "bo"):
        assert r[f"{method}_feasible"] is True
        assert r[f"{method}_max_voltage_volt"] <= 4.2 + 1e-4
        assert r[f"{method}_max_temperature_celsius"] <= 45.0
        assert r[f"{method}_min_plating_margin_volt"] >= 0.0
        assert 20.0 < r[f"{method}_time_to_target_min"] < 120.0  # 0 -> 80 % of a 5 Ah cell at ~0.4-2.4C
    # the campaign starts from the best CC-CV rate, so its best is never slower
    assert r["bo_time_to_target_min"] <= r["cccv_time_to_target_min"] + 1e-6
