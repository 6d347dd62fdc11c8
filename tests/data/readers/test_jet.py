"""voltlab's Access (Jet 4) page reader on the real Arbin sample, against mdbtools where it is installed.

Edits of the sample's bytes exercise the layouts the sample itself does not
contain (a deleted row, a usage map on a bitmap page, a Jet 3 header).
"""

from __future__ import annotations

import io
import struct
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from voltlab.data.readers._jet import PAGE_SIZE, JetDatabase, JetUnsupportedError, decode_jet4_text
from voltlab.errors import DataFormatError

RES = "20160805_test001_45_cc_01.res"


@pytest.fixture
def res_path(samples: Path) -> Path:
    return samples / "arbin" / RES


def _mdb_table(exe: str, path: Path, table: str) -> pd.DataFrame:
    out = subprocess.run([exe, str(path), table], capture_output=True, check=True).stdout
    return pd.read_csv(io.BytesIO(out))


def test_catalog_lists_the_arbin_tables(res_path: Path) -> None:
    db = JetDatabase(res_path)
    names = db.table_names()
    assert len(names) == 14
    assert {"Channel_Normal_Table", "Global_Table", "Auxiliary_Table", "Event_Table"} <= set(names)
    assert not any(n.startswith("MSys") for n in names)
    table = db.table("Channel_Normal_Table")
    assert table.n_rows == 10_261
    assert [c.name for c in table.columns][:5] == ["Test_ID", "Data_Point", "Test_Time", "Step_Time", "DateTime"]
    assert all(c.fixed for c in table.columns) and table.n_var_columns == 0
    with pytest.raises(DataFormatError, match=r"no table 'Channel_Fast_Table' in this database; it holds \["):
        db.table("Channel_Fast_Table")


@pytest.mark.parametrize("table", ["Channel_Normal_Table", "Global_Table", "Event_Table", "Resume_Table",
                                   "Channel_Statistic_Table", "Version_Table"])
def test_every_table_equals_mdb_export(res_path: Path, mdb_export: str, table: str) -> None:
    ours = JetDatabase(res_path).read_table(table)
    ref = _mdb_table(mdb_export, res_path, table)
    assert list(ours.columns) == list(ref.columns)
    assert len(ours) == len(ref) > 0
    for col in ours.columns:
        a, b = ours[col], ref[col]
        if a.dtype.kind in "fi":
            assert np.allclose(a.to_numpy(float), b.to_numpy(float), rtol=1e-7, atol=0, equal_nan=True), col
        else:  # text: mdb-export prints '' and NULL alike; its CSV may turn digits into numbers
            mine = ["" if v is None else v for v in a]
            theirs = ["" if pd.isna(v) else str(v) for v in b]
            assert mine == theirs, col


def test_integer_and_text_values(res_path: Path) -> None:
    glob = JetDatabase(res_path).read_table("Global_Table", single_as_decimal=True)
    row = glob.iloc[0]
    assert row["Test_Name"] == "20160805_sic006_45_cc_01-01-003"
    assert row["Schedule_File_Name"] == "SiNODE\\24h_rest_3cyc_C20_100cyc_c10_MR.sdu"
    assert row["Channel_Number"] == 96 and glob["Channel_Number"].dtype == np.int64
    assert row["Log_ChanStat_Data_Flag"] == 1 and row["Log_Aux_Data_Flag"] == 0  # Booleans: null-mask bits
    assert row["MASS"] == 0.000852838 and row["Specific_Capacity"] == 3.579
    assert row["Comments"] == ""  # present but empty (not NULL)
    exact = JetDatabase(res_path).read_table("Global_Table")
    assert exact["Specific_Capacity"].iloc[0] == float(np.float32(3.579)) != 3.579


def test_decode_jet4_text() -> None:
    assert decode_jet4_text("Vmax_On_Cycle".encode("utf-16-le")) == "Vmax_On_Cycle"
    assert decode_jet4_text(b"\xff\xfeArbin") == "Arbin"  # compressed: one byte per character
    # A 0x00 switches to two-byte characters (here the euro sign, U+20AC) and back.
    assert decode_jet4_text(b"\xff\xfeAB\x00\xac\x20\x00C") == "AB\u20acC"
    assert decode_jet4_text(b"") == ""


def _channel_pages(path: Path) -> np.ndarray:
    db = JetDatabase(path)
    return db._data_pages(db.table("Channel_Normal_Table"))


def test_deleted_row_is_skipped(res_path: Path, tmp_path: Path, mdb_export: str) -> None:
    """A 0x8000-flagged (deleted) row is left out; mdbtools 1.0 reads the flag as 'lookup' and keeps it."""
    raw = bytearray(res_path.read_bytes())
    page = int(_channel_pages(res_path)[3])
    n_rows = struct.unpack_from("<H", raw, page * PAGE_SIZE + 12)[0]
    raw[page * PAGE_SIZE + 14 + 2 * 5 + 1] |= 0x80  # row 5 of that page: the 0x8000 deleted flag
    path = tmp_path / "deleted.res"
    path.write_bytes(bytes(raw))
    ours = JetDatabase(path).read_table("Channel_Normal_Table")
    full = JetDatabase(res_path).read_table("Channel_Normal_Table")
    assert n_rows > 5
    assert len(ours) == 10_260
    gone = set(full["Data_Point"]) - set(ours["Data_Point"])
    assert len(gone) == 1
    # It is the sixth row stored on that page.
    before = sum(int(struct.unpack_from("<H", raw, int(p) * PAGE_SIZE + 12)[0])
                 for p in _channel_pages(res_path)[:3])
    assert gone == {int(full["Data_Point"].iloc[before + 5])}
    assert len(_mdb_table(mdb_export, path, "Channel_Normal_Table")) == 10_261


