"""Neware readers: BTSDA CSV exports and native ``.ndax`` files.

Two registered formats:

``neware_csv``
    CSV exports of Neware's BTSDA software, in either layout:

    * the flat **record layer** (one header row, one row per record, e.g.
      ``DataPoint,Cycle Index,Step Index,Step Type,Time,Cumulative Time,
      Current(A),Voltage(V),...,Date,...``);
    * the hierarchical **3-layer** "regular" export, where three header lines
      (cycle layer, step layer with one leading empty field, record layer with
      two) are followed by interleaved cycle, step and record rows that are
      told apart by their number of leading empty fields. Only the record
      layer becomes the time series; the cycle index and the step index,
      number and type of the preceding cycle/step rows are carried down to
      their records. The first cycle row may hold its first step on the same
      line (cycle fields then step fields).

``neware_ndax``
    Native BTS 8 ``.ndax`` files (a ZIP of XML metadata and binary ``.ndc``
    record files), decoded with the PyPI package ``fastnda``.

Conventions of the raw files (all converted to :mod:`voltlab.data.schema`):

* units are in the column names (``Current(A)``/``Current(mA)``,
  ``Voltage(V)``/``Voltage(mV)``, ``Capacity(Ah)``/``Capacity(mAh)``,
  ``Energy(Wh)``/``Energy(mWh)``, ``Power(W)``/``Power(mW)``) and are
  converted to A, V, Ah, Wh, W;
* current is signed by Neware, positive = charge, negative = discharge (kept).
  If a file's discharge steps (``Step Type`` containing ``DChg``) carry only
  positive currents, the export is unsigned and those currents are negated;
* ``Time`` (time in step) and ``Total Time``/``Cumulative Time`` are
  ``h:mm:ss`` or ``h:mm:ss.fff`` durations whose hours run past 24, or plain
  seconds. ``test_time_second`` comes from the total time, else from the
  absolute date, else from the step times added up step by step;
* ``Date``/``Realtime`` are the instrument PC's wall clock: taken as UTC
  unless ``timezone="Europe/Oslo"`` (an IANA name) is passed to ``read``;
* Neware capacity and energy counters restart at every step:
  ``Chg. Cap.``/``DChg. Cap.`` (or the single unsigned ``Capacity`` column,
  split by step type or current sign) are converted to cumulative within
  cycle with :func:`~voltlab.data.schema.counter_to_cycle_cumulative`;
* ``T1`` (first auxiliary thermocouple, unit shown as ``?`` when ``°C`` was
  lost) becomes ``temperature_celsius``; other columns are kept as numeric
  extras with snake_case names, plus the text column ``step_type``.
"""

from __future__ import annotations

import contextlib
import csv
import io
import logging
import os
import re
import tempfile
import warnings
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from voltlab.data.readers._text import decode, plain_durations_seconds, read_text, to_float
from voltlab.data.readers._unitconv import snake_case, split_header_unit
from voltlab.data.readers.base import CyclerReader, register_reader
from voltlab.data.schema import counter_to_cycle_cumulative, current_direction, infer_cycle_count
from voltlab.errors import DataFormatError, DependencyError, SchemaError, UnitError

__all__ = ["NewareCsvReader", "NewareNdaxReader", "neware_records_to_canonical", "parse_duration"]

# --------------------------------------------------------------------------------------------
# Column names and units
# --------------------------------------------------------------------------------------------


#: Role -> normalised base names (lower case, letters and digits only) that fill it.
_ALIASES: dict[str, tuple[str, ...]] = {
    "record": ("datapoint", "recordid", "recordindex", "recordnumber", "recordno"),
    "cycle": ("cycleindex", "cycleid", "cycleno", "cyclenumber", "cycle"),
    "step_index": ("stepindex", "stepid", "stepno", "steps", "step"),
    "step_number": ("stepnumber",),
    "step_type": ("steptype", "status", "state", "stepname"),
    "total_time": ("totaltime", "cumulativetime", "testtime"),
    "step_time": ("time", "steptime", "relativetime"),
    "abs_time": ("date", "realtime", "absolutetime", "systemtime", "datetime"),
    "current": ("current",),
    "voltage": ("voltage",),
    "capacity": ("capacity",),
    "chg_cap": ("chgcap", "chargecapacity", "chgcapacity"),
    "dchg_cap": ("dchgcap", "dischargecapacity", "dchgcapacity"),
    "energy": ("energy",),
    "chg_energy": ("chgenergy", "chargeenergy"),
    "dchg_energy": ("dchgenergy", "dischargeenergy"),
    "power": ("power",),
    "temperature": ("t1", "temperature", "temp", "auxt1"),
}

#: Physical kind of each role -> accepted unit (normalised) -> factor to SI-style unit.
_UNITS: dict[str, dict[str, float]] = {
    "current": {"a": 1.0, "ma": 1e-3, "ua": 1e-6, "µa": 1e-6},
    "voltage": {"v": 1.0, "mv": 1e-3},
    "capacity": {"ah": 1.0, "mah": 1e-3, "uah": 1e-6, "µah": 1e-6},
    "energy": {"wh": 1.0, "mwh": 1e-3, "kwh": 1e3},
    "power": {"w": 1.0, "mw": 1e-3, "kw": 1e3},
    "temperature": {"": 1.0, "?": 1.0, "c": 1.0, "degc": 1.0, "℃": 1.0},
}
_ROLE_KIND = {
    "current": "current",
    "voltage": "voltage",
    "capacity": "capacity",
    "chg_cap": "capacity",
    "dchg_cap": "capacity",
    "energy": "energy",
    "chg_energy": "energy",
    "dchg_energy": "energy",
    "power": "power",
    "temperature": "temperature",
}

