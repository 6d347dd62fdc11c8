"""Remaining useful life (RUL) from the capacity trajectory so far.

End of life (EoL) is the first cycle whose capacity (or retention) falls below a
threshold: e.g. 80 % retention, or 1.4 Ah (70 % of the 2 Ah rating) for the
NASA PCoE cells. The threshold is in the units of the column it is applied to.

:func:`trajectory_features` describes, at every cycle *k*, the trajectory up to
*k* only (causal; no later cycle leaks in):

========================================  ===============================================
column                                    definition
========================================  ===============================================
cycle_count                               *k*
capacity_level                            Theil-Sen line of the last ``window`` cycles at *k*
capacity_initial                          median of the first 5 cycles seen
capacity_lost_fraction                    1 - level / initial
margin_to_threshold                       level - threshold (units of the capacity)
fade_rate_per_cycle                       -slope of the last ``window`` cycles
fade_rate_long_per_cycle                  -slope of the last ``long_window`` cycles
fade_rate_trend_per_cycle                 slope of the fade rate over the last ``window``
rul_linear_cycles                         margin / fade rate (capped at ``max_rul_cycles``)
rul_quadratic_cycles                      the same with the fade-rate trend (accelerating
                                          fade; = linear when the trend is <= 0)
========================================  ===============================================

The two extrapolations are the classical trend-based RUL estimates; a
regressor trained on many cells (:func:`rul_dataset` builds its table) learns
how to correct them. :class:`RULRegressor` is gradient boosting on
``log(1 + RUL)``: RUL spans three orders of magnitude, and on the raw scale the
squared error of the long early-life RULs drowns the short ones near end of
life, where accuracy matters most. Wrap it in
:class:`~voltlab.models.conformal.GroupConformalRegressor` (``score="relative"``)
for intervals calibrated on held-out cells.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin

from voltlab.errors import DataFormatError, SchemaError
from voltlab.models.base import check_xy, require_fitted
from voltlab.models.trend import _as_trajectory, _check_window, rolling_theil_sen

__all__ = ["RULRegressor", "RulDataset", "end_of_life_cycle", "rul_dataset", "trajectory_features"]

TRAJECTORY_FEATURES = (
    "cycle_count",
    "capacity_level",
    "capacity_initial",
    "capacity_lost_fraction",
    "margin_to_threshold",
    "fade_rate_per_cycle",
    "fade_rate_long_per_cycle",
    "fade_rate_trend_per_cycle",
    "rul_linear_cycles",
    "rul_quadratic_cycles",
)


def end_of_life_cycle(
    cycles: npt.ArrayLike, capacity: npt.ArrayLike, threshold: float, *, consecutive: int = 1
) -> float:
    """First cycle whose capacity is below ``threshold`` for ``consecutive`` cycles in a row.

    Parameters
    ----------
    cycles
        Cycle numbers, shape (n,), strictly increasing.
    capacity
        Capacity or retention per cycle, shape (n,), same units as ``threshold``.
    threshold
        End-of-life level (e.g. 0.8 for retention, 1.4 for Ah).
    consecutive
        Cycles in a row below the threshold (2-3 ignores single-cycle dips).

    Returns
    -------
    float
        The cycle number, or NaN when the trajectory never reaches it (censored).

    Examples
    --------
    >>> end_of_life_cycle([1, 2, 3, 4, 5], [1.0, 0.79, 0.85, 0.78, 0.7], 0.8)
    2.0
    >>> end_of_life_cycle([1, 2, 3, 4, 5], [1.0, 0.79, 0.85, 0.78, 0.7], 0.8, consecutive=2)
    4.0
    """
    x, y = _as_trajectory(cycles, capacity)
    if not np.isfinite(threshold):
        raise DataFormatError(f"threshold must be a finite number, got {threshold!r}", value=threshold)
    if isinstance(consecutive, bool) or not isinstance(consecutive, (int, np.integer)) or consecutive < 1:
        raise DataFormatError(f"consecutive must be an integer >= 1, got {consecutive!r}", value=consecutive)
    below = (y < threshold).astype(np.int64)
    if consecutive > 1:
        run = np.convolve(below, np.ones(consecutive, dtype=np.int64), mode="full")[consecutive - 1 : below.size]
        hit = np.flatnonzero(run == consecutive)
        return float(x[hit[0]]) if hit.size else float("nan")
    hit = np.flatnonzero(below)
    return float(x[hit[0]]) if hit.size else float("nan")


def trajectory_features(
    cycles: npt.ArrayLike,
    capacity: npt.ArrayLike,
    *,
    threshold: float,
    window: int = 20,
    long_window: int | None = None,
    max_rul_cycles: float = 5000.0,
    at: npt.ArrayLike | None = None,
) -> pd.DataFrame:
    """Causal features of a capacity trajectory at every cycle (see the module table).

    Parameters
    ----------
    cycles
        Cycle numbers, shape (n,), strictly increasing.
    capacity
        Capacity (Ah) or retention per cycle, shape (n,).
    threshold
        End-of-life level in the units of ``capacity``.
    window
        Cycles in the short trailing Theil-Sen window (>= 3).
    long_window
        Cycles in the long window; default ``3 * window``.
    max_rul_cycles
        Cap of the extrapolated RULs (a flat or rising trajectory extrapolates
        to infinity).
    at
        Row positions (0-based) to compute; default all (faster when few).

    Returns
    -------
    pandas.DataFrame
        Shape (n, 10), or (len(at), 10) with ``at``; columns as in the module
        table; rows before the short window holds 3 points are NaN.

    Examples
    --------
    >>> f = trajectory_features(range(1, 31), [1.0 - 0.01 * k for k in range(1, 31)], threshold=0.5)
    >>> round(float(f["rul_linear_cycles"].iloc[-1]), 6)  # (0.70 - 0.5) / 0.01
    20.0
    """
    x, y = _as_trajectory(cycles, capacity)
    w = _check_window(window, minimum=3)
    lw = _check_window(long_window if long_window is not None else 3 * w, minimum=3)
    if not np.isfinite(threshold):
        raise DataFormatError(f"threshold must be a finite number, got {threshold!r}", value=threshold)
    if not max_rul_cycles > 0:
        raise DataFormatError(f"max_rul_cycles must be > 0, got {max_rul_cycles!r}", value=max_rul_cycles)
    rows = np.arange(x.size) if at is None else np.asarray(at, dtype=np.int64).ravel()
    if rows.size and (rows.min() < 0 or rows.max() >= x.size):
        raise DataFormatError(f"at must hold row positions in [0, {x.size}), got {rows.min()}..{rows.max()}")
    slope, level = rolling_theil_sen(x, y, w)  # every row: the fade-rate trend needs past rates
    slope_long, _ = rolling_theil_sen(x, y, lw, at=rows)
    rate = -slope
    trend = np.full(x.size, np.nan)
    ok = np.flatnonzero(np.isfinite(rate))
    if ok.size >= 3:
        pos_in_ok = np.searchsorted(ok, rows)
        wanted = pos_in_ok[(pos_in_ok < ok.size) & np.isin(rows, ok)]
        trend[ok] = rolling_theil_sen(x[ok], rate[ok], w, at=wanted)[0]
    # running median of the first (up to) 5 finite values
    fin = np.where(np.isfinite(y), y, np.nan)
    first = fin[np.isfinite(fin)][:5]
    initial = np.full(x.size, np.nan)
    seen = np.cumsum(np.isfinite(fin))
    for m in range(1, first.size + 1):
        initial[seen == m] = np.median(first[:m])
    if first.size:
        initial[seen > first.size] = np.median(first)
    margin = level - threshold
    with np.errstate(divide="ignore", invalid="ignore"):
        rul_lin = np.where(rate > 0, margin / rate, max_rul_cycles)
        acc = np.where(np.isfinite(trend), np.maximum(trend, 0.0), 0.0)
        disc = rate**2 + 2.0 * acc * np.maximum(margin, 0.0)
        rul_quad = np.where(acc > 0, (-rate + np.sqrt(disc)) / np.where(acc > 0, acc, 1.0), rul_lin)
        lost = 1.0 - level / initial
    rul_lin = np.clip(rul_lin, 0.0, max_rul_cycles)
    rul_quad = np.clip(np.where(np.isfinite(rul_quad), rul_quad, max_rul_cycles), 0.0, max_rul_cycles)
    out = pd.DataFrame(
        {
            "cycle_count": x,
            "capacity_level": level,
            "capacity_initial": initial,
            "capacity_lost_fraction": lost,
            "margin_to_threshold": margin,
            "fade_rate_per_cycle": rate,
            "fade_rate_long_per_cycle": -slope_long,
            "fade_rate_trend_per_cycle": trend,
            "rul_linear_cycles": rul_lin,
            "rul_quadratic_cycles": rul_quad,
        }
    )
    out.loc[~np.isfinite(level), list(TRAJECTORY_FEATURES[1:])] = np.nan
    return out.iloc[rows].reset_index(drop=True) if at is not None else out


@dataclass(frozen=True, slots=True, eq=False)
class RulDataset:
    """Training table for RUL regression (one row per cell and cycle).

    Attributes
    ----------
    X
        Trajectory features (:func:`trajectory_features`), shape (n, 10).
    y
        Remaining cycles to end of life, shape (n,): ``eol_cycle - cycle_count``.
    groups
        Cell id per row, shape (n,); split and calibrate by it.
    eol_cycles
        End-of-life cycle per cell that reaches it.
    censored
        Cells that never reach the threshold (no RUL label; left out of X).
    """

    X: pd.DataFrame
    y: npt.NDArray[np.float64]
    groups: npt.NDArray[np.object_]
    eol_cycles: Mapping[str, float] = field(default_factory=dict)
    censored: tuple[str, ...] = ()


def rul_dataset(
    summary: pd.DataFrame,
    *,
    threshold: float,
    capacity_column: str = "discharge_capacity_ah",
    cell_column: str = "cell_id",
    cycle_column: str = "cycle_count",
    window: int = 20,
    long_window: int | None = None,
    consecutive: int = 1,
    step: int = 1,
) -> RulDataset:
    """Per-cycle trajectory features and RUL labels of many cells, up to each cell's end of life.

    Parameters
    ----------
    summary
        Per-cycle table of many cells (e.g. :func:`~voltlab.data.summary.cycle_summary`
        per cell, concatenated), with ``cell_column``, ``cycle_column`` and
        ``capacity_column``.
    threshold
        End-of-life level in the units of ``capacity_column``.
    capacity_column, cell_column, cycle_column
        Column names.
    window, long_window
        Trailing windows of :func:`trajectory_features`.
    consecutive
        See :func:`end_of_life_cycle`.
    step
        Keep every ``step``-th cycle (fewer, less correlated rows).

    Returns
    -------
    RulDataset
        Rows from the first cycle with finite features to the end-of-life
        cycle (RUL 0) of every cell that reaches it.
    """
    if not isinstance(summary, pd.DataFrame):
        raise DataFormatError(f"summary must be a pandas DataFrame, got {type(summary).__name__}")
    missing_cols = [c for c in (cell_column, cycle_column, capacity_column) if c not in summary.columns]
    if missing_cols:
        raise SchemaError(
            f"summary lacks the columns {missing_cols}; pass capacity_column=, cell_column=, cycle_column= "
            f"naming yours (have {list(summary.columns)[:12]})",
            column=missing_cols[0],
        )
    if isinstance(step, bool) or not isinstance(step, (int, np.integer)) or step < 1:
        raise DataFormatError(f"step must be an integer >= 1, got {step!r}", value=step)
    parts: list[pd.DataFrame] = []
    ys: list[np.ndarray] = []
    gs: list[np.ndarray] = []
    eols: dict[str, float] = {}
    censored: list[str] = []
    for cell, rows in summary.groupby(cell_column, sort=True):
        rows = rows.sort_values(cycle_column)
        k = rows[cycle_column].to_numpy(dtype=np.float64)
        q = rows[capacity_column].to_numpy(dtype=np.float64)
        eol = end_of_life_cycle(k, q, threshold, consecutive=consecutive)
        if not np.isfinite(eol):
            censored.append(str(cell))
            continue
        eols[str(cell)] = eol
        cand = np.flatnonzero(k <= eol)[::step]
        feats = trajectory_features(
            k, q, threshold=threshold, window=window, long_window=long_window, at=cand
        )
        keep = feats.notna().all(axis=1).to_numpy()
        idx = cand[keep]
        parts.append(feats[keep])
        ys.append(eol - k[idx])
        gs.append(np.full(idx.size, str(cell), dtype=object))
    if not parts:
        raise DataFormatError(
            f"no cell reaches the end-of-life threshold {threshold} in {capacity_column!r}; "
            "check the threshold's units (retention fraction vs Ah)",
            value=threshold,
        )
    return RulDataset(
        X=pd.concat(parts, ignore_index=True),
        y=np.concatenate(ys),
        groups=np.concatenate(gs),
        eol_cycles=eols,
        censored=tuple(censored),
    )


class RULRegressor(RegressorMixin, BaseEstimator):
    """Gradient boosting of ``log(1 + RUL)`` on trajectory features; predicts cycles.

    Parameters
    ----------
    n_estimators, max_depth, learning_rate, subsample
        Of ``sklearn.ensemble.GradientBoostingRegressor``.
    log_target
        Fit ``log1p(y)`` and return ``expm1`` of the prediction (default);
        False fits cycles directly.
    random_state
        Seed of the boosting.

    Attributes
    ----------
    model_
        The fitted ``GradientBoostingRegressor``.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.arange(40.0).reshape(-1, 1)
    >>> m = RULRegressor(n_estimators=50).fit(X, 100 - 2 * X.ravel())
    >>> bool(abs(m.predict([[10.0]])[0] - 80) < 5)
    True
    """

    def __init__(
        self,
        n_estimators: int = 200,
        *,
        max_depth: int = 3,
        learning_rate: float = 0.05,
        subsample: float = 1.0,
        log_target: bool = True,
        random_state: int | None = 0,
    ) -> None:
        self.n_estimators = n_estimators
        self.max_depth = max_depth
        self.learning_rate = learning_rate
        self.subsample = subsample
        self.log_target = log_target
        self.random_state = random_state

    def fit(self, X: npt.ArrayLike, y: npt.ArrayLike) -> RULRegressor:
        """Fit on features ``X`` (n, p) and remaining cycles ``y`` (n,), ``y >= 0``."""
        from sklearn.ensemble import GradientBoostingRegressor

        x, t = check_xy(X, y)
        assert t is not None
        if self.log_target and (t < 0).any():
            raise DataFormatError(
                f"RUL must be >= 0 cycles with log_target=True, got {float(t.min())}; drop rows after end of life",
                value=float(t.min()),
            )
        self.model_ = GradientBoostingRegressor(
            n_estimators=self.n_estimators, max_depth=self.max_depth, learning_rate=self.learning_rate,
            subsample=self.subsample, random_state=self.random_state,
        ).fit(x, np.log1p(t) if self.log_target else t)
        self.n_features_in_ = x.shape[1]
        return self

    def predict(self, X: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Remaining cycles, shape (n,)."""
        require_fitted(self, "model_")
        x = np.asarray(X, dtype=np.float64)
        if x.ndim == 1:
            x = x.reshape(1, -1)
        if x.ndim != 2 or x.shape[1] != self.n_features_in_:
            raise DataFormatError(
                f"X must have shape (n, {self.n_features_in_}) like the training data, got {x.shape}", value=x.shape
            )
        p = self.model_.predict(x)
        return np.expm1(p) if self.log_target else p
