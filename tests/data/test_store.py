import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pandas as pd
import pytest

from voltlab.data import CellMetadata, CyclingData, Store, cycle_summary
from voltlab.data.validation import finalize_timeseries
from voltlab.errors import DuplicateDataError, MissingFileError, StoreError


@pytest.fixture
def cell(tiny_cycles):
    return CyclingData(finalize_timeseries(tiny_cycles), CellMetadata("cell-a", content_sha256="ab" * 32))


def test_add_load_and_query_round_trip(tmp_path, cell):
    st = Store(tmp_path / "s")
    assert st.add(cell) == "cell-a"
    back = st.load("cell-a")
    pd.testing.assert_frame_equal(back.timeseries, cell.timeseries)
    assert back.metadata == cell.metadata
    q = st.query("SELECT cell_id, count(*) AS n FROM timeseries GROUP BY cell_id")
    assert q.to_dict("records") == [{"cell_id": "cell-a", "n": len(cell.timeseries)}]
    cyc = st.query("SELECT cycle_count, discharge_capacity_ah FROM cycles ORDER BY cycle_count")
    np.testing.assert_allclose(cyc["discharge_capacity_ah"], cycle_summary(cell)["discharge_capacity_ah"])
    meta = st.query("SELECT cell_id, n_rows, n_cycles FROM cells")
    assert meta.to_dict("records") == [{"cell_id": "cell-a", "n_rows": len(cell.timeseries), "n_cycles": 5}]


def test_numeric_looking_cell_ids_stay_text(tmp_path, cell):
    st = Store(tmp_path / "s")
    st.add(CyclingData(cell.timeseries, CellMetadata("001")))
    assert st.query("SELECT DISTINCT cell_id FROM timeseries")["cell_id"].tolist() == ["001"]


def test_reingest_is_detected_by_content_hash(tmp_path, cell):
    st = Store(tmp_path / "s")
    st.add(cell)
    renamed = CyclingData(cell.timeseries, CellMetadata("other-name", content_sha256=cell.metadata.content_sha256))
    with pytest.raises(DuplicateDataError, match="already in the store as cell 'cell-a'"):
        st.add(renamed)
    assert st.add(renamed, on_duplicate="skip") is None
    assert st.cell_ids() == ["cell-a"]
    with pytest.raises(DuplicateDataError, match="cell id 'cell-a' already exists"):
        st.add(CyclingData(cell.timeseries, CellMetadata("cell-a", content_sha256="cd" * 32)))


def test_replace_and_remove(tmp_path, cell):
    st = Store(tmp_path / "s")
    st.add(cell)
    shorter = CyclingData(cell.timeseries.iloc[:50], cell.metadata)
    st.add(shorter, on_duplicate="replace")
    assert st.load("cell-a").n_rows == 50
    st.remove("cell-a")
    assert len(st) == 0
    assert st.query("SELECT count(*) AS n FROM timeseries")["n"].tolist() == [0]
    with pytest.raises(StoreError, match="no cell 'cell-a'.*empty"):
        st.load("cell-a")


def test_streamed_chunks_give_the_same_summary_as_one_table(tmp_path, cell):
    st = Store(tmp_path / "s")
    ts = cell.timeseries
    chunks = [ts.iloc[k : k + 37] for k in range(0, len(ts), 37)]  # cuts through cycles
    st.add_stream(CellMetadata("streamed"), iter(chunks))
    st.add(CyclingData(ts, CellMetadata("whole")))
    a, b = st.summary("streamed"), st.summary("whole")
    pd.testing.assert_frame_equal(a, b)
    assert st.load("streamed").n_rows == len(ts)


def test_stream_ending_in_empty_chunks_and_one_chunk_stream_summarise_like_one_table(tmp_path, cell):
    st = Store(tmp_path / "s")
    ts = cell.timeseries
    empty = ts.iloc[:0]
    st.add_stream(CellMetadata("tail"), iter([ts.iloc[:150], ts.iloc[150:], empty, empty]))
    st.add_stream(CellMetadata("one"), iter([empty, ts]))
    st.add(CyclingData(ts, CellMetadata("whole")))
    for name in ("tail", "one"):
        pd.testing.assert_frame_equal(st.summary(name), st.summary("whole"))
    assert len(st.summary("whole")) == 5
    with pytest.raises(Exception, match="no data rows to store"):
        st.add_stream(CellMetadata("none"), iter([empty, empty]))


