"""The runnable examples run, and show what they claim (small settings)."""

import importlib.util
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _load(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_transfer_example_reaches_the_optimum_sooner_with_the_related_campaign(tmp_path, capsys):
    ex = _load("transfer_campaign")
    best = ex.main(tmp_path, 4, num_restarts=4, raw_samples=128, mc_samples=64)
    assert "fitted Li/Na correlation" in capsys.readouterr().out
    # same seed, same first two (initial) points; then the Li data lead straight to the Na optimum
    assert best["alone"][:2] == best["transfer"][:2]
    assert best["transfer"][-1] >= ex.BEST_NA - 0.02
    assert best["transfer"][-1] > best["alone"][-1] + 0.1
    assert best["transfer"][-1] == pytest.approx(max(best["transfer"]))


def test_electrode_example_predicts_the_unseen_olivines_in_redox_order(shared_file, capsys):
    """All 62 LiMPO4 rows held out: the predicted voltages follow Fe < Mn < Co < Ni as the DFT values do,
    each within 0.5 V of its metal's DFT median and inside its 90 % interval."""
    ex = _load("electrode_voltage")
    out = ex.main(shared_file("materials_project_insertion_electrodes", "mp_batteries.csv"), n_estimators=150)
    printed = capsys.readouterr().out
    assert "62 olivine rows held out" in printed and "largest mean |SHAP|" in printed
    pred = [out[m]["predicted_volt"] for m in ("LiFePO4", "LiMnPO4", "LiCoPO4", "LiNiPO4")]
    assert pred == sorted(pred)
    for m in ("LiFePO4", "LiMnPO4", "LiCoPO4", "LiNiPO4"):
        r = out[m]
        assert abs(r["predicted_volt"] - r["dft_median_volt"]) < 0.5, m
        assert r["lower_volt"] <= r["dft_median_volt"] <= r["upper_volt"], m
    assert out["held_out"]["mae_volt"] < 0.4
