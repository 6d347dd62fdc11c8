"""Voltage curves per cycle: Q(V) on a fixed voltage grid and dQ/dV.

Q(V)
    For each cycle, the rows of one half cycle (``"discharge"``: I < 0,
    ``"charge"``: I > 0) give capacity passed since the half cycle began
    (from the ``*_capacity_ah`` column if present, else Coulomb counting)
    against voltage. Voltage noise makes V(Q) non-monotonic, so the curve is
    interpolated against its monotone envelope (running minimum of V for
    discharge, running maximum for charge). Grid points outside the measured
    voltage range are NaN.

dQ/dV (incremental capacity analysis)
    Q(V) is sampled on a uniform grid of spacing ``dv``; a Savitzky-Golay
    filter (``window_volt`` wide, polynomial ``polyorder``) smooths it and
    gives the derivative in the same pass, as in Dubarry's ICA practice.
    The sign follows Q(V): charge curves give positive dQ/dV, discharge
    curves negative (capacity grows as voltage falls). Units Ah/V. The
    first and last half window of each curve, where the filter
    extrapolates, are not returned.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from voltlab.data.cycling import CyclingData
from voltlab.errors import DataFormatError

__all__ = ["dqdv", "qv_curves", "voltage_grid"]

HalfCycle = Literal["charge", "discharge"]


def voltage_grid(v_start: float, v_end: float, n: int = 1000) -> npt.NDArray[np.float64]:
    """Linear grid from ``v_start`` to ``v_end`` (V), ``n`` points, as in Severson et al. 2019.

    Examples
    --------
    >>> voltage_grid(3.6, 2.0, 5).tolist()
    [3.6, 3.2, 2.8, 2.4, 2.0]
    """
    if n < 2:
        raise DataFormatError(f"voltage grid needs at least 2 points, got n={n}", value=n)
    return np.linspace(v_start, v_end, n)


def _table(data: CyclingData | pd.DataFrame) -> pd.DataFrame:
    return data.timeseries if isinstance(data, CyclingData) else data


def _half_cycle_q(rows: pd.DataFrame, half: HalfCycle) -> np.ndarray:
    col = "charging_capacity_ah" if half == "charge" else "discharging_capacity_ah"
    if col in rows.columns and rows[col].notna().all():
        q = rows[col].to_numpy(dtype=np.float64)
        return q - q[0]
    t = rows["test_time_second"].to_numpy(dtype=np.float64)
    i = np.abs(rows["current_ampere"].to_numpy(dtype=np.float64))
    dq = 0.5 * (i[1:] + i[:-1]) * np.diff(t) / 3600.0
    return np.r_[0.0, np.cumsum(dq)]


def qv_curves(
    data: CyclingData | pd.DataFrame,
    grid: npt.ArrayLike,
    *,
    half: HalfCycle = "discharge",
    cycles: list[int] | None = None,
) -> pd.DataFrame:
    """Capacity of one half cycle interpolated on a voltage grid, per cycle.

    Parameters
    ----------
    data
        One cell's cycling data.
    grid
        Voltages (V), shape (m,), in any order.
    half
        ``"discharge"`` (rows with I < 0) or ``"charge"`` (I > 0).
    cycles
        Cycle numbers to include; all by default.

    Returns
    -------
    pandas.DataFrame
        Shape (n_cycles, m): index ``cycle_count``, columns the grid voltages,
        values capacity in Ah (NaN outside the measured voltage range).
    """
    df = _table(data)
    g = np.asarray(grid, dtype=np.float64)
    if half not in ("charge", "discharge"):
        raise DataFormatError(f"half must be 'charge' or 'discharge', got {half!r}", value=half)
    i = df["current_ampere"].to_numpy(dtype=np.float64)
    mask = i < 0 if half == "discharge" else i > 0
    sel = df.loc[mask]
    if cycles is not None:
        sel = sel[sel["cycle_count"].isin(cycles)]
    out: dict[int, np.ndarray] = {}
    for cyc, rows in sel.groupby("cycle_count", sort=True):
        if len(rows) < 2:
            continue
        v = rows["voltage_volt"].to_numpy(dtype=np.float64)
        q = _half_cycle_q(rows, half)
        ok = np.isfinite(v) & np.isfinite(q)
        v, q = v[ok], q[ok]
        if v.size < 2:
            continue
        if half == "discharge":
            env = np.minimum.accumulate(v)
            xp, fp = env[::-1], q[::-1]
        else:
            env = np.maximum.accumulate(v)
            xp, fp = env, q
        # np.interp needs increasing xp: keep the last sample of each plateau.
        keep = np.r_[np.diff(xp) > 0, True]
        xp, fp = xp[keep], fp[keep]
        vals = np.interp(g, xp, fp, left=np.nan, right=np.nan)
        out[int(cyc)] = vals
    frame = pd.DataFrame.from_dict(out, orient="index", columns=g)
    frame.index.name = "cycle_count"
    return frame


def dqdv(
    data: CyclingData | pd.DataFrame,
    *,
    half: HalfCycle = "discharge",
    cycles: list[int] | None = None,
    dv: float = 0.002,
    window_volt: float | None = None,
    polyorder: int = 2,
    v_min: float | None = None,
    v_max: float | None = None,
) -> pd.DataFrame:
    """Incremental capacity dQ/dV (Ah/V) per cycle on a uniform voltage grid.

    Parameters
    ----------
    data
        One cell's cycling data.
    half
        ``"discharge"`` or ``"charge"``.
    cycles
        Cycle numbers; all by default.
    dv
        Grid spacing, V.
    window_volt
        Savitzky-Golay window width, V (rounded to an odd number of points).
        Default: 40 mV, widened to 4x the median voltage step between
        samples when the data are sparser than that (otherwise the
        derivative of a piecewise-linear Q(V) shows steps, not peaks).
    polyorder
        Savitzky-Golay polynomial order.
    v_min, v_max
        Grid limits, V; default the data's voltage range in that half cycle.

    Returns
    -------
    pandas.DataFrame
        Long table with columns ``cycle_count``, ``voltage_volt``, ``dqdv_ah_per_volt``.
    """
    from scipy.signal import savgol_filter

    df = _table(data)
    if dv <= 0 or (window_volt is not None and window_volt <= 0):
        raise DataFormatError(f"dv and window_volt must be > 0 V, got dv={dv}, window_volt={window_volt}")
    i = df["current_ampere"].to_numpy(dtype=np.float64)
    sel = df.loc[i < 0] if half == "discharge" else df.loc[i > 0]
    if sel.empty:
        return pd.DataFrame(columns=["cycle_count", "voltage_volt", "dqdv_ah_per_volt"])
    lo = float(sel["voltage_volt"].min()) if v_min is None else v_min
    hi = float(sel["voltage_volt"].max()) if v_max is None else v_max
    grid = np.arange(lo, hi + dv / 2, dv)
    q = qv_curves(df, grid, half=half, cycles=cycles)
    if window_volt is None:
        steps = np.abs(np.diff(sel["voltage_volt"].to_numpy(dtype=np.float64)))
        same_cycle = np.diff(sel["cycle_count"].to_numpy()) == 0
        steps = steps[same_cycle & np.isfinite(steps) & (steps > 0)]
        window_volt = max(0.04, 4.0 * float(np.median(steps))) if steps.size else 0.04
    window = max(polyorder + 2, round(window_volt / dv) | 1)
    parts = []
    for cyc, row in q.iterrows():
        y = row.to_numpy(dtype=np.float64)
        ok = np.isfinite(y)
        if ok.sum() < window:
            continue
        idx = np.flatnonzero(ok)
        seg = slice(idx[0], idx[-1] + 1)
        yy = pd.Series(y[seg]).interpolate(limit_direction="both").to_numpy()
        d = savgol_filter(yy, window, polyorder, deriv=1, delta=dv)
        # The filter's edge fits (half a window at each end) are extrapolations: drop them.
        h = window // 2
        keep = slice(h, len(d) - h) if len(d) > 2 * h + 1 else slice(0, len(d))
        v_seg = grid[seg][keep]
        parts.append(pd.DataFrame({"cycle_count": int(cyc), "voltage_volt": v_seg, "dqdv_ah_per_volt": d[keep]}))
    if not parts:
        return pd.DataFrame(columns=["cycle_count", "voltage_volt", "dqdv_ah_per_volt"])
    return pd.concat(parts, ignore_index=True)
