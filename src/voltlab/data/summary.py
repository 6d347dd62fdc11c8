"""Per-cycle summary of a cycling time series.

One row per cycle (``cycle_count``), computed with vectorised segment
reductions (no Python loop over cycles):

==============================  ======  ==================================================
column                          unit    definition
==============================  ======  ==================================================
charge_capacity_ah              Ah      max of ``charging_capacity_ah`` in the cycle; by
                                        Coulomb counting (trapezoid on I > 0) if absent
discharge_capacity_ah           Ah      same for discharge (I < 0)
charge_energy_wh                Wh      max of ``charging_energy_wh``; else trapezoid of V*I
discharge_energy_wh             Wh      same for discharge
coulombic_efficiency            1       discharge / charge capacity of the same cycle
energy_efficiency               1       discharge / charge energy of the same cycle
mean_charge_voltage_volt        V       charge energy / charge capacity
mean_discharge_voltage_volt     V       discharge energy / discharge capacity
charge_time_second              s       time with I > rest threshold
discharge_time_second           s       time with I < -rest threshold
cc_charge_capacity_ah           Ah      charge passed below the CV plateau
cv_charge_capacity_ah           Ah      charge passed within ``cv_voltage_tolerance_volt``
                                        of the cycle's top charge voltage (CV phase)
max_voltage_volt, min_...       V       extremes in the cycle
temperature_mean/max_celsius    degC    cell temperature statistics (NaN if not measured)
internal_resistance_ohm         Ohm     median of the cycler's non-zero resistance readings
dc_resistance_ohm               Ohm     |dV/dI| across the first edge into discharge
                                        (from rest or charge) in the cycle
start/end_time_second, n_points s, 1    extent of the cycle
capacity_retention              1       discharge capacity / that of the reference cycle
soh                             1       discharge capacity / nominal capacity if known,
                                        else = capacity_retention
==============================  ======  ==================================================

Coulombic efficiency uses the charge and discharge of the *same* cycle
number, i.e. the vendor's cycle definition (charge then discharge for most
cyclers). The rest threshold is ``max(rest_current_ampere,
rest_current_fraction * max|I|)`` so that coin cells (sub-mA currents) and
large cells (tens of A) are both handled.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from voltlab.data.cycling import CyclingData
from voltlab.errors import DataFormatError

__all__ = ["SummaryOptions", "add_retention", "cycle_summary", "reference_cycle"]


@dataclass(frozen=True, slots=True)
class SummaryOptions:
    """Tolerances of :func:`cycle_summary`.

    Attributes
    ----------
    rest_current_ampere
        Absolute floor of the rest threshold, A.
    rest_current_fraction
        Rest threshold relative to the largest |current| of the cell.
    cv_voltage_tolerance_volt
        Charge rows within this of the cycle's top charge voltage count as CV.
    reference_cycle
        Cycle number whose discharge capacity is 100 % retention; ``None``
        picks the first cycle whose discharge capacity is at least
        ``min_reference_fraction`` of the median (skipping formation or
        partial first cycles).
    min_reference_fraction
        See ``reference_cycle``.
    """

    rest_current_ampere: float = 1e-6
    rest_current_fraction: float = 0.005
    cv_voltage_tolerance_volt: float = 0.005
    reference_cycle: int | None = None
    min_reference_fraction: float = 0.5


def _segments(cycle: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start indices of each cycle segment and the cycle numbers."""
    starts = np.flatnonzero(np.r_[True, cycle[1:] != cycle[:-1]])
    return starts, cycle[starts]


def _seg_sum(x: np.ndarray, starts: np.ndarray) -> np.ndarray:
    return np.add.reduceat(x, starts) if x.size else np.zeros(0)


