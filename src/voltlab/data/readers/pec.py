"""PEC (SBT/ACT series) LifeTest CSV exports.

Layout: a key/value preamble (``Request Year:,2019``, ``Test:,187``,
``TestRegime Name:,...``, ``Start Time:,...``), optionally a
``#RESULTS CHECK`` ... ``#END RESULTS CHECK`` block, then the data header
starting ``Test,Cell,Rack,Shelf,Position,...``. Units are in parentheses
and differ between software versions: older exports use ``Voltage (mV)``,
``Current (mA)`` and times in ``(Seconds)``; newer ones ``Voltage (V)``,
``Current (A)`` and times as ``(Hours in hh:mm:ss.xxx)`` strings (hours may
exceed 24). Capacities are mAh, energies mWh (older exports call them
``Charge Capacity (mWh)``).

Mapping: ``Total Time`` -> ``test_time_second``; ``Voltage`` ->
``voltage_volt``; ``Current`` -> ``current_ampere`` (PEC signs current:
negative = discharge, checked on ``pec.csv`` where the discharge capacity
grows while I = -1640 mA); ``Cycle`` -> ``cycle_count``; ``Step`` ->
``step_index``; charge/discharge capacity and energy -> the canonical
columns (cumulative within cycle, as PEC resets them at each cycle);
``Cell surface temperature``/``Temp`` -> ``temperature_celsius``;
``Ambient temperature`` -> ``ambient_temperature_celsius``;
``DC Internal Resistance (mOhm)`` -> ``internal_resistance_ohm``. Other
numeric columns are kept as snake_case extras (durations in seconds);
constant identity columns (Test, Cell, Rack, ...) and the preamble go to
``metadata.extra`` (``TestRegime Name`` also to ``protocol``, ``Chemistry``
to ``chemistry``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from voltlab.data.readers._text import (
    decode,
    read_csv_arrow,
    read_csv_whole_rows,
    read_text,
    reject_unnamed_values,
)
from voltlab.data.readers._unitconv import (
    UNITS,
    convert_units,
    numeric_column,
    parse_duration,
    snake_case,
    to_cycle_cumulative,
)
from voltlab.data.readers.base import CyclerReader, register_reader
from voltlab.errors import DataFormatError, SchemaError, UnitError

__all__ = ["PecReader"]

_HEADER_START = "Test,Cell,"
_NAME_UNIT = re.compile(r"^(?P<name>.*?)\s*\((?P<unit>[^()]*)\)\s*$")
_UNIT_ALIASES = {
    "seconds": "s", "minutes": "min", "hours": "h", "°c": "degC", "mohm": "mOhm", "ohm": "Ohm",
}
_DURATION_UNIT = "hours in hh:mm:ss.xxx"
_CANONICAL = {
    "total time": "test_time_second",
    "voltage": "voltage_volt",
    "current": "current_ampere",
    "charge capacity@Ah": "charging_capacity_ah",
    "discharge capacity@Ah": "discharging_capacity_ah",
    "charge capacity@Wh": "charging_energy_wh",
    "discharge capacity@Wh": "discharging_energy_wh",
    "charge energy@Wh": "charging_energy_wh",
    "discharge energy@Wh": "discharging_energy_wh",
    "cell surface temperature": "temperature_celsius",
    "temp": "temperature_celsius",
    "ambient temperature": "ambient_temperature_celsius",
    "dc internal resistance": "internal_resistance_ohm",
}
_IDENTITY = ("Test", "Cell", "Rack", "Shelf", "Position", "Cell ID")
_DROP = ("Real Time", "Position Start Time")
_CAPACITY_ENERGY = (
    "charging_capacity_ah", "discharging_capacity_ah", "charging_energy_wh", "discharging_energy_wh",
)


def _split(col: str) -> tuple[str, str | None]:
    m = _NAME_UNIT.match(col.strip())
    if not m:
        return col.strip(), None
    unit = m.group("unit").strip()
    return m.group("name").strip(), _UNIT_ALIASES.get(unit.lower(), unit)


def _dimension(unit: str | None) -> str | None:
    if unit is None or unit.lower() == _DURATION_UNIT:
        return "s" if unit else None
    hit = UNITS.get(unit)
    return hit[0] if hit else None


def _header_index(lines: list[str]) -> int:
    for i, line in enumerate(lines[:400]):
        if line.startswith(_HEADER_START) and "Total Time" in line and "Voltage" in line:
            return i
    return -1


@register_reader
class PecReader(CyclerReader):
    """PEC LifeTest CSV (key/value preamble, ``Test,Cell,Rack,...`` data header)."""

    name: ClassVar[str] = "pec_csv"
    vendor: ClassVar[str] = "PEC"
    description: ClassVar[str] = "PEC LifeTest CSV ('Request Year:,...' preamble; mV/mA or V/A; s or hh:mm:ss)"
    extensions: ClassVar[tuple[str, ...]] = (".csv",)

    @classmethod
    def sniff(cls, path: Path, head: bytes) -> float:
        """0.95 with the ``Test,Cell,Rack,...`` header (or the PEC preamble and ``TestRegime``)."""
        if b"\x00" in head[:4096]:
            return 0.0
        text = decode(head)
        lines = text.splitlines()
        if _header_index(lines) >= 0:
            return 0.95
        if text.startswith("Request Year:,") and "TestRegime Name:," in text:
            return 0.9
        return 0.0

    @classmethod
    def _read(cls, path: Path) -> tuple[pd.DataFrame, dict[str, Any]]:
        lines = read_text(path).splitlines()
        k = _header_index(lines)
        if k < 0:
            raise DataFormatError(
                "not a PEC LifeTest export: no 'Test,Cell,Rack,Shelf,Position,...' data header in the "
                "first 400 lines; choose the right format or use read_generic with a column map",
                path=path,
            )
        body = "\n".join(lines[k:])
        # Arrow's reader gives pandas' frame (None where it could differ); it pays off on large blocks only:
        # the 2.8 MB sample 46 ms against 60, a 4 kB one 12 ms against 4
        raw = read_csv_arrow(body) if len(body) >= 1_000_000 else None
        if raw is None:
            try:
                raw = read_csv_whole_rows(body, path, first_line=k, low_memory=False)
            except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
                raise DataFormatError(f"malformed PEC data block: {exc}", path=path) from exc
        raw.columns = [str(c).strip() for c in raw.columns]
        reject_unnamed_values(raw, path, header_line=k)
        raw = raw.loc[:, [not (c.startswith("Unnamed:") and raw[c].isna().all()) for c in raw.columns]]
        table = _to_canonical(raw, path)
        meta = _preamble(lines[:k])
        for col in _IDENTITY:
            if col in raw.columns and raw[col].nunique(dropna=True) == 1:
                meta["extra"][f"pec_{snake_case(col)}"] = str(raw[col].dropna().iloc[0])
        if "Real Time" in raw.columns and len(raw):
            meta["extra"]["first_real_time"] = str(raw["Real Time"].iloc[0])
        return table, meta


def _seconds(series: pd.Series, unit: str | None, column: str, path: Path) -> np.ndarray:
    if unit is not None and unit.lower() == _DURATION_UNIT:
        secs = parse_duration(series)
        bad = np.flatnonzero(np.isnan(secs) & series.notna().to_numpy())
        if bad.size:
            r = int(bad[0])
            raise DataFormatError(f"{series.iloc[r]!r} is not an hh:mm:ss.xxx duration", path=path,
                                  row=r, column=column, value=str(series.iloc[r]))
        return secs
    return convert_units(numeric_column(series, column, path=path), unit or "s", "test_time_second",
                         path=path)


def _to_canonical(raw: pd.DataFrame, path: Path) -> pd.DataFrame:
    out: dict[str, Any] = {}
    extras: dict[str, Any] = {}
    for col in raw.columns:
        if col in _IDENTITY or col in _DROP:
            continue
        name, unit = _split(col)
        dim = _dimension(unit)
        key = name.lower()
        target = _CANONICAL.get(f"{key}@{dim}") or _CANONICAL.get(key)
        if col == "Cycle":
            target, unit = "cycle_count", "1"
        elif col == "Step":
            target, unit = "step_index", "1"
        if target == "test_time_second":
            out[target] = _seconds(raw[col], unit, target, path)
        elif target is not None and target not in out:
            values = numeric_column(raw[col], target, path=path)
            try:
                out[target] = convert_units(values, unit or "1", target, path=path)
            except UnitError:
                extras[snake_case(col)] = values
        elif dim == "s":
            extras[f"{snake_case(name)}_second"] = _seconds(raw[col], unit, col, path)
        else:
            values = pd.to_numeric(raw[col], errors="coerce")
            if values.notna().sum() >= raw[col].notna().sum() and values.notna().any():
                extras[snake_case(col)] = values.to_numpy(dtype=np.float64)
            elif raw[col].notna().any() and not pd.api.types.is_numeric_dtype(raw[col].dtype):
                extras[snake_case(col)] = raw[col].to_numpy()
    for need in ("test_time_second", "voltage_volt", "current_ampere"):
        if need not in out:
            raise SchemaError(f"PEC column for {need} missing; the header has {list(raw.columns)}",
                              path=path, column=need)
    table = pd.DataFrame(out)
    for name in list(table.columns):
        if name not in ("test_time_second", "voltage_volt", "current_ampere") and table[name].isna().all():
            table = table.drop(columns=name)
    if "cycle_count" not in table.columns:
        table["cycle_count"] = 1
    cyc = table["cycle_count"].to_numpy(dtype=np.float64)
    bad = np.flatnonzero(~np.isfinite(cyc) | (cyc != np.round(cyc)))
    if bad.size:
        r = int(bad[0])
        raise DataFormatError(f"Cycle must be a whole number, got {cyc[r]!r}", path=path, row=r,
                              column="Cycle", value=float(cyc[r]))
    table["cycle_count"] = cyc.astype(np.int64)
    cycle = table["cycle_count"].to_numpy()
    for name in _CAPACITY_ENERGY:
        if name in table.columns:
            table[name] = to_cycle_cumulative(table[name].to_numpy(), cycle)
    for name, values in extras.items():
        if name not in table.columns:
            table[name] = values
    return table


def _preamble(lines: list[str]) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    results: list[str] = []
    in_results = False
    for line in lines:
        if line.startswith("#RESULTS CHECK"):
            in_results = True
            continue
        if line.startswith("#END RESULTS CHECK"):
            in_results = False
            continue
        if in_results:
            results.append(line.rstrip(","))
            continue
        key, sep, value = line.partition(",")
        value = value.rstrip(",").strip()
        if sep and key.endswith(":") and value:
            extra[snake_case(key)] = value
    if results:
        extra["results_check"] = results
    meta: dict[str, Any] = {"extra": extra}
    if extra.get("testregime_name"):
        meta["protocol"] = extra["testregime_name"]
    if extra.get("chemistry"):
        meta["chemistry"] = extra["chemistry"]
    return meta
