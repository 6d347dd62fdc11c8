"""Generic reader: any CSV/TSV/XLSX/Parquet table plus a column mapping.

Use :func:`read_generic` when no vendor reader fits::

    read_generic("cell.csv", {"Time (h)": ("test_time_second", "h"),
                              "Voltage": "voltage_volt",
                              "Current": ("current_ampere", "mA"),
                              "Q_discharge": ("discharging_capacity_ah", "mAh")})

The mapping goes from the file's column name to a canonical column name
(:mod:`voltlab.data.schema`), optionally with the unit the file uses; values
are converted to canonical units (``mA`` -> A, ``mV`` -> V, ``mAh`` -> Ah,
``mWh`` -> Wh, ``min``/``h`` -> s, ``K`` -> degC, ...). Targets that are not
canonical are kept as extra columns (they must be snake_case).

Rules applied after mapping:

* time may be numbers (with a unit), ``hh:mm:ss[.fff]`` durations, or
  date-times (then seconds since the first row); with only
  ``unix_time_second`` mapped, test time is derived from it (date-times
  without a time zone are taken as UTC);
* ``current_sign="positive_discharge"`` flips current (and power) for files
  where discharge is positive;
* without a cycle column, cycles are inferred (a new cycle at the first
  charge after a discharge; currents under 1 % of the largest count as rest);
* capacities/energies are made cumulative within cycle.

The registered format ``generic`` is a fallback: its sniff score is at most
0.2, so it is used only when named (``read_cycler_file(p, format="generic",
columns=...)``). Without a mapping it accepts canonical names and BDF labels,
and otherwise raises :class:`~voltlab.errors.SchemaError` listing the file's
columns with an example mapping.
"""

from __future__ import annotations

import difflib
import os
import re
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from voltlab.data.cycling import CyclingData
from voltlab.data.readers._text import decode, find_header_line, read_csv_whole_rows, reject_unnamed_values
from voltlab.data.readers._unitconv import (
    CANONICAL_UNITS,
    UNITS,
    convert_units,
    guess_decimal_comma,
    numeric_column,
    parse_duration,
    to_cycle_cumulative,
)
from voltlab.data.readers.base import CyclerReader, read_head, register_reader
from voltlab.data.readers.bdf import BDF_REQUIRED, known_bdf_name
from voltlab.data.schema import infer_cycle_count
from voltlab.errors import DataFormatError, DependencyError, SchemaError

__all__ = ["ColumnSpec", "GenericReader", "read_generic"]

#: A mapping value: canonical name, or (canonical name, unit in the file).
ColumnSpec = str | tuple[str, str]

_SEPARATORS = (",", "\t", ";", "|")
_EXTRA_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_NUMBER = re.compile(r"^\s*[-+]?(\d+([.,]\d*)?|[.,]\d+)([eE][-+]?\d+)?\s*$")
_DURATION_LIKE = re.compile(r"^\s*(\d+[ .-])?\d+:\d{1,2}:\d{1,2}(\.\d*)?\s*$")
_REST_FRACTION = 0.01
_CURRENT_SIGNS = ("positive_charge", "positive_discharge")
_CAPACITY_ENERGY = (
    "charging_capacity_ah", "discharging_capacity_ah", "charging_energy_wh", "discharging_energy_wh",
)


