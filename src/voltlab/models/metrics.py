"""Metrics of lifetime prediction: RMSE, MAPE, 15 %-accuracy, interval coverage, classification error.

All take arrays of equal length and raise :class:`~voltlab.errors.DataFormatError`
on empty, mismatched or non-finite input.

Examples
--------
>>> rmse([100, 200], [110, 190])
10.0
>>> round(mape([100, 200], [110, 190]), 6)
7.5
>>> accuracy_within([100, 200], [110, 250], tolerance=0.15)
0.5
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from voltlab.errors import DataFormatError

__all__ = [
    "accuracy_within",
    "classification_error",
    "interval_coverage",
    "lifetime_metrics",
    "mape",
    "rmse",
]


def _pair(y_true: npt.ArrayLike, y_pred: npt.ArrayLike, names: tuple[str, str] = ("y_true", "y_pred")
          ) -> tuple[np.ndarray, np.ndarray]:
    out = []
    for name, y in zip(names, (y_true, y_pred), strict=True):
        try:
            a = np.asarray(y, dtype=np.float64).ravel()
        except (TypeError, ValueError) as exc:
            raise DataFormatError(f"{name} must be numeric ({exc})") from exc
        if a.size == 0:
            raise DataFormatError(f"{name} is empty; pass at least one value")
        if not np.isfinite(a).all():
            raise DataFormatError(f"{name} has a non-finite value at position {int(np.flatnonzero(~np.isfinite(a))[0])}")
        out.append(a)
    if out[0].size != out[1].size:
        raise DataFormatError(f"{names[0]} has {out[0].size} values but {names[1]} has {out[1].size}; they must match")
    return out[0], out[1]


def rmse(y_true: npt.ArrayLike, y_pred: npt.ArrayLike) -> float:
    """Root-mean-square error, in the unit of the inputs (cycles for cycle life)."""
    t, p = _pair(y_true, y_pred)
    return float(np.sqrt(np.mean((p - t) ** 2)))


def mape(y_true: npt.ArrayLike, y_pred: npt.ArrayLike) -> float:
    """Mean absolute percentage error, %: 100 * mean(|pred - true| / |true|).

    Raises
    ------
    DataFormatError
        A true value is 0.
    """
    t, p = _pair(y_true, y_pred)
    if (t == 0).any():
        raise DataFormatError("y_true holds 0, so the percentage error is undefined; use rmse instead")
    return float(100.0 * np.mean(np.abs(p - t) / np.abs(t)))


def accuracy_within(y_true: npt.ArrayLike, y_pred: npt.ArrayLike, tolerance: float = 0.15) -> float:
    """Fraction of predictions within ``tolerance`` (relative) of the truth: the "15 %-accuracy".

    |pred - true| <= tolerance * |true| counts as accurate. Returns a fraction in [0, 1].
    """
    if not (np.isfinite(tolerance) and tolerance >= 0):
        raise DataFormatError(f"tolerance must be a finite fraction >= 0 (0.15 = 15 %), got {tolerance!r}")
    t, p = _pair(y_true, y_pred)
    return float(np.mean(np.abs(p - t) <= tolerance * np.abs(t) * (1 + 1e-12)))


def interval_coverage(y_true: npt.ArrayLike, lower: npt.ArrayLike, upper: npt.ArrayLike) -> float:
    """Fraction of true values inside their prediction interval [lower, upper] (bounds included).

    Raises
    ------
    DataFormatError
        Mismatched lengths, non-finite values, or a lower bound above its upper bound.
    """
    t, lo = _pair(y_true, lower, ("y_true", "lower"))
    _, hi = _pair(y_true, upper, ("y_true", "upper"))
    if (lo > hi).any():
        i = int(np.flatnonzero(lo > hi)[0])
        raise DataFormatError(f"lower > upper at position {i} ({lo[i]} > {hi[i]}); pass (lower, upper) in order")
    return float(np.mean((t >= lo) & (t <= hi)))


def classification_error(y_true: npt.ArrayLike, y_pred: npt.ArrayLike) -> float:
    """Fraction of misclassified samples (1 - accuracy); labels compared for equality.

    Examples
    --------
    >>> classification_error([1, 0, 1, 1], [1, 1, 1, 1])
    0.25
    """
    t = np.asarray(y_true).ravel()
    p = np.asarray(y_pred).ravel()
    if t.size == 0 or t.size != p.size:
        raise DataFormatError(f"y_true ({t.size}) and y_pred ({p.size}) must be non-empty and of equal length")
    return float(np.mean(t != p))


def lifetime_metrics(
    y_true: npt.ArrayLike,
    y_pred: npt.ArrayLike,
    lower: npt.ArrayLike | None = None,
    upper: npt.ArrayLike | None = None,
    *,
    tolerance: float = 0.15,
) -> dict[str, float]:
    """All regression metrics in one flat dict (units in the keys).

    Returns
    -------
    dict
        ``rmse_cycles``, ``mape_percent``, ``accuracy_15pct`` (fraction; the key
        names the tolerance: ``accuracy_<100*tolerance>pct``), ``n_cells`` and,
        with both bounds, ``interval_coverage`` (fraction) and
        ``interval_width_mean_cycles``.
    """
    out = {
        "rmse_cycles": rmse(y_true, y_pred),
        "mape_percent": mape(y_true, y_pred),
        f"accuracy_{round(100 * tolerance)}pct": accuracy_within(y_true, y_pred, tolerance),
        "n_cells": float(np.asarray(y_true).size),
    }
    if (lower is None) != (upper is None):
        raise DataFormatError("give both lower and upper interval bounds, or neither")
    if lower is not None and upper is not None:
        out["interval_coverage"] = interval_coverage(y_true, lower, upper)
        lo, hi = _pair(lower, upper, ("lower", "upper"))
        out["interval_width_mean_cycles"] = float(np.mean(hi - lo))
    return out
