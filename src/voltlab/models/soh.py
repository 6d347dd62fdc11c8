"""State of health (SOH) per cycle from a partial voltage curve.

A full capacity check needs a full discharge; in use, a cell mostly sees part of
one. :func:`partial_curve_features` reads only a voltage window of each cycle's
discharge (or charge), e.g. 3.7 -> 3.2 V, and returns

* the charge passed from the window start to each of ``n_points - 1`` evenly
  spaced voltages, the last one being the window end (the Q(V) segment, Ah),
* the time to cross the window (s; at constant current it is the charge over
  the current),
* the mean cell temperature in the window and its rise from start to end (°C).

These feed :class:`SOHRegressor`, a scikit-learn regressor of SOH (capacity
over nominal, a fraction) that is evaluated leave-one-cell-out
(:func:`leave_one_cell_out`): the cell whose SOH is predicted is never seen in
training. Intervals: wrap it in
:class:`~voltlab.models.conformal.GroupConformalRegressor`.

The curve is read as in :func:`voltlab.data.curves.qv_curves`: charge (from
the ``*_capacity_ah`` column, else Coulomb counting) and time against the
monotone envelope of the voltage (running minimum for a discharge, maximum for
a charge), linearly interpolated at the window voltages. A cycle whose
measured voltages do not span the whole window gets NaN features.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin, clone

from voltlab.data.cycling import CyclingData
from voltlab.errors import DataFormatError, SchemaError
from voltlab.models.base import check_xy, require_fitted

__all__ = ["SOHRegressor", "leave_one_cell_out", "partial_curve_features"]


def _millivolt_label(v: float) -> str:
    return f"{round(v * 1000):d}mv"


def partial_curve_features(
    data: CyclingData | pd.DataFrame,
    *,
    v_start: float,
    v_end: float,
    n_points: int = 6,
    half: Literal["charge", "discharge"] = "discharge",
    cycles: list[int] | None = None,
) -> pd.DataFrame:
    """Features of one voltage window of every cycle (Q(V) segment, time, temperature).

    Parameters
    ----------
    data
        One cell's time series in voltlab's schema (``test_time_second``,
        ``voltage_volt``, ``current_ampere`` (+ = charge), ``cycle_count``;
        optional ``discharging_capacity_ah``/``charging_capacity_ah`` and
        ``temperature_celsius``).
    v_start, v_end
        Window, V, in the direction of the half cycle: ``v_start > v_end``
        for a discharge, ``v_start < v_end`` for a charge.
    n_points
        Voltages in the window (>= 2), evenly spaced, ends included.
    half
        ``"discharge"`` (rows with I < 0) or ``"charge"`` (I > 0).
    cycles
        Cycle numbers to use; all by default.

    Returns
    -------
    pandas.DataFrame
        Index ``cycle_count``; columns ``partial_charge_to_<V>mv_ah`` (Ah
        from ``v_start`` to each later window voltage, ``n_points - 1``
        columns), ``partial_time_second`` (s from ``v_start`` to ``v_end``),
        ``partial_temperature_mean_celsius`` and
        ``partial_temperature_rise_celsius`` (°C; NaN without temperature).

    Examples
    --------
    A 1 A discharge whose voltage falls linearly from 4.0 V to 3.0 V in one
    hour passes 0.4 Ah in 1440 s between 3.8 V and 3.4 V:

    >>> import numpy as np, pandas as pd
    >>> t = np.linspace(0, 3600, 361)
    >>> ts = pd.DataFrame({"test_time_second": t, "voltage_volt": 4.0 - t / 3600,
    ...                    "current_ampere": -1.0, "cycle_count": 1})
    >>> f = partial_curve_features(ts, v_start=3.8, v_end=3.4, n_points=3)
    >>> [round(float(v), 6) for v in f.iloc[0, :3]]
    [0.2, 0.4, 1440.0]
    """
    df = data.timeseries if isinstance(data, CyclingData) else data
    if not isinstance(df, pd.DataFrame):
        raise DataFormatError(f"data must be CyclingData or a DataFrame, got {type(data).__name__}")
    need = ["test_time_second", "voltage_volt", "current_ampere", "cycle_count"]
    missing_cols = [c for c in need if c not in df.columns]
    if missing_cols:
        raise SchemaError(
            f"time series lacks {missing_cols}; convert it to voltlab's schema first (voltlab.data readers)",
            column=missing_cols[0],
        )
    if half not in ("charge", "discharge"):
        raise DataFormatError(f"half must be 'charge' or 'discharge', got {half!r}", value=half)
    if not (np.isfinite(v_start) and np.isfinite(v_end)) or v_start == v_end:
        raise DataFormatError(f"v_start and v_end must be distinct finite voltages, got {v_start!r}, {v_end!r}")
    if (half == "discharge") != (v_start > v_end):
        raise DataFormatError(
            f"for a {half} the window runs {'down' if half == 'discharge' else 'up'}: pass "
            f"v_start={max(v_start, v_end) if half == 'discharge' else min(v_start, v_end)}, "
            f"v_end={min(v_start, v_end) if half == 'discharge' else max(v_start, v_end)}",
            value=(v_start, v_end),
        )
    if isinstance(n_points, bool) or not isinstance(n_points, (int, np.integer)) or n_points < 2:
        raise DataFormatError(f"n_points must be an integer >= 2, got {n_points!r}", value=n_points)
    grid = np.linspace(v_start, v_end, int(n_points))
    labels = [f"partial_charge_to_{_millivolt_label(v)}_ah" for v in grid[1:]]
    if len(set(labels)) != len(labels):
        raise DataFormatError(
            f"n_points={n_points} spaces the window {v_start}-{v_end} V closer than 1 mV; use fewer points"
        )
    columns = [*labels, "partial_time_second", "partial_temperature_mean_celsius",
               "partial_temperature_rise_celsius"]
    i = df["current_ampere"].to_numpy(dtype=np.float64)
    sel = df.loc[i < 0 if half == "discharge" else i > 0]
    if cycles is not None:
        sel = sel[sel["cycle_count"].isin(cycles)]
    qcol = "discharging_capacity_ah" if half == "discharge" else "charging_capacity_ah"
    has_t = "temperature_celsius" in sel.columns
    out: dict[int, list[float]] = {}
    for cyc, rows in sel.groupby("cycle_count", sort=True):
        out[int(cyc)] = _window_row(rows, grid, qcol, has_t, half)
    frame = pd.DataFrame.from_dict(out, orient="index", columns=columns, dtype=np.float64)
    frame.index.name = "cycle_count"
    return frame


def _window_row(rows: pd.DataFrame, grid: np.ndarray, qcol: str, has_t: bool, half: str) -> list[float]:
    n_out = grid.size - 1 + 3
    v = rows["voltage_volt"].to_numpy(dtype=np.float64)
    t = rows["test_time_second"].to_numpy(dtype=np.float64)
    if qcol in rows.columns and rows[qcol].notna().all():
        q = rows[qcol].to_numpy(dtype=np.float64)
        q = q - q[0]
    else:
        cur = np.abs(rows["current_ampere"].to_numpy(dtype=np.float64))
        q = np.r_[0.0, np.cumsum(0.5 * (cur[1:] + cur[:-1]) * np.diff(t) / 3600.0)]
    temp = rows["temperature_celsius"].to_numpy(dtype=np.float64) if has_t else np.full(v.size, np.nan)
    ok = np.isfinite(v) & np.isfinite(q) & np.isfinite(t)
    v, q, t, temp = v[ok], q[ok], t[ok], temp[ok]
    if v.size < 2:
        return [np.nan] * n_out
    if half == "discharge":
        env = np.minimum.accumulate(v)
        order = slice(None, None, -1)
    else:
        env = np.maximum.accumulate(v)
        order = slice(None)
    xp = env[order]
    keep = np.r_[np.diff(xp) > 0, True]
    xp = xp[keep]
    lo, hi = float(grid.min()), float(grid.max())
    if xp.size < 2 or xp[0] > lo or xp[-1] < hi:
        return [np.nan] * n_out
    qg = np.interp(grid, xp, q[order][keep])
    tg = np.interp(grid, xp, t[order][keep])
    charges = list(qg[1:] - qg[0])
    duration = float(tg[-1] - tg[0])
    t0, t1 = min(tg[0], tg[-1]), max(tg[0], tg[-1])
    inside = (t >= t0) & (t <= t1) & np.isfinite(temp)
    if inside.any():
        temp_mean = float(np.mean(temp[inside]))
        tt = np.interp([tg[0], tg[-1]], t[np.isfinite(temp)], temp[np.isfinite(temp)])
        rise = float(tt[1] - tt[0])
    else:
        temp_mean = rise = float("nan")
    return [*charges, duration, temp_mean, rise]


class SOHRegressor(RegressorMixin, BaseEstimator):
    """Regressor of SOH (or capacity) from partial-curve features.

    Parameters
    ----------
    model
        ``"ridge"``: standardise, then ridge regression with the penalty chosen
        by efficient leave-one-out (``RidgeCV`` over ``alphas``); extrapolates
        linearly, which matters when a test cell fades further than any
        training cell. ``"gbr"``: gradient boosting (trees; cannot
        extrapolate beyond the training SOH range). ``"gp"``: Gaussian process
        with a linear (DotProduct) + RBF + white-noise kernel on standardised
        features; ``predict(X, return_std=True)`` gives its standard deviation.
        Exact GP: cost grows as n³ (about 15 s for 500 cycles on 2 cores);
        outside the training range the RBF part reverts to the mean.
    alphas
        Ridge penalties to choose from; default ``logspace(-6, 2, 30)``.
    random_state
        Seed of the boosting subsampling (and of the GP, which is fitted from
        one deterministic starting point).

    Attributes
    ----------
    model_
        The fitted scikit-learn pipeline.
    """

    def __init__(
        self,
        model: Literal["ridge", "gbr", "gp"] = "ridge",
        *,
        alphas: npt.ArrayLike | None = None,
        random_state: int | None = 0,
    ) -> None:
        self.model = model
        self.alphas = alphas
        self.random_state = random_state

    def _make(self) -> Any:
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        if self.model == "ridge":
            from sklearn.linear_model import RidgeCV

            alphas = np.logspace(-6, 2, 30) if self.alphas is None else np.asarray(self.alphas, dtype=np.float64)
            return make_pipeline(StandardScaler(), RidgeCV(alphas=alphas))
        if self.model == "gbr":
            from sklearn.ensemble import GradientBoostingRegressor

            return GradientBoostingRegressor(
                n_estimators=300, max_depth=2, learning_rate=0.05, subsample=0.8, random_state=self.random_state
            )
        if self.model == "gp":
            from sklearn.gaussian_process import GaussianProcessRegressor
            from sklearn.gaussian_process.kernels import RBF, ConstantKernel, DotProduct, WhiteKernel

            kernel = (
                DotProduct(sigma_0=1.0, sigma_0_bounds=(1e-8, 1e3))
                + ConstantKernel(0.1, constant_value_bounds=(1e-8, 1e3)) * RBF(3.0, length_scale_bounds=(1e-2, 1e3))
                + WhiteKernel(1e-3, noise_level_bounds=(1e-10, 1.0))
            )
            return make_pipeline(
                StandardScaler(),
                GaussianProcessRegressor(kernel, normalize_y=True, n_restarts_optimizer=0,
                                         random_state=self.random_state),
            )
        raise DataFormatError(f"model must be 'ridge', 'gbr' or 'gp', got {self.model!r}", value=self.model)

    def fit(self, X: npt.ArrayLike, y: npt.ArrayLike) -> SOHRegressor:
        """Fit on features ``X`` (n, p) and SOH ``y`` (n,), e.g. capacity / nominal capacity."""
        x, t = check_xy(X, y)
        self.model_ = self._make().fit(x, t)
        self.n_features_in_ = x.shape[1]
        return self

    def predict(self, X: npt.ArrayLike, return_std: bool = False) -> Any:
        """SOH, shape (n,); with ``return_std`` (``model="gp"`` only) also its standard deviation."""
        require_fitted(self, "model_")
        x = np.asarray(X, dtype=np.float64)
        if x.ndim == 1:
            x = x.reshape(1, -1) if self.n_features_in_ > 1 else x.reshape(-1, 1)
        if x.ndim != 2:
            raise DataFormatError(f"X must be 2-D (n_samples, n_features), got shape {x.shape}", value=x.shape)
        if x.shape[1] != self.n_features_in_:
            raise DataFormatError(
                f"X has {x.shape[1]} features but the model was fitted on {self.n_features_in_}", value=x.shape
            )
        if not np.isfinite(x).all():
            raise DataFormatError("X has non-finite values (a cycle that does not span the window?); drop them")
        if return_std:
            if self.model != "gp":
                raise DataFormatError("return_std needs model='gp'; wrap other models in GroupConformalRegressor")
            return self.model_.predict(x, return_std=True)
        return self.model_.predict(x)


def leave_one_cell_out(
    estimator: Any, X: npt.ArrayLike | pd.DataFrame, y: npt.ArrayLike, groups: npt.ArrayLike
) -> pd.DataFrame:
    """Out-of-cell predictions: for each cell, fit on all other cells and predict it.

    Parameters
    ----------
    estimator
        A scikit-learn regressor (cloned for every fold).
    X
        Features, shape (n, p).
    y
        Target, shape (n,).
    groups
        Cell id per row, shape (n,), at least 2 distinct.

    Returns
    -------
    pandas.DataFrame
        One row per input row (same order): ``cell_id``, ``y_true``, ``y_pred``.

    Examples
    --------
    >>> from sklearn.linear_model import LinearRegression
    >>> X = [[0.0], [1.0], [2.0], [3.0]]
    >>> out = leave_one_cell_out(LinearRegression(), X, [0.0, 2.0, 4.0, 6.0], ["a", "a", "b", "b"])
    >>> out["y_pred"].round(6).tolist()
    [0.0, 2.0, 4.0, 6.0]
    """
    x, t = check_xy(X, y)
    assert t is not None
    g = np.asarray(groups, dtype=object).ravel()
    if g.size != x.shape[0]:
        raise DataFormatError(f"groups has {g.size} entries but X has {x.shape[0]} rows; give one cell id per row")
    cells = pd.unique(g)
    if cells.size < 2:
        raise DataFormatError(f"leave-one-cell-out needs at least 2 cells, got {cells.size}", value=cells.size)
    pred = np.empty_like(t)
    for cell in cells:
        test = g == cell
        pred[test] = clone(estimator).fit(x[~test], t[~test]).predict(x[test])
    return pd.DataFrame({"cell_id": g, "y_true": t, "y_pred": pred})