def read_generic(
    path: str | os.PathLike[str],
    columns: dict[str, ColumnSpec] | None = None,
    *,
    units: dict[str, str] | None = None,
    sep: str | None = None,
    sheet: str | int | None = None,
    current_sign: str = "positive_charge",
    header_row: int | None = None,
    decimal: str | None = None,
    **metadata: Any,
) -> CyclingData:
    """Read a table with a column mapping into the canonical schema.

    Parameters
    ----------
    path
        CSV/TSV/text, XLSX or Parquet file (kind detected from content).
    columns
        File column name -> canonical name, or -> ``(canonical name, unit)``.
        ``None``: use columns already named canonically or with BDF labels.
    units
        File column name -> unit, an alternative to the tuple form.
    sep
        Field separator of text files; detected from the header line
        (``,``, tab, ``;``, ``|``) when None.
    sheet
        XLSX sheet name or index (first sheet when None).
    current_sign
        ``"positive_charge"`` (file follows voltlab's rule) or
        ``"positive_discharge"`` (flip the sign of current and power).
    header_row
        0-based line (text) or row (XLSX) holding the column names; found
        automatically (first line naming all mapped columns) when None.
    decimal
        Decimal mark of text files; detected (``.`` or ``,``) when None.
    **metadata
        Passed to :meth:`~voltlab.data.readers.base.CyclerReader.read`:
        ``cell_id``, ``chemistry``, ``nominal_capacity_ah`` (Ah),
        ``form_factor``, ``protocol``, ``batch``, ``validate``, ``limits``.

    Returns
    -------
    CyclingData
        The validated canonical table.

    Raises
    ------
    SchemaError
        A mapped column is missing, a target is invalid or duplicated, or
        time/voltage/current are not all mapped.
    UnitError
        A unit cannot be converted to the target column's unit.
    DataFormatError
        Non-numeric values (row named) and other content problems.
    """
    return GenericReader.read(
        path, columns=columns, units=units, sep=sep, sheet=sheet, current_sign=current_sign,
        header_row=header_row, decimal=decimal, **metadata,
    )


@register_reader
class GenericReader(CyclerReader):
    """Fallback reader for any table with a column mapping (see :func:`read_generic`)."""

    name: ClassVar[str] = "generic"
    options: ClassVar[tuple[str, ...]] = ("columns", "units", "sep", "sheet", "current_sign", "header_row",
                                          "decimal")
    vendor: ClassVar[str] = "Generic table"
    description: ClassVar[str] = (
        "any CSV/TSV/XLSX/Parquet with a column mapping (read_generic); fallback, never auto-detected"
    )
    extensions: ClassVar[tuple[str, ...]] = (".csv", ".tsv", ".txt", ".xlsx", ".parquet")

    @classmethod
    def sniff(cls, path: Path, head: bytes) -> float:
        """At most 0.2: a table, but only a named ``format="generic"`` should read it."""
        if head[:4] in (b"PAR1", b"PK\x03\x04"):
            return 0.2
        if not head or b"\x00" in head[:4096]:
            return 0.0
        lines = [ln for ln in decode(head).splitlines()[:20] if ln.strip()]
        return 0.2 if any(any(s in ln for s in _SEPARATORS) for ln in lines) else 0.0

    @classmethod
    def _read(
        cls,
        path: Path,
        *,
        columns: dict[str, ColumnSpec] | None = None,
        units: dict[str, str] | None = None,
        sep: str | None = None,
        sheet: str | int | None = None,
        current_sign: str = "positive_charge",
        header_row: int | None = None,
        decimal: str | None = None,
    ) -> tuple[pd.DataFrame, dict[str, Any]]:
        if current_sign not in _CURRENT_SIGNS:
            raise DataFormatError(
                f"current_sign must be one of {_CURRENT_SIGNS}, got {current_sign!r}",
                path=path, value=current_sign,
            )
        wanted = list(columns) if columns else []
        raw = _load_table(path, wanted=wanted, sep=sep, sheet=sheet, header_row=header_row,
                          decimal=decimal)
        decimal_comma = raw.attrs.get("decimal_comma", False)
        specs = _resolve_specs(raw, columns, units or {}, path)
        table = _convert(raw, specs, path, decimal_comma=decimal_comma)
        if current_sign == "positive_discharge":
            for name in ("current_ampere", "power_watt"):
                if name in table.columns:
                    table[name] = -table[name]
        extra: dict[str, Any] = {
            "column_map": {src: tgt for src, (tgt, _) in specs.items()},
            "units": {src: unit for src, (_, unit) in specs.items() if unit},
            "current_sign": current_sign,
        }
        _cycles_and_counters(table, extra, path)
        return table, {"extra": extra}


