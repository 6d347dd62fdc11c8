"""LANDT cycler data in the SINTEF "tidy" CSV layout (input of the BDF LANDT example).

This is not the native LANDdt export (.cex/.xlsx) but a pre-processed CSV:
six template preamble lines (``cell model:``, ``cell id:``, ``test:``,
``checkpoint:``, nominal capacity and energy; empty here and padded with
commas), then the header ``channel_index,cycle_index,step_index,
date_time_iso_string,test_time_s,step_time_s,current_A,voltage_V,
discharge_capacity_Ah,charge_capacity_Ah,discharge_energy_Wh,
charge_energy_Wh,Pressure_Psi,temperature_1_C,...,step_name`` and rows that
end with a trailing comma.

Mapping: ``test_time_s`` -> ``test_time_second``; ``voltage_V`` ->
``voltage_volt``; ``current_A`` -> ``current_ampere``; ``cycle_index`` ->
``cycle_count``; ``step_index`` -> ``step_index``; capacities/energies
(reset at every step in this file) -> cumulative within cycle;
``temperature_1_C`` -> ``temperature_celsius``; other channels are kept as
extras (``temperature_2_celsius``, ``pressure_psi``, ``step_time_second``,
``record_index``, ``step_name``). Temperature and pressure channels that
are exactly 0 in every row are empty channels and are dropped (listed in
``metadata.extra["empty_channels"]``).

Current sign: signed in the file (discharge negative) and enforced from
``step_name``: ``discharge ...`` steps get -|I|, ``charge ...`` steps +|I|.
``date_time_iso_string`` holds US dates (MM/DD/YYYY) without a time zone;
the first one goes to ``metadata.extra["start_time"]``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from voltlab.data.readers._text import decode, read_csv_whole_rows, read_text, reject_unnamed_values
from voltlab.data.readers._unitconv import (
    numeric_column,
    snake_case,
    to_cycle_cumulative,
)
from voltlab.data.readers.base import CyclerReader, register_reader
from voltlab.errors import DataFormatError, SchemaError

__all__ = ["LandtTidyReader"]

_HEADER_KEYS = ("channel_index", "cycle_index", "step_index", "test_time_s", "current_A", "voltage_V")
_CANONICAL = {
    "test_time_s": "test_time_second",
    "voltage_V": "voltage_volt",
    "current_A": "current_ampere",
    "cycle_index": "cycle_count",
    "step_index": "step_index",
    "charge_capacity_Ah": "charging_capacity_ah",
    "discharge_capacity_Ah": "discharging_capacity_ah",
    "charge_energy_Wh": "charging_energy_wh",
    "discharge_energy_Wh": "discharging_energy_wh",
    "temperature_1_C": "temperature_celsius",
}
_EXTRAS = {
    "channel_index": "record_index",
    "step_time_s": "step_time_second",
    "temperature_2_C": "temperature_2_celsius",
    "temperature_3_C": "temperature_3_celsius",
    "Pressure_Psi": "pressure_psi",
}
_CHANNELS = ("temperature_celsius", "temperature_2_celsius", "temperature_3_celsius", "pressure_psi")
_CAPACITY_ENERGY = (
    "charging_capacity_ah", "discharging_capacity_ah", "charging_energy_wh", "discharging_energy_wh",
)


def _header_index(lines: list[str]) -> int:
    for i, line in enumerate(lines[:100]):
        fields = {f.strip() for f in line.split(",")}
        if all(k in fields for k in _HEADER_KEYS):
            return i
    return -1


@register_reader
class LandtTidyReader(CyclerReader):
    """LANDT data as SINTEF tidy CSV (``channel_index,cycle_index,...,step_name``)."""

    name: ClassVar[str] = "landt_tidy_csv"
    vendor: ClassVar[str] = "LANDT"
    description: ClassVar[str] = "LANDT tidy CSV (SINTEF/BDF example: 'cell model:' preamble, test_time_s, current_A, ...)"
    extensions: ClassVar[tuple[str, ...]] = (".csv",)

    @classmethod
    def sniff(cls, path: Path, head: bytes) -> float:
        """0.95 when a line names ``channel_index,cycle_index,step_index,...,current_A,voltage_V``."""
        if b"\x00" in head[:4096]:
            return 0.0
        return 0.95 if _header_index(decode(head).splitlines()) >= 0 else 0.0

    @classmethod
    def _read(cls, path: Path) -> tuple[pd.DataFrame, dict[str, Any]]:
        lines = read_text(path).splitlines()
        k = _header_index(lines)
        if k < 0:
            raise DataFormatError(
                "not a LANDT tidy CSV: no header naming channel_index, cycle_index, step_index, "
                "test_time_s, current_A, voltage_V; choose the right format or use read_generic",
                path=path,
            )
        body = "\n".join(lines[k:])
        try:
            raw = read_csv_whole_rows(body, path, first_line=k, low_memory=False)
        except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            raise DataFormatError(f"malformed LANDT data block: {exc}", path=path) from exc
        raw.columns = [str(c).strip() for c in raw.columns]
        reject_unnamed_values(raw, path, header_line=k)
        table, extra = _to_canonical(raw, path)
        extra.update(_preamble(lines[:k]))
        meta: dict[str, Any] = {"extra": extra}
        cap = _number(extra.get("nominal_capacity_used_to_define_the_c_rate_ah"))
        if cap is not None and cap > 0:
            meta["nominal_capacity_ah"] = cap
        return table, meta


def _to_canonical(raw: pd.DataFrame, path: Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    missing = [c for c in ("test_time_s", "voltage_V", "current_A") if c not in raw.columns]
    if missing:
        raise SchemaError(f"LANDT columns {missing} missing; header has {list(raw.columns)}",
                          path=path, column=missing[0])
    out: dict[str, Any] = {}
    for col, target in {**_CANONICAL, **_EXTRAS}.items():
        if col in raw.columns:
            out[target] = numeric_column(raw[col], target, path=path)
    table = pd.DataFrame(out)
    extra: dict[str, Any] = {}
    if "step_name" in raw.columns:
        names = raw["step_name"].astype("string").str.strip().str.lower()
        table["step_name"] = raw["step_name"].to_numpy()
        current = table["current_ampere"].to_numpy()
        dis = names.str.startswith("discharge").fillna(False).to_numpy(dtype=bool)
        chg = names.str.startswith("charge").fillna(False).to_numpy(dtype=bool)
        table["current_ampere"] = np.where(dis, -np.abs(current), np.where(chg, np.abs(current), current))
    empty = [c for c in _CHANNELS if c in table.columns and bool((table[c].fillna(0.0) == 0.0).all())]
    if empty:
        table = table.drop(columns=empty)
        extra["empty_channels"] = empty
    if "cycle_count" not in table.columns:
        table["cycle_count"] = 1.0
    cyc = table["cycle_count"].to_numpy(dtype=np.float64)
    bad = np.flatnonzero(~np.isfinite(cyc) | (cyc != np.round(cyc)))
    if bad.size:
        r = int(bad[0])
        raise DataFormatError(f"cycle_index must be a whole number, got {cyc[r]!r}", path=path, row=r,
                              column="cycle_index", value=float(cyc[r]))
    table["cycle_count"] = cyc.astype(np.int64)
    cycle = table["cycle_count"].to_numpy()
    for name in _CAPACITY_ENERGY:
        if name in table.columns:
            table[name] = to_cycle_cumulative(table[name].to_numpy(), cycle)
    for col in raw.columns:
        if col in _CANONICAL or col in _EXTRAS or col == "step_name" or col.startswith("Unnamed:"):
            continue
        if col == "date_time_iso_string":
            if len(raw):
                extra["start_time"] = str(raw[col].iloc[0])
            continue
        table[snake_case(col)] = raw[col].to_numpy()
    return table, extra


def _number(text: str | None) -> float | None:
    try:
        value = float(text) if text is not None else None
    except ValueError:
        return None
    return value if value is not None and np.isfinite(value) else None


def _preamble(lines: list[str]) -> dict[str, Any]:
    """Template items (``cell id: ...``); the nominal-capacity line reads ``...C rate:Ah,<value>``."""
    extra: dict[str, Any] = {}
    for line in lines:
        key, _, rest = line.partition(":")
        fields = [f.strip() for f in rest.split(",") if f.strip()]
        if fields and fields[0] in ("Ah", "mAh", "Wh", "mWh"):
            unit, fields = fields[0], fields[1:]
            key = f"{key} {unit}"
        if key.strip() and fields:
            extra[snake_case(key)] = " ".join(fields)
    return extra
