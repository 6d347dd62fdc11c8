"""Arbin readers: MITS Pro ``.res`` result files, CSV exports and MITS XLSX exports.

Three registered formats:

``arbin_res``
    Native MITS Pro result file, a Microsoft Access (Jet 4) database, read by
    voltlab's own page reader (:mod:`voltlab.data.readers._jet`; no system
    package needed). Layouts it does not decode are read with mdbtools'
    ``mdb-export`` instead (``apt-get install mdbtools`` on Debian/Ubuntu,
    ``brew install mdbtools`` on macOS). The data come from
    ``Channel_Normal_Table``, the test header from ``Global_Table`` and
    auxiliary channels (e.g. thermocouples) from ``Auxiliary_Table``.
``arbin_csv``
    CSV exports in either naming style: the SQL result-table names of MITS
    Pro 7 dumps (``Data_Point,Test_Time,DateTime,...``, with an optional
    companion ``<stem>_Metadata.csv``) and the MITS "Export to CSV" layout
    (``Data Point,Date Time,Test Time (s),...,Current (A),Voltage (V)``).
``arbin_xlsx``
    MITS XLSX exports: one sheet per channel named ``Channel_<n>-<ch>``
    (``Channel-...`` also accepted) with the same columns as the CSV export.

Conventions of the raw files (all converted to :mod:`voltlab.data.schema`):

* current is signed by Arbin, positive = charge, negative = discharge (kept);
* ``Charge_Capacity``/``Discharge_Capacity`` (Ah) and the energies (Wh) are
  reset by Arbin at each new cycle; they are passed through
  :func:`~voltlab.data.schema.counter_to_cycle_cumulative`, which makes them
  start from zero at the first row of each cycle;
* ``DateTime`` is an OLE Automation date (days since 1899-12-30) in ``.res``
  files, Unix seconds in the SQL CSV dumps and ``MM/DD/YYYY hh:mm:ss.fff``
  text in MITS exports. OLE dates and text are the instrument's local clock:
  they are taken as UTC unless ``timezone="Europe/Oslo"`` (an IANA name) is
  passed to ``read``;
* a missing cycle index (all empty) is inferred from the current with
  :func:`~voltlab.data.schema.infer_cycle_count`.
"""

from __future__ import annotations

import contextlib
import contextvars
import io
import json
import math
import os
import re
import shutil
import subprocess
import tempfile
import time
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from voltlab.data.metadata import sanitize_cell_id
from voltlab.data.readers._jet import JetDatabase, JetUnsupportedError
from voltlab.data.readers._text import decode, looks_decimal_comma, read_text, to_float
from voltlab.data.readers._unitconv import letters_and_digits, snake_case, split_header_unit
from voltlab.data.readers.base import CyclerReader, register_reader
from voltlab.data.schema import counter_to_cycle_cumulative, infer_cycle_count
from voltlab.errors import DataFormatError, DependencyError, SchemaError

__all__ = [
    "ArbinCsvReader",
    "ArbinResReader",
    "ArbinXlsxReader",
    "arbin_columns_to_canonical",
    "ole_to_unix",
    "reuse_res_tables",
]

# --------------------------------------------------------------------------------------------
# Column names and units shared by every Arbin flavour
# --------------------------------------------------------------------------------------------


#: Normalised base name -> (target column, physical kind).
_ALIASES: dict[str, tuple[str, str]] = {
    "testtime": ("test_time_second", "time"),
    "steptime": ("step_time_second", "time"),
    "datetime": ("unix_time_second", "datetime"),
    "cycleindex": ("cycle_count", "count"),
    "stepindex": ("step_index", "count"),
    "current": ("current_ampere", "current"),
    "voltage": ("voltage_volt", "voltage"),
    "chargecapacity": ("charging_capacity_ah", "capacity"),
    "dischargecapacity": ("discharging_capacity_ah", "capacity"),
    "chargeenergy": ("charging_energy_wh", "energy"),
    "dischargeenergy": ("discharging_energy_wh", "energy"),
    "internalresistance": ("internal_resistance_ohm", "resistance"),
    "power": ("power_watt", "power"),
    "temperature": ("temperature_celsius", "temperature"),
    "datapoint": ("data_point", "count"),
    "dvdt": ("dv_dt_volt_per_second", "none"),
}

#: Columns that identify rows but carry no data of the test itself.
_DROPPED = frozenset({"testid"})

#: Kind -> unit (normalised) -> (scale, offset) so that canonical = raw * scale + offset.
_UNITS: dict[str, dict[str, tuple[float, float]]] = {
    "time": {"": (1.0, 0.0), "s": (1.0, 0.0), "sec": (1.0, 0.0), "ms": (1e-3, 0.0),
             "min": (60.0, 0.0), "h": (3600.0, 0.0), "hr": (3600.0, 0.0)},
    "current": {"": (1.0, 0.0), "a": (1.0, 0.0), "ma": (1e-3, 0.0), "ua": (1e-6, 0.0),
                "µa": (1e-6, 0.0), "μa": (1e-6, 0.0)},
    "voltage": {"": (1.0, 0.0), "v": (1.0, 0.0), "mv": (1e-3, 0.0)},
    "capacity": {"": (1.0, 0.0), "ah": (1.0, 0.0), "mah": (1e-3, 0.0)},
    "energy": {"": (1.0, 0.0), "wh": (1.0, 0.0), "mwh": (1e-3, 0.0)},
    "resistance": {"": (1.0, 0.0), "ohm": (1.0, 0.0), "ω": (1.0, 0.0), "mohm": (1e-3, 0.0),
                   "mω": (1e-3, 0.0)},
    "power": {"": (1.0, 0.0), "w": (1.0, 0.0), "mw": (1e-3, 0.0)},
    "temperature": {"": (1.0, 0.0), "c": (1.0, 0.0), "degc": (1.0, 0.0), "k": (1.0, -273.15),
                    "f": (5.0 / 9.0, -32.0 * 5.0 / 9.0)},
}

_AUX_TEMP_RE = re.compile(r"^auxtemperature(\d+)$")

_OLE_EPOCH_UNIX_DAYS = 25569.0  # 1970-01-01 as an OLE Automation date
_DOTNET_TICKS_AT_UNIX_EPOCH = 621_355_968_000_000_000
_SECONDS_PER_DAY = 86400.0

_DATETIME_FORMATS = (
    "%m/%d/%Y %H:%M:%S.%f",
    "%m/%d/%Y %H:%M:%S",
    "%m/%d/%Y %I:%M:%S %p",
    "%Y-%m-%d %H:%M:%S.%f",
    "%Y-%m-%d %H:%M:%S",
    "%d/%m/%Y %H:%M:%S.%f",
    "%d/%m/%Y %H:%M:%S",
    "%d.%m.%Y %H:%M:%S",
)

