"""Novonix HPC/UHPC data files (CSV with ``[Summary]``/``[Protocol]``/``[Data]`` sections).

Two layouts are read:

* UHPC (Control 2.x): plain CSV after ``[Data]``;
* HPC (2.2): every line after ``[Data]`` wrapped in double quotes
  (``"2022-04-11 10:58:07 AM,1,0,..."``), so the quotes are stripped first.

Mapping: ``Run Time (h)`` -> ``test_time_second`` (hours x 3600);
``Potential (V)`` -> ``voltage_volt``; ``Current (A)`` -> ``current_ampere``;
``Cycle Number`` -> ``cycle_count``; ``Step Number`` -> ``step_index``;
``Temperature (°C)`` -> ``temperature_celsius``; ``Power(W)`` ->
``power_watt``; ``Capacity (Ah)``/``Energy (Wh)`` -> charging or discharging
counters by step direction (cumulative within cycle). ``Step Type``,
``Step Time (h)`` (as ``step_time_second``), ``Circuit Temperature (°C)``,
``dVdt``/``dIdt`` (named by quantity; the HPC header swaps their unit labels)
and ``Step position`` are kept as extras.

Current sign: the Novonix ``Step Type`` code gives the direction
(0 = open circuit; 1 = CC charge, 7/8 = CC/CV part of CC-CV charge;
2 = CC discharge, 9/10 = CC/CV part of CC-CV discharge). Current is made
positive on charge steps and negative on discharge steps (|I| with the
step's sign); rows of other step types keep the recorded sign. The sample
files hold only rest and charge, so the discharge rule is checked on
synthetic data only.

``[Summary]`` items go to ``metadata.extra`` (``Capacity (Ah)`` also to
``nominal_capacity_ah``, ``Protocol`` to ``protocol``). A companion
``<stem>_metadata.csv`` (Novonix per-cycle summary) next to the file is read
into ``extra["cycle_summary"]`` when present.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from voltlab.data.readers._text import decode, read_csv_whole_rows, read_text, reject_unnamed_values
from voltlab.data.readers._unitconv import (
    numeric_column,
    snake_case,
    split_counter_by_direction,
)
from voltlab.data.readers.base import CyclerReader, register_reader
from voltlab.data.schema import current_direction
from voltlab.errors import DataFormatError, SchemaError

__all__ = ["CHARGE_STEP_TYPES", "DISCHARGE_STEP_TYPES", "NovonixReader"]

#: Novonix step-type codes of charge steps (CC charge, CC and CV parts of CC-CV charge).
CHARGE_STEP_TYPES = frozenset({1, 7, 8})
#: Novonix step-type codes of discharge steps (CC discharge, CC and CV parts of CC-CV discharge).
DISCHARGE_STEP_TYPES = frozenset({2, 9, 10})

_REQUIRED = ("Run Time (h)", "Potential (V)", "Current (A)")
_CANONICAL = {
    "Run Time (h)": ("test_time_second", 3600.0),
    "Potential (V)": ("voltage_volt", 1.0),
    "Current (A)": ("current_ampere", 1.0),
    "Cycle Number": ("cycle_count", 1.0),
    "Step Number": ("step_index", 1.0),
    "Temperature (°C)": ("temperature_celsius", 1.0),
    "Power(W)": ("power_watt", 1.0),
    "Power (W)": ("power_watt", 1.0),
}
_EXTRAS = {
    "Step Type": "step_type",
    "Step Time (h)": "step_time_second",
    "Circuit Temperature (°C)": "circuit_temperature_celsius",
    "Step position": "step_position",
}


def _unquote(line: str) -> str:
    s = line.strip()
    if len(s) >= 2 and s[0] == '"' and s[-1] == '"':
        return s[1:-1]
    return s


def _data_index(lines: list[str]) -> int:
    for i, line in enumerate(lines):
        if line.strip().strip('"') == "[Data]":
            return i
    return -1


@register_reader
class NovonixReader(CyclerReader):
    """Novonix HPC/UHPC CSV with ``[Summary]``, ``[Protocol]`` and ``[Data]`` sections."""

    name: ClassVar[str] = "novonix"
    vendor: ClassVar[str] = "Novonix"
    description: ClassVar[str] = "Novonix HPC/UHPC CSV ('[Summary]' ... '[Data]', plain or quoted lines)"
    extensions: ClassVar[tuple[str, ...]] = (".csv",)

    @classmethod
    def companion_of(cls, path: Path) -> Path | None:
        """``<stem>_metadata.csv`` (the per-cycle summary) accompanies ``<stem>.csv``, if that file exists."""
        if path.stem.endswith("_metadata"):
            data = path.with_name(path.stem[: -len("_metadata")] + path.suffix)
            return data if data.is_file() else None
        return None

    @classmethod
    def sniff(cls, path: Path, head: bytes) -> float:
        """0.95 for ``[Summary]`` + ``Novonix``; 0.85 for a ``[Data]`` header with Novonix columns."""
        if b"\x00" in head[:4096]:
            return 0.0
        text = decode(head)
        start = text.lstrip()[:400]
        if start.startswith("[Summary]") and "novonix" in start.lower():
            return 0.95
        if "[Data]" in text and "Cycle Number" in text and "Run Time (h)" in text and "Step Type" in text:
            return 0.85
        return 0.0

    @classmethod
    def _read(cls, path: Path) -> tuple[pd.DataFrame, dict[str, Any]]:
        lines = read_text(path).splitlines()
        k = _data_index(lines)
        if k < 0:
            raise DataFormatError(
                "not a Novonix data file: no '[Data]' section; export the channel's data file "
                "or use read_generic with a column map",
                path=path,
            )
        # Blank lines stay (pandas skips them), so that a line of the body is a line of the file in errors.
        data = [_unquote(ln) for ln in lines[k + 1 :]]
        header = next((i for i, ln in enumerate(data) if ln), None)
        if header is None:
            raise DataFormatError("the '[Data]' section is empty", path=path)
        try:
            raw = read_csv_whole_rows("\n".join(data), path, first_line=k + 1, low_memory=False)
        except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            raise DataFormatError(f"malformed '[Data]' section: {exc}", path=path) from exc
        raw.columns = [str(c).strip() for c in raw.columns]
        reject_unnamed_values(raw, path, header_line=k + 1 + header)
        table = _to_canonical(raw, path)
        meta = _summary(lines[:k])
        companion = _companion(path)
        if companion is not None:
            meta.setdefault("extra", {})["cycle_summary"] = companion
        return table, meta


def _to_canonical(raw: pd.DataFrame, path: Path) -> pd.DataFrame:
    missing = [c for c in _REQUIRED if c not in raw.columns]
    if missing:
        raise SchemaError(f"Novonix columns {missing} missing; the '[Data]' header has {list(raw.columns)}",
                          path=path, column=missing[0])
    out: dict[str, Any] = {}
    for col, (target, factor) in _CANONICAL.items():
        if col in raw.columns and target not in out:
            out[target] = numeric_column(raw[col], target, path=path) * factor
    table = pd.DataFrame(out)
    if "cycle_count" not in table.columns:
        table["cycle_count"] = 1.0
    table["cycle_count"] = _whole(table["cycle_count"].to_numpy(), "Cycle Number", path)
    step_type = (numeric_column(raw["Step Type"], "step_type", path=path)
                 if "Step Type" in raw.columns else np.full(len(raw), np.nan))
    current = table["current_ampere"].to_numpy()
    is_chg = np.isin(step_type, list(CHARGE_STEP_TYPES))
    is_dis = np.isin(step_type, list(DISCHARGE_STEP_TYPES))
    current = np.where(is_chg, np.abs(current), np.where(is_dis, -np.abs(current), current))
    table["current_ampere"] = current
    if "power_watt" in table.columns:
        p = table["power_watt"].to_numpy()
        table["power_watt"] = np.where(is_chg, np.abs(p), np.where(is_dis, -np.abs(p), p))
    direction = np.where(is_chg, 1, np.where(is_dis, -1, current_direction(np.nan_to_num(current))))
    direction = np.where(step_type == 0, 0, direction)
    cycle = table["cycle_count"].to_numpy()
    for col, stem, factor in (("Capacity (Ah)", "capacity_ah", 1.0), ("Energy (Wh)", "energy_wh", 1.0)):
        if col in raw.columns:
            counter = numeric_column(raw[col], f"charging_{stem}", path=path) * factor
            table[f"charging_{stem}"], table[f"discharging_{stem}"] = split_counter_by_direction(
                counter, direction, cycle)
    for col in raw.columns:
        if col in _CANONICAL or col in ("Capacity (Ah)", "Energy (Wh)", "Date and Time"):
            continue
        name = _extra_name(col)
        if name in table.columns:
            continue
        values = pd.to_numeric(raw[col], errors="coerce")
        if col == "Step Time (h)":
            values = values * 3600.0
        table[name] = values.to_numpy() if values.notna().sum() >= raw[col].notna().sum() else raw[col]
    return table


def _extra_name(col: str) -> str:
    if col in _EXTRAS:
        return _EXTRAS[col]
    low = col.lower()
    if low.startswith("dvdt"):
        return "dvdt_volt_per_hour"  # HPC 2.2 labels it '(I/h)': the labels of dV/dt and dI/dt are swapped
    if low.startswith("didt"):
        return "didt_ampere_per_hour"
    return snake_case(col)


def _whole(values: np.ndarray, column: str, path: Path) -> np.ndarray:
    v = np.asarray(values, dtype=np.float64)
    bad = np.flatnonzero(~np.isfinite(v) | (v != np.round(v)))
    if bad.size:
        r = int(bad[0])
        raise DataFormatError(f"{column} must be a whole number, got {v[r]!r}", path=path, row=r,
                              column=column, value=float(v[r]))
    return v.astype(np.int64)


def _summary(lines: list[str]) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    in_summary = False
    for line in lines:
        s = _unquote(line)
        if s == "[Summary]":
            in_summary = True
            continue
        if s.startswith("[End Summary]") or (s.startswith("[") and s != "[Summary]" and in_summary):
            break
        if not in_summary:
            continue
        key, sep, value = s.partition(":")
        if sep and value.strip():
            extra[snake_case(key)] = value.strip()
        elif not sep and s:
            extra.setdefault("instrument", []).append(s)
    meta: dict[str, Any] = {"extra": extra}
    try:
        cap = float(extra.get("capacity_ah", "nan"))
    except ValueError:
        cap = math.nan
    if math.isfinite(cap) and cap > 0:
        meta["nominal_capacity_ah"] = cap
    if extra.get("protocol"):
        meta["protocol"] = extra["protocol"]
    return meta


def _companion(path: Path) -> list[dict[str, Any]] | None:
    """The Novonix per-cycle summary ``<stem>_metadata.csv`` beside ``path``, if any."""
    candidate = path.with_name(f"{path.stem}_metadata{path.suffix or '.csv'}")
    if not candidate.is_file() or candidate == path:
        return None
    try:
        df = pd.read_csv(candidate, index_col=0)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError):
        return None
    records = df.replace({np.nan: None}).to_dict(orient="records")
    return [{str(k): (v.item() if hasattr(v, "item") else v) for k, v in r.items()} for r in records]