# ----------------------------------------------------------------------------- loading

def _load_table(
    path: Path,
    *,
    wanted: list[str],
    sep: str | None,
    sheet: str | int | None,
    header_row: int | None,
    decimal: str | None,
) -> pd.DataFrame:
    magic = read_head(path, 8)
    if magic[:4] == b"PAR1":
        return _load_parquet(path)
    if magic[:4] == b"PK\x03\x04":
        return _load_excel(path, wanted=wanted, sheet=sheet, header_row=header_row)
    if magic[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
        raise DataFormatError(
            "legacy .xls (OLE) workbooks are not supported; save the sheet as .xlsx or CSV", path=path
        )
    return _load_text(path, wanted=wanted, sep=sep, header_row=header_row, decimal=decimal)


def _load_parquet(path: Path) -> pd.DataFrame:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        return pq.read_table(path).to_pandas()
    except (pa.ArrowException, OSError) as exc:
        raise DataFormatError(f"damaged Parquet file: {exc}", path=path) from exc


def _load_excel(path: Path, *, wanted: list[str], sheet: str | int | None, header_row: int | None) -> pd.DataFrame:
    try:
        import openpyxl  # noqa: F401
    except ImportError as exc:  # pragma: no cover - openpyxl is a dependency
        raise DependencyError("reading .xlsx needs openpyxl (pip install openpyxl)", path=path) from exc
    try:
        grid = pd.read_excel(path, sheet_name=sheet if sheet is not None else 0, header=None)
    except (ValueError, KeyError) as exc:
        raise DataFormatError(f"cannot read sheet {sheet!r}: {exc}", path=path, value=sheet) from exc
    if header_row is None:
        header_row = 0
        for k in range(min(len(grid), 200)):
            names = {str(v).strip() for v in grid.iloc[k].tolist()}
            if wanted and all(w in names for w in wanted):
                header_row = k
                break
            if not wanted and _names_bdf(list(names)):
                header_row = k
                break
    if header_row >= len(grid):
        raise DataFormatError(f"header_row {header_row} is beyond the sheet's {len(grid)} rows", path=path)
    names = [str(v).strip() for v in grid.iloc[header_row].tolist()]
    body = grid.iloc[header_row + 1 :].reset_index(drop=True)
    body.columns = names
    return body


def _names_bdf(names: list[str]) -> bool:
    found = {known_bdf_name(n) for n in names}
    return all(r in found for r in BDF_REQUIRED)


def _detect_sep(line: str) -> str:
    counts = {s: line.count(s) for s in _SEPARATORS}
    best = max(counts, key=lambda k: counts[k])
    return best if counts[best] else ","


def _find_header(lines: list[str], wanted: list[str], path: Path) -> int:
    if wanted:
        k = find_header_line(lines, tuple(wanted))
        if k < 0:
            g = _guess_header(lines)
            fields = [f.strip() for f in lines[g].split(_detect_sep(lines[g]))] if g < len(lines) else []
            missing = [w for w in wanted if w not in fields]
            hints = {w: difflib.get_close_matches(w, fields, n=2) for w in missing}
            hint = "; ".join(f"{w!r}: did you mean {h}?" for w, h in hints.items() if h)
            raise SchemaError(
                f"mapped column(s) {missing} not found: no line in the first 200 names all of {wanted}. "
                f"The header looks like line {g + 1}: {fields[:40]}. {hint} Check the names "
                "(exact, case-sensitive) or pass header_row=",
                path=path, column=missing[0] if missing else None,
            )
        return k
    for k, line in enumerate(lines[:200]):
        if line.strip() and _names_bdf(line.split(_detect_sep(line))):
            return k
    k = _guess_header(lines)
    fields = [f.strip() for f in lines[k].split(_detect_sep(lines[k]))] if k < len(lines) else []
    raise SchemaError(
        "the generic reader needs a column mapping: the file's columns (line "
        f"{k + 1}) are {fields[:40]}, and they do not name time, voltage and current canonically. "
        f"Example: read_generic(path, columns={_example_mapping(fields)})",
        path=path,
    )


def _guess_header(lines: list[str]) -> int:
    """Most likely header line: the first line with as many fields as the data lines that follow."""
    sample = [ln for ln in lines[:300] if ln.strip()]
    if not sample:
        return 0
    sep = _detect_sep(max(sample[-20:], key=len))
    counts = [ln.count(sep) for ln in lines[:300]]
    tail = [c for c, ln in zip(counts, lines[:300], strict=False) if ln.strip()][-20:]
    modal = max(set(tail), key=tail.count)
    for k, (c, ln) in enumerate(zip(counts, lines[:300], strict=False)):
        fields = [f for f in ln.split(sep) if f.strip()]
        if c >= modal - 1 and c > 0 and len(fields) > 1 and not any(_NUMBER.match(f) for f in fields):
            return k
    return next((k for k, ln in enumerate(lines) if ln.strip()), 0)


def _load_text(
    path: Path, *, wanted: list[str], sep: str | None, header_row: int | None, decimal: str | None
) -> pd.DataFrame:
    raw = path.read_bytes()
    if not raw.strip():
        raise DataFormatError("file is empty; expected a table with a header line", path=path)
    if b"\x00" in raw[:4096]:
        raise DataFormatError("file is binary, not a text table (CSV/TSV/XLSX/Parquet accepted)", path=path)
    text = decode(raw)
    lines = text.splitlines()
    k = header_row if header_row is not None else _find_header(lines, wanted, path)
    if k >= len(lines):
        raise DataFormatError(f"header_row {k} is beyond the file's {len(lines)} lines", path=path)
    sep = sep or _detect_sep(lines[k])
    if decimal is None:
        decimal = "," if guess_decimal_comma(lines[k + 1 : k + 201], sep) else "."
    body = "\n".join(lines[k:])
    try:
        df = read_csv_whole_rows(body, path, first_line=k, sep=sep, decimal=decimal, low_memory=False,
                                 skipinitialspace=True)
    except DataFormatError:
        raise
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        raise DataFormatError(f"cannot parse the table (separator {sep!r}): {exc}", path=path) from exc
    df.columns = [str(c).strip() for c in df.columns]
    reject_unnamed_values(df, path, header_line=k)
    df = df.loc[:, [not c.startswith("Unnamed:") or df[c].notna().any() for c in df.columns]]
    df.attrs["decimal_comma"] = decimal == ","
    return df


# ----------------------------------------------------------------------------- mapping

def _resolve_specs(
    raw: pd.DataFrame, columns: dict[str, ColumnSpec] | None, units: dict[str, str], path: Path
) -> dict[str, tuple[str, str | None]]:
    have = [str(c) for c in raw.columns]
    if not columns:
        auto = {c: known_bdf_name(c) for c in have}
        specs: dict[str, tuple[str, str | None]] = {c: (t, None) for c, t in auto.items() if t}
        if not all(r in {t for t, _ in specs.values()} for r in BDF_REQUIRED):
            raise SchemaError(
                "the generic reader needs a column mapping: the file's columns are "
                f"{have}, and they do not name time, voltage and current canonically. Example: "
                f"read_generic(path, columns={_example_mapping(have)})",
                path=path,
            )
        return specs
    specs = {}
    for src, spec in columns.items():
        if isinstance(spec, tuple):
            if len(spec) != 2:
                raise SchemaError(f"mapping for {src!r} must be 'name' or ('name', 'unit'), got {spec!r}",
                                  path=path, column=str(src))
            target, unit = spec
        else:
            target, unit = spec, units.get(src)
        if src not in have:
            close = difflib.get_close_matches(str(src), have, n=3)
            hint = f"; did you mean {close}?" if close else ""
            raise SchemaError(f"mapped column {src!r} is not in the file (columns: {have}){hint}",
                              path=path, column=str(src))
        if target not in CANONICAL_UNITS and not _EXTRA_NAME.match(str(target)):
            raise SchemaError(
                f"target {target!r} for column {src!r} is neither a canonical column "
                f"({', '.join(CANONICAL_UNITS)}) nor a snake_case extra name",
                path=path, column=str(src), value=target,
            )
        if unit and target not in CANONICAL_UNITS:
            raise SchemaError(f"a unit ({unit!r}) can only be given for canonical columns, not {target!r}",
                              path=path, column=str(src))
        specs[src] = (str(target), unit)
    targets = [t for t, _ in specs.values()]
    dup = sorted({t for t in targets if targets.count(t) > 1})
    if dup:
        raise SchemaError(f"several columns map to {dup}; map each quantity once", path=path, column=dup[0])
    mapped = set(targets)
    if "test_time_second" not in mapped and "unix_time_second" not in mapped:
        raise SchemaError("map a time column to 'test_time_second' (or 'unix_time_second')", path=path)
    for req in ("voltage_volt", "current_ampere"):
        if req not in mapped:
            raise SchemaError(f"map a column to {req!r}; the file's columns are {have}", path=path, column=req)
    return specs


# Per target: keyword groups in order of preference, and words that rule a column out.
_GUESS: dict[str, tuple[tuple[tuple[str, ...], ...], tuple[str, ...]]] = {
    "test_time_second": ((("test time", "test_time", "testtime", "total time", "run time", "elapsed"),
                          ("time", "zeit")), ("date", "step", "real", "stamp")),
    "voltage_volt": ((("voltage", "potential", "ewe", "u["), ("volt",)), ("dod", "ocv", "open circuit", "/")),
    "current_ampere": ((("current", "i[", "<i>"), ("amp", "curr")), ("hr", "ah", "capacity", "/")),
}


def _example_mapping(have: list[str]) -> str:
    parts = []
    for target, (groups, exclude) in _GUESS.items():
        ok = [c for c in have if not any(x in c.lower() for x in exclude)]
        col = next((c for keys in groups for c in ok if any(k in c.lower() for k in keys)), None)
        if col is None:
            parts.append(f"'<{target.split('_')[0]} column>': '{target}'")
            continue
        unit = _unit_in_name(col, CANONICAL_UNITS[target])
        parts.append(f"{col!r}: ({target!r}, {unit!r})" if unit else f"{col!r}: {target!r}")
    return "{" + ", ".join(parts) + "}"


def _unit_in_name(name: str, canonical_unit: str) -> str | None:
    m = re.search(r"[\[(/]\s*([^\])/]+?)\s*[\])]?\s*$", name)
    if not m:
        return None
    u = m.group(1).strip()
    hit = UNITS.get(u)
    return u if hit and hit[0] == canonical_unit else None


# ----------------------------------------------------------------------------- conversion

def _first_value(series: pd.Series) -> object:
    for v in series.head(50):
        if isinstance(v, str) and not v.strip():
            continue
        if v is not None and not (isinstance(v, float) and np.isnan(v)):
            return v
    return None


def _time_values(series: pd.Series, target: str, unit: str | None, path: Path, decimal_comma: bool) -> np.ndarray:
    first = _first_value(series) if not pd.api.types.is_numeric_dtype(series.dtype) else None
    is_datetime = pd.api.types.is_datetime64_any_dtype(series.dtype) or isinstance(first, datetime)
    sample = first if isinstance(first, str) else None
    if sample is not None and _DURATION_LIKE.match(sample) and target == "test_time_second":
        secs = parse_duration(series)
        return _check_parsed(secs, series, target, path, "hh:mm:ss durations")
    if is_datetime or (sample is not None and not _NUMBER.match(sample)):
        stamps = pd.to_datetime(series, errors="coerce", utc=True, format="mixed")
        epoch = (stamps - pd.Timestamp("1970-01-01", tz="UTC")) / pd.Timedelta(seconds=1)
        secs = epoch.to_numpy(dtype=np.float64, na_value=np.nan)
        secs = _check_parsed(secs, series, target, path, "date-times")
        if target == "test_time_second":
            finite = secs[np.isfinite(secs)]
            secs = secs - (finite[0] if finite.size else 0.0)
        return secs
    values = numeric_column(series, target, path=path, decimal_comma=decimal_comma)
    return convert_units(values, unit or "s", target, path=path)


def _check_parsed(secs: np.ndarray, series: pd.Series, target: str, path: Path, what: str) -> np.ndarray:
    bad = np.flatnonzero(np.isnan(secs) & series.notna().to_numpy())
    if bad.size:
        r = int(bad[0])
        raise DataFormatError(f"cannot read {series.iloc[r]!r} as one of the column's {what}",
                              path=path, row=r, column=target, value=str(series.iloc[r]))
    return secs


def _convert(
    raw: pd.DataFrame, specs: dict[str, tuple[str, str | None]], path: Path, *, decimal_comma: bool
) -> pd.DataFrame:
    out: dict[str, Any] = {}
    for src, (target, unit) in specs.items():
        series = raw[src]
        if isinstance(series, pd.DataFrame):
            raise SchemaError(f"the file has several columns named {src!r}", path=path, column=src)
        if target in ("test_time_second", "unix_time_second"):
            out[target] = _time_values(series, target, unit, path, decimal_comma)
        elif target in CANONICAL_UNITS:
            values = numeric_column(series, target, path=path, decimal_comma=decimal_comma)
            out[target] = convert_units(values, unit or CANONICAL_UNITS[target], target, path=path)
        else:
            out[target] = series.to_numpy()
    table = pd.DataFrame(out)
    if "test_time_second" not in table.columns:
        unix = table["unix_time_second"].to_numpy(dtype=np.float64)
        finite = unix[np.isfinite(unix)]
        table["test_time_second"] = unix - (finite[0] if finite.size else 0.0)
    return table


def _whole(values: np.ndarray, column: str, path: Path, *, allow_nan: bool) -> np.ndarray:
    v = np.where(np.isnan(values), 0.0, values) if allow_nan else values
    bad = np.flatnonzero(~np.isfinite(v) | (v != np.round(v)))
    if bad.size:
        r = int(bad[0])
        raise DataFormatError(f"{column} must hold whole numbers, got {values[r]!r}", path=path, row=r,
                              column=column, value=float(values[r]))
    return v


def _cycles_and_counters(table: pd.DataFrame, extra: dict[str, Any], path: Path) -> None:
    current = table["current_ampere"].to_numpy(dtype=np.float64)
    if "cycle_count" in table.columns:
        table["cycle_count"] = _whole(table["cycle_count"].to_numpy(dtype=np.float64), "cycle_count", path,
                                      allow_nan=False).astype(np.int64)
        extra["cycle_count_inferred"] = False
    else:
        finite = np.abs(current[np.isfinite(current)])
        thr = _REST_FRACTION * float(finite.max()) if finite.size else 0.0
        table["cycle_count"] = infer_cycle_count(np.nan_to_num(current), threshold_ampere=thr)
        extra["cycle_count_inferred"] = True
    if "step_index" in table.columns:
        _whole(table["step_index"].to_numpy(dtype=np.float64), "step_index", path, allow_nan=True)
    if "step_count" in table.columns:
        table["step_count"] = _whole(table["step_count"].to_numpy(dtype=np.float64), "step_count", path,
                                     allow_nan=False).astype(np.int64)
    cycle = table["cycle_count"].to_numpy()
    for name in _CAPACITY_ENERGY:
        if name in table.columns:
            table[name] = to_cycle_cumulative(table[name].to_numpy(dtype=np.float64), cycle)
