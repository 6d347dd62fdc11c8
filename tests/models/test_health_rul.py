"""RUL: end of life, causal trajectory features, labels, and conformal coverage on held-out cells."""

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression

from voltlab.errors import DataFormatError, NotFittedError, SchemaError
from voltlab.models.conformal import GroupConformalRegressor, weighted_quantile
from voltlab.models.rul import RULRegressor, end_of_life_cycle, rul_dataset, trajectory_features
from voltlab.models.synthetic import synthetic_fade_trajectories


def test_end_of_life_first_crossing_and_censoring():
    k = [1, 2, 3, 4, 5, 6]
    q = [1.5, 1.45, 1.39, 1.41, 1.38, 1.30]
    assert end_of_life_cycle(k, q, 1.4) == 3.0
    assert end_of_life_cycle(k, q, 1.4, consecutive=2) == 5.0  # cycle 3 was a dip
    assert np.isnan(end_of_life_cycle(k, q, 1.0))  # never reached: censored


def test_trajectory_features_hand_values():
    # linear fade 0.01/cycle from 1.00 at cycle 0: at cycle 30 level 0.70, threshold 0.5 -> 20 cycles
    k = np.arange(1, 31)
    f = trajectory_features(k, 1.0 - 0.01 * k, threshold=0.5, window=10)
    last = f.iloc[-1]
    assert last["capacity_level"] == pytest.approx(0.70, abs=1e-12)
    assert last["capacity_initial"] == pytest.approx(0.97, abs=1e-12)  # median of cycles 1-5
    assert last["fade_rate_per_cycle"] == pytest.approx(0.01, abs=1e-12)
    assert last["fade_rate_long_per_cycle"] == pytest.approx(0.01, abs=1e-12)
    assert last["fade_rate_trend_per_cycle"] == pytest.approx(0.0, abs=1e-12)
    assert last["rul_linear_cycles"] == pytest.approx(20.0, abs=1e-9)
    assert last["rul_quadratic_cycles"] == pytest.approx(20.0, abs=1e-9)
    assert last["capacity_lost_fraction"] == pytest.approx(1 - 0.70 / 0.97, abs=1e-12)
    assert f.iloc[:2].drop(columns="cycle_count").isna().all(axis=None)  # < 3 points


def test_quadratic_extrapolation_of_accelerating_fade():
    # q = 1 - 1e-4 k^2 reaches 0.5 at k = sqrt(5000) = 70.71; from cycle 40 that is 30.71 cycles.
    # The Theil-Sen slope of a parabola over cycles 31-40 is the derivative at the window's middle
    # (35.5): fade rate 0.0071 instead of 0.0080 at cycle 40, so the quadratic extrapolation
    # lags and overestimates the RUL by about 2 cycles; the linear one by far more.
    k = np.arange(1, 41)
    f = trajectory_features(k, 1.0 - 1e-4 * k**2, threshold=0.5, window=10).iloc[-1]
    assert f["fade_rate_per_cycle"] == pytest.approx(2e-4 * 35.5, rel=1e-9)
    assert f["fade_rate_trend_per_cycle"] == pytest.approx(2e-4, rel=1e-9)
    true_rul = np.sqrt(5000) - 40
    assert true_rul < f["rul_quadratic_cycles"] < true_rul + 3
    assert f["rul_linear_cycles"] > true_rul + 10  # linear ignores the acceleration


def test_causality_future_cycles_do_not_change_features():
    table, _ = synthetic_fade_trajectories(1, seed=3)
    k, q = table["cycle_count"].to_numpy(), table["capacity_retention"].to_numpy()
    full = trajectory_features(k, q, threshold=0.8)
    cut = trajectory_features(k[:300], q[:300], threshold=0.8)
    pd.testing.assert_frame_equal(full.iloc[:300], cut)


