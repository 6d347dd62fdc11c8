"""Helpers shared by text-export readers: decoding, header search, numbers."""

from __future__ import annotations

import io
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from voltlab.errors import DataFormatError

__all__ = [
    "decode",
    "find_header_line",
    "plain_durations_seconds",
    "read_csv_whole_rows",
    "read_text",
    "reject_crashing_numbers",
    "reject_unnamed_values",
    "to_float",
]

_ENCODINGS = ("utf-8-sig", "cp1252", "latin-1")

# pandas 2.3's C float parser crashes the interpreter (SIGSEGV) on exponents
# that overflow a 32-bit int (e.g. "3.5E2147483648"); a damaged byte can create
# one. Real cycler numbers never have a 10-digit exponent.
_CRASH_EXPONENT = re.compile(rb"[eE][-+]?[0-9]{10,}")  # preceded by a digit or '.', checked on a hit
_SCAN_CHUNK_BYTES = 8 << 20


def first_crashing_exponent(buf: bytes) -> re.Match[bytes] | None:
    """The first ``[eE][-+]?`` + ten or more digits in ``buf`` that follows a digit or ``'.'``.

    Vectorised over the ``e``/``E`` bytes (numpy): the same hit as scanning ``buf`` with the
    regex and keeping the first match after a digit or point, at a few ms per 10 MB instead
    of about 100 MB/s.
    """
    a = np.frombuffer(buf, dtype=np.uint8)
    pos = np.flatnonzero((a[1:] | 0x20) == 0x65) + 1  # 'e' or 'E', not at byte 0
    prev = a[pos - 1]
    pos = pos[((prev >= 0x30) & (prev <= 0x39)) | (prev == 0x2E)]
    if pos.size == 0:
        return None
    nxt = a[np.minimum(pos + 1, a.size - 1)]
    first = pos + 1 + ((nxt == 0x2B) | (nxt == 0x2D)) * (pos + 1 < a.size)
    span = first[:, None] + np.arange(10)
    inside = span[:, -1] < a.size
    digits = np.zeros(pos.size, dtype=bool)
    window = a[span[inside]]
    digits[inside] = ((window >= 0x30) & (window <= 0x39)).all(axis=1)
    hits = pos[digits]
    return _CRASH_EXPONENT.match(buf, int(hits[0])) if hits.size else None


def reject_crashing_numbers(path: Path) -> None:
    """Raise DataFormatError if a text file holds a number pandas would crash on.

    Scans the file in 8 MiB chunks (bounded memory) for a digit followed by an
    exponent of ten or more digits, and names the 1-based line.
    """
    line = 1
    tail = b""
    with open(path, "rb") as fh:
        while chunk := fh.read(_SCAN_CHUNK_BYTES):
            buf = tail + chunk
            m = first_crashing_exponent(buf)
            if m is not None:
                at = line + buf.count(b"\n", 0, m.start())
                field = m.group(0).decode("ascii", "replace")
                raise DataFormatError(
                    f"line {at}: '...{field}' is not a valid number (exponent out of range); the file is "
                    "damaged: re-export it from the cycler software",
                    path=path, value=field,
                )
            keep = min(len(buf), 32)
            line += buf.count(b"\n", 0, len(buf) - keep)
            tail = buf[len(buf) - keep:]


def decode(raw: bytes) -> str:
    """Decode bytes trying UTF-8 (with BOM), then cp1252, then Latin-1 (never fails)."""
    for enc in _ENCODINGS:
        try:
            return raw.decode(enc)
        except UnicodeDecodeError:
            continue
    return raw.decode("latin-1", errors="replace")  # pragma: no cover - latin-1 decodes anything


def read_text(path: Path) -> str:
    """Whole file as text; NUL bytes are rejected (binary file)."""
    raw = path.read_bytes()
    if b"\x00" in raw[:4096]:
        raise DataFormatError("file is binary, not a text export", path=path)
    return decode(raw)


