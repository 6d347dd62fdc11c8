"""Outlier flags per cycle and cleaning that never drops data silently.

:func:`flag_cycles` adds boolean ``flag_*`` columns to a per-cycle summary:

``flag_capacity_outlier``
    Hampel filter on discharge capacity: a cycle whose capacity differs from
    the centred rolling median (``window`` cycles) by more than
    ``n_sigmas`` robust standard deviations (1.4826 x MAD of the
    residuals over the whole cell, floored at ``min_sigma_fraction`` of the
    median capacity). In the first and last half window, where a centred
    median would lag the fade trend, the reference is a Theil-Sen line
    through the first (last) ``window`` cycles. Robust to the slow trend of
    fade and to the outliers themselves.
``flag_incomplete``
    Discharge capacity below ``incomplete_fraction`` of the rolling median
    (interrupted or partial cycles; the last cycle of a running test).
``flag_efficiency``
    Coulombic efficiency outside ``efficiency_range`` where both charge and
    discharge happened.
``flag_no_discharge``
    No discharge capacity at all (rest, formation or check-up cycles).

``is_outlier`` is the OR of the flags. :func:`clean_cycles` splits a summary
into kept and removed cycles and returns a report naming each removed cycle
and why, so nothing disappears without a trace.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from voltlab.errors import DataFormatError

__all__ = ["CleaningResult", "OutlierOptions", "clean_cycles", "flag_cycles"]

FLAG_COLUMNS = ("flag_capacity_outlier", "flag_incomplete", "flag_efficiency", "flag_no_discharge")


@dataclass(frozen=True, slots=True)
class OutlierOptions:
    """Settings of :func:`flag_cycles` (see the module docstring)."""

    window: int = 11
    n_sigmas: float = 4.0
    min_sigma_fraction: float = 2e-3
    incomplete_fraction: float = 0.5
    efficiency_range: tuple[float, float] = (0.5, 1.5)


def flag_cycles(summary: pd.DataFrame, options: OutlierOptions | None = None) -> pd.DataFrame:
    """Copy of ``summary`` with ``flag_*`` columns and ``is_outlier``.

    Parameters
    ----------
    summary
        Output of :func:`voltlab.data.summary.cycle_summary`.
    options
        Thresholds.

    Examples
    --------
    >>> import pandas as pd
    >>> s = pd.DataFrame({"cycle_count": range(1, 8),
    ...                   "discharge_capacity_ah": [1.0, .99, .98, .5, .97, .96, .95],
    ...                   "coulombic_efficiency": [.99] * 7})
    >>> flag_cycles(s)["is_outlier"].tolist()
    [False, False, False, True, False, False, False]
    """
    opts = options or OutlierOptions()
    if opts.window < 3:
        raise DataFormatError(f"window must be >= 3 cycles, got {opts.window}", value=opts.window)
    if "discharge_capacity_ah" not in summary.columns:
        raise DataFormatError(
            "summary needs a 'discharge_capacity_ah' column (use voltlab.data.cycle_summary)",
            column="discharge_capacity_ah",
        )
    out = summary.copy()
    q = out["discharge_capacity_ah"].astype(np.float64)
    has_dis = q > 0
    q_valid = q.where(has_dis)
    med = q_valid.rolling(opts.window, center=True, min_periods=1).median()
    _edge_trend(q_valid.to_numpy(dtype=np.float64), med, opts.window)
    resid = q_valid - med
    mad = float(np.nanmedian(np.abs(resid - np.nanmedian(resid)))) if resid.notna().any() else 0.0
    level = float(np.nanmedian(q_valid)) if q_valid.notna().any() else 0.0
    sigma = max(1.4826 * mad, opts.min_sigma_fraction * abs(level), 1e-12)
    out["flag_capacity_outlier"] = (np.abs(resid) > opts.n_sigmas * sigma).fillna(False).astype(bool)
    out["flag_incomplete"] = (has_dis & (q < opts.incomplete_fraction * med)).fillna(False).astype(bool)
    if "coulombic_efficiency" in out.columns:
        ce = out["coulombic_efficiency"].astype(np.float64)
        lo, hi = opts.efficiency_range
        out["flag_efficiency"] = (ce.notna() & ((ce < lo) | (ce > hi))).astype(bool)
    else:
        out["flag_efficiency"] = False
    out["flag_no_discharge"] = ~has_dis
    out["is_outlier"] = out[list(FLAG_COLUMNS)].any(axis=1)
    return out


def _theil_sen(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Median-of-pairwise-slopes line (slope, intercept); robust to outliers."""
    i, j = np.triu_indices(x.size, k=1)
    slopes = (y[j] - y[i]) / (x[j] - x[i])
    slope = float(np.median(slopes)) if slopes.size else 0.0
    return slope, float(np.median(y - slope * x))


def _edge_trend(q: np.ndarray, med: pd.Series, window: int) -> None:
    """Replace the lagging centred median in the first/last half window by a Theil-Sen line."""
    n = q.size
    half = window // 2
    if n < window:
        return
    idx = np.arange(n, dtype=np.float64)
    for fit, fill in ((slice(0, window), slice(0, half)), (slice(n - window, n), slice(n - half, n))):
        x, y = idx[fit], q[fit]
        ok = np.isfinite(y)
        if ok.sum() < 3:
            continue
        slope, icpt = _theil_sen(x[ok], y[ok])
        med.iloc[fill] = icpt + slope * idx[fill]


@dataclass(frozen=True, slots=True)
class CleaningResult:
    """Result of :func:`clean_cycles`.

    Attributes
    ----------
    kept
        Cycles that passed (flag columns included).
    removed
        Cycles that were taken out, with their flags.
    report
        One row per removed cycle: ``cycle_count`` and ``reasons`` (comma-separated flag names).
    """

    kept: pd.DataFrame
    removed: pd.DataFrame
    report: pd.DataFrame

    def describe(self) -> str:
        """One line: how many cycles were removed and why."""
        if self.report.empty:
            return f"kept all {len(self.kept)} cycles"
        counts = self.report["reasons"].str.split(", ").explode().value_counts()
        why = ", ".join(f"{k}: {v}" for k, v in counts.items())
        return f"kept {len(self.kept)} cycles, removed {len(self.removed)} ({why})"


def clean_cycles(
    summary: pd.DataFrame,
    *,
    remove: tuple[str, ...] = FLAG_COLUMNS,
    options: OutlierOptions | None = None,
) -> CleaningResult:
    """Split cycles into kept and removed by the chosen flags, with a report.

    Parameters
    ----------
    summary
        Per-cycle summary (flags are computed if absent).
    remove
        Flag names that cause removal.
    options
        Outlier thresholds.
    """
    unknown = [r for r in remove if r not in FLAG_COLUMNS]
    if unknown:
        raise DataFormatError(f"unknown flag(s) {unknown}; choose from {list(FLAG_COLUMNS)}", value=unknown)
    flagged = summary if "is_outlier" in summary.columns else flag_cycles(summary, options)
    drop = flagged[list(remove)].any(axis=1) if remove else pd.Series(False, index=flagged.index)
    removed = flagged[drop]
    reasons = removed[list(remove)].apply(lambda r: ", ".join(k for k in remove if r[k]), axis=1)
    report = pd.DataFrame(
        {"cycle_count": removed["cycle_count"].to_numpy(), "reasons": reasons.to_numpy(dtype=object)}
    )
    return CleaningResult(kept=flagged[~drop].copy(), removed=removed.copy(), report=report)
