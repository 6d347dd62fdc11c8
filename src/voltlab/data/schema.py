"""voltlab's canonical cycling time-series schema.

Column names follow the Battery Data Format (BDF) machine names where BDF has
them (``test_time_second``, ``voltage_volt``, ``current_ampere``,
``cycle_count``, ``step_index``, ``charging_capacity_ah``, ...), so a BDF file
is a voltlab table and a voltlab table writes out as BDF unchanged.

Conventions (every reader converts to these):

* **Current sign**: positive current charges the cell, negative current
  discharges it (the BDF rule). Readers of unsigned exports use the vendor's
  mode/state column to apply the sign.
* **Time**: ``test_time_second`` is seconds since the start of the test,
  non-decreasing.
* **Capacity and energy**: ``charging_capacity_ah``/``discharging_capacity_ah``
  (and the ``_wh`` energies) are cumulative *within a cycle*: they start from
  zero at the first row of each cycle and never decrease inside it. Vendors
  that reset per step (Maccor) or accumulate over the whole test are converted
  with :func:`counter_to_cycle_cumulative`.
* **Cycle and step**: ``cycle_count`` is the vendor's cycle number (integer,
  non-decreasing); ``step_index`` the programmed step number from the
  schedule; ``step_count`` a running counter that increases at every step
  change, so each step occurrence has its own number.
* **Temperature**: ``temperature_celsius`` is the cell (surface) temperature,
  ``ambient_temperature_celsius`` the chamber.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = [
    "COLUMNS",
    "OPTIONAL_COLUMNS",
    "REQUIRED_COLUMNS",
    "Column",
    "canonical_order",
    "column",
    "counter_to_cycle_cumulative",
    "current_direction",
    "infer_cycle_count",
    "step_count_from",
]


@dataclass(frozen=True, slots=True)
class Column:
    """Definition of one canonical column.

    Attributes
    ----------
    name
        Canonical (BDF machine) name.
    unit
        Physical unit, as a human-readable string ("s", "V", "A", "Ah", ...).
    dtype
        numpy dtype name the column is stored in.
    required
        Whether every cycling table must have it.
    bdf_label
        The BDF human-readable label (``"Test Time / s"``).
    description
        One line for documentation and ``voltlab --help`` output.
    """

    name: str
    unit: str
    dtype: str
    required: bool
    bdf_label: str
    description: str


COLUMNS: tuple[Column, ...] = (
    Column("test_time_second", "s", "float64", True, "Test Time / s",
           "Time since the start of the test, non-decreasing."),
    Column("voltage_volt", "V", "float64", True, "Voltage / V",
           "Cell terminal voltage."),
    Column("current_ampere", "A", "float64", True, "Current / A",
           "Cell current; positive charges the cell, negative discharges it."),
    Column("cycle_count", "1", "int64", True, "Cycle Count / 1",
           "Cycle number as numbered by the cycler (non-decreasing)."),
    Column("step_index", "1", "int64", False, "Step Index / 1",
           "Programmed step number in the cycler schedule."),
    Column("step_count", "1", "int64", True, "Step Count / 1",
           "Running count of step occurrences (increases at every step change)."),
    Column("unix_time_second", "s", "float64", False, "Unix Time / s",
           "Absolute time, seconds since 1970-01-01 UTC."),
    Column("charging_capacity_ah", "Ah", "float64", False, "Charging Capacity / Ah",
           "Charge passed into the cell since the start of the cycle."),
    Column("discharging_capacity_ah", "Ah", "float64", False, "Discharging Capacity / Ah",
           "Charge taken from the cell since the start of the cycle."),
    Column("charging_energy_wh", "Wh", "float64", False, "Charging Energy / Wh",
           "Energy put into the cell since the start of the cycle."),
    Column("discharging_energy_wh", "Wh", "float64", False, "Discharging Energy / Wh",
           "Energy taken from the cell since the start of the cycle."),
    Column("temperature_celsius", "degC", "float64", False, "Surface Temperature / degC",
           "Cell (surface) temperature."),
    Column("ambient_temperature_celsius", "degC", "float64", False,
           "Ambient Temperature / degC", "Chamber or room temperature."),
    Column("internal_resistance_ohm", "Ohm", "float64", False,
           "Internal Resistance / Ohm", "Internal resistance reported by the cycler."),
    Column("power_watt", "W", "float64", False, "Power / W",
           "Electrical power, same sign convention as current."),
)

_BY_NAME = {c.name: c for c in COLUMNS}
REQUIRED_COLUMNS: tuple[str, ...] = tuple(c.name for c in COLUMNS if c.required)
OPTIONAL_COLUMNS: tuple[str, ...] = tuple(c.name for c in COLUMNS if not c.required)


def column(name: str) -> Column:
    """Return the definition of canonical column ``name``.

    Raises
    ------
    KeyError
        If ``name`` is not a canonical column.
    """
    return _BY_NAME[name]


def canonical_order(names: list[str] | tuple[str, ...]) -> list[str]:
    """Order column names: canonical columns first (schema order), extras after, sorted."""
    known = [c.name for c in COLUMNS if c.name in names]
    extra = sorted(n for n in names if n not in _BY_NAME)
    return known + extra


_COUNTER_NOISE_REL = 1e-6
_COUNTER_NOISE_ABS = 1e-12


def counter_to_cycle_cumulative(
    values: npt.ArrayLike, cycle: npt.ArrayLike
) -> npt.NDArray[np.float64]:
    """Convert any vendor capacity/energy counter to "cumulative within cycle".

    Works whether the vendor resets its counter at every step (Maccor), at
    every cycle (Arbin) or never (cumulative over the test): an increase is
    added, a drop is taken as a reset of the counter to zero followed by
    growth to the new value, and a drop within rounding noise (1e-6 of the
    value) is no change.

    Parameters
    ----------
    values
        Counter values, shape (n,), any unit (Ah, Wh). NaN is treated as no
        change.
    cycle
        Cycle number per row, shape (n,), non-decreasing.

    Returns
    -------
    numpy.ndarray
        Shape (n,), zero at the first row of each cycle and non-decreasing
        within each cycle.

    Examples
    --------
    >>> counter_to_cycle_cumulative([0, 1, 2, 0, 1, 5, 6], [1, 1, 1, 1, 1, 2, 2]).tolist()
    [0.0, 1.0, 2.0, 2.0, 3.0, 0.0, 1.0]
    """
    v = np.asarray(values, dtype=np.float64)
    c = np.asarray(cycle)
    n = v.shape[0]
    if n == 0:
        return v.copy()
    # Forward-fill NaN so a missing sample neither adds nor resets.
    if np.isnan(v).any():
        idx = np.where(~np.isnan(v), np.arange(n), 0)
        np.maximum.accumulate(idx, out=idx)
        v = v[idx]
        v = np.nan_to_num(v, nan=0.0)
    delta = np.empty(n)
    delta[0] = 0.0
    d = np.diff(v)
    # A drop within rounding noise (1e-6 relative) is no change, not a reset: otherwise a
    # counter that dips by one ulp would be counted twice.
    noise = _COUNTER_NOISE_REL * np.abs(v[:-1]) + _COUNTER_NOISE_ABS
    delta[1:] = np.where(d >= 0, d, np.where(-d <= noise, 0.0, np.maximum(v[1:], 0.0)))
    new_cycle = np.empty(n, dtype=bool)
    new_cycle[0] = True
    new_cycle[1:] = c[1:] != c[:-1]
    delta[new_cycle] = 0.0
    total = np.cumsum(delta)
    starts = np.flatnonzero(new_cycle)
    offset = np.repeat(total[starts], np.diff(np.append(starts, n)))
    return total - offset


def step_count_from(*keys: npt.ArrayLike) -> npt.NDArray[np.int64]:
    """Running step counter (1-based) that increases whenever any key changes.

    Parameters
    ----------
    keys
        Arrays of shape (n,), e.g. cycle number, step index and current sign.

    Examples
    --------
    >>> step_count_from([1, 1, 1, 2], [1, 1, 2, 1]).tolist()
    [1, 1, 2, 3]
    """
    arrays = [np.asarray(k) for k in keys]
    n = arrays[0].shape[0]
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    change = np.zeros(n, dtype=bool)
    for a in arrays:
        change[1:] |= a[1:] != a[:-1]
    change[0] = True
    return np.cumsum(change).astype(np.int64)


def current_direction(current_ampere: npt.ArrayLike, threshold_ampere: float = 0.0) -> npt.NDArray[np.int8]:
    """+1 for charge, -1 for discharge, 0 for rest (|I| <= threshold)."""
    i = np.asarray(current_ampere, dtype=np.float64)
    out = np.zeros(i.shape, dtype=np.int8)
    out[i > threshold_ampere] = 1
    out[i < -threshold_ampere] = -1
    return out


def infer_cycle_count(current_ampere: npt.ArrayLike, threshold_ampere: float = 0.0) -> npt.NDArray[np.int64]:
    """Number cycles (from 1) when the file has no cycle column.

    A new cycle starts at the first charge row that follows a discharge, the
    convention of Arbin and BDF converters (charge then discharge = one cycle).

    Examples
    --------
    >>> infer_cycle_count([0, 1, 1, 0, -1, -1, 0, 1, -1]).tolist()
    [1, 1, 1, 1, 1, 1, 1, 2, 2]
    """
    d = current_direction(current_ampere, threshold_ampere)
    n = d.shape[0]
    cyc = np.ones(n, dtype=np.int64)
    if n == 0:
        return cyc
    nz = np.flatnonzero(d)
    if nz.size == 0:
        return cyc
    dirs = d[nz]
    starts = nz[1:][(dirs[1:] == 1) & (dirs[:-1] == -1)]
    bump = np.zeros(n, dtype=np.int64)
    bump[starts] = 1
    return cyc + np.cumsum(bump)