def find_header_line(lines: list[str], required: tuple[str, ...], max_lines: int = 200) -> int:
    """Index of the first line containing every string in ``required``, or -1."""
    for k, line in enumerate(lines[:max_lines]):
        if all(r in line for r in required):
            return k
    return -1


def to_float(series: pd.Series, *, decimal_comma: bool = False) -> pd.Series:
    """Numbers from text, accepting decimal commas and thousands separators.

    Unparseable entries become NaN (the validator then reports NaN runs).
    """
    if pd.api.types.is_numeric_dtype(series.dtype):
        return series.astype(np.float64)
    s = series.astype(str).str.strip()
    if decimal_comma:
        s = s.str.replace(".", "", regex=False).str.replace(",", ".", regex=False)
    else:
        s = s.str.replace(",", "", regex=False)
    return pd.to_numeric(s, errors="coerce")


def read_delimited(text: str, *, sep: str, header_line: int, decimal: str = ".") -> pd.DataFrame:
    """Parse delimited text starting at ``header_line`` with pandas' C parser."""
    body = "\n".join(text.splitlines()[header_line:])
    return pd.read_csv(io.StringIO(body), sep=sep, decimal=decimal, engine="c", low_memory=False)


_PANDAS_LONG_ROW = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")


def read_csv_whole_rows(body: str, path: str | Path, *, first_line: int = 0, **options: Any) -> pd.DataFrame:
    """``pd.read_csv(io.StringIO(body), index_col=False, **options)``, losing no value.

    ``index_col=False`` lets a row end in a surplus empty field (a trailing separator, common in
    exports) but also cuts a row with more values than the header down to the header's width,
    with only a warning. Here such a row is a :class:`DataFormatError` naming its line
    (``first_line`` is the line of ``body``'s first line in the file, 0-based; blank lines are
    best kept in ``body``, as pandas skips them, so that its lines stay the file's) and the values that
    would have gone, as is a longer row pandas' tokenizer stops at; rows whose surplus fields are
    all blank read as pandas reads them.
    """
    sep = str(options.get("sep") or ",")
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message="Length of header or names does not match",
                                category=pd.errors.ParserWarning)
        try:
            return pd.read_csv(io.StringIO(body), index_col=False, **options)
        except pd.errors.ParserWarning:
            pass
        except pd.errors.ParserError as exc:
            hit = _PANDAS_LONG_ROW.search(str(exc))
            lines = body.split("\n")  # (only on the way to an error)
            if hit is None or not 1 <= int(hit.group(2)) <= len(lines):
                raise
            width, k = int(hit.group(1)), int(hit.group(2)) - 1
            raise _long_row(lines[k], k, width, sep, first_line, path) from exc
    lines = body.split("\n")
    head = next((i for i, ln in enumerate(lines) if ln.strip()), 0)  # pandas skips blank lines before the header
    width = len(lines[head].rstrip("\r").split(sep))
    for k, line in enumerate(lines[head + 1:], start=head + 1):
        if any(f.strip() for f in line.rstrip("\r").split(sep)[width:]):
            raise _long_row(line, k, width, sep, first_line, path)
    with warnings.catch_warnings():  # only blank surplus fields (or quoting this scan cannot follow)
        warnings.simplefilter("ignore", pd.errors.ParserWarning)
        return pd.read_csv(io.StringIO(body), index_col=False, **options)