def test_parquet_codec_follows_the_table_size(tmp_path, cell, monkeypatch):
    """Small tables skip zstd's per-column cost (LZ4 time series, uncompressed summary); large ones are zstd."""
    import pyarrow.parquet as pq

    from voltlab.data import store as store_module

    def codecs(root, cell_id):
        folder = root / "cells" / f"cell_id={cell_id}"
        return {f: pq.ParquetFile(folder / f"{f}.parquet").metadata.row_group(0).column(0).compression
                for f in ("timeseries", "summary", "metadata")}

    st = Store(tmp_path / "s")
    st.add(cell)
    assert codecs(tmp_path / "s", "cell-a") == {"timeseries": "LZ4", "summary": "UNCOMPRESSED",
                                                 "metadata": "UNCOMPRESSED"}
    monkeypatch.setattr(store_module, "ZSTD_MIN_ROWS", 5)  # the summary has 5 cycles, the metadata 1 row
    st.add(CyclingData(cell.timeseries, CellMetadata("big")))
    assert codecs(tmp_path / "s", "big") == {"timeseries": "ZSTD", "summary": "ZSTD", "metadata": "UNCOMPRESSED"}
    pd.testing.assert_frame_equal(st.load("big").timeseries, st.load("cell-a").timeseries)
    pd.testing.assert_frame_equal(st.summary("big"), st.summary("cell-a"))
    # The summary's retention reference travels with it, whatever the codec.
    for name in ("big", "cell-a"):
        assert st.summary(name).attrs == {"reference_cycle": 1, "soh_reference": "discharge capacity of cycle 1"}


def test_adding_a_cell_does_not_stat_every_stored_cell(tmp_path, cell, monkeypatch):
    """Ingest stays linear: the duplicate check lists the cells folder but stats none of the stored cells
    (a stat per cell per add made 3,000 adds quadratic), and still sees cells another writer added."""
    st = Store(tmp_path / "s")
    for k in range(40):
        st.add(CyclingData(cell.timeseries, CellMetadata(f"c{k:02d}", content_sha256=f"{k:064x}")))
    Store(tmp_path / "s").add(CyclingData(cell.timeseries, CellMetadata("other-writer", content_sha256="f" * 64)))
    assert st.find_hash("f" * 64) == "other-writer"
    stats: list[str] = []
    real_stat = os.stat

    def counting(path, *args, **kwargs):
        stats.append(os.fspath(path))
        return real_stat(path, *args, **kwargs)

    monkeypatch.setattr(os, "stat", counting)
    st.add(CyclingData(cell.timeseries, CellMetadata("new", content_sha256="e" * 64)))
    cells = os.fspath(tmp_path / "s" / "cells")
    stored = [p for p in stats if p.startswith(cells) and "cell_id=new" not in p and p != cells]
    assert stored == [], stored[:5]
    monkeypatch.setattr(os, "stat", real_stat)
    assert len(st) == 42 and st.find_hash("e" * 64) == "new"
    st.remove("c00")
    assert st.find_hash(f"{0:064x}") is None and len(st) == 41


def test_chunks_out_of_order_are_rejected_and_leave_nothing(tmp_path, cell):
    st = Store(tmp_path / "s")
    ts = cell.timeseries
    with pytest.raises(Exception, match="pass chunks in test order"):
        st.add_stream(CellMetadata("bad"), iter([ts.iloc[100:], ts.iloc[:100]]))
    assert st.cell_ids() == []
    assert list((tmp_path / "s" / ".staging").iterdir()) == []


def test_store_guards(tmp_path):
    with pytest.raises(MissingFileError, match="no voltlab store here"):
        Store(tmp_path / "nope", create=False)
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("x")
    with pytest.raises(StoreError, match="not empty and is not a voltlab store"):
        Store(other)
    st = Store(tmp_path / "s")
    with pytest.raises(StoreError, match="query failed"):
        st.query("SELECT nope FROM nothing")


_KILL_SCRIPT = textwrap.dedent(
    """
    import sys
    import numpy as np, pandas as pd
    from voltlab.data import CellMetadata, CyclingData, Store
    from voltlab.data.validation import finalize_timeseries

    st = Store(sys.argv[1])
    n = 200_000
    t = np.arange(n, dtype=float)
    base = pd.DataFrame({
        "test_time_second": t,
        "voltage_volt": 3.5 + 0.5 * np.sin(t / 500),
        "current_ampere": np.where((t // 1000) % 2 == 0, 1.0, -1.0),
        "cycle_count": (t // 2000).astype(int) + 1,
    })
    ts = finalize_timeseries(base)
    for k in range(200):
        st.add(CyclingData(ts, CellMetadata(f"cell{k:03d}", content_sha256=f"{k:064x}")))
        print(f"done cell{k:03d}", flush=True)
    """
)


