"""Robust fade rate: Theil-Sen windows, LOWESS and degradation_rate on hand-computed trajectories."""

import numpy as np
import pytest

from voltlab.errors import DataFormatError
from voltlab.models.trend import degradation_rate, lowess, rolling_theil_sen


def test_theil_sen_window_ignores_one_outlier():
    # 1.0, 0.99, ..., with cycle 7 dropped by 0.5: the median slope is still -0.01 exactly
    k = np.arange(1.0, 11.0)
    q = 1.0 - 0.01 * (k - 1)
    q[6] -= 0.5
    slope, level = rolling_theil_sen(k, q, window=10)
    assert slope[-1] == pytest.approx(-0.01, abs=1e-12)
    assert level[-1] == pytest.approx(0.91, abs=1e-12)  # value of the line at cycle 10
    assert np.isnan(slope[:2]).all()  # fewer than 3 points


def test_one_step_forecast_never_sees_the_cycle():
    k = np.arange(1.0, 21.0)
    q = 2.0 - 0.1 * k
    q[-1] = 100.0  # whatever cycle 20 holds, its forecast comes from cycles 15-19
    _, forecast = rolling_theil_sen(k, q, window=5, include_current=False)
    assert forecast[-1] == pytest.approx(2.0 - 0.1 * 20, abs=1e-12)


def test_at_gives_the_same_rows():
    rng = np.random.default_rng(0)
    k = np.arange(1.0, 101.0)
    q = 1 - 0.002 * k + rng.normal(0, 0.003, k.size)
    full = rolling_theil_sen(k, q, 15)
    part = rolling_theil_sen(k, q, 15, at=[20, 50, 99])
    for a, b in zip(full, part, strict=True):
        assert b[[20, 50, 99]] == pytest.approx(a[[20, 50, 99]], rel=1e-12)
        assert np.isnan(b[21])


def test_degradation_rate_quadratic_hand_values():
    # q = 1 - 0.001 k - 1e-5 k^2: the Theil-Sen slope of cycles 91..100 is the median pairwise
    # slope -0.001 - 1e-5 (ki + kj), median(ki + kj) = 191 -> fade rate 0.00291 /cycle, and the
    # fade rate grows by 2e-5 per cycle.
    k = np.arange(1, 101)
    out = degradation_rate(k, 1.0 - 0.001 * k - 1e-5 * k**2, window=10)
    assert out["fade_rate_per_cycle"].iloc[-1] == pytest.approx(0.00291, abs=1e-12)
    assert out["fade_rate_trend_per_cycle"].iloc[-1] == pytest.approx(2e-5, abs=1e-12)
    lo = degradation_rate(k, 1.0 - 0.001 * k - 1e-5 * k**2, method="lowess", frac=0.3)
    # LOWESS local slope of a quadratic at k = 50 is exactly the derivative 0.001 + 2e-5 * 50
    assert lo["fade_rate_per_cycle"].iloc[49] == pytest.approx(0.002, rel=1e-3)


def test_lowess_is_robust_to_a_spike():
    k = np.arange(50.0)
    y = 3.0 - 0.02 * k
    y[25] += 5.0
    fit, slope = lowess(k, y, frac=0.3, iterations=3)
    assert fit[25] == pytest.approx(3.0 - 0.5, abs=1e-3)
    assert slope[10] == pytest.approx(-0.02, abs=1e-4)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: rolling_theil_sen([1, 2, 3], [1.0, 2.0], 3), "same length"),
        (lambda: rolling_theil_sen([1, 3, 2], [1.0, 2.0, 3.0], 3), "strictly increasing"),
        (lambda: rolling_theil_sen([1, 2, 3], [1.0, 2.0, 3.0], 1), "window must be an integer >= 2"),
        (lambda: lowess([1, 2, 3], [1.0, 2.0, 3.0], frac=0.0), r"frac must be in \(0, 1\]"),
        (lambda: degradation_rate([1, 2, 3], [1.0, 0.9, 0.8], method="spline"), "method must be"),
    ],
)
def test_errors_name_the_argument(call, match):
    with pytest.raises(DataFormatError, match=match):
        call()