def reject_unnamed_values(raw: pd.DataFrame, path: str | Path, *, header_line: int | None = None) -> None:
    """A :class:`DataFormatError` if a column without a header name (pandas' ``Unnamed: k``) holds a value.

    Readers map named columns and leave unnamed ones out, so such a value would be dropped
    unseen; it is a row with a stray separator or an edited header. ``header_line`` (0-based
    line of the header in the file) is named in the message. An unnamed first column that
    counts the rows (0, 1, 2, ... or 1, 2, 3, ...: the index pandas writes with ``to_csv``)
    is a row number, not data, and passes.
    """
    for k, col in enumerate(raw.columns):
        if not str(col).startswith("Unnamed:"):
            continue
        values = raw[col]
        if k == 0 and len(values) and pd.api.types.is_integer_dtype(values.dtype):
            counts = values.to_numpy()
            if counts[0] in (0, 1) and bool((counts == np.arange(counts[0], counts[0] + len(counts))).all()):
                continue
        filled = values.notna().to_numpy()
        if values.dtype == object:
            filled &= values.astype(str).str.strip().ne("").to_numpy()
        if filled.any():
            r = int(np.flatnonzero(filled)[0])
            where = f" (header on line {header_line + 1})" if header_line is not None else ""
            raise DataFormatError(
                f"data row {r + 1}{where} has the value {str(values.iloc[r])[:40]!r} in field {k + 1}, which has no "
                f"name in the header ({int(filled.sum())} such value(s)): it would be lost. Fix the row (a stray "
                "separator?) or name the column in the header",
                path=path, row=r, column=str(col),
            )


def _long_row(line: str, k: int, width: int, sep: str, first_line: int, path: str | Path) -> DataFormatError:
    """The error for line ``k`` of a block (0 = its first line) holding more than ``width`` fields."""
    fields = line.rstrip("\r").split(sep)
    shown = ", ".join(repr(f.strip()) for f in fields[width:] if f.strip())
    lost = f"its value(s) {shown[:120]} would be lost" if shown else "a value would be lost"
    return DataFormatError(
        f"line {first_line + k + 1} has {len(fields)} fields but the header {width}: {lost}. Nothing was "
        "read; fix the line (a stray separator?) or re-export the file",
        path=path, row=first_line + k,
    )


def looks_decimal_comma(sample_lines: list[str], sep: str) -> bool:
    """True if numeric fields use a decimal comma (``3,8133``) in ``sep``-separated lines."""
    if sep == ",":
        return False
    pat = re.compile(r"^-?\d+,\d+$")
    hits = total = 0
    for line in sample_lines:
        for f in line.split(sep):
            f = f.strip()
            if not f:
                continue
            total += 1
            hits += bool(pat.match(f))
    return total > 0 and hits / total > 0.2


#: Whole columns of plain ``[  Nd ]h:mm:ss[.fff]`` lines, all with or all without the day.
_PLAIN_DURATIONS_DAYS_RE = re.compile(r"(?: *[0-9]{1,9}d [0-9]{1,9}:[0-9]{1,2}:[0-9]{1,2}(?:\.[0-9]*)?\n)*\Z")
_PLAIN_DURATIONS_RE = re.compile(r"(?:[0-9]{1,9}:[0-9]{1,2}:[0-9]{1,2}(?:\.[0-9]*)?\n)*\Z")


def plain_durations_seconds(s: pd.Series, *, allow_days: bool) -> np.ndarray | None:
    """Seconds of a column of plain ``h:mm:ss[.fff]`` texts via the C CSV parser; None for any other column.

    With ``allow_days`` a whole column of ``'  Nd h:mm:ss'`` (Maccor) is accepted too. The
    arithmetic and number parser are those of the readers' general duration parsers, so a column
    taken here gives the same seconds; any other column returns None and takes the general path.
    """
    arr = s.to_numpy(dtype=object)
    if arr.size == 0 or pd.api.types.infer_dtype(arr, skipna=False) != "string":  # every value a str
        return None
    joined = "\n".join(arr) + "\n"
    if _PLAIN_DURATIONS_RE.match(joined) is not None:
        names = ["h", "m", "s"]
    elif allow_days and _PLAIN_DURATIONS_DAYS_RE.match(joined) is not None:
        names = ["d", "h", "m", "s"]
        joined = joined.replace("d ", ":")
    else:
        return None
    parts = pd.read_csv(io.StringIO(joined), sep=":", header=None, names=names, engine="c",
                        keep_default_na=False, skip_blank_lines=False, skipinitialspace=True)
    if len(parts) != arr.size or any(parts[c].dtype.kind not in "iuf" for c in names):
        return None
    d = parts["d"].astype(np.float64) if "d" in parts else 0.0
    return (
        d * 86400.0
        + parts["h"].astype(np.float64) * 3600.0
        + parts["m"].astype(np.float64) * 60.0
        + parts["s"].astype(np.float64)
    ).to_numpy(dtype=np.float64)