def test_sigkill_during_ingest_leaves_a_readable_complete_store(tmp_path):
    script = tmp_path / "ingest.py"
    script.write_text(_KILL_SCRIPT)
    root = tmp_path / "store"
    proc = subprocess.Popen(
        [sys.executable, str(script), str(root)], stdout=subprocess.PIPE, text=True, env={**os.environ}
    )
    done = []
    deadline = time.monotonic() + 120
    assert proc.stdout is not None
    while len(done) < 3 and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        done.append(line.split()[1])
    # Kill at some point inside the next cell's write.
    time.sleep(0.15)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert len(done) >= 3, "the ingest script did not get going"

    st = Store(root, create=False)
    ids = st.cell_ids()
    assert set(done) <= set(ids)  # every cell reported done is there
    for cid in ids:  # every visible cell is whole
        data = st.load(cid)
        assert data.n_rows == 200_000
        assert len(st.summary(cid)) == 100
        info = json.loads((root / "cells" / f"cell_id={cid}" / "metadata.json").read_text())
        assert info["ingest"]["n_rows"] == 200_000
    counts = st.query("SELECT cell_id, count(*) AS n FROM timeseries GROUP BY cell_id")
    assert (counts["n"] == 200_000).all() and len(counts) == len(ids)
    # The next writer cleans the interrupted staging area and can add more.
    st.add(CyclingData(st.load(ids[0]).timeseries, CellMetadata("after-crash")))
    assert list((root / ".staging").iterdir()) == []
    assert "after-crash" in st.cell_ids()


def test_ingest_a_folder(tmp_path, samples):
    """A folder stands for the exports under it: companions read with their data file, stray files and
    documents skipped (not failed), hidden files left alone; an explicitly named stray file still fails."""
    import shutil

    lab = tmp_path / "lab"
    (lab / "pec").mkdir(parents=True)
    (lab / ".cache").mkdir()
    for name in ("FastCharge_000025_CH8.csv", "FastCharge_000025_CH8_Metadata.csv"):
        shutil.copy(samples / "arbin" / name, lab / name)
    shutil.copy(samples / "pec" / "pec.csv", lab / "pec" / "pec.csv")
    (lab / "README.md").write_text("Columns: Test_Time, Voltage, Current, Charge_Capacity\n")
    (lab / "notes.dat").write_text("bought 20 cells on Monday\n")
    (lab / ".cache" / "junk.csv").write_text("x\n")
    from voltlab.data.store import expand_folders

    assert [f.relative_to(lab).as_posix() for f in expand_folders([lab])] == [
        "FastCharge_000025_CH8.csv", "FastCharge_000025_CH8_Metadata.csv", "notes.dat", "pec/pec.csv"]
    store = Store(tmp_path / "store")
    report = store.ingest([lab], on_duplicate="skip")
    assert report.failed == []
    assert sorted(report.added) == ["FastCharge_000025_CH8", "pec"]
    assert dict(report.skipped) == {
        str(lab / "FastCharge_000025_CH8_Metadata.csv"): "companion of FastCharge_000025_CH8.csv (read with it)",
        str(lab / "notes.dat"): "not a cycler export (format not recognised)",
    }
    # The companion's contents reached the cell's metadata through its data file.
    meta = store.metadata("FastCharge_000025_CH8")
    assert meta.protocol == "2017-05-12_TESTS\\20170512-4_4C-80PER_4_4C.SDU"
    assert meta.extra["item_id"] == "EL150800453116"
    again = Store(tmp_path / "other").ingest([lab / "notes.dat"])
    assert [p for p, _ in again.failed] == [str(lab / "notes.dat")]


def _two_test_res(samples, out):
    """The Arbin sample with its rows after Data_Point 5000 relabelled Test_ID 2 (as if a second test)."""
    import struct

    from voltlab.data.readers._jet import JetDatabase

    src = samples / "arbin" / "20160805_test001_45_cc_01.res"
    db = JetDatabase(src)
    table = db.table("Channel_Normal_Table")
    cols = {c.name: c for c in table.columns}
    raw = bytearray(src.read_bytes())
    for start in db.live_rows(table)[0].tolist():
        if struct.unpack_from("<i", raw, start + 2 + cols["Data_Point"].fixed_offset)[0] > 5000:
            struct.pack_into("<i", raw, start + 2 + cols["Test_ID"].fixed_offset, 2)
    out.write_bytes(bytes(raw))
    return out