_REQUIRED_HINT = (
    "an Arbin export needs a test time ('Test_Time' or 'Test Time (s)'), 'Current' and 'Voltage' "
    "column"
)




def _unit_factor(kind: str, unit: str, column: str, path: Path) -> tuple[float, float]:
    table = _UNITS.get(kind)
    if table is None:
        return 1.0, 0.0
    if unit not in table:
        accepted = ", ".join(repr(u) for u in table if u)
        raise DataFormatError(
            f"unit {unit!r} not understood; accepted for this column: {accepted}. "
            "Re-export with standard units or rename the column",
            path=path, column=column, value=unit,
        )
    return table[unit]


def _numeric(series: pd.Series, decimal_comma: bool = False) -> pd.Series:
    if series.dtype.kind in "iub":  # already numbers (the .res reader): nothing to parse or clean
        return series.astype(np.float64)
    out = to_float(series, decimal_comma=decimal_comma)
    values = out.to_numpy(dtype=np.float64, copy=True)
    values[np.isinf(values)] = np.nan
    return pd.Series(values, index=out.index, name=out.name)


# --------------------------------------------------------------------------------------------
# Date/time conversion
# --------------------------------------------------------------------------------------------


def _localize(naive: pd.Series, timezone: str | None) -> pd.Series:
    """Unix seconds from naive wall-clock datetimes (UTC unless ``timezone`` is given)."""
    dt = pd.to_datetime(naive, errors="coerce")
    if timezone:
        dt = dt.dt.tz_localize(timezone, ambiguous="NaT", nonexistent="NaT")
        dt = dt.dt.tz_convert("UTC").dt.tz_localize(None)
    ns = dt.to_numpy(dtype="datetime64[ns]")
    out = (ns - np.datetime64(0, "ns")).astype("timedelta64[ns]").astype(np.int64) / 1e9
    return pd.Series(np.where(pd.isna(dt).to_numpy(), np.nan, out), index=naive.index)


def ole_to_unix(days: pd.Series | np.ndarray, timezone: str | None = None) -> np.ndarray:
    """Convert OLE Automation dates (days since 1899-12-30) to Unix seconds.

    Parameters
    ----------
    days
        OLE dates (float days), the ``DateTime`` of Arbin ``.res`` files.
    timezone
        IANA time zone of the instrument clock; ``None`` takes it as UTC.

    Examples
    --------
    >>> float(ole_to_unix(np.array([25569.5]))[0])
    43200.0
    """
    d = np.asarray(days, dtype=np.float64)
    unix = (d - _OLE_EPOCH_UNIX_DAYS) * _SECONDS_PER_DAY
    if not timezone:
        return unix
    ok = np.isfinite(unix) & (np.abs(unix) < 1e11)
    naive = pd.Series(pd.NaT, index=range(d.shape[0]), dtype="datetime64[ns]")
    naive[ok] = pd.to_datetime(unix[ok], unit="s")
    return _localize(naive, timezone).to_numpy(dtype=np.float64)


def _numeric_datetime(x: pd.Series, timezone: str | None) -> pd.Series | None:
    finite = x[np.isfinite(x)]
    if finite.empty:
        return None
    med = float(finite.abs().median())
    if 1.0 < med < 1e6:  # OLE days (Access .res)
        return pd.Series(ole_to_unix(x.to_numpy(), timezone), index=x.index)
    if 1e8 < med < 1e11:  # Unix seconds (SQL dumps)
        return x.astype(np.float64)
    if 1e11 <= med < 1e14:  # Unix milliseconds
        return x / 1e3
    if 1e17 < med < 1e19:  # .NET ticks (100 ns since 0001-01-01), local clock
        unix = (x - _DOTNET_TICKS_AT_UNIX_EPOCH) / 1e7
        if not timezone:
            return unix
        return _localize(pd.to_datetime(unix, unit="s", errors="coerce"), timezone)
    return None


def _text_datetime(s: pd.Series, timezone: str | None) -> pd.Series | None:
    text = s.astype(str).str.strip()
    best: tuple[int, bool, pd.Series] | None = None
    for fmt in _DATETIME_FORMATS:
        parsed = pd.to_datetime(text, format=fmt, errors="coerce")
        n = int(parsed.notna().sum())
        if n == 0:
            continue
        mono = bool(parsed.dropna().is_monotonic_increasing)
        if best is None or (n, mono) > (best[0], best[1]):
            best = (n, mono, parsed)
    if best is None or best[0] < 0.5 * max(int(s.notna().sum()), 1):
        return None
    return _localize(best[2], timezone)


def _datetime_to_unix(raw: pd.Series, timezone: str | None) -> pd.Series | None:
    """Unix seconds from any Arbin date/time column, or None if it cannot be understood."""
    if pd.api.types.is_datetime64_any_dtype(raw.dtype):
        if getattr(raw.dt, "tz", None) is not None:
            raw = raw.dt.tz_convert("UTC").dt.tz_localize(None)
            timezone = None
        return _localize(raw, timezone)
    if pd.api.types.is_numeric_dtype(raw.dtype):
        return _numeric_datetime(raw.astype(np.float64), timezone)
    nonnull = raw.dropna()
    if nonnull.empty:
        return None
    as_num = pd.to_numeric(nonnull.astype(str).str.strip(), errors="coerce")
    if as_num.notna().mean() > 0.9:
        return _numeric_datetime(pd.to_numeric(raw.astype(str).str.strip(), errors="coerce"), timezone)
    if nonnull.map(lambda v: hasattr(v, "year")).mean() > 0.9:  # datetime objects from Excel
        return _localize(pd.to_datetime(raw, errors="coerce"), timezone)
    return _text_datetime(raw, timezone)


# --------------------------------------------------------------------------------------------
# Raw Arbin table -> canonical table
# --------------------------------------------------------------------------------------------


_Found = dict[str, tuple[Any, str, str]]


def _find_columns(raw: pd.DataFrame) -> _Found:
    """Target -> (raw column label, kind, unit) for every recognised Arbin column."""
    found: _Found = {}
    aux_temps: list[tuple[int, int, Any, str]] = []
    for k, col in enumerate(raw.columns):
        base, unit = split_header_unit(col)
        if base in _ALIASES:
            target, kind = _ALIASES[base]
            found.setdefault(target, (col, kind, unit))
            continue
        m = _AUX_TEMP_RE.match(base)
        if m:
            aux_temps.append((int(m.group(1)), k, col, unit))
    if "temperature_celsius" not in found and aux_temps:
        _, _, col, unit = min(aux_temps, key=lambda a: (a[0], a[1]))
        found["temperature_celsius"] = (col, "temperature", unit)
    return found


