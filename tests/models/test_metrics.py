"""Lifetime metrics on hand-computed examples."""

from __future__ import annotations

import math

import numpy as np
import pytest

from voltlab.errors import DataFormatError
from voltlab.models.metrics import (
    accuracy_within,
    classification_error,
    interval_coverage,
    lifetime_metrics,
    mape,
    rmse,
)

TRUE = [100.0, 200.0, 300.0]
PRED = [110.0, 190.0, 400.0]


def test_rmse_by_hand():
    # errors 10, -10, 100 -> sqrt((100 + 100 + 10000) / 3)
    assert rmse(TRUE, PRED) == pytest.approx(math.sqrt(10200 / 3), rel=1e-12)
    assert rmse([5.0], [5.0]) == 0.0


def test_mape_by_hand():
    # 10/100, 10/200, 100/300 -> (0.1 + 0.05 + 0.3333) / 3 * 100 = 16.111 %
    assert mape(TRUE, PRED) == pytest.approx(100 * (0.1 + 0.05 + 1 / 3) / 3, rel=1e-12)


def test_accuracy_within_15_percent():
    assert accuracy_within(TRUE, PRED) == pytest.approx(2 / 3)
    # exactly 15 % off counts as accurate; 15.1 % does not
    assert accuracy_within([100.0, 1000.0], [115.0, 849.0], 0.15) == pytest.approx(0.5)
    assert accuracy_within(TRUE, PRED, tolerance=0.5) == 1.0


def test_interval_coverage_bounds_inclusive():
    y = [1.0, 2.0, 3.0, 4.0]
    lo = [0.0, 2.5, 3.0, 5.0]
    hi = [2.0, 3.0, 3.0, 6.0]
    assert interval_coverage(y, lo, hi) == pytest.approx(0.5)


def test_classification_error():
    assert classification_error([1, 0, 1, 1, 0], [1, 1, 1, 0, 0]) == pytest.approx(0.4)
    assert classification_error(np.array([True, False]), np.array([True, False])) == 0.0


def test_lifetime_metrics_keys_and_values():
    out = lifetime_metrics(TRUE, PRED, lower=[90, 150, 200], upper=[120, 250, 350])
    assert out["rmse_cycles"] == pytest.approx(math.sqrt(10200 / 3))
    assert out["accuracy_15pct"] == pytest.approx(2 / 3)
    assert out["interval_coverage"] == pytest.approx(1.0)
    assert out["interval_width_mean_cycles"] == pytest.approx((30 + 100 + 150) / 3)
    assert out["n_cells"] == 3


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: rmse([1.0, 2.0], [1.0]), "must match"),
        (lambda: rmse([], []), "empty"),
        (lambda: rmse([1.0, np.nan], [1.0, 2.0]), "non-finite"),
        (lambda: mape([0.0, 1.0], [1.0, 1.0]), "holds 0"),
        (lambda: accuracy_within([1.0], [1.0], tolerance=-0.1), "tolerance"),
        (lambda: interval_coverage([1.0], [2.0], [0.0]), "lower > upper"),
        (lambda: classification_error([1, 0], [1]), "equal length"),
        (lambda: lifetime_metrics([1.0], [1.0], lower=[0.0]), "both lower and upper"),
        (lambda: rmse(["a"], [1.0]), "numeric"),
    ],
)
def test_bad_input_raises(call, match):
    with pytest.raises(DataFormatError, match=match):
        call()