_STEP_TYPES = re.compile(r"(?i)\b(?:CC|CV|CCCV|CP|CR)[ _]?D?Chg\b|\bRest\b")




def _find_roles(columns: list[str]) -> dict[str, str]:
    """Role -> raw column name (first column whose base name is an alias of the role)."""
    keys = {c: split_header_unit(c)[0] for c in columns}
    found: dict[str, str] = {}
    for role, aliases in _ALIASES.items():
        for alias in aliases:
            hit = next((c for c in columns if keys[c] == alias and c not in found.values()), None)
            if hit is not None:
                found[role] = hit
                break
    return found


def _factor(role: str, column: str, path: Path) -> float:
    kind = _ROLE_KIND[role]
    unit = split_header_unit(column)[1]
    table = _UNITS[kind]
    if unit not in table:
        accepted = ", ".join(repr(u) for u in table if u)
        raise UnitError(
            f"unit {unit!r} not understood for a {kind} column; accepted: {accepted}. "
            "Re-export from BTSDA with standard units",
            path=path, column=column, value=unit,
        )
    return table[unit]


def _fast_float(series: pd.Series) -> np.ndarray:
    """``to_float(series)`` as float64, without cleaning text that already parses.

    Text is first parsed as it is (pandas' C number parser, which accepts the
    surrounding blanks that ``to_float`` strips); only the entries that do not
    parse (thousands commas, odd blanks, words) go through ``to_float``, once
    per distinct value. The result is identical to ``to_float``.
    """
    if pd.api.types.is_numeric_dtype(series.dtype):
        return series.to_numpy(dtype=np.float64, copy=True)
    out = pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64, copy=True)
    bad = np.isnan(out)
    if bad.any():
        codes, uniques = pd.factorize(series.to_numpy(dtype=object)[bad], use_na_sentinel=False)
        cleaned = to_float(pd.Series(uniques, dtype=object)).to_numpy(dtype=np.float64)
        out[bad] = cleaned[codes]
    return out


def _numeric(series: pd.Series) -> np.ndarray:
    out = _fast_float(series)
    out[~np.isfinite(out)] = np.nan
    return out


def _text_matches(series: pd.Series, pattern: str) -> np.ndarray:
    """``series.astype(str).str.lower().str.contains(pattern)``, evaluated once per distinct value."""
    codes, uniques = pd.factorize(series.astype(str), use_na_sentinel=False)
    low = pd.Series(uniques, dtype=object).astype(str).str.lower()
    return low.str.contains(pattern, regex=True).to_numpy(dtype=bool)[codes]


def _stripped_text(series: pd.Series) -> np.ndarray:
    """``series.astype(str).str.strip().to_numpy()``, evaluated once per distinct value."""
    codes, uniques = pd.factorize(series.astype(str), use_na_sentinel=False)
    return pd.Series(uniques, dtype=object).astype(str).str.strip().to_numpy(dtype=object)[codes]


# --------------------------------------------------------------------------------------------
# Times
# --------------------------------------------------------------------------------------------

_DURATION_RE = r"^\s*(?:(?P<d>\d+)\s*(?:d|day|days|-)\s*)?(?P<h>\d+):(?P<m>\d{1,2}):(?P<s>\d{1,2}(?:[.,]\d*)?)\s*$"


def parse_duration(values: pd.Series) -> np.ndarray:
    """Seconds from Neware durations.

    Parameters
    ----------
    values
        ``h:mm:ss`` or ``h:mm:ss.fff`` text (hours may exceed 24, an optional
        ``"1-"``/``"1 d "`` day prefix is accepted) or plain numbers of seconds.

    Returns
    -------
    numpy.ndarray
        Float seconds; NaN where a value is not a duration.

    Examples
    --------
    >>> parse_duration(pd.Series(["00:01:00", "144:02:18", "0:00:02.5"])).tolist()
    [60.0, 518538.0, 2.5]
    """
    if pd.api.types.is_numeric_dtype(values.dtype):
        return values.to_numpy(dtype=np.float64)
    fast = plain_durations_seconds(values, allow_days=False)
    if fast is not None:
        return fast
    s = values.astype(str).str.strip()
    parts = s.str.extract(_DURATION_RE)
    secs = parts["s"].str.replace(",", ".", regex=False)
    dur = (
        pd.to_numeric(parts["d"], errors="coerce").fillna(0.0) * 86400.0
        + pd.to_numeric(parts["h"], errors="coerce") * 3600.0
        + pd.to_numeric(parts["m"], errors="coerce") * 60.0
        + pd.to_numeric(secs, errors="coerce")
    ).to_numpy(dtype=np.float64)
    plain = pd.to_numeric(s, errors="coerce").to_numpy(dtype=np.float64)
    return np.where(np.isnan(dur), plain, dur)




def _to_unix(values: pd.Series, timezone: str | None) -> np.ndarray:
    """Unix seconds from date-time text (naive wall clock, UTC unless ``timezone``)."""
    s = values.astype(str).str.strip()
    dt = pd.to_datetime(s, format="ISO8601", errors="coerce")
    if dt.isna().mean() > 0.5:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            dt = pd.to_datetime(s, format="mixed", errors="coerce")
    if timezone:
        dt = dt.dt.tz_localize(timezone, ambiguous="NaT", nonexistent="NaT").dt.tz_convert("UTC")
        dt = dt.dt.tz_localize(None)
    return ((dt - pd.Timestamp("1970-01-01")) / pd.Timedelta(seconds=1)).to_numpy(dtype=np.float64)