def read_csv_arrow(body: str) -> pd.DataFrame | None:
    """``pd.read_csv(io.StringIO(body), index_col=False)`` (comma-separated, header on the first line,
    pandas' default missing-value markers) through Arrow's CSV reader, or None where the two could differ.

    Arrow's reader is faster on large tables (the PEC sample, 16,255 rows x 35 fields: 46 ms
    against pandas' 60 ms) and slower on small ones (a 4 kB block: 12 ms against 4). It is held
    to pandas' result: the header's names as pandas makes them (``Unnamed: k`` for blanks,
    ``.1`` suffixes for repeats), pandas' missing-value markers and ``True``/``False``
    spellings, no date parsing, missing values as NaN (all-missing columns float64, text
    columns object with NaN); floats are correctly rounded (pandas' parser can be one unit in
    the last place off). Text pandas could read another way returns None:
    quotes, a leading ``+`` (``+3`` is an integer to pandas, a float to Arrow), a text column with
    a blank at either end of a value (pandas might have read it as a number), a row with another
    number of fields than the header, or anything Arrow refuses.
    """
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv
    from pandas._libs.parsers import STR_NA_VALUES

    if '"' in body:
        return None
    try:
        raw = body.encode("utf-8")
        names = [str(n) for n in pd.read_csv(io.StringIO(body.split("\n", 1)[0]), index_col=False).columns]
    except (UnicodeEncodeError, pd.errors.ParserError, pd.errors.EmptyDataError, ValueError):
        return None
    read = pacsv.ReadOptions(column_names=names, skip_rows=1, use_threads=True)
    parse = pacsv.ParseOptions(delimiter=",", quote_char=False)
    convert = pacsv.ConvertOptions(null_values=sorted(STR_NA_VALUES), strings_can_be_null=True,
                                   true_values=["True", "TRUE", "true"], false_values=["False", "FALSE", "false"],
                                   timestamp_parsers=[])
    try:
        table = pacsv.read_csv(io.BytesIO(raw), read_options=read, parse_options=parse, convert_options=convert)
    except (pa.ArrowException, ValueError):
        return None
    if table.num_rows == 0:  # pandas gives an empty table object columns
        return None
    b = np.frombuffer(raw, dtype=np.uint8)
    if b[0] == ord("+") or ((b[:-1] == ord(",")) | (b[:-1] == ord("\n")))[b[1:] == ord("+")].any():
        return None  # '+3' is an integer to pandas, a float to Arrow
    columns: dict[str, Any] = {}
    for field, col in zip(table.schema, table.columns, strict=True):
        t = field.type
        if pa.types.is_null(t):
            columns[field.name] = np.full(len(table), np.nan)
        elif pa.types.is_int64(t) or pa.types.is_float64(t):
            values = col.to_numpy().astype(np.float64 if col.null_count else col.type.to_pandas_dtype())
            if pa.types.is_float64(t) and np.nanmax(np.abs(values), initial=0.0) >= 2.0**53:
                return None  # maybe an integer beyond int64, which pandas reads as uint64 or text
            columns[field.name] = values
        elif pa.types.is_boolean(t) and not col.null_count:
            columns[field.name] = col.to_numpy()
        elif pa.types.is_string(t):
            if pc.any(pc.match_substring_regex(col, r"^[ \t]|[ \t]$")).as_py():
                return None  # ' 1.5' is a number to pandas, text to Arrow
            values = np.asarray(col.to_numpy(zero_copy_only=False), dtype=object)
            if col.null_count:
                values[pd.isna(values)] = np.nan
            columns[field.name] = values
        else:  # a type pandas would not infer the same way
            return None
    df = pd.DataFrame(columns, copy=False)
    df.columns = names
    return df
