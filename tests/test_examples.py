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