def _accumulate_step_time(step_time: np.ndarray, step_key: np.ndarray) -> np.ndarray:
    """Test time from per-step times: each new step starts where the previous one ended."""
    n = step_time.shape[0]
    t = np.nan_to_num(step_time, nan=0.0)
    new_step = np.zeros(n, dtype=bool)
    new_step[1:] = (step_key[1:] != step_key[:-1]) | (t[1:] < t[:-1])
    offset = np.zeros(n)
    ends = np.flatnonzero(new_step) - 1
    offset[ends + 1] = t[ends]
    return t + np.cumsum(offset)


def _test_time(raw: pd.DataFrame, roles: dict[str, str], unix: np.ndarray | None,
               step_key: np.ndarray, path: Path) -> tuple[np.ndarray, str]:
    """Seconds since test start and a note on where they came from."""
    if "total_time" in roles:
        t = parse_duration(raw[roles["total_time"]])
        if np.isfinite(t).mean() > 0.5:
            return t, roles["total_time"]
    if unix is not None and np.isfinite(unix).mean() > 0.5:
        return unix - unix[np.isfinite(unix)][0], roles["abs_time"]
    if "step_time" in roles:
        t = parse_duration(raw[roles["step_time"]])
        if np.isfinite(t).mean() > 0.5:
            return _accumulate_step_time(t, step_key), f"sum of {roles['step_time']!r} per step"
    raise SchemaError(
        f"no usable time column: expected 'Total Time'/'Cumulative Time' (h:mm:ss), 'Date'/"
        f"'Realtime' or 'Time'; have {list(raw.columns)}",
        path=path,
    )


# --------------------------------------------------------------------------------------------
# Record table -> canonical columns
# --------------------------------------------------------------------------------------------


def _direction(raw: pd.DataFrame, roles: dict[str, str], current: np.ndarray) -> np.ndarray:
    """+1 charge, -1 discharge, 0 other per row: from the step type, else the current sign."""
    from_current = current_direction(np.nan_to_num(current))
    if "step_type" not in roles:
        return from_current
    types = raw[roles["step_type"]]
    dchg = _text_matches(types, r"dchg|discharge|dis_?chg")
    chg = (~dchg) & _text_matches(types, r"chg|charge")
    out = np.where(dchg, -1, np.where(chg, 1, 0)).astype(np.int8)
    return np.where(out == 0, from_current, out).astype(np.int8)


def _signed_current(raw: pd.DataFrame, roles: dict[str, str], current: np.ndarray,
                    extra: dict[str, Any]) -> np.ndarray:
    """Negate discharge currents of unsigned exports (all discharge-step currents >= 0)."""
    if "step_type" not in roles:
        return current
    dchg = _text_matches(raw[roles["step_type"]], r"dchg|discharge")
    i = current[dchg]
    if i.size and np.nanmax(np.abs(np.nan_to_num(i))) > 0 and not (np.nan_to_num(i) < 0).any():
        extra["current_sign"] = "unsigned export: discharge-step currents negated"
        out = current.copy()
        out[dchg] = -np.abs(out[dchg])
        return out
    return current


def _split_counter(raw: pd.DataFrame, roles: dict[str, str], single: str, chg: str, dchg: str,
                   cycle: np.ndarray, direction: np.ndarray, path: Path) -> tuple[np.ndarray, np.ndarray] | None:
    """Charging and discharging counters (cumulative within cycle) from Neware columns."""
    if chg in roles and dchg in roles:
        c = np.abs(_numeric(raw[roles[chg]])) * _factor(chg, roles[chg], path)
        d = np.abs(_numeric(raw[roles[dchg]])) * _factor(dchg, roles[dchg], path)
    elif single in roles:
        v = _numeric(raw[roles[single]]) * _factor(single, roles[single], path)
        if (v < 0).any() and (v > 0).any():
            c, d = np.clip(v, 0, None), np.clip(-v, 0, None)
        else:
            a = np.abs(v)
            c = np.where(direction > 0, a, 0.0)
            d = np.where(direction < 0, a, 0.0)
            c[np.isnan(a)] = np.nan
            d[np.isnan(a)] = np.nan
    else:
        return None
    return counter_to_cycle_cumulative(c, cycle), counter_to_cycle_cumulative(d, cycle)


def _int_column(raw: pd.DataFrame, column: str) -> np.ndarray:
    return np.round(_numeric(raw[column]))