def test_rul_dataset_labels_and_censoring():
    k = np.arange(1, 61)
    table = pd.concat([
        pd.DataFrame({"cell_id": "fast", "cycle_count": k, "q": 1.0 - 0.01 * k}),   # below 0.75 at 26
        pd.DataFrame({"cell_id": "slow", "cycle_count": k, "q": 1.0 - 0.001 * k}),  # never
    ])
    ds = rul_dataset(table, threshold=0.75, capacity_column="q", window=5)
    assert ds.eol_cycles == {"fast": 26.0}
    assert ds.censored == ("slow",)
    # fade rates exist from cycle 3 (3 points); their trend needs 3 rates: first row is cycle 5
    assert ds.X["cycle_count"].iloc[0] == 5
    assert ds.y.tolist() == [26 - c for c in range(5, 27)]
    assert set(ds.groups) == {"fast"}
    with pytest.raises(SchemaError, match="capacity_column="):
        rul_dataset(table, threshold=0.75)
    with pytest.raises(DataFormatError, match="no cell reaches"):
        rul_dataset(table, threshold=0.01, capacity_column="q")


def test_weighted_quantile_and_cell_weighting():
    assert weighted_quantile([3.0, 1.0, 2.0], [1, 1, 1], 2 / 3) == 2.0
    assert weighted_quantile([1.0, 2.0], [1, 1], 1.01) == np.inf
    # two cells: one with 9 small errors, one with a single large one; by cell they weigh 50/50
    x = np.arange(10.0).reshape(-1, 1)
    y = np.r_[np.zeros(9), 0.0]
    groups = np.array(["train"] * 2 + ["a"] * 7 + ["b"])
    y[2:9] = 0.1  # cell a: |error| 0.1 under a zero model
    y[9] = 1.0    # cell b: |error| 1.0
    model = GroupConformalRegressor(LinearRegression(fit_intercept=False), alpha=0.4)
    x0 = np.zeros_like(x)  # the model predicts 0 everywhere
    model.fit(x0, y, groups, calibration_groups=["a", "b"])
    assert model.scores_.tolist() == pytest.approx([0.1] * 7 + [1.0])
    # level 0.6 * (1 + 1/8) = 0.675 of the cell-weighted scores: cell a holds 0.5 -> 1.0
    assert model.quantile_ == pytest.approx(1.0)
    unweighted = GroupConformalRegressor(LinearRegression(fit_intercept=False), alpha=0.4,
                                         group_weighting=False).fit(x0, y, groups, calibration_groups=["a", "b"])
    assert unweighted.quantile_ == pytest.approx(0.1)  # 7 of 8 samples are 0.1
    assert model.predict_interval([[0.0]]).tolist() == [[-1.0, 1.0]]
    bounded = GroupConformalRegressor(LinearRegression(fit_intercept=False), alpha=0.4, target_bounds=(0.0, None))
    bounded.fit(x0, y, groups, calibration_groups=["a", "b"])
    assert bounded.predict_interval([[0.0]]).tolist() == [[0.0, 1.0]]  # e.g. RUL cannot be negative


def test_jackknife_plus_on_a_hand_made_fleet():
    # 11 cells, y = 2 x + o with cell offsets o = -1, -0.8, ..., 1. Leaving cell i out, least
    # squares fits the intercept -o_i/10 (mean of the other offsets), so its residuals are 1.1 o_i
    # and mu_{-i}(0.5) = 1 - o_i/10. With 11 equally weighted cells the jackknife+ level
    # 0.9 (1 + 1/55) picks the extremes: lower = min(1 - o/10 - 1.1|o|) = -0.2, upper = 2.2.
    offsets = np.linspace(-1.0, 1.0, 11)
    x = np.tile(np.linspace(0, 1, 5), offsets.size).reshape(-1, 1)
    groups = np.repeat([f"c{i}" for i in range(offsets.size)], 5)
    y = 2 * x.ravel() + np.repeat(offsets, 5)
    model = GroupConformalRegressor(LinearRegression(), method="jackknife+", alpha=0.1).fit(x, y, groups)
    assert model.scores_.max() == pytest.approx(1.1)
    assert model.predict([[0.5]])[0] == pytest.approx(1.0, abs=1e-9)
    assert model.predict_interval([[0.5]])[0].tolist() == pytest.approx([-0.2, 2.2])
    # at 50 % the 6th of 11 sorted bounds: lower 1 - o/10 - 1.1|o| sorted -> o = +-0 .. gives 0.78
    lo, hi = model.predict_interval([[0.5]], alpha=0.5)[0]
    assert lo < 1.0 < hi
    assert len(model.fold_models_) == offsets.size


