"""Robust per-cycle trends of a degradation trajectory: Theil-Sen windows and LOWESS.

Shared by the degradation-rate estimator, the RUL trajectory features and the
anomaly detector's trajectory model.

``rolling_theil_sen``
    For every cycle *k*, the Theil-Sen line (median of pairwise slopes,
    median intercept; Theil 1950, Sen 1968) through the ``window`` cycles
    that end at *k* (``include_current=True``) or just before it (``False``,
    a one-step-ahead forecast that never sees the cycle it predicts). Up to
    29 % of the points of a window can be outliers without moving the line,
    so single-cycle capacity dips or regeneration jumps do not bend it.
``lowess``
    Locally weighted linear regression (Cleveland 1979) with tricube weights
    over the ``frac`` nearest cycles and bisquare robustness iterations. It
    returns the smoothed value and the local slope at each cycle. It is
    centred, so it uses later cycles too (for analysis, not forecasting).
``degradation_rate``
    The fade rate per cycle (negative slope of capacity vs cycle) and its
    trend (change of the fade rate per cycle, i.e. the curvature of the
    trajectory) with either method.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from voltlab.errors import DataFormatError

__all__ = ["degradation_rate", "lowess", "rolling_theil_sen"]

_MAX_PAIRS_CELLS = 20_000_000  # elements of the (n, pairs) slope matrix computed at once


def _as_trajectory(
    cycles: npt.ArrayLike, values: npt.ArrayLike, *, name: str = "capacity"
) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(cycles, dtype=np.float64).ravel()
    y = np.asarray(values, dtype=np.float64).ravel()
    if x.shape != y.shape:
        raise DataFormatError(
            f"cycles and {name} must have the same length, got {x.size} and {y.size}", value=(x.size, y.size)
        )
    if x.size == 0:
        raise DataFormatError(f"cycles and {name} are empty; pass at least one cycle", value=0)
    if not np.isfinite(x).all():
        raise DataFormatError("cycles must be finite numbers; drop rows without a cycle number", value="nan")
    if x.size > 1 and not (np.diff(x) > 0).all():
        raise DataFormatError(
            "cycles must be strictly increasing; sort the trajectory by cycle and drop duplicate cycles",
            value="not increasing",
        )
    return x, y


def _check_window(window: int, minimum: int = 2) -> int:
    if isinstance(window, bool) or not isinstance(window, (int, np.integer)) or window < minimum:
        raise DataFormatError(f"window must be an integer >= {minimum} (cycles), got {window!r}", value=window)
    return int(window)


def rolling_theil_sen(
    cycles: npt.ArrayLike,
    values: npt.ArrayLike,
    window: int = 20,
    *,
    include_current: bool = True,
    min_points: int = 3,
    at: npt.ArrayLike | None = None,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Trailing-window Theil-Sen line at every cycle (uses no later cycle).

    Parameters
    ----------
    cycles
        Cycle numbers, shape (n,), strictly increasing.
    values
        The trajectory (e.g. capacity, Ah), shape (n,); NaN values are ignored.
    window
        Number of cycles (rows) in each window.
    include_current
        True: the window ends at cycle *k* (a smoother). False: it ends at
        *k - 1*, so the line is a forecast for *k* made without it.
    min_points
        Fewer finite points than this in a window gives NaN.
    at
        Row positions (0-based) where the line is wanted; default all. Other
        rows are NaN. Cost is O(len(at) * window²).

    Returns
    -------
    slope, level
        Arrays of shape (n,): the slope (value units per cycle) of the window's
        line and its value at cycle *k* (the fit, or the one-step forecast).

    Examples
    --------
    >>> slope, level = rolling_theil_sen([1, 2, 3, 4, 5], [10.0, 9.0, 8.0, 0.0, 6.0], window=5)
    >>> float(slope[-1]), float(level[-1])
    (-1.0, 6.0)
    """
    x, y = _as_trajectory(cycles, values, name="values")
    w = _check_window(window)
    if min_points < 2:
        raise DataFormatError(f"min_points must be >= 2, got {min_points}", value=min_points)
    n = x.size
    pad = w if not include_current else w - 1
    xp = np.r_[np.full(pad, np.nan), x]
    yp = np.r_[np.full(pad, np.nan), y]
    from numpy.lib.stride_tricks import sliding_window_view

    rows_at = np.arange(n) if at is None else np.asarray(at, dtype=np.int64).ravel()
    if rows_at.size and (rows_at.min() < 0 or rows_at.max() >= n):
        raise DataFormatError(f"at must hold row positions in [0, {n}), got {rows_at.min()}..{rows_at.max()}")
    xw = sliding_window_view(xp, w)[:n]
    yw = sliding_window_view(yp, w)[:n]
    i, j = np.triu_indices(w, k=1)
    slope = np.full(n, np.nan)
    level = np.full(n, np.nan)
    chunk = max(1, _MAX_PAIRS_CELLS // max(1, i.size))
    for start in range(0, rows_at.size, chunk):
        pos = rows_at[start : start + chunk]
        xs, ys = xw[pos], yw[pos]
        good = np.isfinite(xs) & np.isfinite(ys)
        enough = good.sum(axis=1) >= min_points
        if not enough.any():
            continue
        with np.errstate(invalid="ignore", divide="ignore"):
            s = (ys[:, j] - ys[:, i]) / (xs[:, j] - xs[:, i])
        s[~(good[:, i] & good[:, j])] = np.nan
        rows = np.flatnonzero(enough)
        full = good[rows].all(axis=1)
        b = np.empty(rows.size)
        a = np.empty(rows.size)
        # np.median on complete windows (fast); nanmedian only where a window has gaps
        for sel, med in ((full, np.median), (~full, np.nanmedian)):
            if not sel.any():
                continue
            r = rows[sel]
            b[sel] = med(s[r], axis=1)
            resid = ys[r] - b[sel, None] * xs[r]
            if med is np.nanmedian:
                resid[~good[r]] = np.nan
            a[sel] = med(resid, axis=1)
        idx = pos[rows]
        slope[idx] = b
        level[idx] = a + b * x[idx]
    return slope, level


def lowess(
    cycles: npt.ArrayLike,
    values: npt.ArrayLike,
    *,
    frac: float = 0.25,
    iterations: int = 2,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Robust LOWESS (local linear, tricube weights, bisquare iterations), with local slopes.

    Parameters
    ----------
    cycles
        Cycle numbers, shape (n,), strictly increasing.
    values
        Trajectory, shape (n,); NaN values get a fitted value but do not weigh.
    frac
        Fraction of the finite points in each local fit, in (0, 1].
    iterations
        Robustness iterations (Cleveland 1979 uses 2-3; 0 is plain LOWESS).

    Returns
    -------
    fitted, slope
        Shape (n,): the smoothed value and the local slope (units per cycle).

    Examples
    --------
    >>> fit, slope = lowess(range(10), [2.0 * k + 1 for k in range(10)], frac=0.5)
    >>> [round(float(v), 6) for v in (fit[3], slope[3])]
    [7.0, 2.0]
    """
    x, y = _as_trajectory(cycles, values, name="values")
    if not 0 < frac <= 1:
        raise DataFormatError(f"frac must be in (0, 1], got {frac!r}", value=frac)
    if iterations < 0:
        raise DataFormatError(f"iterations must be >= 0, got {iterations!r}", value=iterations)
    ok = np.isfinite(y)
    xo, yo = x[ok], y[ok]
    m = xo.size
    if m < 3:
        raise DataFormatError(f"lowess needs at least 3 finite values, got {m}", value=m)
    r = min(m, max(3, int(np.ceil(frac * m))))
    # neighbourhood radius of every target point: distance to its r-th nearest finite point
    dist = np.abs(x[:, None] - xo[None, :])
    h = np.partition(dist, r - 1, axis=1)[:, r - 1]
    h = np.where(h > 0, h * 1.0000001, 1.0)
    base = np.clip(1.0 - (dist / h[:, None]) ** 3, 0.0, None) ** 3
    robust = np.ones(m)
    fitted = slope = np.full(x.size, np.nan)
    for it in range(iterations + 1):
        w = base * robust[None, :]
        sw = w.sum(axis=1)
        mx = (w * xo).sum(axis=1) / sw
        my = (w * yo).sum(axis=1) / sw
        dx = xo[None, :] - mx[:, None]
        sxx = (w * dx * dx).sum(axis=1)
        sxy = (w * dx * (yo[None, :] - my[:, None])).sum(axis=1)
        slope = np.where(sxx > 0, sxy / np.where(sxx > 0, sxx, 1.0), 0.0)
        fitted = my + slope * (x - mx)
        if it == iterations:
            break
        res = yo - fitted[ok]
        s = np.median(np.abs(res))
        if s <= 0:
            break
        robust = np.clip(1.0 - (res / (6.0 * s)) ** 2, 0.0, None) ** 2
    return fitted, slope


def degradation_rate(
    cycles: npt.ArrayLike,
    capacity: npt.ArrayLike,
    *,
    window: int = 20,
    method: Literal["theil_sen", "lowess"] = "theil_sen",
    frac: float = 0.25,
) -> pd.DataFrame:
    """Per-cycle fade rate and its trend, estimated robustly.

    Parameters
    ----------
    cycles
        Cycle numbers, shape (n,), strictly increasing.
    capacity
        Capacity (Ah) or retention (fraction) per cycle, shape (n,).
    window
        ``"theil_sen"``: cycles in the trailing window of both the capacity
        line and the line fitted through the fade rates (causal: cycle *k*
        uses cycles up to *k* only).
    method
        ``"theil_sen"`` (trailing windows, causal) or ``"lowess"`` (centred
        robust local-linear smoother, uses later cycles).
    frac
        LOWESS span as a fraction of the cycles.

    Returns
    -------
    pandas.DataFrame
        One row per cycle: ``cycle_count``; ``capacity_trend`` (the smoothed
        capacity, input units); ``fade_rate_per_cycle`` (capacity lost per
        cycle, input units/cycle, positive while fading); and
        ``fade_rate_trend_per_cycle`` (change of the fade rate per cycle,
        input units/cycle²; positive = accelerating fade, as before a knee).
        The first ``min(3, window)`` rows of the Theil-Sen estimate are NaN.

    Examples
    --------
    >>> import numpy as np
    >>> k = np.arange(1, 101)
    >>> out = degradation_rate(k, 1.0 - 0.001 * k - 1e-5 * k**2, window=10)
    >>> round(float(out["fade_rate_per_cycle"].iloc[-1]), 5)  # 0.001 + 2e-5 * 95.5
    0.00291
    >>> round(float(out["fade_rate_trend_per_cycle"].iloc[-1]), 7)
    2e-05
    """
    x, y = _as_trajectory(cycles, capacity)
    if method == "theil_sen":
        w = _check_window(window, minimum=3)
        slope, level = rolling_theil_sen(x, y, w, include_current=True)
        rate = -slope
        ok = np.isfinite(rate)
        trend = np.full(x.size, np.nan)
        if ok.sum() >= 3:
            s2, _ = rolling_theil_sen(x[ok], rate[ok], w, include_current=True)
            trend[ok] = s2
    elif method == "lowess":
        level, slope = lowess(x, y, frac=frac)
        rate = -slope
        _, trend = lowess(x, rate, frac=frac, iterations=0)
    else:
        raise DataFormatError(f"method must be 'theil_sen' or 'lowess', got {method!r}", value=method)
    return pd.DataFrame(
        {
            "cycle_count": x,
            "capacity_trend": level,
            "fade_rate_per_cycle": rate,
            "fade_rate_trend_per_cycle": trend,
        }
    )