def test_ingest_keeps_every_test_of_a_multi_test_res(tmp_path, samples):
    """Nothing is lost: each test of a .res becomes a cell; a re-run adds none and skips both."""
    from voltlab.data.readers import read_cycler_file

    path = _two_test_res(samples, tmp_path / "two_tests.res")
    first = read_cycler_file(path)
    assert first.metadata.extra["other_test_ids"] == [2]
    assert first.metadata.extra["source_part"] == "test_id=1" and len(first.timeseries) == 5000
    store = Store(tmp_path / "store")
    report = store.ingest([path], on_duplicate="skip")
    assert report.failed == []
    assert sorted(report.added) == ["two_tests", "two_tests-test2"]
    assert report.rows == 10_261
    second = store.load("two_tests-test2")
    assert len(second.timeseries) == 5261 and int(second.timeseries["data_point"].min()) == 5001
    assert second.metadata.extra["source_part"] == "test_id=2"
    # A re-run sees every test stored and does not read the file again.
    again = store.ingest([path], on_duplicate="skip")
    assert again.added == [] and again.skipped == [(str(path), "already ingested as two_tests, two_tests-test2")]
    assert store.cells_of_file(first.metadata.content_sha256) == ["two_tests", "two_tests-test2"]
    # The whole file is not mistaken for one of its tests, nor the other way round.
    assert store.find_hash(first.metadata.content_sha256) is None
    assert store.find_hash(first.metadata.content_sha256, "test_id=2") == "two_tests-test2"
    # With one test removed, the file counts as not stored: a re-run adds that test back, and only it.
    store.remove("two_tests-test2")
    assert store.cells_of_file(first.metadata.content_sha256) == []
    back = store.ingest([path], on_duplicate="skip")
    assert back.added == ["two_tests-test2"] and back.skipped == [(f"{path} [test_id=1]", "duplicate")]


def test_multi_test_res_is_decoded_once_per_ingest(tmp_path, samples, monkeypatch):
    """Every test of a multi-test .res comes from one decoding of its tables, and equals a separate read."""
    from voltlab.data.readers import arbin, read_cycler_file
    from voltlab.data.readers._jet import JetDatabase

    path = _two_test_res(samples, tmp_path / "two_tests.res")
    alone = read_cycler_file(path, test_id=2)
    decoded: list[str] = []
    original = JetDatabase.read_table

    def counting(self, name, **kw):
        decoded.append(name)
        return original(self, name, **kw)

    monkeypatch.setattr(JetDatabase, "read_table", counting)
    store = Store(tmp_path / "store")
    report = store.ingest([path], on_files=lambda n: decoded.append(f"files={n}"))
    assert sorted(report.added) == ["two_tests", "two_tests-test2"]
    assert decoded[0] == "files=1"
    assert decoded.count("Channel_Normal_Table") == 1 and decoded.count("Global_Table") == 1
    assert arbin._SHARED_TABLES.get() is None  # the decoded tables are released after the file
    second = store.load("two_tests-test2")
    pd.testing.assert_frame_equal(second.timeseries, alone.timeseries, check_dtype=False)
    assert second.metadata.extra["source_part"] == "test_id=2"
    assert {k: v for k, v in second.metadata.extra.items() if k != "ingest"} == {
        k: v for k, v in alone.metadata.extra.items() if k != "ingest"}


def test_cell_stored_before_tests_were_split_is_completed(tmp_path, samples):
    """A store holding only the first test of a multi-test .res (no source_part, as stored before each
    test became a cell) gets the other tests on a re-run; the first is not stored twice."""
    path = _two_test_res(samples, tmp_path / "two_tests.res")
    store = Store(tmp_path / "store")
    store.ingest([path])
    store.remove("two_tests-test2")
    meta_file = tmp_path / "store" / "cells"
    meta_file = next(d for d in meta_file.iterdir() if d.name.endswith("two_tests")) / "metadata.json"
    info = json.loads(meta_file.read_text())
    for key in ("source_part", "test_ids_in_file"):
        del info["metadata"]["extra"][key]
    meta_file.write_text(json.dumps(info))
    legacy = Store(tmp_path / "store")
    sha = legacy.metadata("two_tests").content_sha256
    assert legacy.find_hash(sha) == "two_tests" and legacy.cells_of_file(sha) == []
    report = legacy.ingest([path], on_duplicate="skip")
    assert report.added == ["two_tests-test2"]
    assert report.skipped == [(f"{path} [test_id=1]", "duplicate")]
    assert legacy.cells_of_file(sha) == ["two_tests", "two_tests-test2"]
    assert legacy.ingest([path], on_duplicate="skip").added == []