def neware_records_to_canonical(
    raw: pd.DataFrame, *, path: Path, timezone: str | None = None
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Convert a Neware record table (raw BTSDA column names) to canonical columns.

    Parameters
    ----------
    raw
        One row per record, columns named as in the export (units in
        parentheses), values as text or numbers.
    path
        The file, named in error messages.
    timezone
        IANA zone of the instrument clock for ``Date``/``Realtime``; UTC if None.

    Returns
    -------
    (pandas.DataFrame, dict)
        Canonical table and notes for the metadata ``extra``.

    Raises
    ------
    SchemaError
        Voltage, current or time columns are missing.
    UnitError
        A unit in a header is not understood.
    """
    columns = [str(c) for c in raw.columns]
    roles = _find_roles(columns)
    missing = [r for r in ("voltage", "current") if r not in roles]
    if missing:
        raise SchemaError(
            f"not a Neware record table: no {' or '.join(missing)} column (expected e.g. "
            f"'Voltage(V)' and 'Current(A)'); have {columns}",
            path=path,
        )
    extra: dict[str, Any] = {}
    volt = _numeric(raw[roles["voltage"]]) * _factor("voltage", roles["voltage"], path)
    current = _numeric(raw[roles["current"]]) * _factor("current", roles["current"], path)
    current = _signed_current(raw, roles, current, extra)

    if "cycle" in roles:
        cycle = _int_column(raw, roles["cycle"])
    else:
        cycle = infer_cycle_count(np.nan_to_num(current)).astype(np.float64)
        extra["cycle_count"] = "inferred from current (no cycle column)"
    step = _int_column(raw, roles["step_index"]) if "step_index" in roles else None

    unix = _to_unix(raw[roles["abs_time"]], timezone) if "abs_time" in roles else None
    step_key = step if step is not None else current_direction(np.nan_to_num(current))
    t, t_source = _test_time(raw, roles, unix, np.nan_to_num(step_key, nan=-1), path)
    extra["test_time_source"] = t_source

    out: dict[str, Any] = {
        "test_time_second": t,
        "voltage_volt": volt,
        "current_ampere": current,
        "cycle_count": cycle,
    }
    if step is not None:
        out["step_index"] = step
    if "step_number" in roles:
        sn = _int_column(raw, roles["step_number"])
        if np.isfinite(sn).all() and (np.diff(sn) >= 0).all():
            out["step_count"] = sn.astype(np.int64)
    if unix is not None and np.isfinite(unix).any():
        out["unix_time_second"] = unix

    direction = _direction(raw, roles, current)
    cyc_key = np.nan_to_num(cycle, nan=-1)
    caps = _split_counter(raw, roles, "capacity", "chg_cap", "dchg_cap", cyc_key, direction, path)
    if caps is not None:
        out["charging_capacity_ah"], out["discharging_capacity_ah"] = caps
    energies = _split_counter(raw, roles, "energy", "chg_energy", "dchg_energy", cyc_key, direction, path)
    if energies is not None:
        out["charging_energy_wh"], out["discharging_energy_wh"] = energies
    if "power" in roles:
        out["power_watt"] = _numeric(raw[roles["power"]]) * _factor("power", roles["power"], path)
    if "temperature" in roles:
        out["temperature_celsius"] = _numeric(raw[roles["temperature"]]) * _factor(
            "temperature", roles["temperature"], path
        )
    df = _add_extras(pd.DataFrame(out, index=raw.index), raw, roles)
    return df, extra


def _add_extras(df: pd.DataFrame, raw: pd.DataFrame, roles: dict[str, str]) -> pd.DataFrame:
    """``df`` with the unused numeric vendor columns (snake_case) and the step type text added."""
    used = set(roles.values()) - {roles.get("record", ""), roles.get("step_time", "")}
    new: dict[str, Any] = {}
    if "step_type" in roles:
        new["step_type"] = _stripped_text(raw[roles["step_type"]])
    for col in raw.columns:
        if col in used or str(col).startswith("Unnamed"):
            continue
        name = snake_case(col)
        if name == "step_type" and "step_type" in roles:
            continue
        if col == roles.get("record"):
            name = "record_index"
        elif col == roles.get("step_time"):
            vals = parse_duration(raw[col])
            if np.isfinite(vals).any():
                new["step_time_second"] = vals
            continue
        vals = _numeric(raw[col])
        if not np.isfinite(vals).any():
            continue
        base, k = name, 2
        while name in df.columns or name in new:
            name = f"{base}_{k}"
            k += 1
        new[name] = vals
    if not new:
        return df
    # one concatenation, not one column insert per vendor column (about 1.5 ms each); the names above
    # are new to df (the canonical columns hold no step_type)
    return pd.concat([df, pd.DataFrame(new, index=df.index)], axis=1)


# --------------------------------------------------------------------------------------------
# CSV layouts
# --------------------------------------------------------------------------------------------


def _delimiter(header: str) -> str:
    counts = {d: header.count(d) for d in (",", "\t", ";")}
    return max(counts, key=lambda d: counts[d])


def _is_three_layer(lines: list[str]) -> bool:
    if len(lines) < 3:
        return False
    sep = _delimiter(lines[0])
    l0, l1, l2 = (ln.lstrip("\ufeff") for ln in lines[:3])
    return (
        split_header_unit(l0.split(sep)[0])[0] in ("cycleindex", "cycleid", "cycle")
        and l1.startswith(sep) and not l1.startswith(sep * 2)
        and l2.startswith(sep * 2)
    )


def _leading_empty(fields: list[str]) -> int:
    n = 0
    for f in fields:
        if f.strip():
            break
        n += 1
    return n


def _read_three_layer(text: str, path: Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Record layer of a 3-layer export, with cycle and step fields carried down."""
    lines = text.splitlines()
    sep = _delimiter(lines[0])
    rows = list(csv.reader(lines, delimiter=sep))
    cycle_hdr = [h.strip() for h in rows[0]]
    step_hdr = [h.strip() for h in rows[1][1:]]
    rec_hdr = [h.strip() for h in rows[2][2:]]
    cyc_col, step_roles = cycle_hdr[0], _find_roles(step_hdr)
    carried = [k for k in ("step_index", "step_number", "step_type") if k in step_roles]
    step_pos = {k: step_hdr.index(step_roles[k]) for k in carried}
    cur_cycle: str | None = None
    cur_step: dict[str, str] = {}
    records: list[list[str]] = []
    n_cycles = n_steps = 0
    width = len(rec_hdr)

    def take_step(fields: list[str]) -> None:
        nonlocal n_steps
        n_steps += 1
        for k, pos in step_pos.items():
            cur_step[k] = fields[pos] if pos < len(fields) else ""

    for k, fields in enumerate(rows[3:], start=3):
        if not any(f.strip() for f in fields):
            continue
        lead = _leading_empty(fields)
        if lead == 0:
            n_cycles += 1
            cur_cycle = fields[0]
            if len(fields) > len(cycle_hdr):
                take_step(fields[len(cycle_hdr):])
        elif lead == 1:
            take_step(fields[1:])
        else:
            if cur_cycle is None:
                raise DataFormatError(
                    "record row before any cycle row in a Neware 3-layer export; the file is "
                    "truncated at the start or not a BTSDA export",
                    path=path, row=k,
                )
            rec = fields[2:2 + width] + [""] * max(0, width - len(fields) + 2)
            records.append([*rec, cur_cycle, *(cur_step.get(c, "") for c in carried)])
    if not records:
        raise DataFormatError("no record rows in the Neware 3-layer export", path=path)
    names = [*rec_hdr, cyc_col, *(step_roles[c] for c in carried)]
    names = _dedupe(names)
    return _typed_records(names, records, sep), {"layout": "3-layer (cycle/step/record)",
                                                 "cycles_in_cycle_layer": n_cycles, "steps_in_step_layer": n_steps}


def _typed_records(names: list[str], records: list[list[str]], sep: str) -> pd.DataFrame:
    """The record rows as a table with numeric columns typed, as :func:`_read_typed` types a
    record-layer export (the numbers are then parsed once, in C, instead of as text column by
    column: 0.5 s -> 0.05 s for 9,295 records). Rows whose fields hold the separator or a quote
    cannot be re-joined safely and stay text, as before."""
    text = "\n".join(sep.join(r) for r in [names, *records]) + "\n"
    if '"' in text or text.count(sep) != (len(records) + 1) * (len(names) - 1):
        return pd.DataFrame(records, columns=names)
    raw = _read_typed(text, sep)
    raw.columns = names  # _dedupe's names (pandas would number repeats differently)
    return raw


def _dedupe(names: list[str]) -> list[str]:
    out: list[str] = []
    for n in names:
        base, k, name = n, 2, n
        while name in out:
            name = f"{base}.{k}"
            k += 1
        out.append(name)
    return out


#: Roles whose columns are read as text (durations, dates, step names).
_TEXT_ROLES = ("step_type", "total_time", "step_time", "abs_time")


def _read_typed(text: str, sep: str) -> pd.DataFrame:
    """The record table, numeric columns typed by pandas' C parser, the others as text.

    A column comes back numeric only when every field of it parses as a number
    (same C number parser as ``pd.to_numeric``); columns with any other field
    (blanks, thousands commas, words) stay text exactly as with ``dtype=str``,
    and so do the text roles (durations, dates, step type) and columns the
    parser would read as booleans.
    """
    opts: dict[str, Any] = {"sep": sep, "keep_default_na": False, "engine": "c"}
    names, text_columns = _header_and_text_columns(text, sep)
    dtype: dict[Any, Any] = dict.fromkeys(text_columns, str)
    fast = _read_typed_arrow(text, sep, names, text_columns)
    if fast is not None:
        return fast
    raw = pd.read_csv(io.StringIO(text), dtype=dtype, low_memory=False, **opts)
    if not isinstance(raw.index, pd.RangeIndex):  # rows longer than the header: all text, as before
        return pd.read_csv(io.StringIO(text), dtype=str, low_memory=False, **opts)
    kinds = {c: raw[c].dtype.kind for c in raw.columns}
    if any(k not in "fiuO" for k in kinds.values()):  # booleans ("True"): keep their text
        dtype.update({c: str for c, k in kinds.items() if k not in "fiuO"})
        raw = pd.read_csv(io.StringIO(text), dtype=dtype, low_memory=False, **opts)
    return raw


def _header_and_text_columns(text: str, sep: str) -> tuple[list[str], set[str]]:
    """The header's names as pandas reads them, and those of the text roles (durations, dates, step type)."""
    first = text.split("\n", 1)[0]
    # The header line alone gives the same names (and skips copying the whole file into a StringIO)
    # unless a quoted field could run onto the next line.
    head = first if '"' not in first else text
    names = list(pd.read_csv(io.StringIO(head), nrows=0, sep=sep, keep_default_na=False, engine="c").columns)
    clean = [str(c).strip().lstrip("\ufeff") for c in names]
    roles = _find_roles(clean)
    return names, {names[clean.index(roles[r])] for r in _TEXT_ROLES if r in roles}


def _read_typed_arrow(text: str, sep: str, names: list[str], text_columns: set[str]) -> pd.DataFrame | None:
    """:func:`_read_typed`'s table through Arrow's CSV reader, or None where the two could differ.

    Arrow parses a record table about 3x faster than pandas' C parser (9,065 x 26 fields: 23 ms
    against 70 ms). Its inference is held to the pandas result: no null markers (blank and
    ``NA`` fields are text, as with ``keep_default_na=False``), the header's names as pandas
    de-duplicated them, the text roles as text, and any column Arrow would type as something
    other than int64, float64 or text (dates, times, booleans) read again as text. Any row that
    is not exactly one field per name, or any text that Arrow refuses, returns None and the
    pandas path reads the file. Columns that only one of the two parses as numbers (surrounding
    blanks, ``NaN``) become the same float values in :func:`_numeric`.
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv

    try:
        body = text.encode("utf-8")
    except UnicodeEncodeError:
        return None
    if '"' in text:  # quoting rules: leave them to pandas
        return None
    read = pacsv.ReadOptions(column_names=[str(n) for n in names], skip_rows=1, use_threads=False)
    parse = pacsv.ParseOptions(delimiter=sep, quote_char=False)
    forced = set(text_columns)
    for _ in range(2):
        convert = pacsv.ConvertOptions(
            column_types={str(c): pa.string() for c in forced}, null_values=[], strings_can_be_null=False,
            quoted_strings_can_be_null=False, true_values=[], false_values=[], timestamp_parsers=[],
        )
        try:
            table = pacsv.read_csv(io.BytesIO(body), read_options=read, parse_options=parse,
                                   convert_options=convert)
        except (pa.ArrowException, ValueError):
            return None
        odd = {f.name for f in table.schema
               if not (pa.types.is_int64(f.type) or pa.types.is_float64(f.type) or pa.types.is_string(f.type))}
        if not odd:
            df = table.to_pandas()
            df.columns = names
            return df
        forced |= odd
    return None


def _read_record_layer(text: str, path: Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    first = text.lstrip("\ufeff").split("\n", 1)[0].rstrip("\r")
    sep = _delimiter(first)
    roles = _find_roles([f.strip() for f in first.split(sep)])
    if "voltage" not in roles or "current" not in roles:
        raise DataFormatError(
            "not a Neware BTSDA CSV export: the first line has no 'Voltage(V)' and 'Current(A)' "
            f"columns (it reads {first[:120]!r}); use read_cycler_file(path) to detect the format",
            path=path, row=0,
        )
    try:
        raw = _read_typed(text, sep)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeError) as exc:
        raise DataFormatError(
            f"cannot parse the Neware CSV ({exc}); expected one header row then one row per record",
            path=path,
        ) from exc
    raw.columns = [str(c).strip().lstrip("\ufeff") for c in raw.columns]
    # A file cut mid-line leaves an incomplete last row: drop it rather than fail on NaN, and say so.
    notes: dict[str, Any] = {"layout": "record layer"}
    if len(raw) > 1 and not text.endswith(("\n", "\r")):
        before, last = ([str(v).strip() == "" for v in row] for row in raw.iloc[-2:].to_numpy(dtype=object))
        if sum(last) > sum(before):
            raw = raw.iloc[:-1]
            notes.update({"truncated": True, "truncated_last_line": text.rsplit("\n", 1)[-1][:200]})
    return raw, notes


# --------------------------------------------------------------------------------------------
# Readers
# --------------------------------------------------------------------------------------------


@register_reader
class NewareCsvReader(CyclerReader):
    """Neware BTSDA CSV export (record layer or cycle/step/record 3-layer).

    Options
    -------
    timezone : str, optional
        IANA time zone of the instrument clock, used for ``Date``/``Realtime``
        (``unix_time_second``); UTC if omitted.
    """

    name = "neware_csv"
    options = ("timezone",)
    vendor = "Neware"
    description = "BTSDA CSV export (record layer or 3-layer cycle/step/record)"
    extensions = (".csv",)

    @classmethod
    def sniff(cls, path: Path, head: bytes) -> float:
        """Confidence from the header line(s): Neware's ``Voltage(V)``-style names."""
        if b"\x00" in head[:4096]:
            return 0.0
        lines = decode(head).splitlines()
        if not lines:
            return 0.0
        if _is_three_layer(lines):
            return 0.95 if "Voltage(" in lines[2].replace(" (", "(") else 0.7
        keys = {split_header_unit(f)[0] for f in re.split(r"[,\t;]", lines[0])}
        has_v = bool(re.search(r"Voltage\((?:V|mV)\)", lines[0]))
        has_i = bool(re.search(r"Current\((?:A|mA|uA|µA)\)", lines[0]))
        if not (has_v and has_i):
            return 0.0
        markers = keys & {"datapoint", "steptype", "cycleindex", "stepindex", "recordid", "realtime",
                          "chgcap", "dchgcap", "totaltime", "cumulativetime", "relativetime"}
        score = 0.4 + 0.15 * min(len(markers), 3)
        if _STEP_TYPES.search("\n".join(lines[1:50])):
            score += 0.1
        return min(score, 0.95)

    @classmethod
    def _read(cls, path: Path, **options: Any) -> tuple[pd.DataFrame, dict[str, Any]]:
        timezone = options.pop("timezone", None)
        if options:
            raise TypeError(f"unknown option(s) for neware_csv: {sorted(options)}; accepted: timezone")
        text = read_text(path)
        lines = text.splitlines()[:3]
        if not lines:
            raise DataFormatError("empty file; expected a Neware BTSDA CSV export", path=path)
        if _is_three_layer(lines):
            raw, extra = _read_three_layer(text, path)
        else:
            raw, extra = _read_record_layer(text, path)
        if raw.empty:
            raise DataFormatError("no data rows after the header", path=path)
        df, notes = neware_records_to_canonical(raw, path=path, timezone=timezone)
        extra.update(notes)
        if "unix_time_second" in df.columns and np.isfinite(df["unix_time_second"].iloc[0]):
            extra["start_time_unix"] = float(df["unix_time_second"].iloc[0])
        return df, {"extra": extra}


class _LogCapture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextlib.contextmanager
def _captured_fastnda_messages() -> Iterator[list[str]]:
    """Collect fastnda's logging and warnings instead of printing them."""
    logger = logging.getLogger("fastnda")
    handler = _LogCapture()
    old_propagate = logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield handler.messages
        handler.messages.extend(str(w.message) for w in caught)
    finally:
        logger.removeHandler(handler)
        logger.propagate = old_propagate


#: Largest total uncompressed size and expansion ratio accepted before decoding (zip-bomb guard).
_MAX_UNCOMPRESSED_BYTES = 8 * 1024**3
_MAX_RATIO = 1000.0


def _check_ndax_zip(path: Path) -> None:
    """Structural pre-check of an .ndax before handing it to fastnda."""
    if not zipfile.is_zipfile(path):
        raise DataFormatError(
            "not a Neware .ndax file: it is not a ZIP archive (an .ndax is a ZIP holding data.ndc); "
            "for BTSDA CSV exports use format='neware_csv'",
            path=path,
        )
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise DataFormatError(f"damaged .ndax ZIP archive: {exc}", path=path) from exc
    names = {i.filename for i in infos}
    if "data.ndc" not in names:
        raise DataFormatError(
            f"ZIP archive without 'data.ndc' (members: {sorted(names)[:10]}); not a Neware .ndax",
            path=path,
        )
    total = sum(i.file_size for i in infos)
    packed = max(1, sum(i.compress_size for i in infos))
    if total > _MAX_UNCOMPRESSED_BYTES or total / packed > _MAX_RATIO:
        raise DataFormatError(
            f".ndax members claim {total} bytes uncompressed from {packed} bytes: damaged or not an "
            "ndax file (refused before decoding)",
            path=path,
        )


@contextlib.contextmanager
def _ndax_named(path: Path) -> Iterator[Path]:
    """``path`` itself, or a link/copy named ``*.ndax`` (fastnda picks the parser by suffix)."""
    if path.suffix.lower() == ".ndax":
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="voltlab_ndax_") as tmp:
        alias = Path(tmp) / "data.ndax"
        try:
            os.symlink(path.resolve(), alias)
        except OSError:
            alias.write_bytes(path.read_bytes())
        yield alias


