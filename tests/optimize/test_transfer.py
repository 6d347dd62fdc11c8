"""Transfer from related tasks: the GP learns from another campaign's observations through task columns."""

import json

import numpy as np
import pandas as pd
import pytest

from voltlab.errors import OptimizationError
from voltlab.optimize import Campaign, Objective, Real, SearchSpace

SQUARE = SearchSpace([Real("x1", 0.0, 1.0), Real("x2", 0.0, 1.0)])
FAST = {"num_restarts": 4, "raw_samples": 128, "mc_samples": 64}


def f_target(p):
    """Li-like response: maximum 1.5 at about (0.26, 1)."""
    return float(np.sin(6 * p["x1"]) + 0.5 * p["x2"])


def f_related(p):
    """The same shape, 20 % larger and shifted: a Na analogue of the target."""
    return 1.2 * f_target(p) + 0.3


def f_unrelated(p):
    return float(np.cos(17 * p["x2"] + 3 * p["x1"]))


def _source(tmp_path, name, fn, n=30):
    camp = Campaign.create(tmp_path / f"{name}.sqlite", SQUARE, [Objective("y")], surrogate="random", seed=5)
    for s in camp.ask(n):
        camp.tell(s.id, {"y": fn(s.point)})
    camp.close()
    return tmp_path / f"{name}.sqlite"


def _target(tmp_path, name="t"):
    camp = Campaign.create(tmp_path / f"{name}.sqlite", SQUARE, [Objective("y")], n_init=4, seed=0, **FAST)
    for p in ({"x1": 0.9, "x2": 0.1}, {"x1": 0.6, "x2": 0.6}, {"x1": 0.75, "x2": 0.3}, {"x1": 0.95, "x2": 0.9}):
        camp.tell(p, {"y": f_target(p)})
    return camp


def _rmse(camp, pts):
    pred = camp.predict(pts)["y_mean"].to_numpy()
    return float(np.sqrt(np.mean((pred - np.array([f_target(p) for p in pts])) ** 2)))


def test_a_related_campaign_makes_the_target_model_far_better(tmp_path):
    test_pts = SQUARE.sample(100, seed=11)
    alone = _target(tmp_path, "alone")
    rmse_alone = _rmse(alone, test_pts)
    camp = _target(tmp_path)
    assert camp.add_related(_source(tmp_path, "sodium", f_related)) == 30
    rmse_transfer = _rmse(camp, test_pts)
    # 4 target points in one corner cannot describe sin(6 x1); 30 related points can
    assert rmse_alone > 0.4
    assert rmse_transfer < 0.35 * rmse_alone
    [s] = camp.ask(1)
    assert s.source == "qLogNEI"
    assert s.model_state["related_tasks"] == {"sodium": 30}
    assert s.model_state["task_correlation"]["y"]["sodium"] > 0.5
    # the proposal goes where the related task's maximum is (x1 = pi/12, x2 = 1), not near the 4 data
    assert abs(s.point["x1"] - np.pi / 12) < 0.12 and s.point["x2"] > 0.8
    assert SQUARE.contains(s.point)
    # a related task does not count as an observation of this campaign
    assert camp.counts()["complete"] == 4 and camp.best().values["y"] == pytest.approx(f_target({"x1": 0.95, "x2": 0.9}))


def test_an_unrelated_task_gets_a_lower_correlation_than_a_related_one(tmp_path):
    camp = _target(tmp_path)
    camp.add_related(_source(tmp_path, "related", f_related), task="related")
    camp.add_related(_source(tmp_path, "noise", f_unrelated), task="unrelated")
    [s] = camp.ask(1)
    corr = s.model_state["task_correlation"]["y"]
    assert s.model_state["related_tasks"] == {"related": 30, "unrelated": 30}
    assert corr["related"] > corr["unrelated"]
    assert len(s.model_state["hyperparameters"]["y"]["lengthscales_unit"]) == 4  # x1, x2 and two task columns


def test_related_tasks_persist_export_and_import(tmp_path):
    camp = _target(tmp_path)
    table = pd.DataFrame([{"x1": p["x1"], "x2": p["x2"], "y": f_related(p)} for p in SQUARE.sample(12, seed=2)])
    assert camp.add_related(table, task="literature") == 12
    camp.close()
    again = Campaign.open(tmp_path / "t.sqlite")
    assert [(r["task"], r["source"], r["n_observations"]) for r in again.related()] == [("literature", "table", 12)]
    out = again.export_json(tmp_path / "t.json")
    assert json.loads(out.read_text())["related"][0]["observations"][0]["values"]["y"] == pytest.approx(
        table["y"].iloc[0])
    copy = Campaign.import_json(out, tmp_path / "copy.sqlite")
    assert copy.related()[0]["n_observations"] == 12
    np.testing.assert_allclose(copy.predict([{"x1": 0.3, "x2": 0.5}]).to_numpy(),
                               again.predict([{"x1": 0.3, "x2": 0.5}]).to_numpy(), rtol=1e-9)