def _require_columns(raw: pd.DataFrame, found: _Found, path: Path) -> None:
    missing = [t for t in ("test_time_second", "current_ampere", "voltage_volt") if t not in found]
    if missing:
        cols = [str(c) for c in raw.columns][:30]
        raise SchemaError(
            f"not an Arbin data table: no column for {missing}; {_REQUIRED_HINT}. Columns found: "
            f"{cols}. If this is another vendor's file, pass its format= (see "
            "voltlab.data.readers.available_formats())",
            path=path, column=missing[0],
        )


def _cycle_and_step(
    raw: pd.DataFrame, found: _Found, current: pd.Series, decimal_comma: bool, notes: dict[str, Any],
) -> dict[str, pd.Series]:
    """Cycle number (vendor's, or inferred from current when all empty) and step index."""
    out: dict[str, pd.Series] = {}
    limit = float(2**53)
    if "cycle_count" in found:
        c = _numeric(raw[found["cycle_count"][0]], decimal_comma).clip(-limit, limit)
        if c.notna().any():
            out["cycle_count"] = c.ffill().bfill().round().astype(np.int64)
    if "cycle_count" not in out:
        out["cycle_count"] = pd.Series(
            infer_cycle_count(current.fillna(0.0).to_numpy()), index=raw.index
        )
        notes["cycle_count_inferred"] = True
    if "step_index" in found:
        s = _numeric(raw[found["step_index"][0]], decimal_comma).clip(-limit, limit)
        if s.notna().any():
            out["step_index"] = s.ffill().bfill().round().astype(np.int64)
    return out


