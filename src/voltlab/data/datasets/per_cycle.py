"""Generic loader for per-cycle tables (one row per cycle: capacity, resistance, ...).

Many public ageing data sets are shared as per-cycle summaries rather than
time series. :func:`load_per_cycle_table` maps the columns of such a table
(CSV/TSV/TXT, Excel or Parquet) onto voltlab's per-cycle names, converts the
units and validates the values, naming the file, column and row of any
problem.
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from voltlab.data.datasets._common import missing
from voltlab.data.readers._text import decode, reject_crashing_numbers, to_float
from voltlab.errors import DataFormatError, SchemaError, UnitError

__all__ = ["PER_CYCLE_COLUMNS", "load_per_cycle_table"]

#: Output column -> (quantity, canonical unit). ``cycle_count`` is required.
PER_CYCLE_COLUMNS: dict[str, tuple[str, str]] = {
    "cycle_count": ("count", "1"),
    "discharge_capacity_ah": ("capacity", "Ah"),
    "charge_capacity_ah": ("capacity", "Ah"),
    "discharge_energy_wh": ("energy", "Wh"),
    "charge_energy_wh": ("energy", "Wh"),
    "internal_resistance_ohm": ("resistance", "Ohm"),
    "temperature_max_celsius": ("temperature", "degC"),
    "temperature_mean_celsius": ("temperature", "degC"),
    "charge_time_second": ("time", "s"),
    "discharge_time_second": ("time", "s"),
}

# unit spelling (lower case, spaces removed) -> (scale, offset) to the canonical unit
_UNITS: dict[str, dict[str, tuple[float, float]]] = {
    "count": {"1": (1.0, 0.0), "": (1.0, 0.0)},
    "capacity": {"ah": (1.0, 0.0), "a.h": (1.0, 0.0), "a·h": (1.0, 0.0),
                 "mah": (1e-3, 0.0), "ma.h": (1e-3, 0.0), "ma·h": (1e-3, 0.0)},
    "energy": {"wh": (1.0, 0.0), "w.h": (1.0, 0.0), "mwh": (1e-3, 0.0), "mw.h": (1e-3, 0.0),
               "kwh": (1e3, 0.0)},
    "resistance": {"ohm": (1.0, 0.0), "ω": (1.0, 0.0), "mohm": (1e-3, 0.0), "mω": (1e-3, 0.0)},
    "temperature": {"degc": (1.0, 0.0), "°c": (1.0, 0.0), "c": (1.0, 0.0), "celsius": (1.0, 0.0),
                    "k": (1.0, -273.15), "kelvin": (1.0, -273.15)},
    "time": {"s": (1.0, 0.0), "sec": (1.0, 0.0), "second": (1.0, 0.0), "min": (60.0, 0.0),
             "minute": (60.0, 0.0), "h": (3600.0, 0.0), "hour": (3600.0, 0.0)},
}
_SIGNLESS = ("capacity", "energy")
_EXCEL = (".xlsx", ".xlsm", ".xls")


def _unit_factor(output: str, unit: str, path: Path) -> tuple[float, float]:
    quantity, canonical = PER_CYCLE_COLUMNS[output]
    key = unit.strip().lower().replace(" ", "").replace("Ω", "ω").replace("ohms", "ohm")
    table = _UNITS[quantity]
    if key not in table:
        accepted = sorted({u for u in table if u})
        raise UnitError(
            f"unit {unit!r} is not accepted for {output} ({quantity}); use one of {accepted} "
            f"(converted to {canonical})", path=path, column=output, value=unit,
        )
    return table[key]


def _sniff_sep(text: str) -> str:
    header = next((ln for ln in text.splitlines() if ln.strip()), "")
    counts = {sep: header.count(sep) for sep in ("\t", ";", ",", "|")}
    best = max(counts, key=lambda s: counts[s])
    return best if counts[best] else ","


def _read_table(path: Path, sep: str | None, sheet_name: str | int) -> pd.DataFrame:
    suffix = path.suffix.lower()
    try:
        if suffix in _EXCEL:
            return pd.read_excel(path, sheet_name=sheet_name, dtype=object)
        if suffix == ".parquet":
            return pd.read_parquet(path)
        raw = path.read_bytes()
        if b"\x00" in raw[:4096]:
            raise DataFormatError(
                "file is binary, not a delimited text table (give .xlsx/.parquet files their extension)",
                path=path,
            )
        reject_crashing_numbers(path)
        text = decode(raw)
        return pd.read_csv(io.StringIO(text), sep=sep or _sniff_sep(text), dtype=str,
                           skipinitialspace=True, engine="c")
    except DataFormatError:
        raise
    except pd.errors.EmptyDataError as exc:
        raise DataFormatError("file is empty (no header, no rows)", path=path) from exc
    except Exception as exc:
        raise DataFormatError(
            f"cannot read the table ({type(exc).__name__}: {exc}); check the format and delimiter",
            path=path,
        ) from exc


def _numeric(raw: pd.Series, source: str, path: Path, decimal_comma: bool) -> np.ndarray:
    values = to_float(raw, decimal_comma=decimal_comma).to_numpy(dtype=np.float64)
    if pd.api.types.is_numeric_dtype(raw.dtype):
        return values
    text = raw.astype("string").str.strip()
    junk = np.flatnonzero(np.isnan(values) & (text.notna() & (text != "")).to_numpy(dtype=bool))
    if junk.size:
        r = int(junk[0])
        raise DataFormatError(
            f"value {raw.iloc[r]!r} is not a number ({junk.size} such row(s))",
            path=path, row=r, column=source, value=raw.iloc[r],
        )
    return values


def _check_mapping(
    columns: Mapping[str, str], units: Mapping[str, str], table: pd.DataFrame, path: Path
) -> None:
    targets = list(columns.values())
    unknown = [t for t in targets if t not in PER_CYCLE_COLUMNS]
    if unknown:
        raise SchemaError(
            f"unknown output column(s) {unknown}; map source columns to {sorted(PER_CYCLE_COLUMNS)}",
            path=path, column=unknown[0],
        )
    dup = sorted({t for t in targets if targets.count(t) > 1})
    if dup:
        raise SchemaError(f"several source columns map to {dup[0]!r}; map one", path=path, column=dup[0])
    if "cycle_count" not in targets:
        raise SchemaError(
            "no source column mapped to 'cycle_count'; e.g. columns={'Cycle': 'cycle_count', ...}",
            path=path,
        )
    bad_units = [u for u in units if u not in targets]
    if bad_units:
        raise SchemaError(
            f"units given for {bad_units} which no source column maps to (mapped: {targets})",
            path=path, column=bad_units[0],
        )
    have = [str(c) for c in table.columns]
    for src in columns:
        if src not in table.columns:
            raise SchemaError(
                f"column {src!r} not found; the file has {have[:20]}{' ...' if len(have) > 20 else ''}",
                path=path, column=src,
            )


def load_per_cycle_table(
    path: str | os.PathLike[str],
    columns: Mapping[str, str],
    *,
    units: Mapping[str, str] | None = None,
    cell_column: str | None = None,
    cell_id: str | None = None,
    sep: str | None = None,
    decimal: str = ".",
    sheet_name: str | int = 0,
) -> pd.DataFrame:
    """Load a per-cycle table with a column mapping and unit conversion.

    Parameters
    ----------
    path
        CSV/TSV/TXT (delimiter sniffed unless ``sep`` is given; UTF-8 with
        or without BOM, cp1252 or Latin-1), Excel (``.xlsx``, ``.xls``) or
        ``.parquet`` file.
    columns
        Source column -> output column. Outputs (see :data:`PER_CYCLE_COLUMNS`):
        ``cycle_count`` (required), ``discharge_capacity_ah``,
        ``charge_capacity_ah``, ``discharge_energy_wh``, ``charge_energy_wh``,
        ``internal_resistance_ohm``, ``temperature_max_celsius``,
        ``temperature_mean_celsius``, ``charge_time_second``,
        ``discharge_time_second``.
    units
        Output column -> unit of the *source* values, for columns not already
        in the output unit. Accepted: capacity ``Ah``/``mAh``; energy
        ``Wh``/``mWh``/``kWh``; resistance ``Ohm``/``mOhm`` (or ``Ω``/``mΩ``);
        temperature ``degC``/``°C``/``K``; time ``s``/``min``/``h``.
    cell_column
        Source column holding the cell id (tables with several cells).
    cell_id
        Cell id when the table holds one cell (default: the file stem).
    sep
        Delimiter of text files (default: sniffed from the header line).
    decimal
        ``"."`` or ``","`` (decimal comma, e.g. ``"1,234"`` = 1.234).
    sheet_name
        Excel sheet.

    Returns
    -------
    pandas.DataFrame
        ``cell_id``, ``cycle_count`` (int) and the mapped output columns in
        :data:`PER_CYCLE_COLUMNS` order, converted to Ah, Wh, Ω, °C and s;
        cells in order of first appearance, cycles ascending within a cell. Capacities and energies are magnitudes (some
        cyclers export discharge values as negative numbers). Empty cells and
        the usual missing markers (``NA``, ``N/A``, ``NaN``, ``null``) are NaN,
        except in ``cycle_count``.

    Raises
    ------
    MissingFileError
        ``path`` does not exist.
    SchemaError
        A mapped source column is absent, an output name is unknown, or
        ``cycle_count`` is not mapped (the message names the file and column).
    UnitError
        A unit is not accepted for the quantity.
    DataFormatError
        Unreadable file, text where numbers are expected, a missing or
        non-integer cycle number, negative resistances or times, or a cycle
        that appears twice for the same cell (naming file, column and row).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "cellA.csv"
    >>> _ = p.write_text("Cycle;Cap (mAh);R (mOhm)\\n1;2001,5;21\\n2;1990,0;22\\n")
    >>> df = load_per_cycle_table(p, {"Cycle": "cycle_count", "Cap (mAh)": "discharge_capacity_ah",
    ...                               "R (mOhm)": "internal_resistance_ohm"},
    ...                           units={"discharge_capacity_ah": "mAh", "internal_resistance_ohm": "mOhm"},
    ...                           decimal=",")
    >>> df.round(4).to_dict("list")
    {'cell_id': ['cellA', 'cellA'], 'cycle_count': [1, 2], 'discharge_capacity_ah': [2.0015, 1.99], 'internal_resistance_ohm': [0.021, 0.022]}
    """
    p = Path(path)
    if not p.is_file():
        raise missing(p, "per-cycle table", "the data set's publisher (check the path)")
    if decimal not in (".", ","):
        raise ValueError(f"decimal must be '.' or ',', got {decimal!r}")
    units = dict(units or {})
    table = _read_table(p, sep, sheet_name)
    table.columns = [str(c).strip() for c in table.columns]
    _check_mapping(columns, units, table, p)
    if cell_column is not None and cell_column not in table.columns:
        raise SchemaError(f"cell column {cell_column!r} not found (have {list(table.columns)[:20]})",
                          path=p, column=cell_column)
    if table.empty:
        raise DataFormatError("the table has a header but no rows", path=p)

    out = pd.DataFrame(index=range(len(table)))
    if cell_column is not None:
        ids = table[cell_column].astype("string").str.strip()
        if (ids.isna() | (ids == "")).any():
            r = int(np.flatnonzero((ids.isna() | (ids == "")).to_numpy())[0])
            raise DataFormatError("cell id missing", path=p, row=r, column=cell_column)
        out["cell_id"] = ids.astype(object).to_numpy()
    else:
        out["cell_id"] = cell_id or p.name.split(".")[0]

    by_output = {dst: src for src, dst in columns.items()}
    for name in PER_CYCLE_COLUMNS:
        if name not in by_output:
            continue
        src = by_output[name]
        values = _numeric(table[src].reset_index(drop=True), src, p, decimal == ",")
        scale, offset = _unit_factor(name, units.get(name, PER_CYCLE_COLUMNS[name][1]), p)
        values = values * scale + offset
        out[name] = _checked(name, values, src, p)
    out["cycle_count"] = out["cycle_count"].astype(np.int64)
    _check_duplicates(out, by_output["cycle_count"], p)
    # cells keep their order of first appearance; cycles ascend within each cell
    order = np.lexsort((out["cycle_count"].to_numpy(), pd.factorize(out["cell_id"])[0]))
    out = out.iloc[order].reset_index(drop=True)
    out.attrs["source"] = str(p)
    return out


def _checked(name: str, values: np.ndarray, src: str, path: Path) -> np.ndarray:
    quantity = PER_CYCLE_COLUMNS[name][0]
    if quantity == "count":
        bad = np.flatnonzero(~np.isfinite(values) | (values != np.round(values)))
        if bad.size:
            r = int(bad[0])
            raise DataFormatError(
                f"cycle number must be a whole number, got {values[r]!r}", path=path, row=r, column=src,
            )
        return values
    if quantity in _SIGNLESS:
        return np.abs(values)
    if quantity in ("resistance", "time"):
        neg = np.flatnonzero(values < 0)
        if neg.size:
            r = int(neg[0])
            raise DataFormatError(
                f"{quantity} cannot be negative, got {values[r]:g} ({neg.size} row(s))",
                path=path, row=r, column=src, value=float(values[r]),
            )
    return values


def _check_duplicates(out: pd.DataFrame, cycle_src: str, path: Path) -> None:
    dup = out.duplicated(["cell_id", "cycle_count"], keep="first").to_numpy()
    if dup.any():
        r = int(np.flatnonzero(dup)[0])
        raise DataFormatError(
            f"cycle {out['cycle_count'].iloc[r]} of cell {out['cell_id'].iloc[r]!r} appears more than "
            f"once ({int(dup.sum())} repeated row(s)); pass cell_column=... if the table holds several "
            "cells, or remove the repeats",
            path=path, row=r, column=cycle_src,
        )
