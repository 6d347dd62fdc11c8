"""Battery Data Format (BDF): read and write CSV and Parquet.

voltlab's canonical column names *are* the BDF machine names
(``test_time_second``, ``voltage_volt``, ``current_ampere``, ...), so reading a
BDF file is mostly renaming human labels (``"Test Time / s"``) and aliases,
and writing is choosing the header style.

Readers (see :func:`voltlab.data.readers.available_formats`):

``bdf_csv``
    Comma-separated BDF text (``.bdf``, ``.bdf.csv``, ``.csv``, gzip-compressed
    ``.bdf.gz``). Detected by a first line naming the three required BDF
    quantities (time, voltage, current) as machine names or human labels.
``bdf_parquet``
    BDF written as Parquet; detected by the Parquet magic and the schema's
    column names.
``bdf``
    Alias that reads either (never chosen by detection; name it explicitly).

Column rules: machine names and human labels are both accepted (case and
spacing ignored, ``°C`` = ``degC``); ``temperature_t1_celsius`` ("Surface
Temperature T1 / degC") becomes ``temperature_celsius`` when the file has no
``temperature_celsius``; ``temperature_t2_celsius`` ... and other columns are
kept as extra columns (snake_case). Without ``cycle_count`` the cycle is
inferred with :func:`~voltlab.data.schema.infer_cycle_count` (a new cycle at
the first charge after a discharge; currents below 1 % of the largest
|current| count as rest). Capacities and energies that are not already
cumulative within cycle (e.g. reset per step, as in the LANDT reference
file) are converted with
:func:`~voltlab.data.schema.counter_to_cycle_cumulative`.

Reader options: ``repair_time=True`` applies
:func:`voltlab.data.repair.repair_time` and records each repaired row in
``metadata.extra["time_repairs"]``; ``time_unit="ms"`` reads a time column
written in milliseconds (the DLR BaSyTec reference file; a warning suggests
it when the test would last more than five years).
"""

from __future__ import annotations

import gzip
import io
import json
import os
import re
import tempfile
import warnings
import zlib
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd

from voltlab.data.cycling import CyclingData
from voltlab.data.metadata import CellMetadata
from voltlab.data.readers._text import decode
from voltlab.data.readers._unitconv import (
    CANONICAL_UNITS,
    convert_units,
    numeric_column,
    snake_case,
    to_cycle_cumulative,
)
from voltlab.data.readers.base import CyclerReader, read_head, register_reader
from voltlab.data.repair import TIME_REPAIR_RULE
from voltlab.data.repair import repair_time as _repair_time
from voltlab.data.schema import COLUMNS, canonical_order, infer_cycle_count
from voltlab.errors import DataFormatError, SchemaError, VoltlabError

__all__ = [
    "BDF_EXTRA_LABELS",
    "BDF_REQUIRED",
    "BdfCsvReader",
    "BdfParquetReader",
    "BdfReader",
    "bdf_column_map",
    "bdf_label",
    "canonical_bdf_frame",
    "write_bdf",
]

#: The quantities every BDF file must have.
BDF_REQUIRED: tuple[str, ...] = ("test_time_second", "voltage_volt", "current_ampere")

#: BDF quantities that are not voltlab canonical columns (kept as extra columns), with their labels.
BDF_EXTRA_LABELS: dict[str, str] = {
    "step_capacity_ah": "Step Capacity / Ah",
    "net_capacity_ah": "Net Capacity / Ah",
    "cumulative_capacity_ah": "Cumulative Capacity / Ah",
    "step_energy_wh": "Step Energy / Wh",
    "net_energy_wh": "Net Energy / Wh",
    "cumulative_energy_wh": "Cumulative Energy / Wh",
    "ambient_pressure_pa": "Ambient Pressure / Pa",
    "applied_pressure_pa": "Applied Pressure / Pa",
    **{f"temperature_t{k}_celsius": f"Surface Temperature T{k} / degC" for k in range(1, 6)},
}