def arbin_columns_to_canonical(
    raw: pd.DataFrame,
    path: Path,
    *,
    timezone: str | None = None,
    decimal_comma: bool = False,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Map a raw Arbin table (any naming style) to canonical columns.

    Parameters
    ----------
    raw
        Table with Arbin column names, e.g. ``Test_Time``/``Current`` (SQL and
        ``.res`` style, SI units) or ``Test Time (s)``/``Current (A)`` (MITS
        export, unit in brackets; mA, mV, mAh, mWh, min and h are converted).
    path
        File the table came from (named in errors).
    timezone
        IANA zone of the instrument clock for OLE/text dates (None = UTC).
    decimal_comma
        Numbers in text use a decimal comma.

    Returns
    -------
    tuple
        The canonical DataFrame (time in s, voltage in V, current in A signed
        positive = charge, capacities in Ah and energies in Wh cumulative
        within cycle, temperature in °C, unix time in s; other numeric vendor
        columns kept with snake_case names) and notes for the metadata ``extra``.
    """
    raw = raw.reset_index(drop=True)
    found = _find_columns(raw)
    _require_columns(raw, found, path)
    notes: dict[str, Any] = {}
    out = _scaled_columns(raw, found, path, decimal_comma)
    raw, out = _drop_empty_rows(raw, out, notes)
    if raw.empty:
        raise DataFormatError("no data rows below the Arbin header", path=path)
    out.update(_cycle_and_step(raw, found, out["current_ampere"], decimal_comma, notes))
    if "data_point" in found:
        dp = _numeric(raw[found["data_point"][0]], decimal_comma)
        if dp.notna().all() and (dp.abs() < 2**53).all():
            out["data_point"] = dp.astype(np.int64)
    if "unix_time_second" in found:
        unix = _datetime_to_unix(raw[found["unix_time_second"][0]], timezone)
        if unix is not None:
            out["unix_time_second"] = unix.reset_index(drop=True).astype(np.float64)
        else:
            notes["unix_time_unparsed"] = str(found["unix_time_second"][0])
    cycle = out["cycle_count"].to_numpy()
    for target in ("charging_capacity_ah", "discharging_capacity_ah", "charging_energy_wh",
                   "discharging_energy_wh"):
        if target in out:
            out[target] = pd.Series(counter_to_cycle_cumulative(out[target].to_numpy(), cycle))
    _add_extra_columns(raw, found, out, decimal_comma)
    return pd.DataFrame(out), notes


def _scaled_columns(raw: pd.DataFrame, found: _Found, path: Path, decimal_comma: bool) -> dict[str, pd.Series]:
    """Physical columns as float64 in canonical units."""
    out: dict[str, pd.Series] = {}
    for target, (col, kind, unit) in found.items():
        if kind in ("count", "datetime"):
            continue
        scale, offset = _unit_factor(kind, unit, str(col), path)
        out[target] = _numeric(raw[col], decimal_comma) * scale + offset
    return out


def _drop_empty_rows(
    raw: pd.DataFrame, out: dict[str, pd.Series], notes: dict[str, Any]
) -> tuple[pd.DataFrame, dict[str, pd.Series]]:
    """Drop rows where time, voltage and current are all missing (blank or garbage lines)."""
    empty = (out["test_time_second"].isna() & out["voltage_volt"].isna() & out["current_ampere"].isna())
    if not empty.any():
        return raw, out
    keep = ~empty.to_numpy()
    notes["rows_dropped_empty"] = int(empty.sum())
    return raw[keep].reset_index(drop=True), {k: v[keep].reset_index(drop=True) for k, v in out.items()}


def _add_extra_columns(raw: pd.DataFrame, found: _Found, out: dict[str, pd.Series], decimal_comma: bool) -> None:
    """Keep the other numeric vendor columns under snake_case names (text columns are dropped)."""
    used = {str(col) for col, _, _ in found.values()}
    for k, col in enumerate(raw.columns):
        if str(col) in used or split_header_unit(col)[0] in _DROPPED:
            continue
        name = snake_case(col)
        while name in out:
            name += "_x"
        column = raw.iloc[:, k]
        values = _numeric(column, decimal_comma)
        if values.notna().any() or column.isna().all():
            out[name] = values


def _json_safe(value: Any) -> Any:
    """Plain Python value for the metadata ``extra`` dict (NaN -> None)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    try:
        json.dumps(value)
    except TypeError:
        return str(value)
    return value


def _record_to_extra(row: pd.Series) -> dict[str, Any]:
    return {snake_case(k): _json_safe(v) for k, v in row.items() if not str(k).startswith("Unnamed")}


# --------------------------------------------------------------------------------------------
# arbin_res: MITS Pro .res (MS Access database), built-in reader or mdbtools
# --------------------------------------------------------------------------------------------

_JET_MAGIC = (b"Standard Jet DB", b"Standard ACE DB")
_RES_TABLE_NAMES = ("Channel_Normal_Table", "Global_Table")
_MDB_INSTALL_HINT = (
    "install mdbtools ('apt-get install mdbtools' on Debian/Ubuntu, 'brew install mdbtools' on "
    "macOS, or the mdbtools Windows build) so that 'mdb-export' is on PATH, or export the test to "
    "CSV/XLSX in MITS Pro and use format='arbin_csv'/'arbin_xlsx'"
)


def _is_jet(head: bytes) -> bool:
    return len(head) >= 19 and head[4:19] in _JET_MAGIC


def _mdb_export_exe(path: Path) -> str:
    exe = shutil.which("mdb-export")
    if exe is None:
        raise DependencyError(
            f"reading Arbin .res files needs the mdbtools program 'mdb-export', which is not on "
            f"PATH; {_MDB_INSTALL_HINT}",
            path=path,
        )
    return exe


def _default_timeout(path: Path) -> float:
    """Seconds allowed for one mdb-export call: 30 s plus 5 s per MB of file."""
    return 30.0 + 5.0 * path.stat().st_size / 1e6


def _run_mdb_export(exe: str, path: Path, table: str, timeout_s: float, *, datetime_flag: bool = True) -> bytes:
    """CSV bytes of one table, killed after ``timeout_s`` or when its output explodes.

    The output is capped at 64x the database size plus 64 MiB so a corrupt
    file cannot make mdb-export fill the disk. Dates are asked for in ISO
    form (``-D``/``-T``; ``-T`` is dropped for mdbtools older than 0.9).
    """
    cap = 64 * path.stat().st_size + (64 << 20)
    iso = "%Y-%m-%d %H:%M:%S"
    args = [exe, "-D", iso, *(["-T", iso] if datetime_flag else []), os.fspath(path), table]
    env = {**os.environ, "LC_ALL": "C", "LANG": "C"}
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(args, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env)
        reason = _wait_bounded(proc, out, timeout_s, cap)
        err.seek(0)
        stderr = decode(err.read(2000)).strip()
        if reason:
            raise DataFormatError(
                f"cannot read Arbin .res table {table!r}: {reason}; the file may be corrupt", path=path
            )
        if proc.returncode != 0:
            if datetime_flag and "unknown option" in stderr.lower():
                return _run_mdb_export(exe, path, table, timeout_s, datetime_flag=False)
            raise DataFormatError(
                f"mdb-export failed on table {table!r} (exit status {proc.returncode}: "
                f"{stderr or 'no message'}); the file is not a readable Arbin .res database "
                "(truncated or corrupt?)",
                path=path,
            )
        out.seek(0)
        return out.read()


def _wait_bounded(proc: subprocess.Popen[bytes], out: Any, timeout_s: float, cap: int) -> str:
    """Wait for ``proc``; kill it and say why if it runs too long or writes too much.

    On Linux the wait wakes when the process exits (a pidfd); ``Popen.wait(timeout)`` polls with a
    back-off that let a 70 ms export return up to ~30 ms late. The limits are checked every 50 ms.
    """
    deadline = time.monotonic() + timeout_s
    exit_watch = _ExitWatch(proc)
    try:
        while not exit_watch.exited_within(0.05):
            reason = ""
            if time.monotonic() > deadline:
                reason = f"mdb-export did not finish within {timeout_s:g} s (pass timeout_s= to wait longer)"
            elif os.fstat(out.fileno()).st_size > cap:
                reason = f"mdb-export wrote more than {cap} bytes"
            if reason:
                proc.kill()
                proc.wait()
                return reason
        return ""
    finally:
        exit_watch.close()


class _ExitWatch:
    """Waits for a process's exit: on a pidfd (Linux >= 5.3: wakes at the exit), else ``Popen.wait`` polling."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        import select

        self.proc = proc
        self.pidfd: int | None = None
        self.poller: Any = None
        opener = getattr(os, "pidfd_open", None)
        if opener is not None:
            try:
                self.pidfd = int(opener(proc.pid))
            except OSError:  # an older kernel, or a sandbox without the system call
                self.pidfd = None
        if self.pidfd is not None:
            self.poller = select.poll()
            self.poller.register(self.pidfd, select.POLLIN)

    def exited_within(self, timeout_s: float) -> bool:
        """Whether the process has exited (and is reaped) after waiting up to ``timeout_s``."""
        if self.poller is not None and not self.poller.poll(timeout_s * 1000):
            return False
        try:
            self.proc.wait(timeout=None if self.poller is not None else timeout_s)
        except subprocess.TimeoutExpired:
            return False
        return True

    def close(self) -> None:
        if self.pidfd is not None:
            os.close(self.pidfd)
            self.pidfd = None


_RES_ENGINES = ("auto", "native", "mdbtools")


def _native_frame(df: pd.DataFrame) -> pd.DataFrame:
    """Empty text as missing, as ``mdb-export`` prints it (its CSV cannot tell '' from NULL)."""
    for name in df.columns:
        if df[name].dtype == object:
            df[name] = [None if v == "" else v for v in df[name].tolist()]
    return df


#: While :func:`reuse_res_tables` is active: the opened files' tables, by (file, size, mtime, engine).
_SHARED_TABLES: contextvars.ContextVar[dict[tuple[str, int, int, str], _ResTables] | None] = contextvars.ContextVar(
    "voltlab_arbin_shared_tables", default=None)

#: The notes a :class:`_ResTables` keeps about how it read the file (carried over when it is reused).
_ENGINE_NOTES = ("res_engine", "res_engine_fallback", "res_tables_native")


@contextlib.contextmanager
def reuse_res_tables() -> Iterator[None]:
    """Within the block, reading an unchanged ``.res`` file again (another ``test_id`` of a
    multi-test file) reuses the tables decoded the first time instead of decoding the whole
    database once per test. The tables are released when the block ends.

    >>> with reuse_res_tables():  # doctest: +SKIP
    ...     tests = [ArbinResReader.read(path, test_id=k) for k in (1, 2, 3)]
    """
    token = _SHARED_TABLES.set({})
    try:
        yield
    finally:
        _SHARED_TABLES.reset(token)


class _ResTables:
    """The tables of one ``.res`` file, through the built-in Jet reader or ``mdb-export``.

    ``engine="auto"`` uses the built-in reader and switches to mdb-export only
    for a layout that reader does not decode (the reason goes into
    ``notes['res_engine_fallback']``); ``"native"`` never runs mdb-export;
    ``"mdbtools"`` always does. Open with :meth:`open`, which reuses the tables
    of a file already read inside :func:`reuse_res_tables`.
    """

    @classmethod
    def open(cls, path: Path, engine: str, timeout_s: float, notes: dict[str, Any]) -> _ResTables:
        """The tables of ``path``: those already decoded in this :func:`reuse_res_tables` block, or new."""
        shared = _SHARED_TABLES.get()
        if shared is None:
            return cls(path, engine, timeout_s, notes)
        st = path.stat()
        key = (str(path.resolve()), st.st_size, st.st_mtime_ns, engine)
        tables = shared.get(key)
        if tables is None:
            tables = shared[key] = cls(path, engine, timeout_s, notes)
            tables._memo = {}
        else:
            notes.update({k: (list(v) if isinstance(v, list) else v)
                          for k, v in tables.notes.items() if k in _ENGINE_NOTES})
            tables.notes = notes
        return tables

    def __init__(self, path: Path, engine: str, timeout_s: float, notes: dict[str, Any]) -> None:
        if engine not in _RES_ENGINES:
            raise DataFormatError(
                f"engine={engine!r} is not one of {list(_RES_ENGINES)} ('auto': the built-in reader, "
                "mdbtools where it cannot decode the file)",
                path=path, value=engine,
            )
        self.path, self.engine, self.timeout_s, self.notes = path, engine, timeout_s, notes
        self._db: JetDatabase | None = None
        self._exe: str | None = None
        self._native_tables: list[str] = []
        #: Tables read so far (or why they could not be), kept only for a shared instance.
        self._memo: dict[tuple[str, bool], pd.DataFrame | DataFormatError] | None = None
        if engine != "mdbtools":
            try:
                self._db = JetDatabase(path)
            except JetUnsupportedError as exc:
                self._fall_back(exc)
        if self._db is None:
            self._exe = _mdb_export_exe(path)
        notes["res_engine"] = "native" if self._db is not None else "mdbtools"

    def _fall_back(self, exc: JetUnsupportedError) -> None:
        if self.engine == "native":
            raise DataFormatError(
                f"voltlab's built-in .res reader does not decode this file ({exc.message}); read it with "
                f"engine='mdbtools' (or the default engine='auto'), which needs mdbtools: {_MDB_INSTALL_HINT}",
                path=self.path,
            ) from exc
        if shutil.which("mdb-export") is None:
            raise DependencyError(
                f"this .res file uses a layout voltlab's built-in reader does not decode ({exc.message}); reading "
                f"it needs the mdbtools program 'mdb-export': {_MDB_INSTALL_HINT}",
                path=self.path,
            ) from exc
        self._db = None
        if self._native_tables:  # those stay as read; the rest come from mdb-export
            self.notes["res_engine"] = "native+mdbtools"
            self.notes["res_tables_native"] = list(self._native_tables)
        else:
            self.notes["res_engine"] = "mdbtools"
        self.notes["res_engine_fallback"] = exc.message

    def read(self, table: str, *, typed_in: bool = False) -> pd.DataFrame:
        """One table as a DataFrame (DataFormatError if it is missing or unreadable).

        ``typed_in``: a table of values a person entered (``Global_Table``):
        Single values as their shortest decimal (3.579, not 3.5789999961853027).
        A shared instance (see :meth:`open`) decodes each table once; callers get
        a shallow copy and must not change its values in place.
        """
        if self._memo is None:
            return self._read(table, typed_in)
        key = (table, typed_in)
        if key not in self._memo:
            try:
                self._memo[key] = self._read(table, typed_in)
            except DataFormatError as exc:
                self._memo[key] = exc
        found = self._memo[key]
        if isinstance(found, DataFormatError):
            raise found
        return found.copy(deep=False)

    def _read(self, table: str, typed_in: bool) -> pd.DataFrame:
        if self._db is not None:
            try:
                frame = _native_frame(self._db.read_table(table, single_as_decimal=typed_in))
                self._native_tables.append(table)
                return frame
            except JetUnsupportedError as exc:
                self._fall_back(exc)
        exe = self._exe or _mdb_export_exe(self.path)
        self._exe = exe
        return _parse_mdb_csv(_run_mdb_export(exe, self.path, table, self.timeout_s), self.path, table)

    def optional(self, table: str, *, typed_in: bool = False) -> pd.DataFrame | None:
        """A secondary table, or None (noted in ``tables_unreadable``) if it cannot be read."""
        try:
            return self.read(table, typed_in=typed_in)
        except DataFormatError as exc:
            self.notes.setdefault("tables_unreadable", []).append(f"{table}: {exc.message[:200]}")
            return None


def _parse_mdb_csv(data: bytes, path: Path, table: str) -> pd.DataFrame:
    if not data.strip():
        raise DataFormatError(f"mdb-export returned nothing for table {table!r} (corrupt file?)", path=path)
    try:
        return pd.read_csv(io.BytesIO(data), low_memory=False, encoding="utf-8", encoding_errors="replace")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        raise DataFormatError(
            f"mdb-export output for table {table!r} is not valid CSV ({exc}); the .res file is corrupt",
            path=path,
        ) from exc


def _select_test(df: pd.DataFrame, test_id: int | None, path: Path, notes: dict[str, Any]) -> pd.DataFrame:
    if "Test_ID" not in df.columns:
        return df
    ids = pd.to_numeric(df["Test_ID"], errors="coerce")
    present = sorted(int(i) for i in ids.dropna().unique())
    if test_id is None:
        if len(present) <= 1:
            return df
        test_id = present[0]
        notes["other_test_ids"] = present[1:]
    elif test_id not in present:
        raise DataFormatError(
            f"test_id={test_id} not in this file; it holds Test_ID {present}", path=path, value=test_id
        )
    notes["test_id"] = test_id
    if len(present) > 1:
        # One cell per test: the store tells the tests of one file apart by this part name.
        notes["source_part"] = f"test_id={test_id}"
        notes["test_ids_in_file"] = present
    return df[(ids == test_id).to_numpy()]


def _aux_columns(
    aux: pd.DataFrame, aux_global: pd.DataFrame | None
) -> pd.DataFrame | None:
    """Auxiliary_Table (long: Data_Point, Auxiliary_Index, Data_Type, X) -> wide, by Data_Point.

    Channels whose unit in ``Aux_Global_Data_Table`` is °C become
    ``aux_temperature_<index>_celsius``; others ``aux_<type>_<index>``.
    """
    need = {"Data_Point", "Auxiliary_Index", "Data_Type", "X"}
    if aux.empty or not need <= set(aux.columns):
        return None
    units: dict[tuple[int, int], str] = {}
    if aux_global is not None and {"Auxiliary_Index", "Data_Type", "Unit"} <= set(aux_global.columns):
        for _, r in aux_global.iterrows():
            try:
                units[(int(r["Data_Type"]), int(r["Auxiliary_Index"]))] = str(r["Unit"]).strip()
            except (TypeError, ValueError):
                continue
    a = aux[list(need)].apply(pd.to_numeric, errors="coerce").dropna(
        subset=["Data_Point", "Auxiliary_Index", "Data_Type"]
    )
    if a.empty:
        return None
    wide = a.pivot_table(index="Data_Point", columns=["Data_Type", "Auxiliary_Index"], values="X",
                         aggfunc="last")
    names = {}
    for dtype_, idx in wide.columns:
        unit = units.get((int(dtype_), int(idx)), "").replace("°", "").lower()
        if unit in ("c", "degc"):
            names[(dtype_, idx)] = f"aux_temperature_{int(idx) + 1}_celsius"
        else:
            names[(dtype_, idx)] = f"aux_{int(dtype_)}_{int(idx) + 1}"
    wide.columns = [names[c] for c in wide.columns]
    return wide


def _res_metadata(glob: pd.DataFrame, timezone: str | None) -> dict[str, Any]:
    if glob.empty:
        return {}
    extra = _record_to_extra(glob.iloc[0])
    start = pd.to_numeric(pd.Series([glob.iloc[0].get("Start_DateTime")]), errors="coerce")
    if start.notna().all():
        unix = float(ole_to_unix(start.to_numpy(), timezone)[0])
        if math.isfinite(unix):
            extra["start_unix_time_second"] = unix
    meta: dict[str, Any] = {"extra": extra}
    if extra.get("schedule_file_name"):
        meta["protocol"] = str(extra["schedule_file_name"])
    return meta


@register_reader
class ArbinResReader(CyclerReader):
    """Arbin MITS Pro ``.res`` result file (Microsoft Access database).

    Read by voltlab's built-in Jet 4 page reader; files it cannot decode (Jet 3
    databases, unusual column types) are read with mdbtools' ``mdb-export``
    when it is installed. The two differ on edited databases: mdbtools 1.0
    reads Access' row flags the other way round from Jackcess (and from the
    built-in reader), so it returns deleted rows and drops rows that Access
    moved to another page. Single-precision
    columns (current, voltage, dV/dt, resistances) come back as the exact
    float32 values stored, widened to float64; mdb-export prints them rounded
    to 8 significant digits, so the two engines agree to 1e-7 relative.

    Options for ``read``
    --------------------
    test_id : int, optional
        Which ``Test_ID`` to read when the file holds several (default: the
        first; the others are listed in ``extra['other_test_ids']``, and
        :meth:`~voltlab.data.store.Store.ingest` adds each as its own cell,
        ``<file stem>-test<k>``). Each test of such a file carries
        ``extra['source_part'] = 'test_id=<k>'``.
    timezone : str, optional
        IANA zone of the instrument clock for ``DateTime`` (default: UTC).
    timeout_s : float, optional
        Limit for each ``mdb-export`` call, in s (default 30 s + 5 s per MB).
    engine : {"auto", "native", "mdbtools"}, optional
        ``"auto"`` (default): the built-in reader, mdb-export where it cannot
        decode the file (``extra['res_engine_fallback']`` says why; ``native+mdbtools``
        when only later tables needed it, ``extra['res_tables_native']`` naming the others);
        ``"native"``: the built-in reader only; ``"mdbtools"``: mdb-export
        only. ``extra['res_engine']`` records which one read the data.

    Metadata ``extra`` holds the ``Global_Table`` row with snake_case keys
    (``test_name``, ``channel_index``, ``channel_number``, ``start_datetime``
    as OLE days plus ``start_unix_time_second``, ``schedule_file_name``,
    ``mass`` as entered in MITS, ``capacity``, ``item_id``, ...); the
    schedule file name is also the ``protocol``.
    """

    name: ClassVar[str] = "arbin_res"
    options: ClassVar[tuple[str, ...]] = ("test_id", "timezone", "timeout_s", "engine")
    vendor: ClassVar[str] = "Arbin"
    description: ClassVar[str] = "MITS Pro .res result file (MS Access database)"
    extensions: ClassVar[tuple[str, ...]] = (".res",)

    @classmethod
    def sniff(cls, path: Path, head: bytes) -> float:
        """0.95 for an Access DB naming Arbin tables, 0.6 for any other Access DB, else 0."""
        if not _is_jet(head):
            return 0.0
        try:
            with open(path, "rb") as fh:
                more = fh.read(1 << 20)
        except OSError:
            more = head
        for table in _RES_TABLE_NAMES:
            if table.encode("utf-16-le") in more or table.encode("ascii") in more:
                return 0.95
        return 0.6

    @classmethod
    def _read(cls, path: Path, **options: Any) -> tuple[pd.DataFrame, dict[str, Any]]:
        with open(path, "rb") as fh:
            head = fh.read(64)
        if not _is_jet(head):
            raise DataFormatError(
                "not an Arbin .res file: no 'Standard Jet DB'/'Standard ACE DB' signature at byte 4 "
                "(a .res file is an MS Access database). For CSV or XLSX exports use "
                "format='arbin_csv' or 'arbin_xlsx'",
                path=path,
            )
        timeout_s = float(options.get("timeout_s") or _default_timeout(path))
        timezone = options.get("timezone")
        notes: dict[str, Any] = {}
        tables = _ResTables.open(path, str(options.get("engine") or "auto"), timeout_s, notes)
        normal = _select_test(tables.read("Channel_Normal_Table"), options.get("test_id"), path, notes)
        if "Data_Point" in normal.columns:
            dp = pd.to_numeric(normal["Data_Point"], errors="coerce").to_numpy(dtype=np.float64)
            if not bool((np.diff(dp) >= 0).all()):  # storage order is usually logging order already
                normal = normal.iloc[np.argsort(dp, kind="stable")]
        normal = cls._merge_aux(tables, normal, notes)
        df, map_notes = arbin_columns_to_canonical(normal, path, timezone=timezone)
        notes.update(map_notes)
        glob = tables.optional("Global_Table", typed_in=True)
        if glob is not None and "Test_ID" in glob.columns and "test_id" in notes:
            glob = glob[pd.to_numeric(glob["Test_ID"], errors="coerce") == notes["test_id"]]
        meta = _res_metadata(glob if glob is not None else pd.DataFrame(), timezone)
        meta.setdefault("extra", {}).update(notes)
        ids_in_file = notes.get("test_ids_in_file", [])
        if ids_in_file and notes["test_id"] != ids_in_file[0]:
            meta["cell_id"] = f"{sanitize_cell_id(path.name.split('.')[0])}-test{notes['test_id']}"
        if not timezone:
            meta["extra"]["clock_assumed_utc"] = True
        return df, meta

    @classmethod
    def _merge_aux(cls, tables: _ResTables, normal: pd.DataFrame, notes: dict[str, Any]) -> pd.DataFrame:
        """Join auxiliary channels (thermocouples, aux voltages) on Data_Point."""
        if "Data_Point" not in normal.columns:
            return normal
        aux = tables.optional("Auxiliary_Table")
        if aux is None or aux.empty:
            return normal
        if "Test_ID" in aux.columns and "test_id" in notes:
            aux = aux[pd.to_numeric(aux["Test_ID"], errors="coerce") == notes["test_id"]]
        aux_global = tables.optional("Aux_Global_Data_Table")
        wide = _aux_columns(aux, aux_global)
        if wide is None:
            return normal
        dp = pd.to_numeric(normal["Data_Point"], errors="coerce")
        merged = wide.reindex(dp.to_numpy())
        merged.index = normal.index
        temps = [c for c in merged.columns if c.startswith("aux_temperature_")]
        if temps:
            merged = merged.rename(columns={temps[0]: "Temperature"})
        notes["aux_channels"] = list(merged.columns)
        return pd.concat([normal, merged], axis=1)


# --------------------------------------------------------------------------------------------
# arbin_csv: SQL-dump CSV (beep) and MITS "Export to CSV"
# --------------------------------------------------------------------------------------------

_SEPARATORS = (",", ";", "\t")


def _header_keys(line: str) -> tuple[set[str], str]:
    sep = max(_SEPARATORS, key=line.count)
    return {split_header_unit(c.strip().strip('"'))[0] for c in line.split(sep)}, sep


def _is_arbin_header(keys: set[str]) -> bool:
    return {"testtime", "current", "voltage"} <= keys and bool(
        {"chargecapacity", "dischargecapacity"} & keys
    )


def _find_arbin_header(lines: list[str], max_lines: int = 40) -> tuple[int, str]:
    for k, line in enumerate(lines[:max_lines]):
        # a header's normalised names are substrings of the line's letters and digits: skip data
        # lines (most of the 40) without splitting their fields
        squashed = letters_and_digits(line)
        if "testtime" not in squashed or "current" not in squashed or "voltage" not in squashed:
            continue
        keys, sep = _header_keys(line)
        if _is_arbin_header(keys):
            return k, sep
    return -1, ","


def _is_metadata_companion(lines: list[str]) -> bool:
    if not lines:
        return False
    keys = {snake_case(c) for c in lines[0].split(",")}
    return {"schedule_file_name", "first_start_datetime"} <= keys


def _read_companion(path: Path) -> dict[str, Any]:
    """The ``<stem>_Metadata.csv`` row written beside SQL dumps (keys lower-cased)."""
    comp = path.with_name(f"{path.stem}_Metadata.csv")
    if not comp.is_file() or comp == path:
        return {}
    try:
        table = pd.read_csv(comp, index_col=0, nrows=5)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError, OSError, UnicodeDecodeError) as exc:
        return {"extra": {"metadata_file": comp.name, "metadata_file_error": str(exc)[:200]}}
    if table.empty:
        return {}
    extra = _record_to_extra(table.iloc[0])
    extra["metadata_file"] = comp.name
    start = extra.get("first_start_datetime")
    if isinstance(start, int | float) and 1e8 < start < 1e11:
        extra["start_unix_time_second"] = float(start)
    meta: dict[str, Any] = {"extra": extra}
    if extra.get("schedule_file_name"):
        meta["protocol"] = str(extra["schedule_file_name"])
    return meta


def _parse_delimited(body: str, sep: str, decimal_comma: bool, path: Path, header_line: int) -> pd.DataFrame:
    try:
        return pd.read_csv(
            io.StringIO(body), sep=sep, engine="c", low_memory=False, dtype=str if decimal_comma else None,
        )
    except pd.errors.ParserError as exc:
        raise DataFormatError(
            f"malformed Arbin CSV ({exc}; line numbers count from the header on file line "
            f"{header_line + 1}); remove the broken lines or re-export",
            path=path,
        ) from exc
    except pd.errors.EmptyDataError as exc:
        raise DataFormatError("no data below the Arbin header", path=path) from exc


@register_reader
class ArbinCsvReader(CyclerReader):
    """Arbin CSV exports: SQL result-table dumps and MITS "Export to CSV".

    Both naming styles are accepted (``Test_Time``, ``Current``, ... in SI
    units, or ``Test Time (s)``, ``Current (A)``, ... with the unit in
    brackets; mA/mV/mAh/mWh are converted). A companion
    ``<stem>_Metadata.csv`` beside a SQL dump is read into ``extra``
    (``test_id``, ``iv_ch_id`` channel, ``first_start_datetime`` Unix s,
    ``schedule_file_name`` also used as ``protocol``, ``item_id`` barcode).

    Options for ``read``
    --------------------
    timezone : str, optional
        IANA zone of the instrument clock for text ``Date Time`` (default UTC;
        numeric Unix ``DateTime`` needs none).
    """

    name: ClassVar[str] = "arbin_csv"
    options: ClassVar[tuple[str, ...]] = ("timezone",)
    vendor: ClassVar[str] = "Arbin"
    description: ClassVar[str] = "CSV export (MITS 'Export to CSV' or SQL result-table dump)"
    extensions: ClassVar[tuple[str, ...]] = (".csv",)

    @classmethod
    def companion_of(cls, path: Path) -> Path | None:
        """``<stem>_Metadata.csv`` accompanies ``<stem>.csv`` (a MITS Pro SQL dump), if that file exists."""
        if path.name.endswith("_Metadata.csv"):
            data = path.with_name(path.name[: -len("_Metadata.csv")] + ".csv")
            return data if data.is_file() else None
        return None

    @classmethod
    def sniff(cls, path: Path, head: bytes) -> float:
        """0.9-0.95 when a header line has Arbin's time/current/voltage/capacity columns."""
        if not head or b"\x00" in head[:4096]:
            return 0.0
        lines = decode(head[:32768]).splitlines()
        k, _ = _find_arbin_header(lines)
        if k < 0:
            return 0.0
        keys, _ = _header_keys(lines[k])
        return 0.95 if {"datapoint", "cycleindex", "stepindex"} & keys else 0.9

    @classmethod
    def _read(cls, path: Path, **options: Any) -> tuple[pd.DataFrame, dict[str, Any]]:
        text = read_text(path)
        lines = text.splitlines()
        k, sep = _find_arbin_header(lines)
        if k < 0:
            if _is_metadata_companion(lines):
                raise DataFormatError(
                    "this is the companion metadata file of an Arbin SQL CSV dump, not data; read "
                    "the data file beside it (its name without '_Metadata'), which loads this too",
                    path=path,
                )
            raise DataFormatError(
                f"not an Arbin CSV export: no header line within the first 40 lines; {_REQUIRED_HINT} "
                "plus 'Charge_Capacity'/'Charge Capacity (Ah)'. For another vendor pass its format= "
                "(see voltlab.data.readers.available_formats())",
                path=path,
            )
        sample = lines[k + 1 : k + 21]
        decimal_comma = sep != "," and looks_decimal_comma(sample, sep)
        raw = _parse_delimited("\n".join(lines[k:]), sep, decimal_comma, path, k)
        timezone = options.get("timezone")
        df, notes = arbin_columns_to_canonical(raw, path, timezone=timezone, decimal_comma=decimal_comma)
        meta = _read_companion(path)
        extra = meta.setdefault("extra", {})
        extra.update(notes)
        extra["layout"] = "mits_export" if any("(" in str(c) for c in raw.columns) else "sql_dump"
        if k:
            extra["preamble"] = [ln.strip() for ln in lines[:k] if ln.strip()][:20]
        return df, meta