def _seg_max(x: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Segment max ignoring NaN (all-NaN segment -> NaN)."""
    filled = np.where(np.isnan(x), -np.inf, x)
    out = np.maximum.reduceat(filled, starts)
    return np.where(np.isneginf(out), np.nan, out)


def _seg_min(x: np.ndarray, starts: np.ndarray) -> np.ndarray:
    filled = np.where(np.isnan(x), np.inf, x)
    out = np.minimum.reduceat(filled, starts)
    return np.where(np.isposinf(out), np.nan, out)


def _seg_mean(x: np.ndarray, starts: np.ndarray) -> np.ndarray:
    ok = ~np.isnan(x)
    s = np.add.reduceat(np.where(ok, x, 0.0), starts)
    n = np.add.reduceat(ok.astype(np.float64), starts)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, s / n, np.nan)


def _seg_median_nonzero(x: np.ndarray, cycle: np.ndarray) -> np.ndarray:
    s = pd.Series(np.where((x == 0) | ~np.isfinite(x), np.nan, x))
    return s.groupby(cycle, sort=False).median().to_numpy(dtype=np.float64)


def cycle_summary(data: CyclingData | pd.DataFrame, options: SummaryOptions | None = None) -> pd.DataFrame:
    """Per-cycle summary of one cell (see the module docstring for every column).

    Parameters
    ----------
    data
        A :class:`CyclingData` or a canonical time-series table (one cell).
    options
        Tolerances; defaults are :class:`SummaryOptions()`.

    Returns
    -------
    pandas.DataFrame
        One row per cycle, indexed 0..n-1, with ``cycle_count`` as a column.
        ``df.attrs["reference_cycle"]`` records the retention reference.

    Raises
    ------
    DataFormatError
        If the table has no rows or lacks time, current, voltage or cycle.

    Examples
    --------
    >>> import pandas as pd
    >>> ts = pd.DataFrame({"test_time_second": [0.0, 3600.0, 3600.0, 7200.0],
    ...                    "current_ampere": [1.0, 1.0, -1.0, -1.0],
    ...                    "voltage_volt": [3.0, 4.2, 4.2, 3.0],
    ...                    "cycle_count": [1, 1, 1, 1]})
    >>> s = cycle_summary(ts)
    >>> float(s.loc[0, "charge_capacity_ah"]), float(s.loc[0, "discharge_capacity_ah"])
    (1.0, 1.0)
    """
    opts = options or SummaryOptions()
    nominal = 0.0
    if isinstance(data, CyclingData):
        df = data.timeseries
        nominal = data.metadata.nominal_capacity_ah
        where = data.metadata.source or data.cell_id
    else:
        df = data
        where = None
    for col in ("test_time_second", "current_ampere", "voltage_volt", "cycle_count"):
        if col not in df.columns:
            raise DataFormatError(f"cannot summarise: column {col!r} is missing", path=where, column=col)
    if len(df) == 0:
        raise DataFormatError("cannot summarise an empty table", path=where)

    t = df["test_time_second"].to_numpy(dtype=np.float64)
    i = np.nan_to_num(df["current_ampere"].to_numpy(dtype=np.float64))
    v = df["voltage_volt"].to_numpy(dtype=np.float64)
    cyc = df["cycle_count"].to_numpy()
    starts, cycles = _segments(cyc)
    n = len(t)

    first = np.zeros(n, dtype=bool)
    first[starts] = True
    dt = np.diff(t, prepend=t[0])
    dt[first] = 0.0
    i_prev = np.roll(i, 1)
    v_prev = np.roll(v, 1)
    v_mid = np.nan_to_num(0.5 * (v + v_prev))
    pos = 0.5 * (np.clip(i, 0, None) + np.clip(i_prev, 0, None)) * dt / 3600.0
    neg = 0.5 * (np.clip(-i, 0, None) + np.clip(-i_prev, 0, None)) * dt / 3600.0
    pos[first] = 0.0
    neg[first] = 0.0

    out: dict[str, np.ndarray] = {"cycle_count": cycles.astype(np.int64)}
    out["start_time_second"] = t[starts]
    out["end_time_second"] = t[np.r_[starts[1:] - 1, n - 1]]
    out["n_points"] = np.diff(np.r_[starts, n]).astype(np.int64)

    def from_column_or(col: str, counted: np.ndarray) -> np.ndarray:
        fallback = _seg_sum(counted, starts)
        if col in df.columns:
            vals = _seg_max(df[col].to_numpy(dtype=np.float64), starts)
            return np.where(np.isnan(vals), fallback, vals)
        return fallback

    out["charge_capacity_ah"] = from_column_or("charging_capacity_ah", pos)
    out["discharge_capacity_ah"] = from_column_or("discharging_capacity_ah", neg)
    out["charge_energy_wh"] = from_column_or("charging_energy_wh", pos * v_mid)
    out["discharge_energy_wh"] = from_column_or("discharging_energy_wh", neg * v_mid)
    with np.errstate(invalid="ignore", divide="ignore"):
        ch, dis = out["charge_capacity_ah"], out["discharge_capacity_ah"]
        out["coulombic_efficiency"] = np.where(ch > 0, dis / ch, np.nan)
        ech, edis = out["charge_energy_wh"], out["discharge_energy_wh"]
        out["energy_efficiency"] = np.where(ech > 0, edis / ech, np.nan)
        out["mean_charge_voltage_volt"] = np.where(ch > 0, ech / ch, np.nan)
        out["mean_discharge_voltage_volt"] = np.where(dis > 0, edis / dis, np.nan)

    imax = float(np.max(np.abs(i))) if n else 0.0
    thr = max(opts.rest_current_ampere, opts.rest_current_fraction * imax)
    charging = i > thr
    discharging = i < -thr
    out["charge_time_second"] = _seg_sum(dt * charging, starts)
    out["discharge_time_second"] = _seg_sum(dt * discharging, starts)

    # CV phase: charge rows near the cycle's top charge voltage.
    v_charge = np.where(charging, v, np.nan)
    top = _seg_max(v_charge, starts)
    top_row = np.repeat(top, np.diff(np.r_[starts, n]))
    cv = charging & (v >= top_row - opts.cv_voltage_tolerance_volt)
    # An interval is CV only if it starts and ends on the plateau (the CC ramp's
    # last interval, which merely arrives at the top, stays CC).
    cv_interval = cv & np.roll(cv, 1) & ~first
    cv_q = _seg_sum(np.where(cv_interval, pos, 0.0), starts)
    counted_ch = _seg_sum(pos, starts)
    with np.errstate(invalid="ignore", divide="ignore"):
        # Scale the counted split to the reported capacity so cc + cv = charge capacity.
        scale = np.where(counted_ch > 0, out["charge_capacity_ah"] / counted_ch, 0.0)
    out["cv_charge_capacity_ah"] = cv_q * scale
    out["cc_charge_capacity_ah"] = out["charge_capacity_ah"] - out["cv_charge_capacity_ah"]

    out["max_voltage_volt"] = _seg_max(v, starts)
    out["min_voltage_volt"] = _seg_min(v, starts)
    if "temperature_celsius" in df.columns:
        temp = df["temperature_celsius"].to_numpy(dtype=np.float64)
        out["temperature_mean_celsius"] = _seg_mean(temp, starts)
        out["temperature_max_celsius"] = _seg_max(temp, starts)
    else:
        out["temperature_mean_celsius"] = np.full(len(starts), np.nan)
        out["temperature_max_celsius"] = np.full(len(starts), np.nan)
    if "internal_resistance_ohm" in df.columns:
        out["internal_resistance_ohm"] = _seg_median_nonzero(
            df["internal_resistance_ohm"].to_numpy(dtype=np.float64), cyc
        )
    else:
        out["internal_resistance_ohm"] = np.full(len(starts), np.nan)
    out["dc_resistance_ohm"] = _dc_resistance(i, v, cyc, first, thr, starts)

    return add_retention(pd.DataFrame(out), nominal_capacity_ah=nominal, options=opts)


def add_retention(
    summary: pd.DataFrame, *, nominal_capacity_ah: float = 0.0, options: SummaryOptions | None = None
) -> pd.DataFrame:
    """(Re)compute ``capacity_retention`` and ``soh`` of a per-cycle summary in place and return it.

    Retention is relative to :func:`reference_cycle`; SOH is relative to the
    nominal capacity (Ah) when known, else equals retention. The references
    are recorded in ``summary.attrs``.
    """
    ref = reference_cycle(summary, options)
    summary.attrs["reference_cycle"] = ref
    if ref is not None:
        ref_q = float(summary.loc[summary["cycle_count"] == ref, "discharge_capacity_ah"].iloc[0])
        summary["capacity_retention"] = summary["discharge_capacity_ah"] / ref_q
    else:
        summary["capacity_retention"] = np.nan
    if nominal_capacity_ah > 0:
        summary["soh"] = summary["discharge_capacity_ah"] / nominal_capacity_ah
        summary.attrs["soh_reference"] = f"nominal capacity {nominal_capacity_ah:g} Ah"
    else:
        summary["soh"] = summary["capacity_retention"]
        summary.attrs["soh_reference"] = f"discharge capacity of cycle {ref}"
    return summary


def _dc_resistance(
    i: np.ndarray, v: np.ndarray, cyc: np.ndarray, first: np.ndarray, thr: float, starts: np.ndarray
) -> np.ndarray:
    """|dV/dI| across the first edge into discharge of each cycle (NaN if none)."""
    n = len(i)
    out = np.full(len(starts), np.nan)
    if n < 2:
        return out
    edge = np.zeros(n, dtype=bool)
    edge[1:] = (i[1:] < -thr) & (i[:-1] >= -thr) & ~first[1:]
    idx = np.flatnonzero(edge)
    if idx.size == 0:
        return out
    di = i[idx] - i[idx - 1]
    dv = v[idx] - v[idx - 1]
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.abs(dv / di)
    seg = np.searchsorted(starts, idx, side="right") - 1
    # First edge per cycle.
    _, first_pos = np.unique(seg, return_index=True)
    out[seg[first_pos]] = r[first_pos]
    return out


def reference_cycle(summary: pd.DataFrame, options: SummaryOptions | None = None) -> int | None:
    """Cycle used as 100 % capacity retention (see :class:`SummaryOptions`)."""
    opts = options or SummaryOptions()
    q = summary["discharge_capacity_ah"].to_numpy(dtype=np.float64)
    cycles = summary["cycle_count"].to_numpy()
    if opts.reference_cycle is not None:
        if opts.reference_cycle not in set(cycles.tolist()):
            raise DataFormatError(
                f"reference cycle {opts.reference_cycle} is not in the data (cycles "
                f"{int(cycles.min())}..{int(cycles.max())})",
                value=opts.reference_cycle,
            )
        return int(opts.reference_cycle)
    positive = q[np.isfinite(q) & (q > 0)]
    if positive.size == 0:
        return None
    ok = np.flatnonzero(np.isfinite(q) & (q >= opts.min_reference_fraction * np.median(positive)))
    return int(cycles[ok[0]]) if ok.size else None
