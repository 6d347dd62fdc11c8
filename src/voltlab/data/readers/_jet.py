"""Built-in reader for Microsoft Access (Jet 4 / ACE) databases: the tables of Arbin ``.res`` files.

Arbin MITS Pro writes its results as an Access 2000 (Jet 4) database. This
module reads one directly from its pages, so ``.res`` files open without
mdbtools (no system package: Windows and macOS included) and much faster than
``mdb-export`` + CSV parsing (``benchmarks/ingest.py`` measures both).

The page layout followed here is the one documented by the mdbtools project
(``HACKING.md``) and the Jackcess library:

* 4096-byte pages; page 0 is the header (the Jet version at byte 0x14), page 2
  the table definition (TDEF) of the ``MSysObjects`` catalog, which maps table
  names to their TDEF pages (``Id & 0x00FFFFFF``);
* a TDEF (page type 0x02, possibly chained over several pages) lists the
  columns (type, number, fixed offset, variable-column index, length, flags)
  and points to the table's *usage map*: a bitmap of the data pages it owns,
  inline (map type 0) or spread over bitmap pages (type 1);
* a data page (type 0x01, its owner's TDEF page at byte 4) holds a row count at
  byte 12 and one 2-byte offset per row (flag 0x8000 deleted, 0x4000 moved: the
  slot points to the row's new place, which is itself flagged deleted; these
  are Jackcess' meanings, and mdbtools 1.0 reads the two flags the other way
  round, so it keeps deleted rows and drops moved ones);
* a row is ``[column count][fixed data][variable data][offsets][variable
  count][null mask]``; a set null-mask bit means *not* null, and a Boolean's
  value is its bit.

Fixed-width columns (all of ``Channel_Normal_Table``) are decoded for every
row at once with numpy; variable-width ones (text, memo) row by row. Layouts
this reader does not decode (Jet 3 files, the 17-byte Numeric type,
attachment columns) raise :class:`JetUnsupportedError`,
which the Arbin reader answers by using mdbtools instead. Damage (pages past
the end of the file, offsets outside their page, loops in page chains) raises
:class:`~voltlab.errors.DataFormatError` naming the page.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from voltlab.errors import DataFormatError

PAGE_SIZE = 4096
"""Bytes per page in Jet 4 and ACE databases."""

_JET_VERSION_OFFSET = 0x14
_CATALOG_TDEF_PAGE = 2
_OFFSET_MASK = 0x1FFF
_DELETED_ROW = 0x8000
_OVERFLOW_ROW = 0x4000
_PAGE_DATA, _PAGE_TDEF, _PAGE_USAGE_MAP = 0x01, 0x02, 0x05

# Column types (mdbtools' MDB_* codes).
BOOL, BYTE, INT, LONG, MONEY, FLOAT, DOUBLE, DATETIME = 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08
BINARY, TEXT, OLE, MEMO, GUID, NUMERIC, COMPLEX = 0x09, 0x0A, 0x0B, 0x0C, 0x0F, 0x10, 0x12

_FIXED_DTYPES = {
    BYTE: "u1", INT: "<i2", LONG: "<i4", MONEY: "<i8", FLOAT: "<f4", DOUBLE: "<f8", DATETIME: "<f8",
}
_INTEGER_TYPES = (BYTE, INT, LONG)


class JetUnsupportedError(DataFormatError):
    """A valid Access layout that this reader does not decode; mdbtools can read it."""


@dataclass(frozen=True)
class JetColumn:
    """One column of a table definition."""

    name: str
    type: int
    number: int
    """Position in the row's null mask (deleted columns keep their number)."""
    var_index: int
    """Index into the row's variable-column offset table (variable columns only)."""
    fixed_offset: int
    """Byte offset of a fixed column after the 2-byte column count."""
    length: int
    """Bytes of a fixed column (0 for Boolean: its value is the null-mask bit)."""
    fixed: bool


@dataclass(frozen=True)
class JetTable:
    """A table definition: its columns in column-number order and where its pages are listed."""

    name: str
    tdef_page: int
    n_rows: int
    n_var_columns: int
    columns: tuple[JetColumn, ...]
    usage_map: tuple[int, int]
    """(page, row) of the row holding the usage map of the table's data pages."""