_CAPACITY_ENERGY = (
    "charging_capacity_ah", "discharging_capacity_ah", "charging_energy_wh", "discharging_energy_wh",
)
_PARQUET_META_KEY = b"voltlab.metadata"
_MAX_PLAUSIBLE_TEST_S = 5 * 365.25 * 86400.0
_REST_FRACTION = 0.01
_METADATA_FIELDS = ("cell_id", "chemistry", "nominal_capacity_ah", "form_factor", "protocol", "batch")


def _norm_label(label: object) -> str:
    s = str(label).replace("\ufeff", "").strip().lower().replace("°c", "degc").replace("℃", "degc")
    s = re.sub(r"\s*/\s*", " / ", s)
    return re.sub(r"\s+", " ", s)


def _build_lookup() -> dict[str, str]:
    lookup: dict[str, str] = {}
    for c in COLUMNS:
        lookup[_norm_label(c.name)] = c.name
        lookup[_norm_label(c.bdf_label)] = c.name
    for name, label in BDF_EXTRA_LABELS.items():
        lookup[_norm_label(name)] = name
        lookup[_norm_label(label)] = name
    return lookup


_LOOKUP = _build_lookup()


def bdf_label(name: str) -> str | None:
    """BDF human label of machine name ``name`` (``"voltage_volt"`` -> ``"Voltage / V"``), or None."""
    for c in COLUMNS:
        if c.name == name:
            return c.bdf_label
    return BDF_EXTRA_LABELS.get(name)


def known_bdf_name(label: object) -> str | None:
    """Machine name for a BDF machine name or human label, or None if it is not a BDF quantity."""
    return _LOOKUP.get(_norm_label(label))


def bdf_column_map(
    columns: list[Any] | pd.Index, *, path: str | os.PathLike[str] | None = None
) -> dict[Any, str]:
    """Map a table's column names to BDF machine names.

    BDF machine names and human labels map to the machine name; any other
    column keeps a snake_case version of its name. ``temperature_t1_celsius``
    becomes ``temperature_celsius`` when the table has no cell temperature.

    Raises
    ------
    SchemaError
        Two columns end up with the same name (e.g. ``"Voltage / V"`` and
        ``"voltage_volt"`` in one file).
    """
    mapping: dict[Any, str] = {}
    for col in columns:
        mapping[col] = known_bdf_name(col) or snake_case(col)
    targets = list(mapping.values())
    if "temperature_celsius" not in targets and "temperature_t1_celsius" in targets:
        for col, tgt in mapping.items():
            if tgt == "temperature_t1_celsius":
                mapping[col] = "temperature_celsius"
    seen: dict[str, Any] = {}
    for col, tgt in mapping.items():
        if tgt in seen:
            raise SchemaError(
                f"columns {seen[tgt]!r} and {col!r} are the same quantity ({tgt!r}); "
                "keep only one of them",
                path=path, column=str(col),
            )
        seen[tgt] = col
    return mapping


def _infer_cycles(current: np.ndarray) -> np.ndarray:
    finite = np.abs(current[np.isfinite(current)])
    thr = _REST_FRACTION * float(finite.max()) if finite.size else 0.0
    return infer_cycle_count(np.nan_to_num(current), threshold_ampere=thr)


def _whole_numbers(values: np.ndarray, column: str, path: str | os.PathLike[str] | None) -> np.ndarray:
    bad = np.flatnonzero(~np.isfinite(values) | (values != np.round(values)))
    if bad.size:
        r = int(bad[0])
        raise DataFormatError(
            f"{column} must hold whole numbers, got {values[r]!r} ({bad.size} row(s)); "
            "fix the export or drop the column so it is derived",
            path=path, row=r, column=column, value=float(values[r]),
        )
    return values.astype(np.int64)