def test_usage_map_on_a_bitmap_page_reads_the_same(res_path: Path, tmp_path: Path) -> None:
    """Large tables list their pages on separate bitmap pages (map type 1): same rows as the inline map."""
    db = JetDatabase(res_path)
    table = db.table("Channel_Normal_Table")
    start, end = db.row_span(*table.usage_map)
    raw = bytearray(res_path.read_bytes())
    bitmap_page = db.n_pages  # appended below
    pages = db._data_pages(table)
    bitmap = np.zeros((PAGE_SIZE - 4) * 8, np.uint8)
    bitmap[pages] = 1
    new_page = bytes([0x05, 0x01, 0, 0]) + np.packbits(bitmap, bitorder="little").tobytes()
    umap = bytes([0x01]) + struct.pack("<I", bitmap_page)
    row = umap + bytes(end - start - len(umap))
    raw[start:end] = row
    path = tmp_path / "map1.res"
    path.write_bytes(bytes(raw) + new_page)
    moved = JetDatabase(path)
    assert np.array_equal(moved._data_pages(moved.table("Channel_Normal_Table")), pages)
    pd.testing.assert_frame_equal(moved.read_table("Channel_Normal_Table"), db.read_table("Channel_Normal_Table"))


def test_jet3_and_short_files(res_path: Path, tmp_path: Path) -> None:
    raw = bytearray(res_path.read_bytes())
    raw[0x14] = 0
    (tmp_path / "jet3.mdb").write_bytes(bytes(raw))
    with pytest.raises(JetUnsupportedError, match="Jet 3"):
        JetDatabase(tmp_path / "jet3.mdb")
    (tmp_path / "short.res").write_bytes(bytes(raw[:5000]))
    with pytest.raises(DataFormatError, match=r"5000 bytes, too short for an Access database"):
        JetDatabase(tmp_path / "short.res")


FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def test_fuzz_only_named_errors(res_path: Path, tmp_path: Path) -> None:
    """Damaged pages give DataFormatError or JetUnsupportedError, never another exception or a hang."""
    raw = res_path.read_bytes()
    hot = [2, 30, 315] + [int(p) for p in _channel_pages(res_path)[:4]]  # catalog, TDEFs, data pages

    @FUZZ
    @given(page=st.sampled_from(hot) | st.integers(0, len(raw) // PAGE_SIZE - 1), at=st.integers(0, 200),
           junk=st.binary(min_size=1, max_size=16))
    def run(page: int, at: int, junk: bytes) -> None:
        start = page * PAGE_SIZE + at
        path = tmp_path / "fuzz.res"
        path.write_bytes(raw[:start] + junk + raw[start + len(junk):])
        try:
            db = JetDatabase(path)
            for name in ("Channel_Normal_Table", "Global_Table"):
                db.read_table(name)
        except (DataFormatError, JetUnsupportedError):
            pass

    run()


def test_moved_row_is_followed(res_path: Path, tmp_path: Path, mdb_export: str) -> None:
    """A row Access moved to another page (0x4000 slot pointing at a 0x8000-flagged copy) is read once.

    mdbtools 1.0 treats 0x4000 as 'deleted' and drops the row; the built-in reader follows it.
    """
    raw = bytearray(res_path.read_bytes())
    n_pages = len(raw) // PAGE_SIZE
    page = int(_channel_pages(res_path)[0])
    base = page * PAGE_SIZE
    start = struct.unpack_from("<H", raw, base + 14)[0] & 0x1FFF
    row_bytes = bytes(raw[base + start:base + PAGE_SIZE])  # row 0 ends at the page end
    # The new place: an appended data page of the same table holding the row, flagged deleted.
    new = bytearray(PAGE_SIZE)
    new[0], new[1] = 0x01, 0x01
    new[4:8] = raw[base + 4:base + 8]  # owner TDEF page
    new_start = PAGE_SIZE - len(row_bytes)
    struct.pack_into("<HH", new, 12, 1, new_start | 0x8000)
    new[new_start:] = row_bytes
    # The old slot: a pointer (row 0, page n_pages) flagged 0x4000.
    raw[base + start:base + start + 4] = bytes([0]) + n_pages.to_bytes(3, "little")
    struct.pack_into("<H", raw, base + 14, start | 0x4000)
    path = tmp_path / "moved.res"
    path.write_bytes(bytes(raw) + bytes(new))
    ours = JetDatabase(path).read_table("Channel_Normal_Table")
    pd.testing.assert_frame_equal(ours, JetDatabase(res_path).read_table("Channel_Normal_Table"))
    assert len(_mdb_table(mdb_export, path, "Channel_Normal_Table")) == 10_260  # mdbtools drops it


def test_damaged_column_offset_is_refused_not_allocated(res_path: Path, tmp_path: Path) -> None:
    """A table definition whose fixed offset points past any row is named at once; found by fuzzing,
    where the reader first sized a rows x 65 kB gather buffer from it."""
    raw = bytearray(res_path.read_bytes())
    tdef = JetDatabase(res_path).table_pages()["Channel_Normal_Table"] * PAGE_SIZE
    n_real_idx = struct.unpack_from("<I", raw, tdef + 51)[0]
    entry = tdef + 63 + 12 * n_real_idx + 25 * 2  # the third column entry (Test_Time)
    struct.pack_into("<H", raw, entry + 21, 61_000)
    path = tmp_path / "offset.res"
    path.write_bytes(bytes(raw))
    with pytest.raises(DataFormatError, match=r"column 'Test_Time' claims bytes 61000-61008 of a row, more "
                       r"than a page holds"):
        JetDatabase(path).read_table("Channel_Normal_Table")
