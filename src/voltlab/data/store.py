"""A dataset store of cycling data: Parquet per cell, queried with DuckDB.

Layout (one folder per cell, so a cell is written, replaced or removed as a unit)::

    <root>/voltlab-store.json                 marker: format name and version
    <root>/cells/cell_id=<id>/timeseries.parquet   canonical time series (zstd; LZ4 under 65,536 rows)
    <root>/cells/cell_id=<id>/summary.parquet      per-cycle summary
    <root>/cells/cell_id=<id>/metadata.json        CellMetadata + ingest facts
    <root>/cells/cell_id=<id>/metadata.parquet     the same, one row, for SQL
    <root>/.staging/                          cells being written (never read)

Atomicity: a cell is written completely into ``.staging/<random>/``, flushed
to disk, then moved into ``cells/`` with one ``rename`` (atomic on POSIX
file systems). A crash at any moment leaves either no trace of the cell in
``cells/`` or the whole cell; stale staging folders are removed the next time
a writer opens the store. Writers hold an exclusive lock on ``<root>/.lock``.

Re-ingest: every cell records the SHA-256 of its raw file; ingesting a file
whose hash is already present raises :class:`~voltlab.errors.DuplicateDataError`
(or is skipped with ``on_duplicate="skip"``).

SQL views available to :meth:`Store.query`:
``timeseries`` (canonical columns + ``cell_id``), ``cycles`` (per-cycle
summary + ``cell_id``) and ``cells`` (metadata).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, NamedTuple

import numpy as np
import pandas as pd

from voltlab.data.cycling import CyclingData
from voltlab.data.metadata import CellMetadata
from voltlab.data.schema import COLUMNS
from voltlab.data.summary import SummaryOptions, add_retention, cycle_summary
from voltlab.data.validation import DEFAULT_LIMITS, ValidationLimits, finalize_timeseries
from voltlab.errors import DuplicateDataError, MissingFileError, StoreError, UnknownFormatError, VoltlabError

__all__ = ["IngestReport", "Store", "expand_folders"]

STORE_FORMAT = "voltlab-store"
STORE_VERSION = 1
_MARKER = "voltlab-store.json"
_CELLS = "cells"
_STAGING = ".staging"
_PREFIX = "cell_id="

OnDuplicate = Literal["error", "skip", "replace"]


@dataclass
class IngestReport:
    """What an ingest did, file by file."""

    added: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    rows: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failed

    def describe(self) -> str:
        rate = self.rows / self.seconds if self.seconds > 0 else float("nan")
        return (
            f"added {len(self.added)} cell(s), skipped {len(self.skipped)}, failed {len(self.failed)}; "
            f"{self.rows:,} rows in {self.seconds:.2f} s ({rate:,.0f} rows/s)"
        )


def _encodings(schema: Any) -> dict[str, Any]:
    """Parquet encodings for a time-series schema: BYTE_STREAM_SPLIT for float columns,
    dictionary for the rest (cycle/step numbers, text).

    Measured noisy float columns (voltage, current, time) gain nothing from dictionary
    encoding, which pyarrow otherwise tries on every column before falling back; byte
    stream split makes zstd both faster and smaller on them (about 1.5-2.5x faster
    writes, 10-30 % smaller files, values bit-identical).
    """
    import pyarrow as pa

    floats = [f.name for f in schema if pa.types.is_float32(f.type) or pa.types.is_float64(f.type)]
    return {"use_dictionary": [f.name for f in schema if f.name not in floats], "use_byte_stream_split": floats}


#: Rows from which a cell's Parquet files are zstd-compressed. zstd costs about 40 µs per column
#: chunk whatever its size (1.3 ms for the 24 columns of a time series, measured with pyarrow 26),
#: more than a small table gains from it; below this the time series is written with LZ4
#: (12 % larger than zstd on the Neware sample's 9,065 rows, written in 3.3 ms against 4.5 ms)
#: and the per-cycle summary and the metadata row uncompressed (a few kB).
ZSTD_MIN_ROWS = 65_536


def _codec(n_rows: int, small: str) -> str:
    """``"zstd"`` for a table of at least :data:`ZSTD_MIN_ROWS` rows, else ``small``."""
    return "zstd" if n_rows >= ZSTD_MIN_ROWS else small


def _write_frame(df: pd.DataFrame, path: Path) -> None:
    """One small frame (a cell's summary or metadata row) to Parquet, codec by size (see :func:`_codec`)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(df, preserve_index=False, nthreads=1)
    if df.attrs:  # kept where pandas' to_parquet keeps them, so read_parquet gives them back
        table = table.replace_schema_metadata(
            {**(table.schema.metadata or {}), b"PANDAS_ATTRS": json.dumps(df.attrs, default=str).encode()})
    pq.write_table(table, path, compression=_codec(len(df), "none"))


class _CellEntry(NamedTuple):
    """What the store keeps of each cell's metadata.json (see :meth:`Store._cell_index`)."""

    sha: str  #: raw-file hash
    part: str | None  #: ``extra['source_part']``
    held: str | None  #: the test the cell holds (``"test_id=2"``), None for a whole file
    tests: tuple[int, ...]  #: the tests of its file, () for a whole file


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _write_bytes_durable(path: Path, data: bytes) -> None:
    with open(path, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


class _Lock:
    """Exclusive advisory lock on ``<root>/.lock`` (fcntl; no-op where unavailable)."""

    def __init__(self, root: Path, timeout_second: float = 60.0) -> None:
        self.path = root / ".lock"
        self.timeout = timeout_second
        self.fh: Any = None

    def __enter__(self) -> _Lock:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows
            return self
        self.fh = open(self.path, "a+")
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                fcntl.flock(self.fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                return self
            except BlockingIOError:
                if time.monotonic() > deadline:
                    self.fh.close()
                    raise StoreError(
                        f"store is locked by another writer for more than {self.timeout:g} s; "
                        "wait for the other ingest to finish",
                        path=self.path,
                    ) from None
                time.sleep(0.05)

    def __exit__(self, *exc: object) -> None:
        if self.fh is not None:
            import fcntl

            fcntl.flock(self.fh.fileno(), fcntl.LOCK_UN)
            self.fh.close()


class Store:
    """Cycling-data store rooted at a folder.

    Parameters
    ----------
    root
        Store folder.
    create
        Create the store if the folder has none (default True).

    Examples
    --------
    >>> import tempfile, pandas as pd
    >>> from voltlab.data import CellMetadata, CyclingData, Store
    >>> ts = pd.DataFrame({"test_time_second": [0.0, 3600.0, 3600.0, 7200.0],
    ...     "voltage_volt": [3.0, 4.2, 4.2, 3.0], "current_ampere": [1.0, 1.0, -1.0, -1.0],
    ...     "cycle_count": [1, 1, 1, 1]})
    >>> store = Store(tempfile.mkdtemp())
    >>> _ = store.add(CyclingData(ts, CellMetadata("demo-1")))
    >>> store.query("SELECT cell_id, discharge_capacity_ah FROM cycles").to_dict("records")
    [{'cell_id': 'demo-1', 'discharge_capacity_ah': 1.0}]
    """

    def __init__(self, root: str | os.PathLike[str], *, create: bool = True) -> None:
        self.root = Path(root)
        self._hash_cache: dict[tuple[str, int], _CellEntry] = {}
        self._cells_checked = False  # leftover cell folders removed (first write of this object)
        marker = self.root / _MARKER
        if not marker.is_file():
            if not create:
                raise MissingFileError(
                    "no voltlab store here; create one with Store(path) or 'voltlab ingest FILE --store PATH'",
                    path=self.root,
                )
            if self.root.exists() and any(self.root.iterdir()):
                raise StoreError(
                    "folder is not empty and is not a voltlab store; choose a new or empty folder",
                    path=self.root,
                )
            (self.root / _CELLS).mkdir(parents=True, exist_ok=True)
            (self.root / _STAGING).mkdir(exist_ok=True)
            tmp = self.root / f".{_MARKER}.tmp"
            _write_bytes_durable(
                tmp, json.dumps({"format": STORE_FORMAT, "version": STORE_VERSION}).encode()
            )
            os.replace(tmp, marker)
        else:
            try:
                info = json.loads(marker.read_text())
            except (OSError, ValueError) as exc:
                raise StoreError(f"unreadable store marker: {exc}", path=marker) from exc
            if info.get("format") != STORE_FORMAT or int(info.get("version", 0)) > STORE_VERSION:
                raise StoreError(
                    f"unsupported store {info!r}; this voltlab reads {STORE_FORMAT} version <= {STORE_VERSION}",
                    path=marker,
                )
        (self.root / _STAGING).mkdir(exist_ok=True)

    # ------------------------------------------------------------------ paths
    def _cell_dir(self, cell_id: str) -> Path:
        return self.root / _CELLS / f"{_PREFIX}{cell_id}"

    def _cell_dirs(self) -> Iterator[Path]:
        base = self.root / _CELLS
        if not base.is_dir():
            return
        for d in sorted(base.iterdir()):
            if d.name.startswith(_PREFIX) and (d / "metadata.json").is_file():
                yield d

    # --------------------------------------------------------------- reading
    def cell_ids(self) -> list[str]:
        """Ids of every complete cell, sorted."""
        return [d.name[len(_PREFIX):] for d in self._cell_dirs()]

    def __contains__(self, cell_id: object) -> bool:
        return isinstance(cell_id, str) and (self._cell_dir(cell_id) / "metadata.json").is_file()

    def __len__(self) -> int:
        return len(self.cell_ids())

    def metadata(self, cell_id: str) -> CellMetadata:
        """Metadata of one cell."""
        d = self._require(cell_id)
        info = json.loads((d / "metadata.json").read_text())
        return CellMetadata.from_dict(info["metadata"])

    def cells(self) -> pd.DataFrame:
        """One row per cell: metadata plus ``n_rows``, ``n_cycles``, ``ingested_at``."""
        rows = []
        for d in self._cell_dirs():
            info = json.loads((d / "metadata.json").read_text())
            meta = dict(info["metadata"])
            meta.pop("extra", None)
            rows.append({**meta, **info.get("ingest", {})})
        return pd.DataFrame(rows)

    def load(self, cell_id: str, columns: list[str] | None = None) -> CyclingData:
        """Time series and metadata of one cell."""
        d = self._require(cell_id)
        ts = pd.read_parquet(d / "timeseries.parquet", columns=columns)
        return CyclingData(ts, self.metadata(cell_id))

    def summary(self, cell_id: str) -> pd.DataFrame:
        """Per-cycle summary stored at ingest."""
        return pd.read_parquet(self._require(cell_id) / "summary.parquet")

    def find_hash(self, content_sha256: str, part: str | None = None) -> str | None:
        """Cell id already holding a raw file with this SHA-256, or None.

        ``part`` names one of several cells read from the same file (an Arbin
        ``.res`` holding several tests: ``"test_id=2"``, the cell's
        ``extra['source_part']``); None matches a cell that holds the whole file.
        """
        if not content_sha256:
            return None
        for name, cell in self._cell_index().items():
            if cell.sha == content_sha256 and cell.part == part:
                return name[len(_PREFIX):]
        return None

    def cells_of_file(self, content_sha256: str) -> list[str]:
        """The cells holding a raw file when every part of it is stored, else ``[]``.

        One cell for most files; one per test for an Arbin ``.res`` holding
        several (each with ``extra['source_part']``). A cell stored before
        tests were split (the first test only, no ``source_part``, the others
        listed in ``extra['other_test_ids']``) counts as its own test, so the
        missing tests are not mistaken for stored ones.
        """
        held = {name[len(_PREFIX):]: cell for name, cell in self._cell_index().items()
                if content_sha256 and cell.sha == content_sha256}
        have = {cell.held for cell in held.values()}
        tests = next((cell.tests for cell in held.values() if cell.tests), ())
        wanted: set[str | None] = {f"test_id={k}" for k in tests} if tests else {None}
        return sorted(held) if held and wanted <= have else []

    def _cell_index(self) -> dict[str, _CellEntry]:
        """Cell folder -> (hash, source part, the test it holds, the tests of its file), cached by
        folder name and inode; only the metadata.json of cells not seen yet is read. A cell folder
        is immutable once committed (replace/remove rename it away, and forget it here), so the
        cache stays correct as cells come and go.

        The test it holds and the file's tests serve :meth:`cells_of_file`: ``("test_id=2", (1, 2))``;
        a cell stored before tests were split counts as its own test; ``(None, ())`` for a whole file.
        """
        out: dict[str, _CellEntry] = {}
        base = self.root / _CELLS
        try:  # names and inodes come with the directory listing: a known cell costs no stat
            with os.scandir(base) as it:
                entries = sorted((e.name, e.inode()) for e in it if e.name.startswith(_PREFIX) and e.is_dir())
        except FileNotFoundError:
            return out
        for name, inode in entries:
            key = (name, inode)
            if key not in self._hash_cache:
                try:
                    meta = json.loads((base / name / "metadata.json").read_text())["metadata"]
                except FileNotFoundError:  # not a complete cell
                    continue
                extra = meta.get("extra") or {}
                part = extra.get("source_part")
                held, tests = part, tuple(int(k) for k in extra.get("test_ids_in_file") or ())
                if part is None and extra.get("other_test_ids") and "test_id" in extra:  # before the split
                    held = f"test_id={extra['test_id']}"
                    tests = (int(extra["test_id"]), *map(int, extra["other_test_ids"]))
                self._hash_cache[key] = _CellEntry(meta.get("content_sha256", ""), part, held, tests)
            out[name] = self._hash_cache[key]
        return out

    def _forget(self, cell_id: str) -> None:
        """Drop a removed or replaced cell from the hash cache (a new folder may get its inode)."""
        name = f"{_PREFIX}{cell_id}"
        self._hash_cache = {k: v for k, v in self._hash_cache.items() if k[0] != name}

    def _require(self, cell_id: str) -> Path:
        d = self._cell_dir(cell_id)
        if not (d / "metadata.json").is_file():
            known = self.cell_ids()
            hint = f"; cells: {', '.join(known[:10])}{' ...' if len(known) > 10 else ''}" if known else "; the store is empty"
            raise StoreError(f"no cell {cell_id!r} in the store{hint}", path=self.root, value=cell_id)
        return d

    # ----------------------------------------------------------------- query
    def connect(self) -> Any:
        """A DuckDB connection with views ``timeseries``, ``cycles`` and ``cells``."""
        import duckdb

        con = duckdb.connect()
        base = (self.root / _CELLS).as_posix()
        has = any(True for _ in self._cell_dirs())
        if has:
            opts = "hive_partitioning=true, hive_types_autocast=false, union_by_name=true"
            con.execute(
                f"CREATE VIEW timeseries AS SELECT * FROM read_parquet('{base}/*/timeseries.parquet', {opts})"
            )
            con.execute(
                f"CREATE VIEW cycles AS SELECT * FROM read_parquet('{base}/*/summary.parquet', {opts})"
            )
            con.execute(
                f"CREATE VIEW cells AS SELECT * FROM read_parquet('{base}/*/metadata.parquet', union_by_name=true)"
            )
        else:
            cols = ", ".join(f"NULL::{'BIGINT' if c.dtype == 'int64' else 'DOUBLE'} AS {c.name}" for c in COLUMNS)
            con.execute(f"CREATE VIEW timeseries AS SELECT NULL::VARCHAR AS cell_id, {cols} WHERE false")
            con.execute(
                "CREATE VIEW cycles AS SELECT NULL::VARCHAR AS cell_id, NULL::BIGINT AS cycle_count, "
                "NULL::DOUBLE AS discharge_capacity_ah, NULL::DOUBLE AS charge_capacity_ah WHERE false"
            )
            con.execute("CREATE VIEW cells AS SELECT NULL::VARCHAR AS cell_id WHERE false")
        return con

    def query(self, sql: str) -> pd.DataFrame:
        """Run SQL over the views ``timeseries``, ``cycles`` and ``cells``.

        Raises
        ------
        StoreError
            If DuckDB rejects the query (the message includes DuckDB's).
        """
        import duckdb

        con = self.connect()
        try:
            return con.execute(sql).df()
        except duckdb.Error as exc:
            raise StoreError(
                f"query failed: {exc}. Views: timeseries, cycles, cells", path=self.root
            ) from exc
        finally:
            con.close()

    # --------------------------------------------------------------- writing
    def add(
        self,
        data: CyclingData,
        *,
        on_duplicate: OnDuplicate = "error",
        summary_options: SummaryOptions | None = None,
    ) -> str | None:
        """Add one cell; returns its id, or None if skipped as a duplicate."""
        return self.add_stream(
            data.metadata, iter([data.timeseries]), on_duplicate=on_duplicate,
            summary_options=summary_options, validate=False,
        )

    def add_stream(
        self,
        metadata: CellMetadata,
        chunks: Iterable[pd.DataFrame],
        *,
        on_duplicate: OnDuplicate = "error",
        summary_options: SummaryOptions | None = None,
        validate: bool = True,
        limits: ValidationLimits = DEFAULT_LIMITS,
    ) -> str | None:
        """Add one cell from chunks of canonical rows, in bounded memory.

        Each chunk is validated (time must continue from the previous
        chunk), appended to the Parquet file as a row group, and summarised;
        the rows of a cycle that runs across a chunk boundary are carried to
        the next chunk so every cycle is summarised whole. One chunk is read
        ahead of the one being written (peak memory: two chunks and a cycle).

        Returns
        -------
        str or None
            The cell id, or None if skipped as a duplicate.
        """
        if on_duplicate not in ("error", "skip", "replace"):
            raise StoreError(f"on_duplicate must be 'error', 'skip' or 'replace', got {on_duplicate!r}")
        with _Lock(self.root):
            self._clean_staging()
            if self._is_duplicate(metadata, on_duplicate):
                return None
            stage = self.root / _STAGING / uuid.uuid4().hex
            stage.mkdir(parents=True)
            try:
                self._write_cell(stage, metadata, chunks, summary_options, validate, limits)
                self._commit(stage, metadata.cell_id, on_duplicate == "replace")
            except BaseException:
                shutil.rmtree(stage, ignore_errors=True)
                raise
        return metadata.cell_id

    def _is_duplicate(self, metadata: CellMetadata, on_duplicate: OnDuplicate) -> bool:
        existing = self.find_hash(metadata.content_sha256, metadata.extra.get("source_part"))
        if existing is not None and on_duplicate != "replace":
            if on_duplicate == "skip":
                return True
            raise DuplicateDataError(
                f"this raw file (sha256 {metadata.content_sha256[:12]}...) is already in the store as "
                f"cell {existing!r}; pass on_duplicate='skip' or 'replace'",
                path=metadata.source or None, value=existing,
            )
        if metadata.cell_id in self and on_duplicate != "replace":
            if on_duplicate == "skip":
                return True
            raise DuplicateDataError(
                f"cell id {metadata.cell_id!r} already exists; pass cell_id=... to rename, "
                "or on_duplicate='replace'",
                path=metadata.source or None, value=metadata.cell_id,
            )
        return False

    def _write_cell(
        self,
        stage: Path,
        metadata: CellMetadata,
        chunks: Iterable[pd.DataFrame],
        summary_options: SummaryOptions | None,
        validate: bool,
        limits: ValidationLimits,
    ) -> dict[str, Any]:
        import pyarrow as pa
        import pyarrow.parquet as pq

        writer: pq.ParquetWriter | None = None
        schema: pa.Schema | None = None
        carry: pd.DataFrame | None = None
        parts: list[pd.DataFrame] = []
        n_rows = 0
        last_time = -np.inf
        last_cycle: int | None = None
        where = metadata.source or metadata.cell_id
        # One chunk of look-ahead: the last chunk is summarised whole, so a cell given as one chunk
        # (every Store.add) is summarised in one call instead of its last cycle separately.
        ahead = iter(chunks)
        pending = next(ahead, None)
        k = -1
        try:
            while pending is not None:
                chunk, pending, k = pending, next(ahead, None), k + 1
                if chunk.empty:
                    continue
                chunk = finalize_timeseries(
                    chunk, path=where, nominal_capacity_ah=metadata.nominal_capacity_ah,
                    limits=limits, validate=validate,
                )
                t0 = float(chunk["test_time_second"].iloc[0])
                c0 = int(chunk["cycle_count"].iloc[0])
                if t0 < last_time - limits.time_backstep_tolerance_second or (
                    last_cycle is not None and c0 < last_cycle
                ):
                    raise VoltlabError(
                        f"chunk {k} starts at {t0:g} s / cycle {c0}, before the previous chunk ended "
                        f"({last_time:g} s / cycle {last_cycle}); pass chunks in test order",
                        path=where, row=n_rows, column="test_time_second",
                    )
                last_time = float(chunk["test_time_second"].iloc[-1])
                last_cycle = int(chunk["cycle_count"].iloc[-1])
                # pyarrow starts a thread pool for each conversion: 1.7 ms, more than the work below
                # about 50,000 rows (measured: 10,000 x 24 columns 1.35 ms on 1 thread, 2.95 ms on a pool)
                table = pa.Table.from_pandas(chunk, preserve_index=False,
                                             nthreads=1 if len(chunk) < 50_000 else None)
                if writer is None:
                    schema = table.schema
                    writer = pq.ParquetWriter(  # the codec is chosen on the first chunk's size
                        stage / "timeseries.parquet", schema, compression=_codec(len(chunk), "lz4"),
                        **_encodings(schema),
                    )
                else:
                    table = table.cast(schema)
                writer.write_table(table)
                n_rows += len(chunk)
                merged = chunk if carry is None else pd.concat([carry, chunk], ignore_index=True)
                if pending is None:  # the last chunk: every cycle in it is complete
                    parts.append(cycle_summary(merged, summary_options))
                    carry = None
                    continue
                cyc = merged["cycle_count"].to_numpy()
                last = cyc[-1]
                cut = int(np.searchsorted(cyc, last, side="left"))
                if cut > 0:
                    parts.append(cycle_summary(merged.iloc[:cut], summary_options))
                carry = merged.iloc[cut:].reset_index(drop=True)
        finally:
            if writer is not None:
                writer.close()
        if writer is None:
            raise VoltlabError("no data rows to store", path=where)
        if carry is not None:  # the stream ended with empty chunks
            parts.append(cycle_summary(carry, summary_options))
        summary = pd.concat(parts, ignore_index=True)
        summary = add_retention(summary, nominal_capacity_ah=metadata.nominal_capacity_ah, options=summary_options)
        _write_frame(summary, stage / "summary.parquet")
        facts = {
            "n_rows": n_rows,
            "n_cycles": len(summary),
            "ingested_at": pd.Timestamp.now(tz="UTC").isoformat(),
            "reference_cycle": summary.attrs.get("reference_cycle"),
        }
        info = {"metadata": metadata.to_dict(), "ingest": facts}
        meta_row = {k: v for k, v in metadata.to_dict().items() if k != "extra"}
        meta_row["extra_json"] = json.dumps(metadata.extra, sort_keys=True, default=str)
        meta_row.update({k: v for k, v in facts.items() if k != "reference_cycle"})
        _write_frame(pd.DataFrame([meta_row]), stage / "metadata.parquet")
        # metadata.json is written last: its presence marks a complete cell.
        _write_bytes_durable(stage / "metadata.json", json.dumps(info, indent=1, default=str).encode())
        for f in ("timeseries.parquet", "summary.parquet", "metadata.parquet"):
            with open(stage / f, "rb") as fh:
                os.fsync(fh.fileno())
        _fsync_dir(stage)
        return facts

    def _commit(self, stage: Path, cell_id: str, replace: bool) -> None:
        target = self._cell_dir(cell_id)
        trash: Path | None = None
        if target.exists():
            if not replace:
                raise DuplicateDataError(f"cell id {cell_id!r} already exists", path=self.root, value=cell_id)
            trash = self.root / _STAGING / f"old-{uuid.uuid4().hex}"
            os.rename(target, trash)
            self._forget(cell_id)
        os.rename(stage, target)
        _fsync_dir(target.parent)
        if trash is not None:
            shutil.rmtree(trash, ignore_errors=True)

    def _clean_staging(self) -> None:
        """Remove folders left by interrupted writers (we hold the lock)."""
        staging = self.root / _STAGING
        for d in staging.iterdir() if staging.is_dir() else ():
            shutil.rmtree(d, ignore_errors=True)
        if self._cells_checked:
            return
        # A cell folder without metadata.json cannot come from a rename of a complete stage, but
        # remove any such leftovers defensively, once per Store object: a stat per cell on every
        # add made ingest quadratic (80 ms per add at 3,000 cells).
        for d in (self.root / _CELLS).iterdir():
            if d.is_dir() and not (d / "metadata.json").is_file():
                shutil.rmtree(d, ignore_errors=True)
        self._cells_checked = True

    def remove(self, cell_id: str) -> None:
        """Delete one cell (atomically: moved out, then deleted)."""
        with _Lock(self.root):
            d = self._require(cell_id)
            trash = self.root / _STAGING / f"rm-{uuid.uuid4().hex}"
            os.rename(d, trash)
            self._forget(cell_id)
            shutil.rmtree(trash, ignore_errors=True)

    def ingest(
        self,
        paths: Iterable[str | os.PathLike[str]],
        *,
        format: str | None = None,
        on_duplicate: OnDuplicate = "error",
        progress: Callable[[str], None] | None = None,
        workers: int = 1,
        scheduler: str | None = None,
        on_files: Callable[[int], None] | None = None,
        **read_options: Any,
    ) -> IngestReport:
        """Read raw cycler files and add each as a cell.

        A file that fails to read is recorded in ``report.failed`` (with the
        reason) and the rest continue; files already in the store (same
        content hash) are skipped with ``on_duplicate="skip"``. With
        ``workers > 1`` files are parsed in parallel processes while this
        process remains the only writer; with a Dask ``scheduler`` (or
        ``$VOLTLAB_SCHEDULER``) the files are parsed on the cluster's workers
        (they must see the same paths, e.g. a shared file system) and still
        written here, one cell at a time, so no two writers ever touch the
        store and a re-run task cannot add a cell twice.

        A folder in ``paths`` stands for every file under it (recursively, in
        name order, hidden names and documents such as ``README.md`` or PDFs
        left out; see :func:`expand_folders`); among those, files no reader
        recognises (lab notes, other instruments' files) are skipped rather
        than failed. A companion file that a reader loads with its data file (an Arbin
        ``<stem>_Metadata.csv``, a Novonix ``<stem>_metadata.csv``) is skipped
        when its data file is being ingested too.

        Parameters
        ----------
        paths
            Raw files, or folders of them.
        format
            Reader name; detected per file if None.
        on_duplicate
            ``"error"`` (record a failure), ``"skip"`` or ``"replace"``.
        progress
            Called with each file name after it is processed.
        on_files
            Called once, before any file is read, with the number of files
            found (folders expanded): ``progress`` is then called that many times.
        workers
            Parallel reader processes (1 = read in this process).
        scheduler
            Dask scheduler address (``tcp://host:port``) to parse on.
        **read_options
            Passed to the reader (metadata overrides, reader options).
        """
        from voltlab.data.metadata import file_sha256
        from voltlab.data.readers import companion_of
        from voltlab.parallel import parallel_map

        report = IngestReport()
        t_start = time.perf_counter()
        todo: list[Path] = []
        files, from_folder = _expand(paths)
        if on_files is not None:
            on_files(len(files))
        listed = {f.resolve() for f in files}
        for p in files:
            data_file = companion_of(p)
            if data_file is not None and data_file.resolve() in listed:
                report.skipped.append((str(p), f"companion of {data_file.name} (read with it)"))
                if progress is not None:
                    progress(p.name)
                continue
            existing = self.cells_of_file(file_sha256(p)) if on_duplicate == "skip" and p.is_file() else []
            if existing:
                report.skipped.append((str(p), f"already ingested as {', '.join(existing)}"))
                if progress is not None:
                    progress(p.name)
            else:
                todo.append(p)
        jobs = [(p, format, read_options) for p in todo]
        for (p, _, _), parts, error in parallel_map(_read_job, jobs, workers=workers, scheduler=scheduler):
            try:
                if error is not None:
                    raise error
                assert parts is not None
                for data in parts:  # one per test of a multi-test file, else one
                    label = str(p) if len(parts) == 1 else f"{p} [{data.metadata.extra.get('source_part')}]"
                    try:
                        added = self.add(data, on_duplicate=on_duplicate)
                    except VoltlabError as exc:
                        report.failed.append((label, str(exc)))
                        continue
                    if added is None:
                        report.skipped.append((label, "duplicate"))
                    else:
                        report.added.append(added)
                        report.rows += data.n_rows
            except UnknownFormatError as exc:
                if p in from_folder:  # a stray file in a folder of exports: not an error
                    report.skipped.append((str(p), "not a cycler export (format not recognised)"))
                else:
                    report.failed.append((str(p), str(exc)))
            except VoltlabError as exc:
                report.failed.append((str(p), str(exc)))
            if progress is not None:
                progress(p.name)
        report.seconds = time.perf_counter() - t_start
        return report


#: Extensions of files in a folder that are documents, not exports (their text can mention cycler
#: column names, so a sniffer might take them for data).
_DOCUMENT_EXTENSIONS = frozenset({".md", ".rst", ".pdf", ".html", ".htm", ".png", ".jpg", ".jpeg", ".svg",
                                  ".py", ".ipynb", ".docx", ".pptx", ".log"})


def expand_folders(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """The files :meth:`Store.ingest` reads for ``paths``: files as given, each folder replaced by the
    files under it (recursively, in name order; hidden names and documents such as README.md left out)."""
    return _expand(paths)[0]


def _expand(paths: Iterable[str | os.PathLike[str]]) -> tuple[list[Path], set[Path]]:
    """:func:`expand_folders`, and the set of the files that came from folders."""
    files: list[Path] = []
    from_folder: set[Path] = set()
    for raw in paths:
        p = Path(raw)
        if not p.is_dir():
            files.append(p)
            continue
        found = sorted(
            f for f in p.rglob("*")
            if f.is_file() and f.suffix.lower() not in _DOCUMENT_EXTENSIONS
            and not any(part.startswith(".") for part in f.relative_to(p).parts)
        )
        files.extend(found)
        from_folder.update(found)
    return files, from_folder


def _read_job(job: tuple[Path, str | None, dict[str, Any]]) -> list[CyclingData]:
    """Read one file (module-level so process pools can pickle it): one CyclingData, or one per test of
    an Arbin ``.res`` holding several (``extra['other_test_ids']``), so no test is left behind."""
    from voltlab.data.readers import read_cycler_file
    from voltlab.data.readers.arbin import reuse_res_tables

    path, fmt, options = job
    with reuse_res_tables():  # the database's tables are decoded once for all its tests
        first = read_cycler_file(path, format=fmt, **options)
        others = first.metadata.extra.get("other_test_ids") or []
        if first.metadata.source_format != "arbin_res" or not others:
            return [first]
        parts = [first]
        for test_id in others:
            extra = {"test_id": test_id}
            if options.get("cell_id"):
                extra["cell_id"] = f"{options['cell_id']}-test{test_id}"
            parts.append(read_cycler_file(path, format=fmt, **{**options, **extra}))
    return parts