def _import_fastnda() -> Any:
    try:
        import fastnda
    except ImportError as exc:
        raise DependencyError(
            "reading Neware .ndax files needs the package 'fastnda' (pip install 'fastnda>=1.3'); "
            "or export the test to CSV in BTSDA and use format='neware_csv'",
        ) from exc
    return fastnda


def _ndax_metadata(fastnda: Any, path: Path) -> dict[str, Any]:
    """Test start, channel and step file from TestInfo.xml/VersionInfo.xml (best effort)."""
    try:
        meta = fastnda.read_metadata(path)
    except Exception:  # noqa: BLE001 - metadata is optional; data decoding decides success
        return {}
    extra: dict[str, Any] = {}
    info = (meta.get("TestInfo") or {}).get("TestInfo") or {}
    for key, name in (("StartTime", "start_time"), ("StepName", "step_file"), ("DevID", "device_id"),
                      ("UnitID", "unit_id"), ("ChlID", "channel_id"), ("SN", "test_sn"),
                      ("CurrRange", "current_range"), ("VoltRange", "voltage_range")):
        if isinstance(info.get(key), str):
            extra[name] = info[key]
    version = (meta.get("VersionInfo") or {}).get("ZwjVersion") or {}
    if isinstance(version.get("SvrVer"), str):
        extra["server_version"] = version["SvrVer"]
    if isinstance((meta.get("TestInfo") or {}).get("SortVersion"), str):
        extra["client_version"] = meta["TestInfo"]["SortVersion"]
    return extra


