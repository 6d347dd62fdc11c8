"""Early-life cycle-life prediction on a store: end of life, voltage grid, fit, intervals, model files.

The synthetic fleet (voltlab.models.synthetic_cycling_fleet) has a known law:
log10 var ΔQ(V) falls linearly with log10 cycle life, plus log-normal noise.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from voltlab.data.store import Store
from voltlab.errors import DataFormatError, MissingFileError, NotFittedError
from voltlab.models.early_life import (
    EarlyLifeConfig,
    EarlyLifePredictor,
    common_voltage_grid,
    cycle_life,
    early_life_table,
)
from voltlab.models.synthetic import synthetic_cycling_fleet

WINDOW = 30
CFG = EarlyLifeConfig(window_cycles=WINDOW, feature_set="variance", method="linear", interval_cv=5)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    cells, truth = synthetic_cycling_fleet(24, seed=3, window_cycles=WINDOW, life_range_cycles=(150, 450),
                                           points_per_discharge=40)
    store = Store(tmp_path_factory.mktemp("fleet") / "store")
    for c in cells:
        store.add(c)
    return store, cells, truth


def test_cycle_life_by_hand():
    s = pd.DataFrame({"cycle_count": [1, 2, 3, 4, 5, 6],
                      "discharge_capacity_ah": [2.0, 1.9, 1.55, 1.7, 1.58, 1.5]})
    # nominal 2 Ah: below 1.6 Ah at cycles 3, 5, 6; two in a row first at 5
    assert cycle_life(s, nominal_capacity_ah=2.0) == (5.0, 2.0, 6)
    assert cycle_life(s, nominal_capacity_ah=2.0, consecutive=1)[0] == 3.0
    # no nominal: the reference is the best of the first 10 cycles (2.0 Ah here)
    assert cycle_life(s, nominal_capacity_ah=0.0, eol_fraction=0.9, consecutive=1)[0] == 3.0
    life, ref, last = cycle_life(s, nominal_capacity_ah=1.0)  # never below 0.8 Ah: censored
    assert np.isnan(life) and ref == 1.0 and last == 6
    with pytest.raises(DataFormatError, match="discharge capacity > 0"):
        cycle_life(s.assign(discharge_capacity_ah=0.0))


def test_fleet_lives_match_the_generator(fleet):
    store, _, truth = fleet
    table = early_life_table(store, CFG)
    assert len(table.known) == 24 and not table.skipped
    # measured on the noisy capacity with 2 consecutive cycles: within a few cycles of the noiseless life
    diff = table.cells.loc[truth.index, "cycle_life"] - truth["cycle_life"]
    assert diff.abs().max() <= 5


def test_common_grid_is_inside_every_early_discharge(fleet):
    _, cells, _ = fleet
    grid = common_voltage_grid(cells, WINDOW, 200)
    assert grid.size == 200 and grid[0] > grid[-1]  # descending, as Severson's
    for c in cells:
        ts = c.timeseries
        d = ts[(ts["cycle_count"] <= WINDOW) & (ts["current_ampere"] < 0)]
        per = d.groupby("cycle_count")["voltage_volt"].agg(["min", "max"])
        assert grid[0] <= per["max"].min() + 1e-12 and grid[-1] >= per["min"].max() - 1e-12


def test_grid_refuses_cells_that_do_not_overlap(fleet):
    _, cells, _ = fleet
    shifted = cells[0].timeseries.copy()
    shifted["voltage_volt"] += 5.0
    other = type(cells[0])(shifted, cells[0].metadata)
    with pytest.raises(DataFormatError, match="do not overlap"):
        common_voltage_grid([cells[1], other], WINDOW)


def test_fit_predicts_held_out_cells_far_better_than_the_mean(fleet):
    store, _, _ = fleet
    table = early_life_table(store, CFG)
    ids = sorted(table.known)
    train, test = ids[:16], ids[16:]
    model = EarlyLifePredictor(CFG).fit_table(table, train, test)
    m = model.evaluate_table(table)
    y = table.cells.loc[test, "cycle_life"].to_numpy()
    y_train = table.cells.loc[train, "cycle_life"].to_numpy()
    baseline = float(np.sqrt(np.mean((y - y_train.mean()) ** 2)))
    assert m["n_cells"] == 8
    assert m["rmse_cycles"] < 0.35 * baseline  # the early signal carries the life
    assert m["mape_percent"] < 12
    pred = model.predict_table(table)
    assert (pred["lower_cycles"] < pred["predicted_life_cycles"]).all()
    assert (pred["predicted_life_cycles"] < pred["upper_cycles"]).all()
    assert pred.loc[train, "in_training"].all() and not pred.loc[test, "in_training"].any()
    # the model's slope has the sign of the law: more ΔQ variance, shorter life
    feats = table.features.loc[test].iloc[:, 0].to_numpy()
    order = np.argsort(feats)
    assert pred.loc[np.asarray(test)[order], "predicted_life_cycles"].is_monotonic_decreasing


def test_evaluate_refuses_training_cells(fleet):
    store, _, _ = fleet
    table = early_life_table(store, CFG)
    ids = sorted(table.known)
    model = EarlyLifePredictor(CFG).fit_table(table, ids[:16], ids[16:])
    with pytest.raises(DataFormatError, match="would leak"):
        model.evaluate_table(table, [ids[0], ids[20]])


def test_model_file_round_trip_and_tamper_check(fleet, tmp_path):
    store, _, _ = fleet
    model = EarlyLifePredictor(CFG).fit_store(store, test_cells=["fleet000", "fleet001"])
    path = model.save(tmp_path / "m.json")
    again = EarlyLifePredictor.load(path)
    t1, t2 = model.table(store), again.table(store)
    np.testing.assert_allclose(again.predict_table(t2)["predicted_life_cycles"],
                               model.predict_table(t1)["predicted_life_cycles"], rtol=1e-9)
    assert again.test_cells_ == ["fleet000", "fleet001"] and "fleet000" not in again.train_cells_
    d = json.loads(path.read_text())
    d["train_predictions_cycles"][0] *= 1.01
    path.write_text(json.dumps(d))
    with pytest.raises(DataFormatError, match="does not reproduce"):
        EarlyLifePredictor.load(path)
    path.write_text(json.dumps({"format": "something else"}))
    with pytest.raises(DataFormatError, match="not a voltlab early-life model"):
        EarlyLifePredictor.load(path)
    path.write_text("{not json")
    with pytest.raises(DataFormatError, match="not a JSON model file"):
        EarlyLifePredictor.load(path)
    with pytest.raises(MissingFileError, match="no such model file"):
        EarlyLifePredictor.load(tmp_path / "absent.json")


def test_short_cells_are_skipped_with_a_reason(fleet):
    store, _, _ = fleet
    long_window = EarlyLifeConfig(window_cycles=1000, feature_set="variance", method="linear")
    with pytest.raises(DataFormatError, match="early window needs 1000"):
        early_life_table(store, long_window)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"window_cycles": 2}, "window_cycles must be an integer >= 3"),
    ({"feature_set": "all"}, "feature_set must be one of"),
    ({"method": "svm"}, "method must be one of"),
    ({"eol_fraction": 80}, "eol_fraction must be a fraction"),
    ({"coverage": 1.0}, "coverage must be a fraction"),
])
def test_config_validation(kwargs, match):
    with pytest.raises(DataFormatError, match=match):
        EarlyLifeConfig(**kwargs)


def test_unfitted_and_unknown_cells(fleet):
    store, _, _ = fleet
    with pytest.raises(NotFittedError, match="fit_store"):
        EarlyLifePredictor(CFG).predict_table(None)
    with pytest.raises(DataFormatError, match="not in the store"):
        early_life_table(store, CFG, ["nope"])
    with pytest.raises(DataFormatError, match="training cell"):
        EarlyLifePredictor(CFG).fit_store(store, ["fleet000", "fleet001"])