def _u16(buf: bytes | bytearray | memoryview, pos: int) -> int:
    return int(buf[pos]) | (int(buf[pos + 1]) << 8)


def _u32(buf: bytes | bytearray | memoryview, pos: int) -> int:
    return int(struct.unpack_from("<I", buf, pos)[0])


def _u24(buf: bytes | bytearray | memoryview, pos: int) -> int:
    return int(buf[pos]) | (int(buf[pos + 1]) << 8) | (int(buf[pos + 2]) << 16)


def decode_jet4_text(raw: bytes) -> str:
    """Jet 4 text: UTF-16-LE, or 'compressed' (``FF FE`` then one byte per Latin-1 character,
    a 0x00 byte switching between one-byte and two-byte characters)."""
    if raw[:2] != b"\xff\xfe":
        return raw.decode("utf-16-le", errors="replace")
    out: list[str] = []
    compressed = True
    i, n = 2, len(raw)
    while i < n:
        if raw[i] == 0:
            compressed = not compressed
            i += 1
        elif compressed:
            out.append(chr(raw[i]))
            i += 1
        else:
            out.append(raw[i:i + 2].decode("utf-16-le", errors="replace"))
            i += 2
    return "".join(out)


class JetDatabase:
    """An Access (Jet 4 / ACE) database file opened for reading tables.

    Parameters
    ----------
    path : path to the ``.res``/``.mdb`` file. It is read into memory once
        (an Arbin file of N data rows is about 80 N bytes).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._raw = self.path.read_bytes()
        if len(self._raw) < 3 * PAGE_SIZE:
            raise DataFormatError(
                f"file is {len(self._raw)} bytes, too short for an Access database (at least 3 pages of "
                f"{PAGE_SIZE} bytes); it is truncated or not a database",
                path=self.path,
            )
        version = self._raw[_JET_VERSION_OFFSET]
        if version == 0:
            raise JetUnsupportedError("Jet 3 (Access 97) database: 2048-byte pages", path=self.path)
        self.jet_version = int(version)
        self.n_pages = len(self._raw) // PAGE_SIZE
        self._pages = np.frombuffer(self._raw, np.uint8, count=self.n_pages * PAGE_SIZE).reshape(
            self.n_pages, PAGE_SIZE
        )
        self._catalog: dict[str, int] | None = None

    # -- pages and rows -------------------------------------------------------------------
    def _page(self, number: int, what: str) -> memoryview:
        if not 0 <= number < self.n_pages:
            raise DataFormatError(
                f"{what} is on page {number}, past the end of the file ({self.n_pages} pages of "
                f"{PAGE_SIZE} bytes): the file is truncated or corrupt",
                path=self.path,
            )
        start = number * PAGE_SIZE
        return memoryview(self._raw)[start:start + PAGE_SIZE]

    def row_span(self, page_number: int, row: int, what: str = "row") -> tuple[int, int]:
        """Absolute [start, end) byte offsets in the file of row ``row`` of data page ``page_number``
        (deleted or not), from the page's offset table."""
        page = self._page(page_number, what)
        if page[0] != _PAGE_DATA:
            raise DataFormatError(
                f"{what}: page {page_number} is not a data page (type {page[0]:#04x}); the file is corrupt",
                path=self.path,
            )
        n_rows = _u16(page, 12)
        if not 0 <= row < n_rows or 14 + 2 * n_rows > PAGE_SIZE:
            raise DataFormatError(
                f"{what}: row {row} not on page {page_number} (it holds {n_rows}); the file is corrupt",
                path=self.path,
            )
        start = _u16(page, 14 + 2 * row) & _OFFSET_MASK
        end = PAGE_SIZE if row == 0 else _u16(page, 14 + 2 * (row - 1)) & _OFFSET_MASK
        if not 14 + 2 * n_rows <= start < end <= PAGE_SIZE:
            raise DataFormatError(
                f"{what}: row {row} of page {page_number} spans bytes {start}-{end}, outside the page's "
                "data area; the file is corrupt",
                path=self.path,
            )
        base = page_number * PAGE_SIZE
        return base + start, base + end

    def _row(self, page_number: int, row: int, what: str) -> bytes:
        """The bytes of one row (deleted or not)."""
        start, end = self.row_span(page_number, row, what)
        return self._raw[start:end]

    # -- table definitions ----------------------------------------------------------------
    def _tdef_bytes(self, first: int, name: str) -> bytes:
        what = f"table definition of {name!r}"
        page = self._page(first, what)
        if page[0] != _PAGE_TDEF:
            raise DataFormatError(
                f"{what}: page {first} is not a table definition (type {page[0]:#04x}); the file is "
                "corrupt or not an Access database",
                path=self.path,
            )
        buf = bytearray(page)
        seen = {first}
        nxt = _u32(page, 4)
        while nxt:
            if nxt in seen:
                raise DataFormatError(f"{what}: its page chain loops at page {nxt}; the file is corrupt",
                                      path=self.path)
            seen.add(nxt)
            page = self._page(nxt, what)
            if page[0] != _PAGE_TDEF:
                raise DataFormatError(f"{what}: continuation page {nxt} is not a table definition; the "
                                      "file is corrupt", path=self.path)
            buf += page[8:]
            nxt = _u32(page, 4)
        return bytes(buf)

    def table(self, name: str) -> JetTable:
        """The definition of table ``name`` (case-sensitive, as Access stores it)."""
        catalog = self.table_pages()
        if name not in catalog:
            raise DataFormatError(
                f"no table {name!r} in this database; it holds {sorted(catalog)}", path=self.path
            )
        return self._table_at(catalog[name], name)

    def _table_at(self, tdef_page: int, name: str) -> JetTable:
        buf = self._tdef_bytes(tdef_page, name)
        what = f"table definition of {name!r} (page {tdef_page})"
        if len(buf) < 63:
            raise DataFormatError(f"{what} is truncated", path=self.path)
        n_rows = _u32(buf, 16)
        n_var = _u16(buf, 43)
        n_cols = _u16(buf, 45)
        n_real_idx = _u32(buf, 51)
        usage = (_u24(buf, 56), int(buf[55]))
        pos = 63 + 12 * n_real_idx
        if n_cols == 0 or n_cols > 4096 or pos + 25 * n_cols > len(buf):
            raise DataFormatError(f"{what}: {n_cols} columns and {n_real_idx} indexes do not fit in it; "
                                  "the file is corrupt", path=self.path)
        entries = [buf[pos + 25 * i: pos + 25 * (i + 1)] for i in range(n_cols)]
        pos += 25 * n_cols
        names = []
        for i in range(n_cols):
            if pos + 2 > len(buf) or pos + 2 + _u16(buf, pos) > len(buf):
                raise DataFormatError(f"{what}: column name {i} runs past its end; the file is corrupt",
                                      path=self.path)
            length = _u16(buf, pos)
            names.append(decode_jet4_text(buf[pos + 2:pos + 2 + length]))
            pos += 2 + length
        columns = [
            JetColumn(name=names[i], type=e[0], number=_u16(e, 5), var_index=_u16(e, 7),
                      fixed_offset=_u16(e, 21), length=_u16(e, 23), fixed=bool(e[15] & 0x01))
            for i, e in enumerate(entries)
        ]
        for col in columns:
            if col.fixed and col.fixed_offset + col.length > PAGE_SIZE:
                raise DataFormatError(
                    f"{what}: column {col.name!r} claims bytes {col.fixed_offset}-"
                    f"{col.fixed_offset + col.length} of a row, more than a page holds; the file is corrupt",
                    path=self.path,
                )
        columns.sort(key=lambda c: c.number)
        return JetTable(name=name, tdef_page=tdef_page, n_rows=n_rows, n_var_columns=n_var,
                        columns=tuple(columns), usage_map=usage)

    def table_pages(self) -> dict[str, int]:
        """User and system table names -> their table-definition page, from ``MSysObjects``."""
        if self._catalog is None:
            catalog = self._table_at(_CATALOG_TDEF_PAGE, "MSysObjects")
            kinds = {c.name: c.type for c in catalog.columns}
            for name, expected in (("Id", (LONG,)), ("Type", (INT, LONG)), ("Name", (TEXT,))):
                if kinds.get(name) not in expected:
                    raise DataFormatError(
                        f"the catalog (MSysObjects) has no {name} column of the expected type (found "
                        f"{kinds.get(name)!r}); the file is corrupt or not an Access database",
                        path=self.path,
                    )
            rows = self._read(catalog, ("Id", "Name", "Type"))
            found: dict[str, int] = {}
            for obj_id, name, kind in zip(rows["Id"], rows["Name"], rows["Type"], strict=True):
                if kind is None or name is None or obj_id is None or pd.isna(kind) or pd.isna(obj_id):
                    continue
                if int(kind) & 0x7FFF == 1:  # a local table
                    found[str(name)] = int(obj_id) & 0x00FFFFFF
            self._catalog = found
        return self._catalog

    def table_names(self) -> list[str]:
        """Names of the user tables (``MSys*`` system tables left out)."""
        return sorted(n for n in self.table_pages() if not n.startswith("MSys"))

    # -- data pages -----------------------------------------------------------------------
    def _data_pages(self, table: JetTable) -> np.ndarray:
        """The table's data pages, in page order, from its usage map."""
        map_page, map_row = table.usage_map
        umap = self._row(map_page, map_row, f"usage map of table {table.name!r}")
        if not umap:
            raise DataFormatError(f"usage map of table {table.name!r} is empty; the file is corrupt",
                                  path=self.path)
        if umap[0] == 0:
            if len(umap) < 5:
                raise DataFormatError(f"usage map of table {table.name!r} is truncated", path=self.path)
            bits = np.unpackbits(np.frombuffer(umap, np.uint8, offset=5), bitorder="little")
            pages = _u32(umap, 1) + np.flatnonzero(bits)
        elif umap[0] == 1:
            per_map_page = (PAGE_SIZE - 4) * 8
            parts = []
            for i in range((len(umap) - 1) // 4):
                bitmap_page = _u32(umap, 1 + 4 * i)
                if bitmap_page == 0:
                    continue
                page = self._page(bitmap_page, f"usage bitmap of table {table.name!r}")
                if page[0] != _PAGE_USAGE_MAP:
                    raise DataFormatError(f"usage bitmap page {bitmap_page} of table {table.name!r} has type "
                                          f"{page[0]:#04x}; the file is corrupt", path=self.path)
                bits = np.unpackbits(np.frombuffer(page, np.uint8, offset=4), bitorder="little")
                parts.append(i * per_map_page + np.flatnonzero(bits))
            pages = np.concatenate(parts) if parts else np.zeros(0, np.int64)
        else:
            raise DataFormatError(f"usage map of table {table.name!r} has unknown type {umap[0]}; the "
                                  "file is corrupt", path=self.path)
        pages = pages.astype(np.int64)
        past = pages[pages >= self.n_pages]
        if past.size:
            raise DataFormatError(
                f"table {table.name!r} lists data page {int(past[0])}, past the end of the file "
                f"({self.n_pages} pages): the file is truncated (copied while the test was running?)",
                path=self.path,
            )
        heads = self._pages[:, :8][pages]  # page headers only
        owner = heads[:, 4:8].copy().view("<u4").ravel()
        return pages[(heads[:, 0] == _PAGE_DATA) & (owner == table.tdef_page)]

    def live_rows(self, table: JetTable) -> tuple[np.ndarray, np.ndarray]:
        """Absolute [start, end) byte offsets in the file of every live row of ``table``, in storage
        order (deleted rows left out, moved rows at their new place)."""
        return self._row_spans(table, self._data_pages(table))

    def _row_spans(self, table: JetTable, pages: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Absolute [start, end) byte spans of the live rows of ``pages``, in storage order."""
        if pages.size == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        heads = self._pages[:, 12:14][pages]
        counts = heads[:, 0].astype(np.int64) | (heads[:, 1].astype(np.int64) << 8)
        if int(counts.max()) > (PAGE_SIZE - 14) // 2:
            bad = int(pages[int(np.argmax(counts))])
            raise DataFormatError(f"table {table.name!r}: data page {bad} claims {int(counts.max())} rows; "
                                  "the file is corrupt", path=self.path)
        width = max(int(counts.max()), 1)
        table_bytes = self._pages[:, 14:14 + 2 * width][pages]
        offsets = table_bytes.view("<u2").astype(np.int64)
        live = np.arange(width)[None, :] < counts[:, None]
        starts = offsets & _OFFSET_MASK
        # A row ends where the one before it in the offset table starts (row 0 at the page end).
        ends = np.concatenate([np.full((len(pages), 1), PAGE_SIZE), starts[:, :-1]], axis=1)
        deleted = (offsets & _DELETED_ROW) != 0
        overflow = ((offsets & _OVERFLOW_ROW) != 0) & ~deleted & live
        floor = 14 + 2 * counts[:, None]
        bad = live & ~deleted & ~((starts >= floor) & (starts < ends) & (ends <= PAGE_SIZE))  # rows we read
        if bad.any():
            p, r = np.argwhere(bad)[0]
            raise DataFormatError(
                f"table {table.name!r}: row {int(r)} of data page {int(pages[p])} has offsets "
                f"{int(starts[p, r])}-{int(ends[p, r])}, outside the page's data area; the file is corrupt",
                path=self.path,
            )
        keep = live & ~deleted
        base = (pages * PAGE_SIZE)[:, None]
        abs_starts, abs_ends = (base + starts)[keep], (base + ends)[keep]
        if overflow.any():
            # A row that grew past its page was moved; its slot holds [row][3-byte page] of the new
            # place, and the new place is flagged deleted so that a scan meets the row once.
            for k in np.flatnonzero(overflow[keep]).tolist():
                if abs_ends[k] - abs_starts[k] < 4:
                    raise DataFormatError(f"table {table.name!r}: a moved row's pointer is "
                                          f"{int(abs_ends[k] - abs_starts[k])} bytes (4 expected); the file "
                                          "is corrupt", path=self.path)
                abs_starts[k], abs_ends[k] = self._follow_overflow(table, int(abs_starts[k]))
        return abs_starts, abs_ends

    def _follow_overflow(self, table: JetTable, pointer_at: int) -> tuple[int, int]:
        """Absolute [start, end) of the row an overflow pointer at byte ``pointer_at`` leads to."""
        seen: set[int] = set()
        what = f"moved row of table {table.name!r}"
        while True:
            if pointer_at in seen or len(seen) > 16:
                raise DataFormatError(f"{what}: its overflow pointers loop; the file is corrupt", path=self.path)
            seen.add(pointer_at)
            row, page_number = self._raw[pointer_at], _u24(self._raw, pointer_at + 1)
            start, end = self.row_span(page_number, row, what)  # validates the page, the row and its span
            word = _u16(self._page(page_number, what), 14 + 2 * row)
            if word & _OVERFLOW_ROW and not word & _DELETED_ROW:  # moved again: follow on
                pointer_at = start
                continue
            return start, end

    # -- rows -> columns ------------------------------------------------------------------
    def read_table(self, name: str, columns: tuple[str, ...] | None = None, *,
                   single_as_decimal: bool = False) -> pd.DataFrame:
        """All live rows of table ``name`` as a DataFrame in storage order.

        Integer columns come back as int64 (float64 with NaN where a value is
        null), Single/Double/Money as float64, Boolean as int64 0/1, DateTime as
        float64 OLE Automation days, text and memo as ``str`` (None for null):
        the values that ``mdb-export`` prints, read without a text round trip.
        Single (float32) values are widened exactly (0.1 -> 0.10000000149...);
        ``single_as_decimal=True`` gives instead the shortest decimal that
        rounds to the same float32 (0.1), for fields a person typed in.
        """
        table = self.table(name)
        data = self._read(table, columns, single_as_decimal=single_as_decimal)
        return pd.DataFrame(data, columns=list(data), copy=False)  # one block per column: no 2-D stacking

    def _read(self, table: JetTable, wanted: tuple[str, ...] | None, *,
              single_as_decimal: bool = False) -> dict[str, np.ndarray | list]:
        cols = [c for c in table.columns if wanted is None or c.name in wanted]
        missing = set(wanted or ()) - {c.name for c in cols}
        if missing:
            raise DataFormatError(f"table {table.name!r} has no column(s) {sorted(missing)}", path=self.path)
        starts, ends = self.live_rows(table)
        buf = np.frombuffer(self._raw, np.uint8)
        n = len(starts)
        if n and int((ends - starts).min()) < 2:
            raise DataFormatError(f"table {table.name!r}: a row is shorter than its column count",
                                  path=self.path)
        row_cols = (buf[starts].astype(np.int64) | (buf[starts + 1].astype(np.int64) << 8)) if n else starts
        mask_bytes = (row_cols + 7) // 8
        mask_start = ends - mask_bytes
        if n and bool((mask_start < starts + 2).any()):
            raise DataFormatError(f"table {table.name!r}: a row's null mask overlaps its column count; the "
                                  "file is corrupt", path=self.path)
        if table.n_var_columns:
            var_pos = mask_start - 2
            if n and bool((var_pos < starts + 2).any()):
                raise DataFormatError(f"table {table.name!r}: a row has no room for its variable-column "
                                      "count; the file is corrupt", path=self.path)
            row_var = (buf[var_pos].astype(np.int64) | (buf[var_pos + 1].astype(np.int64) << 8)) if n else starts
        else:
            row_var = np.zeros(n, np.int64)
        row_fixed = row_cols - row_var
        fixed_rank = {c.number: k for k, c in enumerate(c for c in table.columns if c.fixed)}
        # One gather of every row's fixed area; each fixed column is then a slice of it.
        width = 2 + max((c.fixed_offset + c.length for c in cols if c.fixed), default=0)
        width = min(width, int((ends - starts).max()) if n else 2)  # never wider than the longest row
        block = self._row_block(buf, starts, width)
        room = mask_start - starts  # bytes before the null mask: where fixed data may lie
        # Likewise every row's null mask (bytes past a shorter row's mask are never looked at).
        masks = self._row_block(buf, mask_start, int(mask_bytes.max()) if n else 1)
        out: dict[str, np.ndarray | list] = {}
        for col in cols:
            byte, bit = divmod(col.number, 8)
            bits = ((masks[:, byte] >> bit) & 1).astype(bool) if byte < masks.shape[1] else np.zeros(n, bool)
            if n and byte >= int(mask_bytes.min()):
                bits &= byte < mask_bytes
            if col.type == BOOL:
                out[col.name] = bits.astype(np.int64)
            elif col.fixed:
                present = bits & (fixed_rank[col.number] < row_fixed)
                values = self._fixed_values(table, col, block, room, present)
                if single_as_decimal and col.type == FLOAT and isinstance(values, np.ndarray):
                    values = np.array([float(str(np.float32(v))) for v in values.tolist()], np.float64)
                out[col.name] = values
            else:
                present = bits & (col.var_index < row_var)
                out[col.name] = self._var_values(table, col, buf, starts, mask_start, row_var, present)
        return out

    @staticmethod
    def _row_block(buf: np.ndarray, starts: np.ndarray, width: int) -> np.ndarray:
        """``width`` bytes from each row start, one row per line (zero-padded past the end of the file)."""
        if len(buf) < width:
            buf = np.concatenate([buf, np.zeros(width - len(buf), np.uint8)])
        windows = np.lib.stride_tricks.sliding_window_view(buf, width)
        last = len(buf) - width
        block = windows[np.minimum(starts, last)]
        for i in np.flatnonzero(starts > last).tolist():
            tail = buf[int(starts[i]):]
            block[i] = np.concatenate([tail, np.zeros(width - len(tail), np.uint8)])
        return block

    def _fixed_values(self, table: JetTable, col: JetColumn, block: np.ndarray, room: np.ndarray,
                      present: np.ndarray) -> np.ndarray | list:
        """One fixed column from ``block`` (row i's bytes from its start, one row per line); ``room``:
        each row's bytes before its null mask."""
        lo = 2 + col.fixed_offset
        if col.type == GUID:
            return [self._guid(bytes(block[i, lo:lo + 16])) if p and r >= lo + 16 else None
                    for i, (p, r) in enumerate(zip(present.tolist(), room.tolist(), strict=True))]
        dtype = _FIXED_DTYPES.get(col.type)
        if dtype is None:
            raise JetUnsupportedError(f"column {col.name!r} of table {table.name!r} has type {col.type:#04x}",
                                      path=self.path)
        size = np.dtype(dtype).itemsize
        if lo + size > block.shape[1]:  # past the end of every row: null everywhere, or damage
            if bool(present.any()):
                row = int(np.flatnonzero(present)[0])
                raise DataFormatError(f"table {table.name!r}, row {row}: column {col.name!r} runs past the "
                                      "row's end; the file is corrupt", path=self.path)
            return np.full(len(present), np.nan)
        outside = present & (room < lo + size)
        if bool(outside.any()):
            row = int(np.flatnonzero(outside)[0])
            raise DataFormatError(f"table {table.name!r}, row {row}: column {col.name!r} runs past the row's "
                                  "end; the file is corrupt", path=self.path)
        # A strided typed view of the rows' bytes at this offset (no byte-wise copy).
        field = np.dtype({"names": ["v"], "formats": [dtype], "offsets": [lo], "itemsize": block.shape[1]})
        values = block.view(field)[:, 0]["v"]
        if col.type == MONEY:
            values = values / 10_000.0
        everywhere = bool(present.all())
        if col.type in _INTEGER_TYPES and everywhere:
            return values.astype(np.int64)
        with np.errstate(invalid="ignore"):  # stored NaN payloads (signalling NaNs) widen quietly
            values = values.astype(np.float64)  # a copy: the result owns its memory
        return values if everywhere else np.where(present, values, np.nan)

    def _var_values(self, table: JetTable, col: JetColumn, buf: np.ndarray, starts: np.ndarray,
                    mask_start: np.ndarray, row_var: np.ndarray, present: np.ndarray) -> list:
        if col.type not in (TEXT, MEMO, BINARY, OLE):
            raise JetUnsupportedError(f"column {col.name!r} of table {table.name!r} has type {col.type:#04x}",
                                      path=self.path)
        values: list = []
        for i in range(len(starts)):
            if not present[i]:
                values.append(None)
                continue
            s, var_table = int(starts[i]), int(mask_start[i]) - 2
            lo_pos = var_table - 2 * (col.var_index + 1)
            hi_pos = lo_pos - 2
            if hi_pos < s + 2:
                raise DataFormatError(f"table {table.name!r}, row {i}: its variable-column table does not "
                                      "fit; the file is corrupt", path=self.path)
            lo = s + int(buf[lo_pos]) + 256 * int(buf[lo_pos + 1])
            hi = s + int(buf[hi_pos]) + 256 * int(buf[hi_pos + 1])
            if not s + 2 <= lo <= hi <= hi_pos:
                raise DataFormatError(f"table {table.name!r}, row {i}: column {col.name!r} has offsets "
                                      f"{lo - s}-{hi - s}, outside the row; the file is corrupt",
                                      path=self.path)
            raw = bytes(buf[lo:hi])
            if col.type == TEXT:
                values.append(decode_jet4_text(raw))
            elif col.type == MEMO:
                values.append(decode_jet4_text(self._long_value(raw, table, col)))
            elif col.type == BINARY:
                values.append(raw)
            else:  # OLE objects: bytes, as stored
                values.append(self._long_value(raw, table, col))
        return values

    def _long_value(self, head: bytes, table: JetTable, col: JetColumn) -> bytes:
        """A memo/OLE value: inline, on one LVAL row, or on a chain of LVAL rows."""
        what = f"column {col.name!r} of table {table.name!r}"
        if len(head) < 12:
            raise DataFormatError(f"{what}: a long-value header is {len(head)} bytes (12 expected); the file "
                                  "is corrupt", path=self.path)
        word = _u32(head, 0)
        length, kind = word & 0x3FFFFFFF, word & 0xC0000000
        if kind == 0x80000000:
            return head[12:12 + length]
        row, page = head[4], _u24(head, 5)
        if kind == 0x40000000:
            return self._row(page, row, what)[:length]
        parts: list[bytes] = []
        seen: set[tuple[int, int]] = set()
        got = 0
        while got < length:
            if (page, row) in seen:
                raise DataFormatError(f"{what}: a long-value chain loops; the file is corrupt", path=self.path)
            seen.add((page, row))
            chunk = self._row(page, row, what)
            if len(chunk) < 4:
                raise DataFormatError(f"{what}: a long-value chain row is truncated", path=self.path)
            parts.append(chunk[4:])
            got += len(chunk) - 4
            row, page = chunk[0], _u24(chunk, 1)
            if page == 0 and got < length:
                raise DataFormatError(f"{what}: a long-value chain ends early", path=self.path)
        return b"".join(parts)[:length]

    @staticmethod
    def _guid(raw: bytes) -> str:
        a, b, c = struct.unpack_from("<IHH", raw)
        rest = raw[8:].hex().upper()
        return f"{{{a:08X}-{b:04X}-{c:04X}-{rest[:4]}-{rest[4:]}}}"