@pytest.mark.parametrize(
    ("kwargs", "fit_kwargs", "match"),
    [
        ({"alpha": 1.5}, {}, r"alpha must be in \(0, 1\)"),
        ({"method": "cqr"}, {}, "method must be"),
        ({"calibration_size": 1.0}, {}, "calibration_size must be"),
        ({"calibration_size": 4}, {}, "leaves no training cell"),
        ({}, {"calibration_groups": ["zz"]}, "not in groups"),
        ({"method": "jackknife+"}, {"calibration_groups": ["a"]}, "only used by method='split'"),
        ({"target_bounds": (1.0, 0.0)}, {}, "low < high"),
    ],
)
def test_conformal_errors(kwargs, fit_kwargs, match):
    x = np.arange(8.0).reshape(-1, 1)
    groups = np.repeat(["a", "b", "c", "d"], 2)
    with pytest.raises(DataFormatError, match=match):
        GroupConformalRegressor(LinearRegression(), **kwargs).fit(x, x.ravel(), groups, **fit_kwargs)


def test_conformal_needs_groups_and_fit():
    x = np.arange(8.0).reshape(-1, 1)
    with pytest.raises(DataFormatError, match="groups"):
        GroupConformalRegressor(LinearRegression()).fit(x, x.ravel(), None)
    with pytest.raises(NotFittedError, match="call fit first"):
        GroupConformalRegressor().predict_interval(x)


def test_rul_interval_coverage_on_held_out_cells():
    """90 % split-conformal RUL intervals cover 85-95 % of held-out cells' cycles.

    240 synthetic knee-shaped cells (fixed seed): 40 train the boosted trees, 100 calibrate
    (whole cells), 100 are only used here. Every 10th cycle up to end of life is a prediction
    point. Deterministic: fixed seeds everywhere. (Over seeds 0-5 the cell-averaged coverage
    ranged 0.849-0.920, mean 0.893; the intervals are calibrated, not tuned to this seed.)
    """
    table, _ = synthetic_fade_trajectories(240, seed=0)
    ds = rul_dataset(table, threshold=0.8, capacity_column="capacity_retention", step=10)
    cells = np.unique(ds.groups)
    fit_rows = np.isin(ds.groups, cells[:140])
    model = GroupConformalRegressor(
        RULRegressor(n_estimators=100, random_state=0), alpha=0.1, score="relative",
        calibration_size=100, random_state=0,
    ).fit(ds.X[fit_rows], ds.y[fit_rows], ds.groups[fit_rows])
    assert model.calibration_groups_.size == 100
    assert not set(model.calibration_groups_) & set(cells[140:])
    assert model.level_ == pytest.approx(0.9 * (1 + 1 / 100))  # finite-sample correction by cells
    test = ~fit_rows
    for alpha, nominal in ((0.1, 0.9), (0.2, 0.8)):
        iv = model.predict_interval(ds.X[test], alpha=alpha)
        covered = (ds.y[test] >= iv[:, 0]) & (ds.y[test] <= iv[:, 1])
        per_cell = pd.Series(covered).groupby(ds.groups[test]).mean()
        assert per_cell.size == 100
        assert covered.mean() == pytest.approx(nominal, abs=0.05)
        assert per_cell.mean() == pytest.approx(nominal, abs=0.05)
    # the point model is accurate near end of life, where the knee has shown itself
    err = model.predict(ds.X[test]) - ds.y[test]
    late = ds.y[test] <= 100
    assert np.sqrt(np.mean(err[late] ** 2)) < 20.0


def test_rul_regressor_protocol():
    with pytest.raises(NotFittedError, match="call fit first"):
        RULRegressor().predict([[1.0]])
    with pytest.raises(DataFormatError, match="RUL must be >= 0"):
        RULRegressor().fit([[0.0], [1.0]], [5.0, -1.0])
    m = RULRegressor(n_estimators=20).fit([[0.0], [1.0], [2.0]], [10.0, 5.0, 0.0])
    with pytest.raises(DataFormatError, match=r"shape \(n, 1\)"):
        m.predict([[1.0, 2.0]])
    assert m.predict([[2.0]])[0] >= 0.0  # expm1 of a log-scale fit of non-negative targets