@register_reader
class NewareNdaxReader(CyclerReader):
    """Neware BTS native ``.ndax`` file, decoded with ``fastnda``.

    fastnda (1.3) returns voltage in V, current in mA (signed, discharge
    negative), times in s, and per step a *net* capacity ``capacity_mAh`` and
    energy ``energy_mWh`` (charge minus discharge, restarting at every step).
    They are converted to A, and split by sign into charging/discharging
    counters made cumulative within cycle (a step that both charges and
    discharges, e.g. a pulse profile, is thus netted per record).
    ``cycle_count`` is Neware's own cycle number (fastnda ``cycle_mode="raw"``).
    ``unix_time_second`` is fastnda's ``unix_time_s``, true UTC (the sample's first
    record matches TestInfo.xml's local ``StartTime`` shifted by the Oslo offset), so
    the ``timezone`` option is accepted but not needed. BTS clients may log backward
    jumps of that clock; ``test_time_second`` (fastnda ``total_time_s``) is unaffected
    and fastnda's notice is kept in ``extra["decoder_messages"]``.
    Auxiliary channels are kept as extra columns with fastnda's names
    (``aux1_voltage_v``, ...) but not promoted to ``temperature_celsius``:
    fastnda pairs aux files with TestInfo.xml entries by sorted file name,
    which mislabels the channels of the sample BTS 8 file (a 25 degC reading
    named "voltage", a 0 "temperature").
    """

    name = "neware_ndax"
    options = ("timezone",)
    vendor = "Neware"
    description = "native BTS .ndax file (ZIP of XML + binary .ndc), via fastnda"
    extensions = (".ndax",)

    @classmethod
    def sniff(cls, path: Path, head: bytes) -> float:
        """ZIP magic plus Neware member names (``data.ndc``, ``TestInfo.xml``...) in the head."""
        if not head.startswith(b"PK\x03\x04"):
            return 0.0
        members = (b"data.ndc", b"TestInfo.xml", b"Step.xml", b"VersionInfo.xml", b"EditStep.xml",
                   b"data_runInfo.ndc", b"data_step.ndc")
        hits = sum(m in head for m in members)
        if hits:
            return min(0.75 + 0.1 * hits, 0.98)
        with contextlib.suppress(Exception), zipfile.ZipFile(path) as zf:
            if "data.ndc" in zf.namelist():
                return 0.9
        return 0.0

    @classmethod
    def _read(cls, path: Path, **options: Any) -> tuple[pd.DataFrame, dict[str, Any]]:
        options.pop("timezone", None)  # accepted for batch use; .ndax times are already UTC
        if options:
            raise TypeError(f"unknown option(s) for neware_ndax: {sorted(options)}; accepted: timezone")
        fastnda = _import_fastnda()
        _check_ndax_zip(path)
        with _ndax_named(path) as p, _captured_fastnda_messages() as messages:
            try:
                pl_df = fastnda.read(p, cycle_mode="raw", columns="default")
            except Exception as exc:
                raise DataFormatError(
                    f"fastnda could not decode this .ndax ({type(exc).__name__}: {exc}); the file is "
                    "damaged or from an unsupported BTS version: export it to CSV in BTSDA and use "
                    "format='neware_csv'",
                    path=path,
                ) from exc
            extra = _ndax_metadata(fastnda, p)
        df = _ndax_to_canonical(pl_df.to_pandas(), path)
        extra["decoder"] = f"fastnda {getattr(fastnda, '__version__', '?')}"
        if messages:
            extra["decoder_messages"] = sorted(set(messages))
        meta: dict[str, Any] = {"extra": extra}
        if "step_file" in extra:
            meta["protocol"] = extra["step_file"]
        return df, meta