def test_add_related_validates_the_source(tmp_path):
    camp = _target(tmp_path)
    src = _source(tmp_path, "src", f_related, n=5)
    camp.add_related(src)
    with pytest.raises(OptimizationError, match=r"related task named 'src' is already added"):
        camp.add_related(src)
    with pytest.raises(OptimizationError, match=r"lacks columns \['y'\]"):
        camp.add_related(pd.DataFrame({"x1": [0.1], "x2": [0.2]}))
    with pytest.raises(OptimizationError, match=r"outcome 'y' is nan, not a finite number"):
        camp.add_related(pd.DataFrame({"x1": [0.1], "x2": [0.2], "y": [np.nan]}), task="nan")
    wide = pd.DataFrame({"x1": [0.1, 1.5], "x2": [0.2, 0.2], "y": [1.0, 2.0]})
    with pytest.raises(OptimizationError, match=r"related observation 1 of table .* outside this campaign's space"):
        camp.add_related(wide, task="wide")
    assert camp.add_related(wide, task="wide", outside="skip") == 1
    other = Campaign.create(tmp_path / "o.sqlite", SQUARE, [Objective("capacity")], surrogate="random")
    for s in other.ask(2):
        other.tell(s.id, {"capacity": 1.0})
    with pytest.raises(OptimizationError, match=r"lacks parameters \[\] and outcomes \['y'\]"):
        camp.add_related(other)
    rf = Campaign.create(tmp_path / "rf.sqlite", SQUARE, [Objective("y")], surrogate="rf")
    with pytest.raises(OptimizationError, match=r"related tasks need surrogate='gp'"):
        rf.add_related(src)
    with pytest.raises(OptimizationError, match=r"related observation 0 of table .* not of its type"):
        camp.add_related(pd.DataFrame({"x1": ["0.1 wt%"], "x2": [0.2], "y": [1.0]}), task="text")
    with pytest.raises(OptimizationError, match=r"cannot be its own related task"):
        camp.add_related(camp.path)
    assert [r["task"] for r in camp.related()] == ["src", "wide"]  # failed adds changed nothing


@pytest.mark.parametrize("mode", ["optimize", "explore"])
def test_related_tasks_work_with_several_objectives_constraints_batches_and_explore(tmp_path, mode, nmc_space):
    def outcomes(p, shift=0.0):
        return {"capacity": 150 + 60 * p["Ni"] + shift, "fade": 0.1 + p["Ni"] ** 2, "stability": 1.0 - p["Ni"]}

    objs = [Objective("capacity"), Objective("fade", "minimize")]
    src = Campaign.create(tmp_path / "s.sqlite", nmc_space, objs, ["stability >= 0.2"], surrogate="random", seed=3)
    for s in src.ask(16):
        src.tell(s.id, outcomes(s.point, shift=5.0))
    camp = Campaign.create(tmp_path / "t.sqlite", nmc_space, objs, ["stability >= 0.2"], n_init=3, seed=0,
                           mode=mode, **FAST)
    for s in camp.ask(3):
        camp.tell(s.id, outcomes(s.point))
    camp.add_related(src)
    batch = camp.ask(2)
    # exact outcomes: the hypervolume improvement is over the observed front (hvi_baseline "auto")
    assert {s.source for s in batch} == {"qLogEHVI" if mode == "optimize" else "max-std"}
    for s in batch:
        assert nmc_space.contains(s.point)
        assert abs(s.point["Ni"] + s.point["Co"] + s.point["Mn"] - 1.0) <= 1e-9
        assert set(s.model_state["task_correlation"]) == {"capacity", "fade", "stability"}
    assert np.linalg.norm(np.subtract(*[nmc_space.encode([s.point])[0] for s in batch])) > 1e-6
    if mode == "optimize":  # one point: the closed form, with the task columns held at 0 and the simplex kept
        for s in batch:
            camp.tell(s.id, outcomes(s.point))
        [one] = camp.ask(1)
        assert one.source == "LogEHVI" and nmc_space.contains(one.point)
        assert abs(one.point["Ni"] + one.point["Co"] + one.point["Mn"] - 1.0) <= 1e-9
        assert np.isfinite(one.model_state["acquisition_value"])
