"""BaSyTec Battery Test System text export ("Resultfile").

Layout: a preamble of lines starting with ``~`` (``~Resultfile from Basytec
Battery Test System``, test name, battery, test plan, channel, start/end,
operators), then the column header, itself prefixed with ``~``
(``~Time[s]<TAB>DataSet<TAB>...``), then tab-separated rows. Units are in
brackets in the header (``U[V]``, ``I[A]``, ``T1[°C]``); German exports may
use decimal commas (detected).

Mapping (units converted from the brackets):

* ``Time[s|min|h]`` -> ``test_time_second``; ``U[V|mV]`` -> ``voltage_volt``;
  ``I[A|mA]`` -> ``current_ampere`` (BaSyTec signs current: positive charge,
  negative discharge, which is voltlab's rule, so it is kept);
* ``Cyc-Count`` -> ``cycle_count``; ``Line`` (test-plan line) ->
  ``step_index``; ``P[W]`` -> ``power_watt``; ``T1[...]`` ->
  ``temperature_celsius``; ``R-DC`` -> ``internal_resistance_ohm`` (Ohm);
* capacities: ``Ah-Cyc-Charge``/``Ah-Cyc-Discharge`` (per-cycle counters,
  discharge stored negative) -> ``charging_capacity_ah``/
  ``discharging_capacity_ah`` (absolute, cumulative within cycle); energies
  likewise from ``Wh-Cyc-*``. Without them the net counter ``Ah[Ah]`` is
  split by current direction.
* other columns are kept as snake_case extras (``command``, ``state``,
  ``t_step_s``...); preamble items go to ``metadata.extra``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from voltlab.data.readers._text import decode, read_csv_whole_rows, read_text
from voltlab.data.readers._unitconv import (
    convert_units,
    guess_decimal_comma,
    numeric_column,
    snake_case,
    to_cycle_cumulative,
)
from voltlab.data.readers.base import CyclerReader, register_reader
from voltlab.data.schema import counter_to_cycle_cumulative, current_direction
from voltlab.errors import DataFormatError, SchemaError

__all__ = ["BasytecReader"]

_MAGIC = "~resultfile from basytec"
_NAME_UNIT = re.compile(r"^(?P<name>[^\[]+?)\s*(?:\[(?P<unit>[^\]]*)\])?\s*$")
_CANONICAL_BY_NAME = {
    "time": "test_time_second",
    "u": "voltage_volt",
    "i": "current_ampere",
    "p": "power_watt",
    "t1": "temperature_celsius",
    "cyc-count": "cycle_count",
    "line": "step_index",
    "r-dc": "internal_resistance_ohm",
}
_DEFAULT_UNITS = {
    "test_time_second": "s", "voltage_volt": "V", "current_ampere": "A", "power_watt": "W",
    "temperature_celsius": "degC", "internal_resistance_ohm": "Ohm", "cycle_count": "1",
    "step_index": "1",
}
_COUNTERS = {
    "charging_capacity_ah": "ah-cyc-charge",
    "discharging_capacity_ah": "ah-cyc-discharge",
    "charging_energy_wh": "wh-cyc-charge",
    "discharging_energy_wh": "wh-cyc-discharge",
}


def _split_name(header: str) -> tuple[str, str | None]:
    m = _NAME_UNIT.match(header.strip())
    if not m:
        return header.strip(), None
    unit = m.group("unit")
    if unit is not None:
        unit = unit.replace("\ufffd", "°").strip()
        if unit in ("°C", "�C", "C", "degC"):
            unit = "degC"
    return m.group("name").strip(), unit


def _header_index(lines: list[str]) -> int:
    """Index of the header: the last ``~`` line before data, naming ``Time``."""
    k = -1
    for i, line in enumerate(lines[:500]):
        if not line.startswith("~"):
            break
        if "\t" in line and "time" in line.lower():
            k = i
    return k


@register_reader
class BasytecReader(CyclerReader):
    """BaSyTec BTS text export with ``~`` preamble (tab separated, units in brackets)."""

    name: ClassVar[str] = "basytec_text"
    vendor: ClassVar[str] = "BaSyTec"
    description: ClassVar[str] = "BaSyTec text export ('~Resultfile from Basytec', '~Time[s]<TAB>...')"
    extensions: ClassVar[tuple[str, ...]] = (".txt", ".csv", ".dat")

    @classmethod
    def sniff(cls, path: Path, head: bytes) -> float:
        """0.95 with the BaSyTec banner, 0.8 with a ``~Time[...]`` tab header and ``~`` preamble."""
        if b"\x00" in head[:4096]:
            return 0.0
        text = decode(head)
        if text.lstrip().lower().startswith(_MAGIC):
            return 0.95
        lines = text.splitlines()
        k = _header_index(lines)
        if k >= 0 and lines[k].lower().startswith("~time[") and "U[" in lines[k] and "I[" in lines[k]:
            return 0.8
        return 0.0

    @classmethod
    def _read(cls, path: Path) -> tuple[pd.DataFrame, dict[str, Any]]:
        text = read_text(path)
        lines = text.splitlines()
        k = _header_index(lines)
        if k < 0:
            raise DataFormatError(
                "not a BaSyTec export: no '~Time[s]<TAB>...' header after the '~' preamble; "
                "choose the right format or use read_generic with a column map",
                path=path,
            )
        header = lines[k].lstrip("~")
        decimal = "," if guess_decimal_comma(lines[k + 1 : k + 201], "\t") else "."
        body = "\n".join([header, *lines[k + 1 :]])
        # index_col=False tolerates a trailing tab; a row with surplus values is an error naming its line
        raw = read_csv_whole_rows(body, path, first_line=k, sep="\t", decimal=decimal, low_memory=False,
                                  dtype=str, keep_default_na=False)
        table = _to_canonical(raw, path, decimal_comma=decimal == ",")
        return table, {"extra": _preamble(lines[:k])}


def _preamble(lines: list[str]) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    for line in lines:
        s = line.lstrip("~").strip()
        if ":" in s:
            key, _, value = s.partition(":")
            if value.strip():
                extra[snake_case(key)] = value.strip()
        elif s:
            extra.setdefault("banner", s)
    return extra


def _to_canonical(raw: pd.DataFrame, path: Path, *, decimal_comma: bool) -> pd.DataFrame:
    by_key: dict[str, tuple[str, str | None]] = {}
    for col in raw.columns:
        name, unit = _split_name(str(col))
        by_key[name.lower()] = (str(col), unit)
    for need, label in (("time", "Time[s]"), ("u", "U[V]"), ("i", "I[A]")):
        if need not in by_key:
            raise SchemaError(
                f"BaSyTec column {label} missing; the header has {list(raw.columns)}",
                path=path, column=label,
            )
    out: dict[str, Any] = {}
    used: set[str] = set()
    for key, target in _CANONICAL_BY_NAME.items():
        if key in by_key:
            col, unit = by_key[key]
            values = numeric_column(raw[col], target, path=path, decimal_comma=decimal_comma)
            out[target] = convert_units(values, unit or _DEFAULT_UNITS[target], target, path=path)
            used.add(col)
    table = pd.DataFrame(out)
    if "cycle_count" not in table.columns:
        table["cycle_count"] = 1
    table["cycle_count"] = _whole_cycles(table["cycle_count"].to_numpy(), path)
    cycle = table["cycle_count"].to_numpy()
    direction = current_direction(np.nan_to_num(table["current_ampere"].to_numpy()))
    for target, key in _COUNTERS.items():
        if key in by_key:
            col, _ = by_key[key]
            values = numeric_column(raw[col], target, path=path, decimal_comma=decimal_comma)
            table[target] = to_cycle_cumulative(np.abs(values), cycle)
            used.add(col)
    for target, key in (("charging_capacity_ah", "ah"), ("charging_energy_wh", "wh")):
        dis = target.replace("charging", "discharging")
        if target not in table.columns and dis not in table.columns and key in by_key:
            col, unit = by_key[key]
            values = numeric_column(raw[col], target, path=path, decimal_comma=decimal_comma)
            values = convert_units(values, unit or ("Ah" if key == "ah" else "Wh"), target, path=path)
            step = np.concatenate([[0.0], np.abs(np.diff(np.nan_to_num(values)))])
            table[target] = counter_to_cycle_cumulative(np.cumsum(step * (direction > 0)), cycle)
            table[dis] = counter_to_cycle_cumulative(np.cumsum(step * (direction < 0)), cycle)
    for col in raw.columns:
        if col in used:
            continue
        name = _extra_name(str(col))
        if name in table.columns:
            continue
        series = raw[col]
        values = pd.to_numeric(series.str.replace(",", ".") if decimal_comma else series, errors="coerce")
        table[name] = values if values.notna().sum() >= series.ne("").sum() else series.to_numpy()
    return table


def _extra_name(col: str) -> str:
    name, unit = _split_name(col)
    base = snake_case(name)
    return f"{base}_{snake_case(unit)}" if unit and unit != "degC" else base


def _whole_cycles(values: np.ndarray, path: Path) -> np.ndarray:
    v = np.asarray(values, dtype=np.float64)
    bad = np.flatnonzero(~np.isfinite(v) | (v != np.round(v)))
    if bad.size:
        r = int(bad[0])
        raise DataFormatError(f"Cyc-Count must be a whole number, got {v[r]!r}", path=path, row=r,
                              column="Cyc-Count", value=float(v[r]))
    return v.astype(np.int64)
