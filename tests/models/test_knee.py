"""Knee point and knee onset (Bacon-Watts, double Bacon-Watts) on curves with known answers."""

import numpy as np
import pytest

from voltlab.errors import DataFormatError
from voltlab.models.knee import (
    bacon_watts,
    double_bacon_watts,
    fit_bacon_watts,
    fit_double_bacon_watts,
    knee_onset,
    knee_point,
)
from voltlab.models.synthetic import synthetic_fade_trajectories


def test_model_functions_hand_values():
    # a0=1, slopes -0.01 before and -0.03 after x1=10 (a1 = -0.02, a2 = -0.01)
    assert bacon_watts([0.0, 10.0, 20.0], 1.0, -0.02, -0.01, 10.0).tolist() == pytest.approx([1.1, 1.0, 0.7])
    # three lines with slopes -0.001, -0.003, -0.011 and breaks at 100 and 200:
    # a1 - a2 - a3 = -0.001, a1 + a2 - a3 = -0.003, a1 + a2 + a3 = -0.011 -> a2 = -0.001, a3 = -0.004,
    # a1 = -0.006; value at x0 = a0 + a3 |x0 - x2| = 1 - 0.4 = 0.6, then the three slopes
    y = double_bacon_watts([0.0, 100.0, 200.0, 300.0], 1.0, -0.006, -0.001, -0.004, 100.0, 200.0)
    assert y.tolist() == pytest.approx([0.7, 0.6, 0.3, -0.8])


def test_knee_point_of_noisy_piecewise_curve_within_three_cycles():
    rng = np.random.default_rng(42)
    k = np.arange(1.0, 801.0)
    q = np.where(k < 500, 1.0 - 5e-5 * k, 1.0 - 5e-5 * 500 - 1e-3 * (k - 500))
    q = q + rng.normal(0, 0.002, k.size)
    fit = fit_bacon_watts(k, q)
    assert fit.breakpoints[0] == pytest.approx(500.0, abs=3.0)
    assert fit.slopes == pytest.approx((-5e-5, -1e-3), abs=2e-5)
    assert knee_point(k, q, smooth=False) == pytest.approx(500.0, abs=3.0)


def test_knee_onset_of_three_segment_curve():
    # slope changes at 300 (onset) and 450 (the sharp knee); noise 0.1 % of capacity
    rng = np.random.default_rng(7)
    k = np.arange(1.0, 701.0)
    q = 1.0 - 4e-5 * k - 2e-4 * np.clip(k - 300, 0, None) - 1.5e-3 * np.clip(k - 450, 0, None)
    q = q + rng.normal(0, 0.001, k.size)
    fit = fit_double_bacon_watts(k, q)
    assert fit.breakpoints[0] == pytest.approx(300.0, abs=10.0)
    assert fit.breakpoints[1] == pytest.approx(450.0, abs=3.0)
    assert knee_onset(k, q) == pytest.approx(fit.breakpoints[0])
    assert fit.slopes == pytest.approx((-4e-5, -2.4e-4, -1.74e-3), abs=3e-5)
    # the single-break fit puts the knee between onset and sharp bend, nearer the bend
    assert 400 < knee_point(k, q) < 460
    assert fit.predict([0.0]).shape == (1,)


def test_smooth_knee_of_synthetic_fleet():
    """Softplus knees of width 15 cycles: Bacon-Watts recovers the true knee within 8 cycles."""
    table, params = synthetic_fade_trajectories(5, seed=3)
    for cell, rows in table.groupby("cell_id"):
        kp = knee_point(rows["cycle_count"], rows["capacity_retention"])
        onset = knee_onset(rows["cycle_count"], rows["capacity_retention"])
        assert kp == pytest.approx(params.loc[cell, "knee_cycle"], abs=8.0)
        assert onset < kp


def test_dips_do_not_move_the_knee_when_smoothed():
    k = np.arange(1.0, 401.0)
    q = np.where(k < 250, 1.0 - 1e-4 * k, 0.975 - 2e-3 * (k - 250))
    q[[60, 61, 120]] -= 0.05  # single-cycle dips well before the knee
    assert knee_point(k, q) == pytest.approx(250.0, abs=2.0)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: fit_bacon_watts([1, 2, 3], [1.0, 0.9, 0.8]), "at least 6 finite points"),
        (lambda: fit_bacon_watts(range(10), np.linspace(1, 0, 10), gamma=0.0), "gamma must be > 0"),
        (lambda: fit_double_bacon_watts(range(10), np.linspace(1, 0, 9)), "same length"),
    ],
)
def test_errors(call, match):
    with pytest.raises(DataFormatError, match=match):
        call()
