"""evaluate_batches: parallel evaluation of campaign batches, failures recorded, pending resumed."""

from __future__ import annotations

import pytest

from voltlab.errors import OptimizationError
from voltlab.optimize import Campaign, Objective, Real, SearchSpace
from voltlab.optimize.batch import evaluate_batches


def _bowl(p: dict) -> dict:
    if p["x"] > 0.9:
        raise ValueError("simulated cell failed")
    return {"y": (p["x"] - 0.3) ** 2 + (p["z"] - 0.6) ** 2}


def _campaign(tmp_path, name: str) -> Campaign:
    space = SearchSpace([Real("x", 0.0, 1.0), Real("z", 0.0, 1.0)])
    return Campaign.create(tmp_path / name, space, [Objective("y", "minimize")], seed=3, n_init=16)


def test_serial_and_process_give_the_same_outcomes(tmp_path):
    a, b = _campaign(tmp_path, "a.sqlite"), _campaign(tmp_path, "b.sqlite")
    told_a = evaluate_batches(a, _bowl, n_batches=3, batch_size=4, backend="serial")
    told_b = evaluate_batches(b, _bowl, n_batches=3, batch_size=4, backend="process", workers=2)
    assert len(told_a) == len(told_b) == 12
    by_id = {s.id: s for s in told_b}
    for s in told_a:  # same seed, same Sobol points, same outcomes whatever the completion order
        t = by_id[s.id]
        assert t.point == s.point and t.status == s.status and t.values == s.values
    counts = a.counts()
    failed = [s for s in a.suggestions() if s.point["x"] > 0.9]
    assert counts["pending"] == 0 and counts["failed"] == len(failed) and counts["complete"] == 12 - len(failed)
    assert all(s.status == "failed" and "ValueError: simulated cell failed" in s.reason for s in failed)
    best = a.best()
    assert best.values["y"] == pytest.approx(min(s.values["y"] for s in told_a if s.status == "complete"))


def test_pending_points_of_a_crashed_run_are_evaluated_first(tmp_path):
    c = _campaign(tmp_path, "c.sqlite")
    left = c.ask(2)  # asked, never told: as after a crash
    told = evaluate_batches(c, _bowl, n_batches=1, batch_size=3, backend="serial")
    assert [s.id for s in told[:2]] == [s.id for s in left]
    assert len(told) == 5 and c.counts()["pending"] == 0


def test_bad_settings_and_outcomes(tmp_path):
    c = _campaign(tmp_path, "d.sqlite")
    with pytest.raises(OptimizationError, match="n_batches must be a positive integer"):
        evaluate_batches(c, _bowl, n_batches=0, batch_size=2)
    with pytest.raises(OptimizationError, match="must return a mapping of outcome name"):
        evaluate_batches(c, lambda p: "high", n_batches=1, batch_size=1, backend="serial")