# --------------------------------------------------------------------------------------------
# arbin_xlsx: MITS XLSX export
# --------------------------------------------------------------------------------------------

_CHANNEL_SHEET_RE = re.compile(r"^channel[_\- ]?\d", re.IGNORECASE)
_SHEET_NAME_XML_RE = re.compile(rb"<(?:\w+:)?sheet\b[^>]*?\bname=\"([^\"]*)\"")
_ZIP_MAGIC = b"PK\x03\x04"
_MAX_WORKBOOK_XML = 4 << 20


def _xlsx_sheet_names(path: Path) -> list[str]:
    """Sheet names from ``xl/workbook.xml`` without loading the workbook."""
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo("xl/workbook.xml")
        if info.file_size > _MAX_WORKBOOK_XML:
            return []
        xml = zf.read(info)
    names = [m.decode("utf-8", errors="replace") for m in _SHEET_NAME_XML_RE.findall(xml)]
    return [n.replace("&amp;", "&") for n in names]


def _channel_sheets(names: list[str]) -> list[str]:
    return [n for n in names if _CHANNEL_SHEET_RE.match(n)]


@register_reader
class ArbinXlsxReader(CyclerReader):
    """Arbin MITS XLSX export: data in sheets named ``Channel_<n>-<ch>`` (or ``Channel-...``).

    Columns as in the MITS CSV export (``Test Time (s)``, ``Current (A)``,
    ...). The first channel sheet is read together with its continuation
    sheets (``Channel_1-008_2``, ... for long tests); other channels are listed
    in ``extra['other_channel_sheets']``.

    Options for ``read``
    --------------------
    sheet : str, optional
        Read this sheet (and its continuations) instead of the first channel.
    timezone : str, optional
        IANA zone of the instrument clock for ``Date Time`` (default UTC).
    """

    name: ClassVar[str] = "arbin_xlsx"
    options: ClassVar[tuple[str, ...]] = ("sheet", "timezone")
    vendor: ClassVar[str] = "Arbin"
    description: ClassVar[str] = "MITS XLSX export (Channel_* sheets)"
    extensions: ClassVar[tuple[str, ...]] = (".xlsx",)

    @classmethod
    def sniff(cls, path: Path, head: bytes) -> float:
        """0.9 for an XLSX (ZIP) workbook with a ``Channel_*`` sheet, else 0."""
        if not head.startswith(_ZIP_MAGIC):
            return 0.0
        try:
            names = _xlsx_sheet_names(path)
        except (zipfile.BadZipFile, KeyError, OSError, RuntimeError, ValueError, EOFError):
            return 0.0
        return 0.9 if _channel_sheets(names) else 0.0

    @classmethod
    def _sheets_to_read(cls, path: Path, names: list[str], sheet: str | None) -> tuple[list[str], list[str]]:
        channels = _channel_sheets(names)
        if sheet is not None:
            if sheet not in names:
                raise DataFormatError(
                    f"sheet {sheet!r} not in the workbook; it has {names}", path=path, value=sheet
                )
            first = sheet
        elif channels:
            first = channels[0]
        else:
            raise DataFormatError(
                f"not an Arbin MITS XLSX export: no sheet named 'Channel_*' (sheets: {names}); pass "
                "sheet='...' for a renamed sheet, or the format= of the right vendor",
                path=path,
            )
        cont = re.compile(re.escape(first) + r"_\d+$")
        chosen = [first] + [n for n in names if cont.match(n)]
        others = [n for n in channels if n not in chosen]
        return chosen, others

    @classmethod
    def _read(cls, path: Path, **options: Any) -> tuple[pd.DataFrame, dict[str, Any]]:
        with open(path, "rb") as fh:
            if fh.read(4) != _ZIP_MAGIC:
                raise DataFormatError(
                    "not an XLSX workbook (no ZIP signature); for .xls (Excel 97) re-save as .xlsx, "
                    "for CSV exports use format='arbin_csv'",
                    path=path,
                )
        try:
            names = _xlsx_sheet_names(path)
        except (zipfile.BadZipFile, KeyError, OSError, RuntimeError, ValueError, EOFError) as exc:
            raise DataFormatError(
                f"not a readable XLSX workbook ({type(exc).__name__}: {exc}); the file is truncated or "
                "corrupt, re-export it from MITS",
                path=path,
            ) from exc
        chosen, others = cls._sheets_to_read(path, names, options.get("sheet"))
        frames = cls._load_sheets(path, chosen)
        raw = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
        df, notes = arbin_columns_to_canonical(raw, path, timezone=options.get("timezone"))
        extra: dict[str, Any] = {"sheets": chosen, **notes}
        if others:
            extra["other_channel_sheets"] = others
        return df, {"extra": extra}

    @classmethod
    def _load_sheets(cls, path: Path, sheets: list[str]) -> list[pd.DataFrame]:
        try:
            # A file handle, not the path: openpyxl refuses names not ending in .xlsx/.xlsm.
            with open(path, "rb") as fh:
                book = pd.read_excel(fh, sheet_name=sheets, engine="openpyxl")
        except ImportError as exc:
            raise DependencyError(
                "reading XLSX needs openpyxl: pip install openpyxl", path=path
            ) from exc
        except (zipfile.BadZipFile, zlib.error, KeyError, OSError, ValueError, EOFError) as exc:
            raise DataFormatError(
                f"cannot read the Arbin XLSX sheets {sheets} ({type(exc).__name__}: {exc}); re-export "
                "the file from MITS",
                path=path,
            ) from exc
        frames = [book[s] for s in sheets]
        first_cols = [split_header_unit(c) for c in frames[0].columns]
        for s, f in zip(sheets[1:], frames[1:], strict=True):
            if [split_header_unit(c) for c in f.columns] != first_cols:
                raise DataFormatError(
                    f"continuation sheet {s!r} has other columns than {sheets[0]!r}; pass sheet= to "
                    "read one sheet",
                    path=path,
                )
        return frames