_NDAX_EXTRA_SKIP = {"voltage_V", "current_mA", "total_time_s", "unix_time_s", "cycle_count",
                    "step_index", "step_count", "capacity_mAh", "energy_mWh"}


def _ndax_to_canonical(raw: pd.DataFrame, path: Path) -> pd.DataFrame:
    """fastnda 'default' columns -> canonical columns."""
    need = ["voltage_V", "current_mA", "total_time_s", "cycle_count"]
    missing = [c for c in need if c not in raw.columns]
    if missing:
        raise SchemaError(
            f"fastnda returned no {missing} (columns: {list(raw.columns)}); unsupported fastnda "
            "version or file",
            path=path,
        )
    if raw.empty:
        raise DataFormatError("the .ndax holds no records", path=path)
    cycle = _float(raw, "cycle_count")
    if np.isnan(cycle).any():
        row = int(np.flatnonzero(np.isnan(cycle))[0])
        raise DataFormatError(
            "record without a cycle number after decoding (step table damaged or missing)",
            path=path, row=row, column="cycle_count",
        )
    out: dict[str, Any] = {
        "test_time_second": _float(raw, "total_time_s"),
        "voltage_volt": _float(raw, "voltage_V"),
        "current_ampere": _float(raw, "current_mA") * 1e-3,
        "cycle_count": cycle,
    }
    if "step_index" in raw.columns:
        out["step_index"] = _float(raw, "step_index")
    if "step_count" in raw.columns and not raw["step_count"].isna().any():
        out["step_count"] = _float(raw, "step_count").astype(np.int64)
    if "unix_time_s" in raw.columns:
        out["unix_time_second"] = _float(raw, "unix_time_s")
    for src, (chg, dchg) in (("capacity_mAh", ("charging_capacity_ah", "discharging_capacity_ah")),
                             ("energy_mWh", ("charging_energy_wh", "discharging_energy_wh"))):
        if src in raw.columns:
            net = _float(raw, src) * 1e-3
            out[chg] = counter_to_cycle_cumulative(np.clip(net, 0, None), cycle)
            out[dchg] = counter_to_cycle_cumulative(np.clip(-net, 0, None), cycle)
    df = pd.DataFrame(out)
    if "step_type" in raw.columns:
        df["step_type"] = raw["step_type"].astype(str).to_numpy()
    for col in raw.columns:
        if col in _NDAX_EXTRA_SKIP or col == "step_type" or col == "index":
            continue
        name = snake_case(col.replace("?", "unknown"))
        if col == "step_time_s":
            name = "step_time_second"
        if pd.api.types.is_numeric_dtype(raw[col].dtype) and name not in df.columns:
            df[name] = _float(raw, col)
    if "index" in raw.columns:
        df["record_index"] = _float(raw, "index")
    return df


def _float(raw: pd.DataFrame, column: str) -> np.ndarray:
    """Column as float64 (nulls -> NaN; fastnda returns nullable unsigned integers)."""
    out = pd.to_numeric(raw[column], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    out[~np.isfinite(out)] = np.nan
    return out