def canonical_bdf_frame(
    df: pd.DataFrame,
    *,
    path: str | os.PathLike[str] | None = None,
    repair_time: bool = False,
    time_unit: str = "s",
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Turn a table with BDF column names or labels into voltlab's canonical columns.

    Parameters
    ----------
    df
        Table as read from a BDF file.
    path
        File named in errors.
    repair_time
        Apply :func:`voltlab.data.repair.repair_time` to non-monotonic time.
    time_unit
        Unit of the time column in the file (BDF says ``"s"``; ``"ms"`` for
        files written in milliseconds).

    Returns
    -------
    (pandas.DataFrame, dict)
        Canonical table (not yet finalised) and ``extra`` metadata items.

    Raises
    ------
    SchemaError
        Required BDF quantities missing or duplicated.
    DataFormatError
        Non-numeric values or non-integer cycle numbers (row named).
    """
    original = [str(c) for c in df.columns]
    mapping = bdf_column_map(list(df.columns), path=path)
    df = df.rename(columns=mapping)
    missing = [c for c in BDF_REQUIRED if c not in df.columns]
    if missing:
        wanted = ", ".join(f"{c} ({bdf_label(c)!r})" for c in missing)
        raise SchemaError(
            f"not a Battery Data Format table: missing {wanted}; the file has columns {original}. "
            "BDF files name time, voltage and current 'test_time_second'/'Test Time / s', "
            "'voltage_volt'/'Voltage / V', 'current_ampere'/'Current / A'. For other tables use "
            "voltlab.data.readers.generic.read_generic(path, columns={...})",
            path=path, column=missing[0],
        )
    out: dict[str, Any] = {}
    for name in df.columns:
        if name in CANONICAL_UNITS or name in BDF_EXTRA_LABELS:
            out[name] = numeric_column(df[name], name, path=path)
        else:
            out[name] = df[name].to_numpy()
    table = pd.DataFrame(out)
    extra: dict[str, Any] = {"bdf_columns": original}
    table["test_time_second"] = convert_units(table["test_time_second"], time_unit, "test_time_second",
                                              path=path)
    _check_time_plausible(table, extra, path, time_unit)
    if repair_time:
        table, report = _repair_time(table)
        extra["time_repairs"] = report
        extra["time_repair_rule"] = TIME_REPAIR_RULE
    _cycles_and_counters(table, extra, path)
    return table, extra


def _check_time_plausible(
    table: pd.DataFrame, extra: dict[str, Any], path: str | os.PathLike[str] | None, time_unit: str
) -> None:
    t = table["test_time_second"].to_numpy()
    finite = t[np.isfinite(t)]
    if time_unit == "s" and finite.size and float(finite.max() - finite.min()) > _MAX_PLAUSIBLE_TEST_S:
        span = float(finite.max() - finite.min())
        msg = (
            f"{path}: test time spans {span:.3g} s ({span / 86400 / 365.25:.3g} years); if the file "
            f"wrote milliseconds, read it with time_unit='ms' ({span / 1000 / 86400:.3g} days)"
        )
        warnings.warn(msg, UserWarning, stacklevel=4)
        extra.setdefault("warnings", []).append(msg)


def _cycles_and_counters(table: pd.DataFrame, extra: dict[str, Any], path: str | os.PathLike[str] | None) -> None:
    current = table["current_ampere"].to_numpy(dtype=np.float64)
    if "cycle_count" in table.columns:
        table["cycle_count"] = _whole_numbers(table["cycle_count"].to_numpy(dtype=np.float64),
                                              "cycle_count", path)
        extra["cycle_count_inferred"] = False
    else:
        table["cycle_count"] = _infer_cycles(current)
        extra["cycle_count_inferred"] = True
    if "step_count" in table.columns:
        table["step_count"] = _whole_numbers(table["step_count"].to_numpy(dtype=np.float64),
                                             "step_count", path)
    if "step_index" in table.columns:
        step = table["step_index"].to_numpy(dtype=np.float64)
        _whole_numbers(np.where(np.isnan(step), 0.0, step), "step_index", path)
    cycle = table["cycle_count"].to_numpy()
    for name in _CAPACITY_ENERGY:
        if name in table.columns:
            table[name] = to_cycle_cumulative(table[name].to_numpy(dtype=np.float64), cycle)


# ----------------------------------------------------------------------------- sniffing helpers

def _maybe_gunzip_head(head: bytes) -> bytes:
    if head[:2] != b"\x1f\x8b":
        return head
    try:
        return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(head)
    except zlib.error:
        return b""


def _first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return line
    return ""


def _delimiter(header: str) -> str:
    counts = {sep: header.count(sep) for sep in (",", ";", "\t")}
    best = max(counts, key=lambda k: counts[k])
    return best if counts[best] else ","


def _bdf_header_score(names: list[str]) -> float:
    found = {known_bdf_name(n) for n in names}
    return 0.95 if all(r in found for r in BDF_REQUIRED) else 0.0


# ----------------------------------------------------------------------------- readers

class _BdfBase(CyclerReader):
    """Shared ``read`` that adds a repair hint to backward-time errors."""

    options: ClassVar[tuple[str, ...]] = ("repair_time", "time_unit")
    vendor: ClassVar[str] = "Battery Data Format"

    @classmethod
    def read(cls, path: str | os.PathLike[str], **kwargs: Any) -> CyclingData:  # type: ignore[override]
        """Read a BDF file; see :class:`~voltlab.data.readers.base.CyclerReader.read`.

        Options: ``repair_time`` (bool, default False) and ``time_unit``
        (``"s"`` default, ``"ms"``...).
        """
        try:
            return super().read(path, **kwargs)
        except DataFormatError as exc:
            if (
                exc.column == "test_time_second"
                and exc.row is not None
                and "backwards" in exc.message
                and not kwargs.get("repair_time")
            ):
                raise type(exc)(
                    f"{exc.message}; or read with repair_time=True",
                    path=exc.path, row=exc.row, column=exc.column, value=exc.value,
                ) from exc
            raise


@register_reader
class BdfCsvReader(_BdfBase):
    """Battery Data Format CSV (machine names or human labels, optionally gzip-compressed)."""

    name: ClassVar[str] = "bdf_csv"
    description: ClassVar[str] = "BDF CSV (.bdf, .bdf.csv, .bdf.gz): test_time_second/'Test Time / s', ..."
    extensions: ClassVar[tuple[str, ...]] = (".bdf", ".csv", ".gz")

    @classmethod
    def sniff(cls, path: Path, head: bytes) -> float:
        """0.95 if the first line names BDF time, voltage and current; else 0."""
        head = _maybe_gunzip_head(head)
        if not head or b"\x00" in head[:4096]:
            return 0.0
        header = _first_line(decode(head))
        return _bdf_header_score(header.split(_delimiter(header)))

    @classmethod
    def _read(
        cls, path: Path, *, repair_time: bool = False, time_unit: str = "s"
    ) -> tuple[pd.DataFrame, dict[str, Any]]:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            try:
                raw = gzip.decompress(raw)
            except (OSError, EOFError, zlib.error) as exc:
                raise DataFormatError(f"damaged gzip stream: {exc}", path=path) from exc
        if not raw.strip():
            raise DataFormatError("file is empty; expected a BDF CSV with a header line", path=path)
        if b"\x00" in raw[:4096]:
            raise DataFormatError("file is binary, not a BDF CSV (for Parquet use format='bdf_parquet')",
                                  path=path)
        text = decode(raw)
        header = _first_line(text)
        sep = _delimiter(header)
        if not _bdf_header_score(header.split(sep)):
            fields = [f.strip() for f in header.split(sep)][:30]
            raise SchemaError(
                f"not a Battery Data Format table: the first line must name test_time_second/'Test Time / s', "
                f"voltage_volt/'Voltage / V' and current_ampere/'Current / A', but it holds {fields}. "
                "Choose the format that matches the file, or use "
                "voltlab.data.readers.generic.read_generic(path, columns={...})",
                path=path,
            )
        try:
            df = pd.read_csv(io.StringIO(text), sep=sep, float_precision="round_trip", low_memory=False)
        except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            raise DataFormatError(f"malformed BDF CSV: {exc}", path=path) from exc
        table, extra = canonical_bdf_frame(df, path=path, repair_time=repair_time, time_unit=time_unit)
        return table, {"extra": extra}


@register_reader
class BdfParquetReader(_BdfBase):
    """Battery Data Format as Parquet (as written by :func:`write_bdf`)."""

    name: ClassVar[str] = "bdf_parquet"
    description: ClassVar[str] = "BDF Parquet (.bdf.parquet): BDF column names in a Parquet file"
    extensions: ClassVar[tuple[str, ...]] = (".parquet", ".pq")

    @classmethod
    def sniff(cls, path: Path, head: bytes) -> float:
        """0.95 for a Parquet file whose schema names BDF time, voltage and current."""
        if head[:4] != b"PAR1":
            return 0.0
        import pyarrow.parquet as pq

        try:
            names = pq.read_schema(path).names
        except Exception:  # noqa: BLE001 - damaged file: not ours to judge
            return 0.0
        return _bdf_header_score(names)

    @classmethod
    def _read(
        cls, path: Path, *, repair_time: bool = False, time_unit: str = "s"
    ) -> tuple[pd.DataFrame, dict[str, Any]]:
        import pyarrow as pa
        import pyarrow.parquet as pq

        head = read_head(path, 4)
        if head != b"PAR1":
            raise DataFormatError(
                f"not a Parquet file (starts with {head!r}, expected b'PAR1'); for BDF CSV use "
                "format='bdf_csv'",
                path=path,
            )
        try:
            table = pq.read_table(path)
        except (pa.ArrowException, OSError) as exc:
            raise DataFormatError(f"damaged Parquet file: {exc}", path=path) from exc
        df = table.to_pandas()
        frame, extra = canonical_bdf_frame(df, path=path, repair_time=repair_time, time_unit=time_unit)
        meta = _stored_metadata(table.schema.metadata or {})
        stored_extra = meta.pop("extra", {})
        return frame, {**meta, "extra": {**stored_extra, **extra}}


@register_reader
class BdfReader(_BdfBase):
    """``format="bdf"``: BDF CSV or Parquet, chosen from the file's first bytes.

    Options as for :class:`BdfCsvReader`: ``repair_time`` (bool) and ``time_unit`` (``"s"``, ``"ms"``...).
    """

    name: ClassVar[str] = "bdf"
    description: ClassVar[str] = "BDF CSV or Parquet (alias of bdf_csv / bdf_parquet; name it explicitly)"
    extensions: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def sniff(cls, path: Path, head: bytes) -> float:
        """Always 0: detection picks ``bdf_csv`` or ``bdf_parquet`` directly."""
        return 0.0

    @classmethod
    def _read(cls, path: Path, **options: Any) -> tuple[pd.DataFrame, dict[str, Any]]:
        if read_head(path, 4) == b"PAR1":
            return BdfParquetReader._read(path, **options)
        return BdfCsvReader._read(path, **options)


def _stored_metadata(schema_meta: dict[bytes, bytes]) -> dict[str, Any]:
    """CellMetadata fields stored by :func:`write_bdf` in a Parquet file (ignored if damaged)."""
    raw = schema_meta.get(_PARQUET_META_KEY)
    if not raw:
        return {}
    try:
        data = json.loads(raw)
        fields = {k: data[k] for k in _METADATA_FIELDS if data.get(k) not in (None, "")}
        extra = data.get("extra") or {}
        if not isinstance(extra, dict):
            extra = {}
        CellMetadata(**{"cell_id": "check", **fields, "extra": extra})
    except (ValueError, TypeError, KeyError, VoltlabError):
        return {"extra": {"warnings": ["stored voltlab metadata is damaged and was ignored"]}}
    extra = {k: v for k, v in extra.items() if k not in ("bdf_columns",)}
    for k in ("source", "source_format"):
        if data.get(k):
            extra[f"written_from_{k}"] = data[k]
    return {**fields, "extra": extra}


# ----------------------------------------------------------------------------- writer

_CSV_SUFFIXES = (".csv", ".bdf", ".txt")
_GZ_SUFFIXES = (".gz",)
_PARQUET_SUFFIXES = (".parquet", ".pq")


def _format_for(path: Path) -> Literal["csv", "csv.gz", "parquet"]:
    suffix = path.suffix.lower()
    if suffix in _PARQUET_SUFFIXES:
        return "parquet"
    if suffix in _GZ_SUFFIXES:
        return "csv.gz"
    if suffix in _CSV_SUFFIXES:
        return "csv"
    raise DataFormatError(
        f"cannot tell the output format from suffix {suffix!r}; use .bdf.csv/.csv/.bdf (CSV), "
        ".bdf.gz (gzip CSV) or .bdf.parquet/.parquet (Parquet)",
        path=path, value=suffix,
    )


def write_bdf(
    data: CyclingData | pd.DataFrame,
    path: str | os.PathLike[str],
    *,
    labels: Literal["machine", "human"] = "machine",
) -> Path:
    """Write a cycling table as a Battery Data Format file (CSV or Parquet by suffix).

    The write is atomic: the data go to a temporary file in the same folder
    which then replaces ``path`` (a crash never leaves half a file).

    Parameters
    ----------
    data
        :class:`~voltlab.data.cycling.CyclingData` or a table with canonical
        (BDF machine) names or BDF labels.
    path
        ``*.bdf.csv``, ``*.csv`` or ``*.bdf`` for CSV, ``*.bdf.gz`` for gzip
        CSV, ``*.bdf.parquet``/``*.parquet`` for Parquet. Parquet files also
        store the cell metadata (restored by the ``bdf_parquet`` reader).
    labels
        ``"machine"`` (``test_time_second``, default) or ``"human"``
        (``Test Time / s``) headers. Extra columns keep their names.

    Returns
    -------
    pathlib.Path
        The written file.

    Raises
    ------
    SchemaError
        The table lacks BDF's required time, voltage or current.
    DataFormatError
        Unknown suffix or ``labels`` value.

    Examples
    --------
    >>> import pandas as pd, tempfile, pathlib
    >>> df = pd.DataFrame({"test_time_second": [0.0, 1.0], "voltage_volt": [3.5, 3.6],
    ...                    "current_ampere": [0.0, 1.0]})
    >>> p = write_bdf(df, pathlib.Path(tempfile.mkdtemp()) / "cell.bdf.csv", labels="human")
    >>> p.read_text().splitlines()[0]
    'Test Time / s,Voltage / V,Current / A'
    """
    p = Path(path)
    if labels not in ("machine", "human"):
        raise DataFormatError(f"labels must be 'machine' or 'human', got {labels!r}", path=p, value=labels)
    meta: CellMetadata | None = None
    if isinstance(data, CyclingData):
        df, meta = data.timeseries, data.metadata
    elif isinstance(data, pd.DataFrame):
        df = data
    else:
        raise TypeError(f"write_bdf needs CyclingData or a pandas DataFrame, got {type(data).__name__}")
    fmt = _format_for(p)
    df = df.rename(columns=bdf_column_map(list(df.columns), path=p))
    missing = [c for c in BDF_REQUIRED if c not in df.columns]
    if missing:
        raise SchemaError(
            f"cannot write BDF without {missing}; have {list(df.columns)}", path=p, column=missing[0]
        )
    out = df[canonical_order(list(df.columns))].reset_index(drop=True)
    if labels == "human":
        out = out.rename(columns={c: bdf_label(c) or c for c in out.columns})
    _atomic_write(out, p, fmt, meta)
    return p


def _atomic_write(df: pd.DataFrame, path: Path, fmt: str, meta: CellMetadata | None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        if fmt == "parquet":
            _write_parquet(df, tmp, meta)
        else:
            df.to_csv(tmp, index=False, lineterminator="\n",
                      compression="gzip" if fmt == "csv.gz" else None)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _write_parquet(df: pd.DataFrame, path: Path, meta: CellMetadata | None) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(df, preserve_index=False)
    if meta is not None:
        merged = dict(table.schema.metadata or {})
        merged[_PARQUET_META_KEY] = meta.to_json().encode()
        table = table.replace_schema_metadata(merged)
    pq.write_table(table, path)
