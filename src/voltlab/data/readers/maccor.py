"""Readers for Maccor text exports (tab-separated ``.0NN``/``.txt`` and CSV).

Maccor Series 4000 software (MIMS, MacTest "Export", Maccor Data Viewer)
writes many text layouts. One parser handles all of them; it is registered
twice so detection reports which family a file belongs to:

``maccor_text``
    Tab- (or semicolon-) separated exports: the one-line MIMS preamble of the
    TRI/beep files (``Today's Date ... Date of Test: ... Procedure: ...``),
    the ``key<TAB>value`` preamble of MacTest exports (``Name:``,
    ``Channel:``, ``Procedure`` ...), or a ``Today''s Date`` / ``Date of
    Test:`` pair.
``maccor_csv``
    Comma-separated exports (``Today's Date ,28-Nov-23`` preamble,
    ``Rec,Cycle C,Step,Test Time (sec),...``).

What is converted (to the canonical schema of :mod:`voltlab.data.schema`):

* **Header**: the column header is found by content (first line naming a
  test time, a current and a voltage column); preamble ``key: value`` items
  go to ``metadata.extra["header"]`` and ``Procedure`` to ``protocol``.
* **Numbers**: decimal commas (``0,1377``) are detected and converted.
* **Units**: ``mAmps``/``[mA]`` -> A, ``mAmp-hr``/``[mAh]`` -> Ah,
  ``mWatt-hr`` -> Wh, ``mVolts``/``[mV]`` -> V (all divided by 1000). A plain
  ``Volts`` column whose median exceeds 100 in an export that also uses mA is
  in mV (cellpy's ``maccor_three.txt``) and is divided by 1000 too.
* **Time**: ``Test (Sec)`` / ``Test Time (sec)`` are seconds; ``TestTime``
  strings such as ``  3d 18:47:16.95`` or ``12:00:03.5`` (``[d] hh:mm:ss``)
  are converted to seconds; a bare numeric ``TestTime`` (MacTest exports)
  has its unit inferred from the ``DPt Time`` clock (seconds, minutes or
  hours), minutes when the clock cannot tell.
* **Current sign**: positive = charge. Exports whose current column never
  goes negative are *unsigned*: the mode column (``State``, ``Md``,
  ``MD``, ``Mode``; C/charge -> +, D/discharge -> -, R/rest -> 0) gives the
  sign. Signed exports are kept as they are.
* **Capacity/energy**: Maccor's counters reset at every step (or run on
  across CC-CV steps). A single ``Amp-hr``/``Cap. [Ah]``/``Capacity``
  counter is split into charging and discharging by the mode column (by the
  current sign when there is none) and converted with
  :func:`~voltlab.data.schema.counter_to_cycle_cumulative`.
* **Cycle/step**: ``Cycle C`` (MacTest) or ``Cyc#`` -> ``cycle_count``;
  ``Step`` -> ``step_index``. ``DPt Time`` -> ``unix_time_second``.
* **Truncated files**: a last row cut short is dropped and
  ``metadata.extra["truncated"]`` is ``True``; a file that ends inside its
  header raises :class:`~voltlab.errors.DataFormatError`.
* **EIS**: Maccor FRA impedance files (``*.EDA0001.041``, ``MACCOR, INC.
  AC Impedance Test``) are not cycling data; reading one raises a
  :class:`~voltlab.errors.DataFormatError` that says so. Use
  :func:`read_maccor_eis` to get the spectrum as a DataFrame.

Extra columns kept (after the canonical ones): ``record_number``,
``step_time_second``, ``state`` (the raw mode letter), ``end_status``
(Maccor ES code), ``cycle_p`` (MacTest's ``Cycle P``) and
``ac_impedance_ohm`` when present and non-zero.
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd

from voltlab.data.readers._text import (
    decode,
    looks_decimal_comma,
    plain_durations_seconds,
    read_text,
    to_float,
)
from voltlab.data.readers.base import CyclerReader, register_reader
from voltlab.data.schema import counter_to_cycle_cumulative, infer_cycle_count
from voltlab.errors import DataFormatError

__all__ = ["MaccorCsvReader", "MaccorTextReader", "read_maccor_eis", "read_maccor_text"]

_HEADER_SEARCH_LINES = 200
_SNIFF_LINES = 60
_EXPECTED_HEADER = (
    "a column header such as 'Rec#<TAB>Cyc#<TAB>Step<TAB>Test (Sec)<TAB>...<TAB>Amps<TAB>Volts<TAB>State' "
    "or 'Rec,Cycle C,Step,Test Time (sec),...,Current,Voltage'"
)

# ---------------------------------------------------------------------------
# Column names
# ---------------------------------------------------------------------------

#: normalised base name -> (role, default unit, priority; lower wins)
_BASE_ROLES: dict[str, tuple[str, str, int]] = {
    "rec#": ("record", "", 0),
    "rec": ("record", "", 1),
    "record": ("record", "", 2),
    "cyclec": ("cycle", "", 0),
    "cyc#": ("cycle", "", 1),
    "cycle": ("cycle", "", 2),
    "cyc": ("cycle", "", 3),
    "cycle#": ("cycle", "", 3),
    "cyclep": ("cycle_p", "", 0),
    "step": ("step", "", 0),
    "test": ("test_time", "", 0),
    "testtime": ("test_time", "", 1),
    "totaltime": ("test_time", "", 2),
    "steptime": ("step_time", "", 1),
    "amphr": ("capacity", "Ah", 0),
    "mamphr": ("capacity", "mAh", 0),
    "cap": ("capacity", "Ah", 1),
    "capacity": ("capacity", "Ah", 1),
    "watthr": ("energy", "Wh", 0),
    "mwatthr": ("energy", "mWh", 0),
    "ener": ("energy", "Wh", 1),
    "energy": ("energy", "Wh", 1),
    "chgcap": ("charge_capacity", "Ah", 0),
    "chargecap": ("charge_capacity", "Ah", 0),
    "chargecapacity": ("charge_capacity", "Ah", 0),
    "dischgcap": ("discharge_capacity", "Ah", 0),
    "dischargecap": ("discharge_capacity", "Ah", 0),
    "dischargecapacity": ("discharge_capacity", "Ah", 0),
    "dcap": ("discharge_capacity", "Ah", 1),
    "amps": ("current", "A", 0),
    "mamps": ("current", "mA", 0),
    "current": ("current", "A", 1),
    "amp": ("current", "A", 2),
    "volts": ("voltage", "V", 0),
    "mvolts": ("voltage", "mV", 0),
    "voltage": ("voltage", "V", 1),
    "volt": ("voltage", "V", 2),
    "state": ("mode", "", 0),
    "md": ("mode", "", 1),
    "mode": ("mode", "", 2),
    "es": ("end_status", "", 0),
    "dpttime": ("datetime", "", 0),
    "dptime": ("datetime", "", 0),
    "datetime": ("datetime", "", 1),
    "temp1": ("temperature", "degC", 0),
    "temp": ("temperature", "degC", 1),
    "temperature": ("temperature", "degC", 1),
    "dcir/ohms": ("dcir", "Ohm", 0),
    "dcir": ("dcir", "Ohm", 0),
    "acimp/ohms": ("acimp", "Ohm", 0),
}

#: unit string (lower case) -> factor to A, V, Ah, Wh, s or degC
_UNIT_SCALE: dict[str, float] = {
    "a": 1.0,
    "amp": 1.0,
    "amps": 1.0,
    "ma": 1e-3,
    "ua": 1e-6,
    "µa": 1e-6,
    "v": 1.0,
    "mv": 1e-3,
    "ah": 1.0,
    "mah": 1e-3,
    "wh": 1.0,
    "mwh": 1e-3,
    "s": 1.0,
    "sec": 1.0,
    "secs": 1.0,
    "second": 1.0,
    "seconds": 1.0,
    "min": 60.0,
    "mins": 60.0,
    "minute": 60.0,
    "minutes": 60.0,
    "h": 3600.0,
    "hr": 3600.0,
    "hrs": 3600.0,
    "hour": 3600.0,
    "hours": 3600.0,
    "degc": 1.0,
    "°c": 1.0,
    "c": 1.0,
    "ohm": 1.0,
    "ohms": 1.0,
}
_TIME_UNITS = {"s": 1.0, "min": 60.0, "h": 3600.0}
_TIME_UNIT_NAMES = {1.0: "s", 60.0: "min", 3600.0: "h"}

_NAME_RE = re.compile(r"^(?P<base>[^\[\(]*?)\s*(?:[\[\(](?P<unit>[^\]\)]*)[\]\)])?\s*$")
_DURATION_RE = r"^\s*(?:(?P<d>\d+)\s*(?:d\s*|\.))?(?P<h>\d+):(?P<m>\d{1,2}):(?P<s>\d{1,2}(?:[.,]\d*)?)\s*$"

_CHARGE_MODES = frozenset({"C", "CH", "CHA", "CHG", "CHARGE"})
_DISCHARGE_MODES = frozenset({"D", "DC", "DCH", "DCHG", "DIS", "DISCHARGE"})
_REST_MODES = frozenset({"R", "REST", "OCV"})

_MIMS_LABELS = (
    "Today's Date",
    "Today''s Date",
    "Date of Test:",
    "Filename:",
    "Procedure:",
    "Comment/Barcode:",
)
_PREAMBLE_MARKERS = ("Today's Date", "Today''s Date", "Date of Test", "Comment/Barcode", "Maccor")
_MACCOR_HEADER_TOKENS = ("DPt Time", "DPT Time", "Cyc#", "Rec#", "Cycle C", "Amp-hr", "Watt-hr", "Md")

_DATE_FORMATS_MONTH_FIRST = (
    "%m/%d/%Y %H:%M:%S",
    "%m/%d/%Y %I:%M:%S %p",
    "%m/%d/%Y %H:%M",
)
_DATE_FORMATS_DAY_FIRST = (
    "%d/%m/%Y %H:%M:%S",
    "%d/%m/%Y %I:%M:%S %p",
    "%d/%m/%Y %H:%M",
)
_DATE_FORMATS_OTHER = (
    "%d-%b-%y %I:%M:%S %p",
    "%d-%b-%y %H:%M:%S",
    "%d-%b-%Y %I:%M:%S %p",
    "%d-%b-%Y %H:%M:%S",
    "%Y-%m-%d %H:%M:%S",
    "%d.%m.%Y %H:%M:%S",
)


@dataclass(frozen=True, slots=True)
class _Col:
    """One recognised column: its position, role and unit factor."""

    index: int
    name: str
    role: str
    unit: str
    scale: float | None  # None: unit not stated (to be inferred)
    priority: int


def _split_name(raw: str) -> tuple[str, str]:
    """Normalised base name and unit of a header field.

    Examples
    --------
    >>> _split_name("Test Time (sec)")
    ('testtime', 'sec')
    >>> _split_name("mAmp-hr")
    ('mamphr', '')
    """
    m = _NAME_RE.match(raw.strip())
    if m is None:  # pragma: no cover - the pattern matches any string
        return raw.strip().lower(), ""
    base = re.sub(r"[\s._\-]+", "", m.group("base").lower())
    return base, (m.group("unit") or "").strip()


def _column_roles(fields: list[str]) -> dict[str, _Col]:
    """Map roles (``current``, ``voltage``, ...) to header columns."""
    found: dict[str, _Col] = {}
    for k, raw in enumerate(fields):
        base, unit = _split_name(raw)
        spec = _BASE_ROLES.get(base)
        if spec is None:
            continue
        role, default_unit, prio = spec
        if role == "step" and unit.lower() in _UNIT_SCALE:
            role, prio = "step_time", 0  # "Step (Sec)"
        if role == "test_time" and base == "test" and not unit:
            continue  # a lone "Test" column is not a time
        unit = unit or default_unit
        scale = _UNIT_SCALE.get(unit.lower()) if unit else None
        col = _Col(k, raw.strip(), role, unit, scale, prio)
        if role not in found or prio < found[role].priority:
            found[role] = col
    return found


_NO_LETTER_RE = re.compile(r"[\W\d_]*")  # no letter of any script


def _best_sep(line: str) -> str:
    counts = {sep: line.count(sep) for sep in ("\t", ",", ";")}
    return max(counts, key=lambda s: counts[s])


def _find_header(lines: list[str], max_lines: int = _HEADER_SEARCH_LINES) -> tuple[int, str] | None:
    """Index and separator of the column header line, or None."""
    for k, line in enumerate(lines[:max_lines]):
        sep = _best_sep(line)
        if line.count(sep) < 2 or _NO_LETTER_RE.fullmatch(line):
            continue  # a header names its columns: a line without letters is data
        roles = _column_roles(line.split(sep))
        if {"test_time", "voltage", "current"} <= roles.keys():
            return k, sep
    return None


# ---------------------------------------------------------------------------
# Text helpers
# ---------------------------------------------------------------------------


def _split_lines(text: str) -> list[str]:
    """Lines split on LF only (``str.splitlines`` would also split on \\x1c, \\x85 ...)."""
    return [ln.rstrip("\r") for ln in text.split("\n")]


def _printable(s: str) -> str:
    """Drop control characters and 0xFF padding (MacTest preambles hold both)."""
    return re.sub(r"[\x00-\x08\x0b-\x1f\x7f\xff]+", " ", s)


def _snake(key: str) -> str:
    key = key.replace("''", "'").replace("'", "")
    return re.sub(r"[^0-9a-z]+", "_", key.lower()).strip("_")


def _looks_eis(lines: list[str]) -> bool:
    head = "\n".join(lines[:20])
    if "AC Impedance" in head:
        return True
    return "Freq(Hz)" in head and "Z'" in head


def _has_preamble_marker(lines: list[str]) -> bool:
    head = "\n".join(lines[:20])
    return any(m in head for m in _PREAMBLE_MARKERS)


# ---------------------------------------------------------------------------
# Preamble
# ---------------------------------------------------------------------------


def _split_labelled(line: str) -> dict[str, str]:
    """Split a MIMS one-line preamble on its known labels."""
    hits = sorted((line.find(lab), lab) for lab in _MIMS_LABELS if lab in line)
    out: dict[str, str] = {}
    for j, (pos, lab) in enumerate(hits):
        end = hits[j + 1][0] if j + 1 < len(hits) else len(line)
        value = line[pos + len(lab) : end].strip(" \t:")
        out[_snake(lab.rstrip(":"))] = " ".join(value.split())
    return out


def _parse_preamble(lines: list[str], sep: str) -> dict[str, str]:
    """``key: value`` items of the lines above the column header."""
    out: dict[str, str] = {}
    for raw in lines:
        line = _printable(raw).strip()
        if not line:
            continue
        if sum(lab in line for lab in _MIMS_LABELS) >= 2:
            out.update(_split_labelled(line))
            continue
        parts = [p.strip() for p in line.split(sep)] if sep in line else line.split(":", 1)
        key = _snake(parts[0].rstrip(":"))
        if key:
            out[key] = " ".join(" ".join(p for p in parts[1:] if p).split())
    return out


# ---------------------------------------------------------------------------
# Rows
# ---------------------------------------------------------------------------


@dataclass
class _Table:
    """Raw text cells of the used columns, one list per column index."""

    cells: dict[int, list[str]]

    def column(self, col: _Col) -> pd.Series:
        return pd.Series(self.cells[col.index], dtype=object)


def _split_rows(
    lines: list[str], header_index: int, sep: str, n_header: int, path: Path
) -> tuple[list[list[str]], bool]:
    """Split data lines into fields; drop a cut-off last row (truncated file).

    The last row is cut off when it has fewer fields than the usual data row
    (and the header). A shorter row elsewhere means corruption and raises.
    """
    rows: list[list[str]] = []
    numbers: list[int] = []
    for k in range(header_index + 1, len(lines)):
        if lines[k].strip():
            rows.append(lines[k].split(sep))
            numbers.append(k + 1)
    if not rows:
        raise DataFormatError(
            f"no data rows after the column header (line {header_index + 1}); the file ends at its "
            "header, so it is truncated or the export is empty. Re-export the test from the Maccor software",
            path=path,
        )
    counts = np.array([len(r) for r in rows])
    ref = int(np.bincount(counts[:-1]).argmax()) if len(rows) > 1 else n_header
    need = min(n_header, ref)
    truncated = False
    if counts[-1] < need:
        rows.pop()
        cut_line = numbers.pop()
        counts = counts[:-1]
        truncated = True
    if not rows:
        raise DataFormatError(
            f"the only data row (line {cut_line}) is cut short, so no complete row is left; "
            "the file is truncated. Re-export the test from the Maccor software",
            path=path,
        )
    short = np.flatnonzero(counts < need)
    if short.size:
        r = int(short[0])
        raise DataFormatError(
            f"line {numbers[r]} has {counts[r]} fields but the header has {n_header}; the file is "
            "corrupted in the middle (only a cut-off last row is tolerated). Re-export the test",
            path=path,
            row=r,
        )
    return rows, truncated


def _extract_cells(rows: list[list[str]], cols: list[_Col], sep: str) -> dict[int, list[str]]:
    cells: dict[int, list[str]] = {}
    strip_quotes = sep == ","
    for col in cols:
        i = col.index
        vals = [r[i] if i < len(r) else "" for r in rows]
        if strip_quotes:
            vals = [v.strip().strip('"') for v in vals]
        cells[i] = vals
    return cells


# ---------------------------------------------------------------------------
# Conversions
# ---------------------------------------------------------------------------


def _durations_seconds(s: pd.Series) -> np.ndarray:
    """``[d] hh:mm:ss[.fff]`` strings (``'  3d 18:47:16.95'``) to seconds; NaN if unparseable."""
    fast = plain_durations_seconds(s, allow_days=True)
    if fast is not None:
        return fast
    parts = s.astype(str).str.extract(_DURATION_RE)
    d = pd.to_numeric(parts["d"], errors="coerce").fillna(0.0)
    h = pd.to_numeric(parts["h"], errors="coerce")
    m = pd.to_numeric(parts["m"], errors="coerce")
    sec = pd.to_numeric(parts["s"].str.replace(",", ".", regex=False), errors="coerce")
    return (d * 86400.0 + h * 3600.0 + m * 60.0 + sec).to_numpy(dtype=np.float64)


def _is_duration(s: pd.Series) -> bool:
    """True if most of the first 50 non-empty cells hold ``hh:mm:ss`` text."""
    sample: list[str] = []
    for v in s.to_numpy(dtype=object):  # plain Python: this runs on every file, most of them small
        text = str(v).strip()
        if text:
            sample.append(text)
            if len(sample) == 50:
                break
    return bool(sample) and sum(":" in v for v in sample) * 2 > len(sample)


def _parse_datetime(
    s: pd.Series, dayfirst: bool | None, prefer_dayfirst: bool
) -> tuple[pd.Series, str | None]:
    """Parse ``DPt Time`` strings with the format that fits most rows.

    ``dayfirst`` True/False allows only DD/MM or only MM/DD dates; None tries
    both, preferring day first when ``prefer_dayfirst`` (ties).
    """
    clean = s.astype(str).str.strip()
    nonempty = clean[clean != ""]
    if nonempty.empty:
        return pd.Series(pd.NaT, index=s.index), None
    sample = pd.concat([nonempty.head(200), nonempty.tail(200)])
    first: tuple[str, ...]
    second: tuple[str, ...]
    if dayfirst is None:
        first, second = (
            (_DATE_FORMATS_DAY_FIRST, _DATE_FORMATS_MONTH_FIRST)
            if prefer_dayfirst
            else (_DATE_FORMATS_MONTH_FIRST, _DATE_FORMATS_DAY_FIRST)
        )
    else:
        first, second = (_DATE_FORMATS_DAY_FIRST if dayfirst else _DATE_FORMATS_MONTH_FIRST), ()
    best_fmt, best_n, best_sample = None, 0, None
    for fmt in (*first, *second, *_DATE_FORMATS_OTHER):
        parsed = pd.to_datetime(sample, format=fmt, errors="coerce")
        n = int(parsed.notna().sum())
        if n > best_n:
            best_fmt, best_n, best_sample = fmt, n, parsed
            if n == len(sample):  # every sample row parsed: no later format can do better
                break
    if best_fmt is None or best_sample is None:
        return pd.Series(pd.NaT, index=s.index), None
    fast = _arrow_datetimes(clean, best_fmt, sample, best_sample)
    return (fast if fast is not None else pd.to_datetime(clean, format=best_fmt, errors="coerce")), best_fmt


def _arrow_datetimes(clean: pd.Series, fmt: str, sample: pd.Series, sample_parsed: pd.Series) -> pd.Series | None:
    """``pd.to_datetime(clean, format=fmt, errors="coerce")`` through Arrow's ``strptime`` (about 3x
    faster: 4,009 Maccor clock times in 9 ms against 28 ms), or None where it could differ.

    Held to pandas: the ``sample`` must come out as pandas parsed it (``sample_parsed``), and every
    cell Arrow leaves empty is parsed by pandas. Formats with fractional seconds go to pandas.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    if "%f" in fmt:
        return None
    try:
        values = pc.strptime(pa.array(clean.to_numpy(dtype=object), type=pa.string()), format=fmt, unit="ns",
                             error_is_null=True).to_pandas()
        check = pc.strptime(pa.array(sample.to_numpy(dtype=object), type=pa.string()), format=fmt, unit="ns",
                            error_is_null=True).to_pandas()
    except (pa.ArrowException, TypeError, ValueError):
        return None
    if not np.array_equal(check.to_numpy(), sample_parsed.to_numpy(), equal_nan=True):
        return None
    out = pd.Series(values.to_numpy(), index=clean.index)
    missing = out.isna().to_numpy() & (clean != "").to_numpy()
    if missing.any():
        out[missing] = pd.to_datetime(clean[missing], format=fmt, errors="coerce")
    return out


