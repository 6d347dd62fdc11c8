"""Per-cycle anomaly detection: Isolation Forest on trajectory residuals and per-cycle features.

A cycle is anomalous when its summary (capacity, temperature, resistance, ...)
departs from what the cell's own recent history predicts. For every column
and cell, the **trajectory model** is a one-step-ahead Theil-Sen line through
the previous ``window`` cycles (:func:`~voltlab.models.trend.rolling_theil_sen`
with ``include_current=False``: it never sees the cycle it judges, so a fault
cannot hide itself, and a step change such as a resistance jump stands out
the moment it happens). Residuals are divided by their robust scale (1.4826 x
median absolute deviation within the cell), giving robust z-scores.

An Isolation Forest (Liu, Ting and Zhou 2008) is fitted on

* the residual z-scores of every column (``<column>_residual_z``), and
* the cycle-to-cycle change of every column in the same robust units
  (``<column>_step_z``; a per-cycle feature that is independent of the
  cell's age, so a cell that is merely old is not an outlier),

and a cycle is flagged when

* its isolation score passes the threshold set by ``contamination`` on the
  training cycles **and** at least one of its robust z-scores exceeds
  ``min_z`` (a floor that keeps the forest from flagging the mildest of many
  normal cycles when a data set has fewer faults than ``contamination``), or
* any robust z-score exceeds ``z_alarm``. An Isolation Forest cannot rank
  points beyond the range of its training data (they fall in the same leaves
  as the most extreme training points), so a fault far larger than anything
  seen in training would otherwise score no higher than a borderline normal
  cycle; this rule catches it.

The first ``min_history`` cycles of a cell have no forecast; their residuals
are 0 (not judged).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.base import BaseEstimator, OutlierMixin

from voltlab.errors import DataFormatError, SchemaError
from voltlab.models.base import require_fitted
from voltlab.models.trend import _check_window, rolling_theil_sen

__all__ = ["CycleAnomalyDetector", "trajectory_residuals"]

_MAD_TO_SIGMA = 1.4826


def _robust_scale(r: np.ndarray) -> float:
    r = r[np.isfinite(r)]
    if r.size < 3:
        return float("nan")
    return _MAD_TO_SIGMA * float(np.median(np.abs(r - np.median(r))))


def _check_table(table: Any, cell_column: str, cycle_column: str, columns: Sequence[str] | None) -> list[str]:
    if not isinstance(table, pd.DataFrame):
        raise DataFormatError(
            f"expected a per-cycle table (pandas DataFrame with {cell_column!r}, {cycle_column!r} and feature "
            f"columns), got {type(table).__name__}"
        )
    for c in (cell_column, cycle_column):
        if c not in table.columns:
            raise SchemaError(
                f"the per-cycle table lacks {c!r}; pass cell_column=/cycle_column= naming yours", column=c
            )
    if columns is None:
        cols = [
            c for c in table.columns
            if c not in (cell_column, cycle_column) and pd.api.types.is_numeric_dtype(table[c])
        ]
    else:
        cols = list(columns)
        missing = [c for c in cols if c not in table.columns]
        if missing:
            raise SchemaError(f"columns {missing} are not in the table (have {list(table.columns)[:12]})",
                              column=missing[0])
    if not cols:
        raise DataFormatError("no numeric feature column to monitor; pass columns=[...]")
    return cols


def trajectory_residuals(
    table: pd.DataFrame,
    columns: Sequence[str] | None = None,
    *,
    cell_column: str = "cell_id",
    cycle_column: str = "cycle_count",
    window: int = 20,
    min_history: int = 5,
    fallback_scale: dict[str, float] | None = None,
) -> pd.DataFrame:
    """Robust z-scores of each column against its one-step-ahead trajectory forecast, per cell.

    Parameters
    ----------
    table
        Per-cycle table of one or many cells.
    columns
        Columns to monitor; default every numeric column but the cell and cycle.
    cell_column, cycle_column
        Names of the cell id and cycle number columns.
    window
        Previous cycles in the Theil-Sen forecast.
    min_history
        Cycles needed before a cycle is judged (earlier residuals are 0).
    fallback_scale
        Robust scale per column used when a cell has too few cycles (or zero
        spread) to estimate its own.

    Returns
    -------
    pandas.DataFrame
        Same index as ``table``: ``<column>_residual_z`` (residual / robust
        scale) and ``<column>_step_z`` (change from the previous cycle / robust
        scale of those changes) for each column. NaN inputs give 0.

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"cell_id": "a", "cycle_count": range(1, 41),
    ...                   "q": [1.0 - 0.001 * k + (0.0005 if k % 2 else 0.0) for k in range(1, 41)]})
    >>> t.loc[30, "q"] -= 0.01  # a dip at cycle 31
    >>> z = trajectory_residuals(t, ["q"], window=10)
    >>> int(z["q_residual_z"].idxmin()), bool(z["q_residual_z"].min() < -5)
    (30, True)
    """
    cols = _check_table(table, cell_column, cycle_column, columns)
    w = _check_window(window, minimum=3)
    if min_history < 3:
        raise DataFormatError(f"min_history must be >= 3 cycles, got {min_history!r}", value=min_history)
    out = np.zeros((len(table), 2 * len(cols)))
    for _, rows in table.reset_index(drop=True).groupby(cell_column, sort=False):
        rows = rows.sort_values(cycle_column)
        idx = rows.index.to_numpy()  # row positions in ``table``
        k = rows[cycle_column].to_numpy(dtype=np.float64)
        if k.size > 1 and not (np.diff(k) > 0).all():
            raise DataFormatError(
                f"cell {rows[cell_column].iloc[0]!r} has duplicate cycle numbers; aggregate or drop them first",
                column=cycle_column,
            )
        for j, c in enumerate(cols):
            v = rows[c].to_numpy(dtype=np.float64)
            _, forecast = rolling_theil_sen(k, v, w, include_current=False, min_points=min(min_history, w))
            resid = v - forecast
            step = np.r_[np.nan, np.diff(v)]
            for col_pos, r in ((2 * j, resid), (2 * j + 1, step)):
                s = _robust_scale(r)
                kind = "residual" if col_pos % 2 == 0 else "step"
                fb = (fallback_scale or {}).get(f"{c}_{kind}")
                if (not np.isfinite(s) or s <= 0 or np.isfinite(r).sum() < 2 * w) and fb is not None:
                    s = fb
                z = np.where(np.isfinite(r), r / s, 0.0) if np.isfinite(s) and s > 0 else np.zeros_like(r)
                out[idx, col_pos] = z
    names = [f"{c}_{kind}_z" for c in cols for kind in ("residual", "step")]
    return pd.DataFrame(out, index=table.index, columns=names)


def _scales(table: pd.DataFrame, cols: list[str], cell_column: str, cycle_column: str, window: int,
            min_history: int) -> dict[str, float]:
    """Median over cells of the robust residual and step scales (fallback for short cells)."""
    per: dict[str, list[float]] = {}
    for _, rows in table.groupby(cell_column, sort=False):
        rows = rows.sort_values(cycle_column)
        k = rows[cycle_column].to_numpy(dtype=np.float64)
        for c in cols:
            v = rows[c].to_numpy(dtype=np.float64)
            _, f = rolling_theil_sen(k, v, window, include_current=False, min_points=min(min_history, window))
            for kind, r in (("residual", v - f), ("step", np.r_[np.nan, np.diff(v)])):
                s = _robust_scale(r)
                if np.isfinite(s) and s > 0:
                    per.setdefault(f"{c}_{kind}", []).append(s)
    return {key: float(np.median(vals)) for key, vals in per.items()}


class CycleAnomalyDetector(OutlierMixin, BaseEstimator):
    """Flag anomalous cycles with an Isolation Forest on trajectory residuals (see the module docstring).

    Parameters
    ----------
    columns
        Per-cycle columns to monitor (e.g. ``discharge_capacity_ah``,
        ``temperature_mean_celsius``, ``internal_resistance_ohm``); default
        every numeric column except the cell and cycle columns.
    cell_column, cycle_column
        Names of the cell id and cycle number columns.
    window
        Previous cycles in the trajectory forecast.
    min_history
        Cycles before a cell's cycles are judged.
    contamination
        Expected fraction of anomalous training cycles; sets the isolation
        score threshold.
    min_z
        A cycle flagged by the forest also needs one robust z-score above this
        (None: no floor).
    z_alarm
        A robust z-score above this flags the cycle whatever the forest says
        (None: forest only).
    n_estimators, max_samples
        Isolation Forest size.
    random_state
        Seed of the forest.

    Attributes
    ----------
    forest_
        The fitted ``sklearn.ensemble.IsolationForest``.
    columns_
        Monitored columns.
    feature_names_
        Inputs of the forest (``<column>_residual_z``, ``<column>_step_z``).
    fallback_scale_
        Median robust scales over the training cells (used for short cells).
    """

    def __init__(
        self,
        columns: Sequence[str] | None = None,
        *,
        cell_column: str = "cell_id",
        cycle_column: str = "cycle_count",
        window: int = 20,
        min_history: int = 5,
        contamination: float = 0.02,
        min_z: float | None = 4.0,
        z_alarm: float | None = 8.0,
        n_estimators: int = 200,
        max_samples: int | str = "auto",
        random_state: int | None = 0,
    ) -> None:
        self.columns = columns
        self.cell_column = cell_column
        self.cycle_column = cycle_column
        self.window = window
        self.min_history = min_history
        self.contamination = contamination
        self.min_z = min_z
        self.z_alarm = z_alarm
        self.n_estimators = n_estimators
        self.max_samples = max_samples
        self.random_state = random_state

    def _features(self, table: pd.DataFrame) -> pd.DataFrame:
        return trajectory_residuals(
            table, self.columns_, cell_column=self.cell_column, cycle_column=self.cycle_column,
            window=self.window, min_history=self.min_history, fallback_scale=self.fallback_scale_,
        )

    def fit(self, X: pd.DataFrame, y: Any = None) -> CycleAnomalyDetector:
        """Fit on a per-cycle table of one or many cells (mostly normal cycles)."""
        from sklearn.ensemble import IsolationForest

        cols = _check_table(X, self.cell_column, self.cycle_column, self.columns)
        if not 0 < self.contamination < 0.5:
            raise DataFormatError(f"contamination must be in (0, 0.5), got {self.contamination!r}")
        if self.min_z is not None and not self.min_z > 0:
            raise DataFormatError(f"min_z must be > 0 or None, got {self.min_z!r}", value=self.min_z)
        if self.z_alarm is not None and not self.z_alarm > 0:
            raise DataFormatError(f"z_alarm must be > 0 or None, got {self.z_alarm!r}", value=self.z_alarm)
        w = _check_window(self.window, minimum=3)
        if len(X) < 2 * w:
            raise DataFormatError(f"need at least {2 * w} cycles to fit (2 x window), got {len(X)}", value=len(X))
        self.columns_ = cols
        self.fallback_scale_: dict[str, float] | None = None
        self.fallback_scale_ = _scales(X, cols, self.cell_column, self.cycle_column, w, self.min_history)
        feats = self._features(X)
        self.feature_names_ = list(feats.columns)
        self.forest_ = IsolationForest(
            n_estimators=self.n_estimators, max_samples=self.max_samples, contamination=self.contamination,
            random_state=self.random_state,
        ).fit(feats.to_numpy())
        return self

    def residuals(self, X: pd.DataFrame) -> pd.DataFrame:
        """The forest's inputs for ``X``: robust residual and step z-scores (same index as ``X``)."""
        require_fitted(self, "forest_")
        _check_table(X, self.cell_column, self.cycle_column, self.columns_)
        return self._features(X)

    def score_samples(self, X: pd.DataFrame) -> npt.NDArray[np.float64]:
        """Isolation score per cycle (scikit-learn sign: lower = more anomalous), shape (n,)."""
        return self.forest_.score_samples(self.residuals(X).to_numpy())

    def flag(self, X: pd.DataFrame) -> pd.DataFrame:
        """Per-cycle verdicts with an explanation.

        Returns
        -------
        pandas.DataFrame
            Same index as ``X``: the cell and cycle columns, ``is_anomaly``
            (bool), ``anomaly_score`` (higher = more anomalous; the negated
            isolation score), ``max_abs_z`` and ``driver`` (the z-score column
            with the largest magnitude, i.e. which signal and whether a
            residual or a step).
        """
        z = self.residuals(X)
        zz = z.to_numpy()
        score = -self.forest_.score_samples(zz)
        iso = self.forest_.predict(zz) == -1
        mx = np.abs(zz).max(axis=1)
        flagged = iso & (mx > self.min_z) if self.min_z is not None else iso
        if self.z_alarm is not None:
            flagged = flagged | (mx > self.z_alarm)
        driver = np.asarray(z.columns)[np.abs(zz).argmax(axis=1)]
        return pd.DataFrame(
            {
                self.cell_column: X[self.cell_column].to_numpy(),
                self.cycle_column: X[self.cycle_column].to_numpy(),
                "is_anomaly": flagged,
                "anomaly_score": score,
                "max_abs_z": mx,
                "driver": driver,
            },
            index=X.index,
        )

    def predict(self, X: pd.DataFrame) -> npt.NDArray[np.int64]:
        """-1 for anomalous cycles, 1 for normal ones (scikit-learn convention), shape (n,)."""
        return np.where(self.flag(X)["is_anomaly"].to_numpy(), -1, 1)

    def fit_predict(self, X: pd.DataFrame, y: Any = None, **kwargs: Any) -> npt.NDArray[np.int64]:
        """Fit on ``X`` and flag its cycles."""
        return self.fit(X).predict(X)
