"""Unit conversion and column helpers shared by the BDF, generic and vendor text readers.

Everything here is private to :mod:`voltlab.data.readers`; the public entry
points are the readers themselves.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable

import numpy as np
import numpy.typing as npt
import pandas as pd

from voltlab.data.schema import COLUMNS, counter_to_cycle_cumulative
from voltlab.errors import DataFormatError, UnitError

__all__ = [
    "CANONICAL_UNITS",
    "UNITS",
    "accepted_units",
    "convert_units",
    "guess_decimal_comma",
    "is_cycle_cumulative",
    "numeric_column",
    "parse_duration",
    "snake_case",
    "split_counter_by_direction",
    "split_header_unit",
    "to_cycle_cumulative",
    "unit_factor",
]

#: Canonical column name -> its unit (from :mod:`voltlab.data.schema`).
CANONICAL_UNITS: dict[str, str] = {c.name: c.unit for c in COLUMNS}

#: Accepted unit spelling -> (canonical unit, factor, offset): canonical = raw * factor + offset.
UNITS: dict[str, tuple[str, float, float]] = {
    # time
    "s": ("s", 1.0, 0.0), "sec": ("s", 1.0, 0.0), "second": ("s", 1.0, 0.0),
    "seconds": ("s", 1.0, 0.0), "ms": ("s", 1e-3, 0.0), "us": ("s", 1e-6, 0.0),
    "µs": ("s", 1e-6, 0.0), "min": ("s", 60.0, 0.0), "minutes": ("s", 60.0, 0.0),
    "h": ("s", 3600.0, 0.0), "hr": ("s", 3600.0, 0.0), "hours": ("s", 3600.0, 0.0),
    "d": ("s", 86400.0, 0.0), "day": ("s", 86400.0, 0.0), "days": ("s", 86400.0, 0.0),
    # voltage
    "V": ("V", 1.0, 0.0), "mV": ("V", 1e-3, 0.0), "uV": ("V", 1e-6, 0.0), "µV": ("V", 1e-6, 0.0),
    "kV": ("V", 1e3, 0.0),
    # current
    "A": ("A", 1.0, 0.0), "mA": ("A", 1e-3, 0.0), "uA": ("A", 1e-6, 0.0), "µA": ("A", 1e-6, 0.0),
    "nA": ("A", 1e-9, 0.0), "kA": ("A", 1e3, 0.0),
    # charge
    "Ah": ("Ah", 1.0, 0.0), "mAh": ("Ah", 1e-3, 0.0), "uAh": ("Ah", 1e-6, 0.0),
    "µAh": ("Ah", 1e-6, 0.0), "As": ("Ah", 1.0 / 3600.0, 0.0), "mAs": ("Ah", 1e-3 / 3600.0, 0.0),
    "coulomb": ("Ah", 1.0 / 3600.0, 0.0),
    # energy
    "Wh": ("Wh", 1.0, 0.0), "mWh": ("Wh", 1e-3, 0.0), "uWh": ("Wh", 1e-6, 0.0),
    "µWh": ("Wh", 1e-6, 0.0), "kWh": ("Wh", 1e3, 0.0), "J": ("Wh", 1.0 / 3600.0, 0.0),
    "kJ": ("Wh", 1e3 / 3600.0, 0.0),
    # temperature
    "degC": ("degC", 1.0, 0.0), "°C": ("degC", 1.0, 0.0), "celsius": ("degC", 1.0, 0.0),
    "K": ("degC", 1.0, -273.15), "kelvin": ("degC", 1.0, -273.15),
    "degF": ("degC", 5.0 / 9.0, -32.0 * 5.0 / 9.0), "°F": ("degC", 5.0 / 9.0, -32.0 * 5.0 / 9.0),
    # resistance
    "Ohm": ("Ohm", 1.0, 0.0), "ohm": ("Ohm", 1.0, 0.0), "Ω": ("Ohm", 1.0, 0.0),
    "mOhm": ("Ohm", 1e-3, 0.0), "mΩ": ("Ohm", 1e-3, 0.0), "uOhm": ("Ohm", 1e-6, 0.0),
    "µΩ": ("Ohm", 1e-6, 0.0), "kOhm": ("Ohm", 1e3, 0.0), "kΩ": ("Ohm", 1e3, 0.0),
    # power
    "W": ("W", 1.0, 0.0), "mW": ("W", 1e-3, 0.0), "kW": ("W", 1e3, 0.0),
    # dimensionless (cycle and step numbers)
    "1": ("1", 1.0, 0.0), "": ("1", 1.0, 0.0),
}


def accepted_units(canonical_unit: str) -> list[str]:
    """Unit spellings that convert to ``canonical_unit`` (e.g. ``"A"`` -> ``["A", "mA", ...]``)."""
    return [u for u, (cu, _, _) in UNITS.items() if cu == canonical_unit and u]


def unit_factor(unit: str, canonical_unit: str) -> tuple[float, float] | None:
    """``(factor, offset)`` converting ``unit`` to ``canonical_unit``, or None if incompatible.

    Exact spellings win; otherwise a case-insensitive match is accepted when
    it is unambiguous (``"MA"`` is never taken for ``"mA"``: milli/mega differ
    only by case, so those must be spelt exactly).
    """
    u = unit.strip()
    hit = UNITS.get(u)
    if hit is None:
        matches = [v for k, v in UNITS.items() if k.lower() == u.lower() and v[0] == canonical_unit]
        if len({(m[1], m[2]) for m in matches}) == 1 and not (u[:1] == "M" and len(u) > 1):
            hit = matches[0]
    if hit is None or hit[0] != canonical_unit:
        return None
    return hit[1], hit[2]


def convert_units(
    values: npt.ArrayLike,
    unit: str,
    column: str,
    *,
    path: str | os.PathLike[str] | None = None,
) -> npt.NDArray[np.float64]:
    """Convert ``values`` given in ``unit`` to the unit of canonical ``column``.

    Parameters
    ----------
    values
        Numbers, shape (n,).
    unit
        Their unit, e.g. ``"mA"``, ``"min"``, ``"K"``.
    column
        Canonical column name (``"current_ampere"``); its unit is the target.
    path
        File named in errors.

    Raises
    ------
    UnitError
        ``unit`` is unknown or not convertible to the column's unit.
    """
    target = CANONICAL_UNITS[column]
    fo = unit_factor(unit, target)
    if fo is None:
        raise UnitError(
            f"unit {unit!r} cannot be converted to {target!r} for this column; accepted units: "
            f"{', '.join(accepted_units(target))}",
            path=path, column=column, value=unit,
        )
    factor, offset = fo
    arr = np.asarray(values, dtype=np.float64)
    if factor == 1.0 and offset == 0.0:
        return arr
    return arr * factor + offset


# A number field whose exponent has 6+ digits. No real export writes one (float64 stops at e308),
# and pandas 2.x's C float parser crashes the interpreter (segmentation fault) on exponents beyond
# 2**31, e.g. "3.53E08307115776" - one flipped byte in "3.5308307115776". Such fields are rejected
# before pandas sees them.
_SNAKE = re.compile(r"[^0-9a-zA-Z]+")


_HEADER_UNIT = re.compile(r"^\s*(?P<base>.*?)\s*[\(\[]\s*(?P<unit>[^()\[\]]*?)\s*[\)\]]\s*$")


def split_header_unit(name: object) -> tuple[str, str]:
    """Normalised base name and unit of a column header with the unit in brackets.

    The base keeps only lower-case letters and digits; the unit is lower case
    without spaces or degree signs.

    Examples
    --------
    >>> split_header_unit("Test Time (s)"), split_header_unit("Charge_Capacity"), split_header_unit("T [°C]")
    (('testtime', 's'), ('chargecapacity', ''), ('t', 'c'))
    """
    text = str(name).strip().lstrip("\ufeff")
    m = _HEADER_UNIT.match(text)
    base, unit = (m["base"], m["unit"]) if m else (text, "")
    unit_n = unit.strip().lower().replace("°", "").replace(" ", "")
    return letters_and_digits(base), unit_n


_NOT_ALNUM_LOWER = re.compile(r"[^a-z0-9]")


def letters_and_digits(text: str) -> str:
    """``text`` in lower case with everything but ``a-z`` and ``0-9`` removed (the base names of
    :func:`split_header_unit`)."""
    return _NOT_ALNUM_LOWER.sub("", text.lower())


def snake_case(name: object) -> str:
    """Column label -> snake_case (``"Step Time (h)"`` -> ``"step_time_h"``); never empty."""
    s = _SNAKE.sub("_", str(name)).strip("_").lower()
    if not s:
        return "column"
    return f"c_{s}" if s[0].isdigit() else s


_DURATION = re.compile(r"^\s*(?:(\d+)[ .-])?(\d+):(\d{1,2}):(\d{1,2}(?:\.\d*)?)\s*$")


def parse_duration(values: Iterable[object]) -> npt.NDArray[np.float64]:
    """Durations written ``[d-]hh:mm:ss[.fff]`` (hours may exceed 24) -> seconds.

    Unparseable entries become NaN.

    Examples
    --------
    >>> parse_duration(["00:00:01.500", "19:41:58.980", "100:00:00", "x"]).tolist()[:3]
    [1.5, 70918.98, 360000.0]
    """
    s = pd.Series(list(values), dtype="object").astype(str)
    parts = s.str.extract(_DURATION)
    days = pd.to_numeric(parts[0], errors="coerce").fillna(0.0)
    hours = pd.to_numeric(parts[1], errors="coerce")
    minutes = pd.to_numeric(parts[2], errors="coerce")
    seconds = pd.to_numeric(parts[3], errors="coerce")
    total = days * 86400.0 + hours * 3600.0 + minutes * 60.0 + seconds
    return total.to_numpy(dtype=np.float64)


def numeric_column(
    series: pd.Series,
    column: str,
    *,
    path: str | os.PathLike[str] | None = None,
    decimal_comma: bool = False,
) -> npt.NDArray[np.float64]:
    """Numbers from a column; a non-empty entry that is not a number is an error naming its row.

    Raises
    ------
    DataFormatError
        An entry such as ``"3.2x"`` that is neither a number nor empty.
    """
    if pd.api.types.is_bool_dtype(series.dtype):
        return series.astype(np.float64).to_numpy()
    if pd.api.types.is_numeric_dtype(series.dtype):
        return series.to_numpy(dtype=np.float64, na_value=np.nan)
    text = series.astype("string").str.strip()
    huge = text.str.fullmatch(r"[-+]?[0-9]*[.,]?[0-9]*[eE][-+]?[0-9]{6,}").fillna(False).to_numpy(dtype=bool)
    if huge.any():
        r = int(np.flatnonzero(huge)[0])
        raise DataFormatError(f"value {text.iloc[r]!r} is not a valid number (exponent out of range)",
                              path=path, row=r, column=column, value=str(text.iloc[r]))
    cleaned = text.str.replace(",", ".", regex=False) if decimal_comma else text
    out = pd.to_numeric(cleaned, errors="coerce")
    bad = out.isna() & text.notna() & (text != "") & (text.str.lower() != "nan")
    if bad.any():
        r = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataFormatError(
            f"value {text.iloc[r]!r} is not a number; every entry of this column must be numeric "
            "(check for a damaged or truncated line)",
            path=path, row=r, column=column, value=str(text.iloc[r]),
        )
    return out.to_numpy(dtype=np.float64, na_value=np.nan)


_COMMA_DECIMAL = re.compile(r"^[-+]?\d+,\d+$")
_POINT_DECIMAL = re.compile(r"^[-+]?\d*\.\d+([eE][-+]?\d+)?$")


def guess_decimal_comma(lines: list[str], sep: str) -> bool:
    """True if numbers in ``sep``-separated ``lines`` use a decimal comma (``3,8133``).

    Counts fields like ``3,8133`` against fields like ``3.8133``; never true
    for comma-separated text.

    Examples
    --------
    >>> guess_decimal_comma(["0\t1\t3500,5", "0,5\t1\t0"], "\t")
    True
    >>> guess_decimal_comma(["0\t1.5\t3500", "2\t1\t0"], "\t")
    False
    """
    if sep == ",":
        return False
    comma = point = 0
    for line in lines[:200]:
        for field in line.split(sep):
            f = field.strip()
            if _COMMA_DECIMAL.match(f):
                comma += 1
            elif _POINT_DECIMAL.match(f):
                point += 1
    return comma > point


def is_cycle_cumulative(values: npt.ArrayLike, cycle: npt.ArrayLike) -> bool:
    """True if ``values`` are already zero at each cycle start and non-decreasing within cycles."""
    v = np.asarray(values, dtype=np.float64)
    c = np.asarray(cycle)
    if v.size == 0:
        return True
    if np.isnan(v).any():
        return False
    start = np.ones(v.size, dtype=bool)
    start[1:] = c[1:] != c[:-1]
    if np.any(v[start] != 0.0):
        return False
    d = np.diff(v)
    # Same rounding tolerance as counter_to_cycle_cumulative.
    noise = 1e-6 * np.abs(v[:-1]) + 1e-12
    return bool(np.all((d >= -noise) | start[1:]))


def to_cycle_cumulative(values: npt.ArrayLike, cycle: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Canonical "cumulative within cycle" values; unchanged (bit for bit) if already canonical."""
    v = np.asarray(values, dtype=np.float64)
    if is_cycle_cumulative(v, cycle):
        return v.copy()
    return counter_to_cycle_cumulative(np.abs(v), cycle)


def split_counter_by_direction(
    counter: npt.ArrayLike, direction: npt.ArrayLike, cycle: npt.ArrayLike
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Split one unsigned vendor counter into charge and discharge counters, cumulative within cycle.

    Rows with ``direction`` +1 feed the charge counter, -1 the discharge
    counter; other rows (rest) change neither. Vendor resets are handled by
    :func:`~voltlab.data.schema.counter_to_cycle_cumulative`.

    Parameters
    ----------
    counter
        Vendor capacity or energy counter (Ah or Wh), shape (n,); its sign is ignored.
    direction
        +1 charge, -1 discharge, 0 rest, shape (n,).
    cycle
        Cycle number per row, shape (n,).
    """
    q = np.abs(np.asarray(counter, dtype=np.float64))
    d = np.asarray(direction)
    chg = counter_to_cycle_cumulative(np.where(d > 0, q, np.nan), cycle)
    dis = counter_to_cycle_cumulative(np.where(d < 0, q, np.nan), cycle)
    return chg, dis