def _unix_seconds(dt: pd.Series, timezone: str | None) -> np.ndarray:
    """Seconds since 1970-01-01 UTC; naive times are read in ``timezone`` (UTC if None)."""
    if timezone:
        dt = dt.dt.tz_localize(timezone, ambiguous="NaT", nonexistent="NaT").dt.tz_convert("UTC")
        dt = dt.dt.tz_localize(None)
    return ((dt - pd.Timestamp("1970-01-01")) / pd.Timedelta(seconds=1)).to_numpy(dtype=np.float64)


def _infer_time_scale(t: np.ndarray, clock: np.ndarray) -> float | None:
    """Seconds per unit of a bare time column, from the wall-clock span (1, 60 or 3600)."""
    ok = np.isfinite(t) & np.isfinite(clock)
    if ok.sum() < 2:
        return None
    dt = float(t[ok][-1] - t[ok][0])
    dclock = float(clock[ok][-1] - clock[ok][0])
    if dt <= 0 or dclock < 60.0:
        return None
    ratio = dclock / dt
    return min((1.0, 60.0, 3600.0), key=lambda f: abs(math.log(ratio / f)))


def _mode_directions(mode: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Direction per row from a mode column (+1 C, -1 D, 0 R) and a mask of C/D/R rows."""
    m = mode.astype(str).str.strip().str.upper()
    direction = np.zeros(len(m), dtype=np.int8)
    direction[m.isin(_CHARGE_MODES).to_numpy()] = 1
    direction[m.isin(_DISCHARGE_MODES).to_numpy()] = -1
    known = m.isin(_CHARGE_MODES | _DISCHARGE_MODES | _REST_MODES).to_numpy()
    return direction, known


def _signed_current(current: np.ndarray, direction: np.ndarray, known: np.ndarray) -> tuple[np.ndarray, bool]:
    """Apply the mode's sign to an unsigned current; returns (current, sign_applied)."""
    if (current[np.isfinite(current)] < 0).any():
        return current, False  # signed export: keep
    out = current.copy()
    mag = np.abs(current)
    out[direction == 1] = mag[direction == 1]
    out[direction == -1] = -mag[direction == -1]
    rest = known & (direction == 0)
    out[rest & np.isfinite(out)] = 0.0
    applied = bool(((direction == -1) & (mag > 0)).any())
    return out, applied


def _sign_note(current: np.ndarray, applied: bool, mode_name: str) -> str:
    if applied:
        return f"from mode column '{mode_name}' (unsigned export)"
    if (current[np.isfinite(current)] < 0).any():
        return "signed export"
    return f"no discharge rows; rest rows set to 0 A by mode column '{mode_name}'"


def _as_int_if_integral(v: np.ndarray) -> np.ndarray:
    """int64 copy of ``v`` when every value is a finite integer, else ``v``."""
    if v.size and np.isfinite(v).all() and (np.abs(v) < 2**62).all() and (v == np.round(v)).all():
        return v.astype(np.int64)
    return v


def _split_counter(
    counter: np.ndarray, direction: np.ndarray, cycle: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """One Maccor counter -> (charging, discharging), cumulative within cycle.

    Rows of the other direction are masked with NaN, which
    :func:`counter_to_cycle_cumulative` treats as "no change", so a counter
    that runs on across steps is never counted twice.
    """
    charge = np.where(direction == 1, counter, np.nan)
    discharge = np.where(direction == -1, counter, np.nan)
    return counter_to_cycle_cumulative(charge, cycle), counter_to_cycle_cumulative(discharge, cycle)


# ---------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------


def _eis_error(path: Path) -> DataFormatError:
    return DataFormatError(
        "this is a Maccor EIS (AC impedance / FRA) export, not cycling data: it holds an impedance "
        "spectrum (Freq(Hz), Z', Z'') without a time/current/voltage series. Read the cycling data "
        "from the companion Maccor text export (same test, without '.EDA0001' in the name), or load "
        "the spectrum with voltlab.data.readers.maccor.read_maccor_eis(path)",
        path=path,
    )


def _no_header_error(path: Path, lines: list[str]) -> DataFormatError:
    n = sum(1 for ln in lines if ln.strip())
    if n == 0:
        return DataFormatError(
            "file is empty; expected a Maccor text export with " + _EXPECTED_HEADER, path=path
        )
    if _has_preamble_marker(lines) and not _has_data_like_line(lines[:_HEADER_SEARCH_LINES]):
        return DataFormatError(
            f"the file ends inside its header: {n} line(s) of Maccor preamble and no complete "
            f"column header (expected {_EXPECTED_HEADER}). The export is truncated; re-export the test "
            "from the Maccor software",
            path=path,
        )
    if _has_preamble_marker(lines):
        return DataFormatError(
            f"Maccor preamble found but no column header (expected {_EXPECTED_HEADER}) in the first "
            f"{_HEADER_SEARCH_LINES} lines: the header line is damaged or missing. Re-export the test "
            "from the Maccor software",
            path=path,
        )
    return DataFormatError(
        f"not a Maccor text export: no column header found in the first {_HEADER_SEARCH_LINES} lines "
        f"(expected {_EXPECTED_HEADER}). If the file comes from another cycler, call "
        "read_cycler_file(path) without format= to detect it, or use the generic reader with a column map",
        path=path,
    )


def _has_data_like_line(lines: list[str]) -> bool:
    """True if some line has 4+ fields, most of them numbers (a data row)."""
    num = re.compile(r"^-?\d+(?:[.,]\d+)?$")
    for line in lines:
        fields = [f.strip() for f in line.split(_best_sep(line))]
        if len(fields) >= 4 and sum(bool(num.match(f)) for f in fields) * 2 >= len(fields):
            return True
    return False


def _layout(path: Path) -> tuple[list[str], int, str]:
    text = read_text(path)
    lines = _split_lines(text)
    if _looks_eis(lines):
        raise _eis_error(path)
    found = _find_header(lines)
    if found is None:
        raise _no_header_error(path, lines)
    return lines, found[0], found[1]


def _check_cycle(cycle: np.ndarray, path: Path, name: str) -> None:
    bad = np.flatnonzero(~np.isfinite(cycle) | (cycle < 0) | (cycle > 1e9) | (cycle != np.round(cycle)))
    if bad.size:
        r = int(bad[0])
        raise DataFormatError(
            f"cycle number {cycle[r]!r} is not a non-negative integer ({bad.size} row(s)); the file "
            "is corrupted or the column is not a cycle counter",
            path=path,
            row=r,
            column=name,
            value=float(cycle[r]),
        )


def _arrow_floats(cells: list[str]) -> np.ndarray | None:
    """The cells as float64 through Arrow's string-to-float cast (correctly rounded, about 5x faster than
    ``pd.to_numeric`` on text), or None when any cell is not a plain number (blanks, thousands commas,
    words): those need ``to_float``'s cleanup."""
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        return np.asarray(pc.cast(pa.array(cells, type=pa.string()), pa.float64()).to_numpy(zero_copy_only=False),
                          dtype=np.float64)
    except (pa.ArrowException, TypeError, ValueError):
        return None


def _numeric(table: _Table, col: _Col | None, decimal_comma: bool) -> np.ndarray | None:
    """``to_float`` of a column as float64; text that parses as it is skips the cleanup.

    A column of plain numbers only goes through Arrow's cast (:func:`_arrow_floats`: correctly
    rounded, the value of Python's ``float``); with decimal commas, one without any dot (no
    thousands separators) too, its commas read as points. Otherwise, without decimal commas, entries that
    pandas' number parser reads directly (it accepts the blanks ``to_float`` strips) are taken as
    they are; the rest (thousands commas, words, blanks) go through ``to_float`` once per distinct
    value. Both agree with ``to_float`` to within one unit in the last place.
    """
    if col is None:
        return None
    cells = table.cells[col.index]
    if decimal_comma:
        joined = "\n".join(cells)
        if cells and "." not in joined:  # no thousands dots: a decimal comma is the only change
            fast = _arrow_floats(joined.replace(",", ".").split("\n"))
            if fast is not None:
                return fast
        return to_float(table.column(col), decimal_comma=True).to_numpy(dtype=np.float64)
    fast = _arrow_floats(cells)
    if fast is not None:
        return fast
    series = table.column(col)
    out = pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64, copy=True)
    bad = np.isnan(out)
    if bad.any():
        codes, uniques = pd.factorize(series.to_numpy(dtype=object)[bad], use_na_sentinel=False)
        out[bad] = to_float(pd.Series(uniques, dtype=object)).to_numpy(dtype=np.float64)[codes]
    return out


def _test_time(
    table: _Table,
    col: _Col,
    decimal_comma: bool,
    clock: np.ndarray | None,
    time_unit: str | None,
) -> tuple[np.ndarray, str]:
    """Test time in seconds and a note on how its unit was decided."""
    raw = table.column(col)
    if _is_duration(raw):
        return _durations_seconds(raw), "[d] hh:mm:ss"
    t = _numeric(table, col, decimal_comma)
    assert t is not None
    if time_unit is not None:
        return t * _TIME_UNITS[time_unit], f"{time_unit} (option)"
    if col.scale is not None:
        return t * col.scale, f"{_TIME_UNIT_NAMES.get(col.scale, col.unit)} (header)"
    scale = _infer_time_scale(t, clock) if clock is not None else None
    if scale is None:
        return t * 60.0, "min (assumed: MacTest exports write TestTime in minutes)"
    return t * scale, f"{_TIME_UNIT_NAMES[scale]} (from the DPt Time clock)"


def _voltage(v: np.ndarray, col: _Col, current_col: _Col, voltage_unit: str | None) -> tuple[np.ndarray, str]:
    if voltage_unit is not None:
        return v * {"V": 1.0, "mV": 1e-3}[voltage_unit], f"{voltage_unit} (option)"
    if col.unit.lower() == "mv":
        return v * 1e-3, "mV (header)"
    finite = v[np.isfinite(v)]
    milli_export = current_col.scale is not None and current_col.scale < 1.0
    if milli_export and finite.size and float(np.median(np.abs(finite))) > 100.0:
        return v * 1e-3, f"mV ('{col.name}' holds millivolts in this mA export)"
    return v * (col.scale or 1.0), "V"


def _check_options(time_unit: str | None, voltage_unit: str | None, timezone: str | None, path: Path) -> None:
    if time_unit is not None and time_unit not in _TIME_UNITS:
        raise DataFormatError(
            f"time_unit={time_unit!r} is not accepted; use one of {sorted(_TIME_UNITS)} or None (auto)",
            path=path,
            value=time_unit,
        )
    if voltage_unit is not None and voltage_unit not in ("V", "mV"):
        raise DataFormatError(
            f"voltage_unit={voltage_unit!r} is not accepted; use 'V', 'mV' or None (auto)",
            path=path,
            value=voltage_unit,
        )
    if timezone is not None:
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
            raise DataFormatError(
                f"timezone={timezone!r} is not an IANA time zone; use e.g. 'Europe/Oslo', 'UTC' or None",
                path=path,
                value=timezone,
            ) from exc


def read_maccor_text(
    path: Path,
    *,
    time_unit: str | None = None,
    voltage_unit: str | None = None,
    dayfirst: bool | None = None,
    timezone: str | None = None,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Parse any Maccor text/CSV export into canonical columns and metadata fields.

    Parameters
    ----------
    path
        The export (tab, semicolon or comma separated).
    time_unit
        Unit of a bare numeric ``TestTime`` column: ``"s"``, ``"min"`` or
        ``"h"``; None infers it from the ``DPt Time`` clock (minutes when it
        cannot). Ignored for ``Test (Sec)`` and ``hh:mm:ss`` columns.
    voltage_unit
        ``"V"`` or ``"mV"`` to override the voltage unit; None decides from
        the header and the values.
    dayfirst
        Whether ``DPt Time`` dates are DD/MM/YYYY. None: the format that
        parses most rows; if both do, day first for decimal-comma
        (European) exports, month first otherwise.
    timezone
        IANA zone of the tester clock (e.g. ``"Europe/Oslo"``), used for
        ``unix_time_second``; None reads the clock as UTC.

    Returns
    -------
    tuple of (pandas.DataFrame, dict)
        Canonical table (s, V, A, Ah, Wh, degC; not yet finalised) and
        :class:`~voltlab.data.metadata.CellMetadata` fields (``protocol``,
        ``extra``).

    Raises
    ------
    DataFormatError
        Not a Maccor export, an EIS file, a file truncated inside its
        header, or a row corrupted in the middle of the file.
    """
    _check_options(time_unit, voltage_unit, timezone, path)
    lines, h, sep = _layout(path)
    header = lines[h].split(sep)
    while header and not header[-1].strip():
        header.pop()
    roles = _column_roles(header)
    rows, truncated = _split_rows(lines, h, sep, len(header), path)
    table = _Table(_extract_cells(rows, list(roles.values()), sep))
    data_lines = [ln for ln in lines[h + 1 : h + 60] if ln.strip()]
    decimal_comma = looks_decimal_comma(data_lines, sep)
    extra: dict[str, Any] = {
        "header": _parse_preamble(lines[:h], sep),
        "separator": {"\t": "tab", ",": "comma", ";": "semicolon"}[sep],
        "decimal_comma": decimal_comma,
        "truncated": truncated,
    }
    df = _build_frame(
        table,
        roles,
        decimal_comma,
        extra,
        path,
        time_unit=time_unit,
        voltage_unit=voltage_unit,
        dayfirst=dayfirst,
        timezone=timezone,
    )
    meta: dict[str, Any] = {"extra": extra}
    procedure = extra["header"].get("procedure")
    if procedure:
        meta["protocol"] = procedure
    channel = extra["header"].get("channel") or _channel_from_suffix(path)
    if channel:
        extra["channel"] = channel
    return df, meta


def _channel_from_suffix(path: Path) -> str | None:
    m = re.fullmatch(r"\.(\d{3})", path.suffix)
    return str(int(m.group(1))) if m else None


def _build_frame(
    table: _Table,
    roles: dict[str, _Col],
    decimal_comma: bool,
    extra: dict[str, Any],
    path: Path,
    *,
    time_unit: str | None,
    voltage_unit: str | None,
    dayfirst: bool | None,
    timezone: str | None,
) -> pd.DataFrame:
    """Convert the raw cells into canonical columns (see the module docstring)."""
    out: dict[str, np.ndarray] = {}

    def num(role: str) -> np.ndarray | None:
        return _numeric(table, roles.get(role), decimal_comma)

    clock = None
    if "datetime" in roles:
        dt, fmt = _parse_datetime(table.column(roles["datetime"]), dayfirst, decimal_comma)
        if fmt is not None:
            clock = _unix_seconds(dt, timezone)
            extra["datetime_format"] = fmt
            extra["timezone"] = timezone or "UTC (tester clock; zone unknown)"
    out["test_time_second"], extra["time_unit"] = _test_time(
        table, roles["test_time"], decimal_comma, clock, time_unit
    )

    volts = num("voltage")
    assert volts is not None
    out["voltage_volt"], extra["voltage_unit"] = _voltage(
        volts, roles["voltage"], roles["current"], voltage_unit
    )
    current = num("current")
    assert current is not None
    current = current * (roles["current"].scale or 1.0)

    n = len(current)
    mode_col = roles.get("mode")
    if mode_col is not None:
        direction, known = _mode_directions(table.column(mode_col))
        current, applied = _signed_current(current, direction, known)
        extra["current_sign"] = _sign_note(current, applied, mode_col.name)
    else:
        direction, known = np.zeros(n, dtype=np.int8), np.zeros(n, dtype=bool)
        extra["current_sign"] = "signed export (no mode column)"
    # Rows whose mode is not C/D/R (FRA, O, P, S, ...) take the current's sign.
    current_dir = np.sign(np.nan_to_num(current)).astype(np.int8)
    direction = np.where(known, direction, current_dir)
    out["current_ampere"] = current

    cycle = num("cycle")
    if cycle is None:
        cycle = infer_cycle_count(np.nan_to_num(current)).astype(np.float64)
        extra["cycle_count"] = "inferred from the current (no cycle column)"
    else:
        _check_cycle(cycle, path, roles["cycle"].name)
    out["cycle_count"] = cycle.astype(np.int64)
    step = num("step")
    if step is not None:
        out["step_index"] = step
    if clock is not None:
        out["unix_time_second"] = clock

    _add_counters(out, roles, table, decimal_comma, direction, out["cycle_count"])
    _add_extras(out, roles, table, decimal_comma)
    if mode_col is not None:
        out["state"] = table.column(mode_col).astype(str).str.strip().to_numpy()
    return pd.DataFrame(out)


def _add_counters(
    out: dict[str, np.ndarray],
    roles: dict[str, _Col],
    table: _Table,
    decimal_comma: bool,
    direction: np.ndarray,
    cycle: np.ndarray,
) -> None:
    """Charging/discharging capacity and energy, cumulative within cycle."""

    def scaled(role: str) -> np.ndarray | None:
        v = _numeric(table, roles.get(role), decimal_comma)
        return None if v is None else v * (roles[role].scale or 1.0)

    chg, dis = scaled("charge_capacity"), scaled("discharge_capacity")
    if chg is not None and dis is not None:
        out["charging_capacity_ah"] = counter_to_cycle_cumulative(chg, cycle)
        out["discharging_capacity_ah"] = counter_to_cycle_cumulative(dis, cycle)
    else:
        cap = scaled("capacity")
        if cap is not None:
            out["charging_capacity_ah"], out["discharging_capacity_ah"] = _split_counter(
                cap, direction, cycle
            )
    energy = scaled("energy")
    if energy is not None:
        out["charging_energy_wh"], out["discharging_energy_wh"] = _split_counter(energy, direction, cycle)


def _add_extras(
    out: dict[str, np.ndarray],
    roles: dict[str, _Col],
    table: _Table,
    decimal_comma: bool,
) -> None:
    """Temperature, resistance and the kept vendor columns."""
    for role, name in (
        ("temperature", "temperature_celsius"),
        ("record", "record_number"),
        ("end_status", "end_status"),
        ("cycle_p", "cycle_p"),
    ):
        v = _numeric(table, roles.get(role), decimal_comma)
        if v is not None:
            out[name] = v if role == "temperature" else _as_int_if_integral(v)
    for role, name in (("dcir", "internal_resistance_ohm"), ("acimp", "ac_impedance_ohm")):
        v = _numeric(table, roles.get(role), decimal_comma)
        if v is not None and np.nan_to_num(v).any():
            out[name] = np.where(v == 0.0, np.nan, v)  # 0 = not measured
    step_col = roles.get("step_time")
    if step_col is not None:
        raw = table.column(step_col)
        if _is_duration(raw):
            out["step_time_second"] = _durations_seconds(raw)
        else:
            t = _numeric(table, step_col, decimal_comma)
            assert t is not None
            scale = step_col.scale
            if scale is None:  # a bare StepTime has the unit of the bare TestTime
                scale = _bare_time_scale(out["test_time_second"], table, roles["test_time"], decimal_comma)
            out["step_time_second"] = t * scale


def _bare_time_scale(seconds: np.ndarray, table: _Table, col: _Col, decimal_comma: bool) -> float:
    """Seconds per unit used for the test time (60 when it cannot be told)."""
    raw = _numeric(table, col, decimal_comma)
    if raw is None:
        return 60.0
    ok = np.isfinite(raw) & np.isfinite(seconds) & (raw != 0)
    if not ok.any():
        return 60.0
    return float(np.median(seconds[ok] / raw[ok]))


# ---------------------------------------------------------------------------
# Sniffing
# ---------------------------------------------------------------------------


@functools.lru_cache(maxsize=8)
def _sniff_layout(head: bytes) -> tuple[float, str | None]:
    """Confidence that ``head`` is a Maccor text export, and its separator (cached: both Maccor
    readers sniff the same head of every file :func:`detect_format` is given)."""
    if b"\x00" in head[:4096]:
        return 0.0, None
    lines = _split_lines(decode(head))[:_SNIFF_LINES]
    if _looks_eis(lines) and "MACCOR" in "\n".join(lines[:5]).upper():
        return 0.6, "eis"
    found = _find_header(lines, max_lines=_SNIFF_LINES)
    if found is None:
        return 0.0, None
    h, sep = found
    fields = [f.strip() for f in lines[h].split(sep)]
    roles = _column_roles(fields)
    tokens = sum(t in fields for t in _MACCOR_HEADER_TOKENS)
    maccor_cols = "datetime" in roles and ("record" in roles or "cycle" in roles)
    preamble = _has_preamble_marker(lines[: h + 1])
    if not (tokens >= 2 or maccor_cols or preamble):
        return 0.0, sep
    score = 0.7 + 0.1 * min(tokens, 2) + (0.1 if preamble else 0.0)
    return min(score, 0.95), sep


class _MaccorBase(CyclerReader):
    """Shared ``_read`` of the Maccor readers (see the module docstring for options)."""

    options: ClassVar[tuple[str, ...]] = ("time_unit", "voltage_unit", "dayfirst", "timezone")
    vendor: ClassVar[str] = "Maccor"
    _separators: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def sniff(cls, path: Path, head: bytes) -> float:
        score, sep = _sniff_layout(head)
        if sep == "eis":
            return score if "\t" in cls._separators else 0.0
        return score if sep in cls._separators else 0.0

    @classmethod
    def _read(cls, path: Path, **options: Any) -> tuple[pd.DataFrame, dict[str, Any]]:
        return read_maccor_text(path, **options)


@register_reader
class MaccorTextReader(_MaccorBase):
    """Maccor tab-separated text exports (MIMS ``.0NN`` files, MacTest ``.txt``).

    Options: ``time_unit``, ``voltage_unit``, ``dayfirst``, ``timezone``
    (see :func:`read_maccor_text`).
    """

    name: ClassVar[str] = "maccor_text"
    description: ClassVar[str] = (
        "Maccor tab-separated text export (MIMS/MacTest; seconds, minutes or d hh:mm:ss; A or mA; "
        "decimal commas; unsigned current signed from the State/Md column)"
    )
    extensions: ClassVar[tuple[str, ...]] = (".txt",)
    _separators: ClassVar[tuple[str, ...]] = ("\t", ";")


@register_reader
class MaccorCsvReader(_MaccorBase):
    """Maccor comma-separated exports (``Today's Date ,28-Nov-23`` preamble).

    Options as for :class:`MaccorTextReader`: ``time_unit``, ``voltage_unit``, ``dayfirst``,
    ``timezone`` (see :func:`read_maccor_text`).
    """

    name: ClassVar[str] = "maccor_csv"
    description: ClassVar[str] = (
        "Maccor CSV export (Rec, Cycle C, Step, Test Time (sec), Capacity, Current, Voltage, ...)"
    )
    extensions: ClassVar[tuple[str, ...]] = (".csv",)
    _separators: ClassVar[tuple[str, ...]] = (",",)


# ---------------------------------------------------------------------------
# EIS
# ---------------------------------------------------------------------------

_EIS_COLUMNS = {
    "Freq(Hz)": "frequency_hz",
    "time(sec)": "time_second",
    "Z'(a)": "z_real_ohm",
    "Z''(b)": "z_imag_ohm",
    "Phase_Angle": "phase_degree",
    "Z-Mag": "z_mod_ohm",
    "C(F)": "capacitance_farad",
    "Status": "status",
    "V-DC": "dc_voltage_volt",
}


def read_maccor_eis(path: str | Path) -> pd.DataFrame:
    """Read a Maccor FRA impedance file (``*.EDA0001.041``) into a DataFrame.

    Parameters
    ----------
    path
        The ``MACCOR, INC. AC Impedance Test`` text file.

    Returns
    -------
    pandas.DataFrame
        One row per frequency: ``frequency_hz`` [Hz], ``z_real_ohm`` and
        ``z_imag_ohm`` [Ohm, Z'' negative = capacitive], ``z_mod_ohm``
        [Ohm], ``phase_degree`` [deg], ``capacitance_farad`` [F],
        ``time_second`` [s], ``dc_voltage_volt`` [V], ``status``; other
        non-empty columns keep their names. ``attrs["header"]`` holds the
        preamble lines.

    Raises
    ------
    DataFormatError
        No ``Freq(Hz)`` header line, or no data rows.
    """
    p = Path(path)
    lines = _split_lines(read_text(p))
    h = next((k for k, ln in enumerate(lines[:50]) if "Freq(Hz)" in ln), None)
    if h is None:
        raise DataFormatError(
            "not a Maccor EIS file: no 'Freq(Hz)' column header in the first 50 lines", path=p
        )
    header = [c.strip() for c in lines[h].split("\t")]
    rows = [ln.split("\t") for ln in lines[h + 1 :] if ln.strip()]
    rows = [r for r in rows if len(r) >= 5]  # a cut-off last row is dropped
    if not rows:
        raise DataFormatError("no impedance data rows after the header (file truncated?)", path=p)
    data: dict[str, pd.Series] = {}
    for k, name in enumerate(header):
        if not name:
            continue
        col = to_float(pd.Series([r[k] if k < len(r) else "" for r in rows], dtype=object))
        if col.notna().any():
            data[_EIS_COLUMNS.get(name, _snake(name))] = col
    df = pd.DataFrame(data)
    df.attrs["header"] = [_printable(ln).strip() for ln in lines[:h] if ln.strip()]
    return df
