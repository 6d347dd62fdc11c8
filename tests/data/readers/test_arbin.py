"""Arbin readers (.res via the built-in Jet reader and mdbtools, CSV exports, MITS XLSX) on the real samples.

Expected numbers are raw values read off the files themselves: for the .res
file from ``mdb-export 20160805_test001_45_cc_01.res Channel_Normal_Table``
(mdbtools 1.0), for the CSVs from the text.
"""

from __future__ import annotations

import io
import shutil
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from voltlab.data.readers import read_cycler_file
from voltlab.data.readers.arbin import (
    ArbinCsvReader,
    ArbinResReader,
    ArbinXlsxReader,
    _aux_columns,
    ole_to_unix,
)
from voltlab.errors import DataFormatError, DependencyError, SchemaError

RES = "20160805_test001_45_cc_01.res"
FAST = "FastCharge_000025_CH8.csv"
TC = "2017-05-09_test-TC-contact_CH33.csv"
MITS = "sample_data_arbin.csv"

FUZZ = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
FUZZ_RES = settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

TIGHT = 1e-12  # relative tolerance for values copied from the raw text (same float parse)


def _arbin(samples: Path, name: str) -> Path:
    return samples / "arbin" / name


def _unix(text: str) -> float:
    return datetime.strptime(text, "%m/%d/%Y %H:%M:%S.%f").replace(tzinfo=UTC).timestamp()


@lru_cache(maxsize=4)
def _xlsx_bytes(csv_path: str, split_at: int | None = None, sheet: str = "Channel_1-008") -> bytes:
    """An MITS-style XLSX holding the rows of the MITS CSV sample (optionally over two sheets)."""
    raw = pd.read_csv(csv_path, encoding="utf-8-sig")
    buf = io.BytesIO()
    with pd.ExcelWriter(buf, engine="openpyxl") as xw:
        pd.DataFrame({"Item": ["Arbin MITS export"]}).to_excel(xw, sheet_name="Global_Info", index=False)
        if split_at is None:
            raw.to_excel(xw, sheet_name=sheet, index=False)
        else:
            raw.iloc[:split_at].to_excel(xw, sheet_name=sheet, index=False)
            raw.iloc[split_at:].to_excel(xw, sheet_name=f"{sheet}_2", index=False)
            raw.iloc[:3].to_excel(xw, sheet_name="Channel_1-009", index=False)
        raw.iloc[:1, :3].to_excel(xw, sheet_name="Statistics_1-008", index=False)
    return buf.getvalue()


# ------------------------------------------------------------------------------------------
# .res (MS Access): voltlab's Jet reader, mdbtools where it cannot decode a file
# ------------------------------------------------------------------------------------------

SINGLE = 1e-7  # float32 columns: mdb-export prints 8 significant digits of the stored float32


def _f32(printed: float) -> float:
    """The stored float32 that mdb-export prints as ``printed``, widened exactly."""
    return float(np.float32(printed))


@pytest.fixture
def res_data(samples: Path):
    return ArbinResReader.read(_arbin(samples, RES))


def test_res_rows_cycles_and_first_row(res_data) -> None:
    ts = res_data.timeseries
    assert len(ts) == 10_261
    assert res_data.cycles == list(range(1, 19))
    assert ts["step_index"].nunique() == 14
    first = ts.iloc[0]
    # Raw first row: 1,1,300.0104819316021,...,42587.6815162037,1,1,0,0,3.0976174,...
    assert first["test_time_second"] == pytest.approx(300.0104819316021, rel=TIGHT)
    assert first["voltage_volt"] == _f32(3.0976174)
    assert first["current_ampere"] == 0.0
    assert first["unix_time_second"] == pytest.approx((42587.6815162037 - 25569.0) * 86400.0, abs=1e-3)
    assert datetime.fromtimestamp(first["unix_time_second"], UTC).date().isoformat() == "2016-08-05"
    assert ts["data_point"].is_monotonic_increasing


def test_res_discharge_row_is_negative_raw_value(res_data) -> None:
    ts = res_data.timeseries
    # Raw Data_Point 1501: Step 3, Cycle 2, Current -0.00015230193 A, Voltage 0.63554448 V.
    row = ts.loc[ts["data_point"] == 1501].iloc[0]
    assert row["current_ampere"] == _f32(-0.00015230193)
    assert row["voltage_volt"] == _f32(0.63554448)
    assert (row["cycle_count"], row["step_index"]) == (2, 3)
    assert ts["current_ampere"].min() < 0 < ts["current_ampere"].max()


def test_res_capacity_at_end_of_cycle_2(res_data) -> None:
    ts = res_data.timeseries
    c2 = ts[ts["cycle_count"] == 2]
    # Raw cycle 2: max Discharge_Capacity 0.001567475110416 Ah (last row, Data_Point 2283), first
    # row 1.348756e-09 Ah; Charge_Capacity max 0.001699563704792 Ah, first row 0. The canonical
    # column starts each cycle at zero, so it ends at max - first (tolerance 1e-12 Ah).
    assert int(c2["data_point"].iloc[-1]) == 2283
    assert c2["discharging_capacity_ah"].iloc[0] == 0.0
    assert c2["discharging_capacity_ah"].iloc[-1] == pytest.approx(0.001567475110416 - 1.348756e-09, abs=1e-12)
    assert c2["discharging_capacity_ah"].max() == pytest.approx(0.001567475110416, abs=2e-9)
    assert c2["charging_capacity_ah"].iloc[-1] == pytest.approx(0.001699563704792, abs=1e-12)
    assert np.all(np.diff(c2["discharging_capacity_ah"].to_numpy()) >= 0)


def test_res_metadata_from_global_table(res_data) -> None:
    meta = res_data.metadata
    assert meta.source_format == "arbin_res"
    assert meta.protocol == "SiNODE\\24h_rest_3cyc_C20_100cyc_c10_MR.sdu"
    extra = meta.extra
    assert extra["channel_number"] == 96
    assert extra["test_name"] == "20160805_sic006_45_cc_01-01-003"
    # Single fields typed into MITS come back as their shortest decimal (mdb-export: 0.00085283798).
    assert extra["mass"] == 0.000852838
    assert extra["specific_capacity"] == 3.579
    assert extra["serial_number"] == "176075"  # a Text column, kept as text
    assert extra["comments"] is None  # empty text, as mdb-export shows it
    assert extra["res_engine"] == "native"
    assert extra["start_unix_time_second"] == pytest.approx((42587.67804398148 - 25569.0) * 86400.0, abs=1e-3)
    assert extra["software_version"] == "4.32 Build: 130904"


def test_res_timezone_option(samples: Path) -> None:
    local = ArbinResReader.read(_arbin(samples, RES), timezone="Europe/Oslo").timeseries
    # 2016-08-05 in Oslo is CEST (UTC+2): the same wall clock is 7200 s earlier in UTC.
    assert local["unix_time_second"].iloc[0] == pytest.approx((42587.6815162037 - 25569.0) * 86400.0 - 7200.0, abs=1e-3)


def test_res_unknown_test_id(samples: Path) -> None:
    with pytest.raises(DataFormatError, match=r"test_id=7 not in this file"):
        ArbinResReader.read(_arbin(samples, RES), test_id=7)


def test_res_engines_agree_on_every_column(samples: Path, mdb_export: str) -> None:
    """The built-in reader and mdb-export give the same rows, columns and values."""
    native = ArbinResReader.read(_arbin(samples, RES), engine="native")
    mdb = ArbinResReader.read(_arbin(samples, RES), engine="mdbtools")
    assert mdb.metadata.extra["res_engine"] == "mdbtools"
    a, b = native.timeseries, mdb.timeseries
    assert list(a.columns) == list(b.columns) and len(a) == len(b) == 10_261
    for col in a.columns:
        x, y = a[col].to_numpy(float), b[col].to_numpy(float)
        assert np.allclose(x, y, rtol=SINGLE, atol=1e-15, equal_nan=True), col
    # Doubles are not rounded by either path's parsing beyond mdb-export's 16 digits.
    assert np.allclose(a["test_time_second"], b["test_time_second"], rtol=1e-15, atol=0)
    assert native.cycles == mdb.cycles
    assert native.metadata.protocol == mdb.metadata.protocol


def test_res_reads_without_mdbtools(samples: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert shutil.which("mdb-export") is None
    data = ArbinResReader.read(_arbin(samples, RES))
    assert len(data.timeseries) == 10_261
    assert data.metadata.extra["res_engine"] == "native"
    with pytest.raises(DependencyError) as info:
        ArbinResReader.read(_arbin(samples, RES), engine="mdbtools")
    msg = str(info.value)
    assert "mdbtools" in msg
    assert "apt-get install mdbtools" in msg
    assert "brew install mdbtools" in msg
    assert RES in msg
    assert isinstance(info.value, ImportError)


def test_res_unknown_engine_is_named(samples: Path) -> None:
    with pytest.raises(DataFormatError, match=r"engine='jet' is not one of \['auto', 'native', 'mdbtools'\]"):
        ArbinResReader.read(_arbin(samples, RES), engine="jet")


def _as_jet3(samples: Path, tmp_path: Path) -> Path:
    """The sample with a Jet 3 (Access 97) version byte: a layout the built-in reader leaves to mdbtools."""
    raw = bytearray(_arbin(samples, RES).read_bytes())
    raw[0x14] = 0
    out = tmp_path / "jet3.res"
    out.write_bytes(bytes(raw))
    return out


def test_res_layout_outside_the_builtin_reader_falls_back_to_mdbtools(
    samples: Path, tmp_path: Path, mdb_export: str, monkeypatch
) -> None:
    path = _as_jet3(samples, tmp_path)
    with pytest.raises(DataFormatError, match=r"built-in \.res reader does not decode this file \(Jet 3 .*"
                       r"engine='mdbtools'"):
        ArbinResReader.read(path, engine="native")
    # auto hands the file to mdb-export, which then reads it as Jet 3 (2048-byte pages) and fails on the
    # Jet 4 body: its own message proves it ran.
    with pytest.raises(DataFormatError, match=r"mdb-export failed on table 'Channel_Normal_Table'") as info:
        ArbinResReader.read(path, timeout_s=10)
    assert "jet3.res" in str(info.value)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(DependencyError, match=r"Jet 3.*apt-get install mdbtools"):
        ArbinResReader.read(path)


@pytest.mark.parametrize("engine", ["native", "mdbtools"])
def test_res_non_arbin_tables_named(samples: Path, tmp_path: Path, mdb_export: str, engine: str) -> None:
    # A Jet header on a body that holds no database: both engines must fail cleanly.
    bad = tmp_path / "fake.res"
    bad.write_bytes(_arbin(samples, RES).read_bytes()[:4096])
    with pytest.raises(DataFormatError) as info:
        ArbinResReader.read(bad, timeout_s=10, engine=engine)
    assert "fake.res" in str(info.value)


def test_res_truncated_copy_is_named(samples: Path, tmp_path: Path) -> None:
    """A .res copied while the test was still writing: the missing pages are named."""
    cut = tmp_path / "cut.res"
    cut.write_bytes(_arbin(samples, RES).read_bytes()[: 300 * 4096])
    # (The catalog's last data page here is 367 of 399, so it is the first table found cut.)
    with pytest.raises(DataFormatError, match=r"table 'MSysObjects' lists data page 367, past the end of the "
                       r"file \(300 pages\): the file is truncated") as info:
        ArbinResReader.read(cut, engine="native")
    assert "cut.res" in str(info.value)


@pytest.mark.parametrize("pidfd", [True, False], ids=["pidfd", "polling"])
def test_res_hung_mdb_export_is_killed(samples: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       pidfd: bool) -> None:
    """An mdb-export that never finishes is killed at timeout_s and named; a quick one returns at once."""
    import time

    from voltlab.data.readers import arbin

    fake = tmp_path / "bin" / "mdb-export"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\nexec sleep 30\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}:/usr/bin:/bin")
    if not pidfd:
        monkeypatch.delattr(arbin.os, "pidfd_open", raising=False)
    t0 = time.monotonic()
    with pytest.raises(DataFormatError, match=r"mdb-export did not finish within 0\.3 s .*timeout_s=") as info:
        ArbinResReader.read(_arbin(samples, RES), timeout_s=0.3, engine="mdbtools")
    assert 0.3 <= time.monotonic() - t0 < 5.0
    assert RES in str(info.value)
    fake.write_text("#!/bin/sh\necho 'Data_Point,Test_Time'\nsleep 0.2\n")
    t0 = time.monotonic()
    out = arbin._run_mdb_export(str(fake), _arbin(samples, RES), "Channel_Normal_Table", 10.0)
    assert out.startswith(b"Data_Point,Test_Time")
    assert time.monotonic() - t0 < 0.2 + 0.15  # returns when the process exits, not a poll later


@pytest.mark.parametrize("op", ["truncate", "overwrite"])
def test_res_fuzz(samples: Path, tmp_path: Path, mdb_export: str, reader_robust, op: str) -> None:
    raw = _arbin(samples, RES).read_bytes()

    @FUZZ_RES
    @given(pos=st.integers(0, len(raw) - 1), junk=st.binary(min_size=1, max_size=4096))
    def run(pos: int, junk: bytes) -> None:
        data = raw[:pos] if op == "truncate" else raw[:pos] + junk + raw[pos + len(junk):]
        reader_robust(lambda p: ArbinResReader.read(p, timeout_s=10, engine="mdbtools"), data,
                      tmp_path / "fuzz.res")

    run()


FUZZ_JET = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.mark.parametrize("op", ["truncate", "overwrite", "page_header"])
def test_res_fuzz_builtin_reader(samples: Path, tmp_path: Path, reader_robust, op: str) -> None:
    """Damage anywhere, and in the page headers and row-offset tables the reader trusts most."""
    raw = _arbin(samples, RES).read_bytes()
    n_pages = len(raw) // 4096

    @FUZZ_JET
    @given(pos=st.integers(0, len(raw) - 1), junk=st.binary(min_size=1, max_size=64),
           page=st.integers(0, n_pages - 1), at=st.integers(0, 63))
    def run(pos: int, junk: bytes, page: int, at: int) -> None:
        if op == "truncate":
            data = raw[:pos]
        elif op == "overwrite":
            data = raw[:pos] + junk + raw[pos + len(junk):]
        else:
            start = page * 4096 + at
            data = raw[:start] + junk + raw[start + len(junk):]
        reader_robust(lambda p: ArbinResReader.read(p, engine="native"), data, tmp_path / "fuzz.res")

    run()


def test_res_fuzz_empty(tmp_path: Path, reader_robust) -> None:
    reader_robust(ArbinResReader.read, b"", tmp_path / "empty.res")


# ------------------------------------------------------------------------------------------
# CSV: SQL dump (beep) and MITS "Export to CSV"
# ------------------------------------------------------------------------------------------


def test_csv_fastcharge_rest_only(samples: Path) -> None:
    data = ArbinCsvReader.read(_arbin(samples, FAST))
    ts = data.timeseries
    assert len(ts) == 248
    assert (ts["current_ampere"] == 0.0).all()
    assert set(ts["cycle_count"]) == {0}  # the raw Cycle_Index is 0.0 in every row
    assert set(ts["step_index"]) == {0}
    first = ts.iloc[0]
    # Raw: 0,10.0024,1494645243.4715,10.0024,0.0,0.0,0.0,3.3011441,...,30.109268
    assert first["test_time_second"] == pytest.approx(10.0024, rel=TIGHT)
    assert first["voltage_volt"] == pytest.approx(3.3011441, rel=TIGHT)
    assert first["unix_time_second"] == pytest.approx(1494645243.4715, abs=1e-6)
    assert first["temperature_celsius"] == pytest.approx(30.109268, rel=TIGHT)
    # Near-duplicate timestamps (30.0044 s and 30.0045 s) are both kept, in file order.
    assert ts["test_time_second"].iloc[2:4].tolist() == pytest.approx([30.0044, 30.0045], rel=TIGHT)
    assert ts["test_time_second"].iloc[-1] == pytest.approx(1800.01, abs=1e-3)


def test_csv_fastcharge_companion_metadata(samples: Path) -> None:
    meta = ArbinCsvReader.read(_arbin(samples, FAST)).metadata
    assert meta.protocol == "2017-05-12_TESTS\\20170512-4_4C-80PER_4_4C.SDU"
    assert meta.extra["iv_ch_id"] == 7
    assert meta.extra["item_id"] == "EL150800453116"
    assert meta.extra["start_unix_time_second"] == 1494645214.0
    assert meta.extra["layout"] == "sql_dump"


def test_csv_tc_contact_nan_cycle_index(samples: Path) -> None:
    data = ArbinCsvReader.read(_arbin(samples, TC))
    ts = data.timeseries
    assert len(ts) == 287
    # Cycle_Index and Step_Index are empty in every raw row: cycles inferred (charge only -> 1).
    assert set(ts["cycle_count"]) == {1}
    assert "step_index" not in ts.columns
    assert data.metadata.extra["cycle_count_inferred"] is True
    assert ts["current_ampere"].iloc[0] == pytest.approx(6.600444793701172, rel=TIGHT)
    assert ts["current_ampere"].iloc[-1] == pytest.approx(1.1000289916992188, rel=TIGHT)
    # Charge_Capacity runs 0.0051783411763608456 -> 0.6082700490951538 Ah in the raw file; the
    # canonical column starts the cycle at zero.
    assert ts["charging_capacity_ah"].iloc[-1] == pytest.approx(0.6082700490951538 - 0.0051783411763608456, rel=1e-12)
    assert ts["unix_time_second"].iloc[0] == pytest.approx(1494377253.17, abs=1e-6)
    assert data.metadata.protocol == "20170509-6C_1C_36CV.sdu"
    assert data.metadata.extra["iv_ch_id"] == 32  # CamelCase header in this metadata file


def test_csv_mits_export(samples: Path) -> None:
    data = ArbinCsvReader.read(_arbin(samples, MITS))
    ts = data.timeseries
    assert len(ts) == 13
    assert ts["step_index"].tolist() == [1] * 10 + [2, 3, 3]  # raw Step Index column
    first, last = ts.iloc[0], ts.iloc[-1]
    # Raw first row: 1,\t09/20/2024 08:32:34.558,30.0005,30.0005,1,1,...,3.534595,...,24.66422
    assert first["test_time_second"] == pytest.approx(30.0005, rel=TIGHT)
    assert first["voltage_volt"] == pytest.approx(3.534595, rel=TIGHT)
    assert first["unix_time_second"] == pytest.approx(_unix("09/20/2024 08:32:34.558"), abs=1e-3)
    assert first["temperature_celsius"] == pytest.approx(24.66422, rel=TIGHT)
    # Raw last row: 13,...,301.214,0.5173,1,3,...,2.650138,3.599601,9.539439395,0.000400839,...
    assert last["current_ampere"] == pytest.approx(2.650138, rel=TIGHT)
    assert last["power_watt"] == pytest.approx(9.539439395, rel=TIGHT)
    assert last["charging_capacity_ah"] == pytest.approx(0.000400839, rel=TIGHT)
    assert last["step_time_second"] == pytest.approx(0.5173, rel=TIGHT)
    assert data.metadata.extra["layout"] == "mits_export"


def test_csv_mits_units_in_milli(samples: Path, tmp_path: Path) -> None:
    raw = pd.read_csv(_arbin(samples, MITS), encoding="utf-8-sig")
    raw["Current (A)"] *= 1000.0
    raw["Voltage (V)"] *= 1000.0
    raw["Charge Capacity (Ah)"] *= 1000.0
    raw = raw.rename(columns={"Current (A)": "Current (mA)", "Voltage (V)": "Voltage (mV)",
                              "Charge Capacity (Ah)": "Charge Capacity (mAh)"})
    p = tmp_path / "milli.csv"
    raw.to_csv(p, index=False)
    ts = ArbinCsvReader.read(p).timeseries
    assert ts["current_ampere"].iloc[-1] == pytest.approx(2.650138, rel=1e-9)
    assert ts["voltage_volt"].iloc[0] == pytest.approx(3.534595, rel=1e-9)
    assert ts["charging_capacity_ah"].iloc[-1] == pytest.approx(0.000400839, rel=1e-9)


def test_csv_unknown_unit_is_named(samples: Path, tmp_path: Path) -> None:
    text = _arbin(samples, MITS).read_text(encoding="utf-8-sig").replace("Current (A)", "Current (kA)")
    p = tmp_path / "odd_unit.csv"
    p.write_text(text)
    with pytest.raises(DataFormatError, match=r"unit 'ka' not understood") as info:
        ArbinCsvReader.read(p)
    assert info.value.column == "Current (kA)"


def test_csv_timezone_option(samples: Path) -> None:
    ts = ArbinCsvReader.read(_arbin(samples, MITS), timezone="America/New_York").timeseries
    # 2024-09-20 in New York is EDT (UTC-4).
    assert ts["unix_time_second"].iloc[0] == pytest.approx(_unix("09/20/2024 08:32:34.558") + 4 * 3600, abs=1e-3)


def test_csv_exact_duplicate_timestamp_kept(samples: Path, tmp_path: Path) -> None:
    lines = _arbin(samples, FAST).read_text().splitlines()
    p = tmp_path / "dup.csv"
    p.write_text("\n".join([*lines[:4], lines[3], *lines[4:]]) + "\n")
    ts = ArbinCsvReader.read(p).timeseries
    assert len(ts) == 249
    assert ts["test_time_second"].iloc[2] == ts["test_time_second"].iloc[3] == pytest.approx(30.0044)


def test_csv_metadata_file_given_instead_of_data(samples: Path) -> None:
    with pytest.raises(DataFormatError, match="companion metadata file") as info:
        ArbinCsvReader.read(_arbin(samples, "FastCharge_000025_CH8_Metadata.csv"))
    assert "FastCharge_000025_CH8_Metadata.csv" in str(info.value)


def test_csv_reader_rejects_other_vendor(samples: Path) -> None:
    p = samples / "maccor" / "sample_data_maccor.csv"
    with pytest.raises(DataFormatError, match="not an Arbin CSV export") as info:
        ArbinCsvReader.read(p)
    assert "sample_data_maccor.csv" in str(info.value)
    with pytest.raises(DataFormatError, match="binary"):
        ArbinCsvReader.read(_arbin(samples, RES))


def test_csv_missing_voltage_column(samples: Path, tmp_path: Path) -> None:
    raw = pd.read_csv(_arbin(samples, FAST)).drop(columns=["Voltage"]).assign(Potential=3.3)
    p = tmp_path / "novolt.csv"
    raw.to_csv(p, index=False)
    with pytest.raises(DataFormatError):
        ArbinCsvReader.read(p)


def test_schema_error_from_mapping() -> None:
    from voltlab.data.readers.arbin import arbin_columns_to_canonical

    with pytest.raises(SchemaError, match="voltage_volt"):
        arbin_columns_to_canonical(pd.DataFrame({"Test_Time": [1.0], "Current": [0.0]}), Path("x.csv"))


def _mutate(raw: bytes, op: str, pos: int, junk: bytes) -> bytes:
    pos = pos % (len(raw) + 1)
    if op == "truncate":
        return raw[:pos]
    if op == "overwrite":
        return raw[:pos] + junk + raw[pos + len(junk):]
    if op == "insert_line":
        nl = raw.find(b"\n", pos)
        cut = len(raw) if nl < 0 else nl + 1
        return raw[:cut] + junk.replace(b"\n", b" ") + b"\n" + raw[cut:]
    return b""


_OPS = st.sampled_from(["truncate", "overwrite", "insert_line", "empty"])


@pytest.mark.parametrize("name", [FAST, MITS, TC])
def test_csv_fuzz(samples: Path, tmp_path: Path, reader_robust, name: str) -> None:
    raw = _arbin(samples, name).read_bytes()[:12_000]

    @FUZZ
    @given(op=_OPS, pos=st.integers(0, 12_000), junk=st.binary(min_size=1, max_size=64))
    def run(op: str, pos: int, junk: bytes) -> None:
        reader_robust(ArbinCsvReader.read, _mutate(raw, op, pos, junk), tmp_path / "fuzz.csv")

    run()


# ------------------------------------------------------------------------------------------
# XLSX (MITS export): built from the MITS CSV sample
# ------------------------------------------------------------------------------------------


def test_xlsx_reads_identically_to_csv(samples: Path, tmp_path: Path) -> None:
    csv = _arbin(samples, MITS)
    p = tmp_path / "sample_data_arbin.xlsx"
    p.write_bytes(_xlsx_bytes(str(csv)))
    from_csv = ArbinCsvReader.read(csv).timeseries
    from_xlsx = ArbinXlsxReader.read(p)
    pd.testing.assert_frame_equal(from_xlsx.timeseries, from_csv, check_exact=False, rtol=1e-12)
    assert from_xlsx.metadata.extra["sheets"] == ["Channel_1-008"]
    assert from_xlsx.timeseries["voltage_volt"].iloc[0] == pytest.approx(3.534595, rel=TIGHT)


def test_xlsx_continuation_sheets_and_other_channels(samples: Path, tmp_path: Path) -> None:
    p = tmp_path / "split.xlsx"
    p.write_bytes(_xlsx_bytes(str(_arbin(samples, MITS)), split_at=6))
    data = ArbinXlsxReader.read(p)
    assert len(data.timeseries) == 13
    assert data.metadata.extra["sheets"] == ["Channel_1-008", "Channel_1-008_2"]
    assert data.metadata.extra["other_channel_sheets"] == ["Channel_1-009"]
    assert len(ArbinXlsxReader.read(p, sheet="Channel_1-009").timeseries) == 3


def test_xlsx_dash_sheet_name_detected(samples: Path, tmp_path: Path) -> None:
    p = tmp_path / "dash.xlsx"
    p.write_bytes(_xlsx_bytes(str(_arbin(samples, MITS)), sheet="Channel-1-008"))
    assert read_cycler_file(p).metadata.source_format == "arbin_xlsx"


def test_xlsx_without_channel_sheet(tmp_path: Path) -> None:
    p = tmp_path / "other.xlsx"
    pd.DataFrame({"a": [1]}).to_excel(p, sheet_name="record", index=False)
    assert ArbinXlsxReader.sniff(p, p.read_bytes()) == 0.0
    with pytest.raises(DataFormatError, match="no sheet named 'Channel_\\*'") as info:
        ArbinXlsxReader.read(p)
    assert "other.xlsx" in str(info.value)


def test_xlsx_fuzz(samples: Path, tmp_path: Path, reader_robust) -> None:
    raw = _xlsx_bytes(str(_arbin(samples, MITS)))

    @FUZZ
    @given(op=st.sampled_from(["truncate", "overwrite", "empty"]), pos=st.integers(0, len(raw)),
           junk=st.binary(min_size=1, max_size=64))
    def run(op: str, pos: int, junk: bytes) -> None:
        reader_robust(ArbinXlsxReader.read, _mutate(raw, op, pos, junk), tmp_path / "fuzz.xlsx")

    run()


# ------------------------------------------------------------------------------------------
# Detection by content
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "fmt"), [(FAST, "arbin_csv"), (TC, "arbin_csv"), (MITS, "arbin_csv")]
)
def test_detect_csv(samples: Path, name: str, fmt: str) -> None:
    assert read_cycler_file(_arbin(samples, name)).metadata.source_format == fmt


def test_detect_res_and_misleading_extensions(samples: Path, tmp_path: Path) -> None:
    assert read_cycler_file(_arbin(samples, RES)).metadata.source_format == "arbin_res"
    res_copy = tmp_path / "renamed.dat"
    shutil.copyfile(_arbin(samples, RES), res_copy)
    data = read_cycler_file(res_copy)
    assert data.metadata.source_format == "arbin_res"
    assert len(data.timeseries) == 10_261
    csv_copy = tmp_path / "renamed_mits.dat"
    shutil.copyfile(_arbin(samples, MITS), csv_copy)
    assert read_cycler_file(csv_copy).metadata.source_format == "arbin_csv"
    xlsx_copy = tmp_path / "renamed_xlsx.dat"
    xlsx_copy.write_bytes(_xlsx_bytes(str(_arbin(samples, MITS))))
    assert read_cycler_file(xlsx_copy).metadata.source_format == "arbin_xlsx"


def test_sniffers_say_no_to_other_vendors(samples: Path) -> None:
    from voltlab.data.readers.base import read_head

    others = [p for p in samples.rglob("*") if p.is_file() and p.suffix != ".md" and p.parent.name != "arbin"]
    assert others
    for p in others:
        head = read_head(p)
        for reader in (ArbinResReader, ArbinCsvReader, ArbinXlsxReader):
            assert reader.sniff(p, head) == 0.0, (reader.name, p.name)


# ------------------------------------------------------------------------------------------
# Helpers without sample files
# ------------------------------------------------------------------------------------------


def test_ole_to_unix() -> None:
    assert ole_to_unix(np.array([25569.0, 25570.25])).tolist() == [0.0, 86400.0 * 1.25]


def test_aux_table_pivot_uses_units() -> None:
    aux = pd.DataFrame({
        "Test_ID": [1] * 4, "Data_Point": [1, 1, 2, 2], "Auxiliary_Index": [0, 0, 0, 0],
        "Data_Type": [1, 0, 1, 0], "X": [25.0, 3.1, 25.5, 3.2],
    })
    aux_global = pd.DataFrame({
        "Channel_Index": [1, 1], "Auxiliary_Index": [0, 0], "Data_Type": [1, 0],
        "Nickname": ["T1", "V1"], "Unit": ["°C", "V"],
    })
    wide = _aux_columns(aux, aux_global)
    assert wide is not None
    assert wide.loc[2, "aux_temperature_1_celsius"] == 25.5
    assert wide.loc[1, "aux_0_1"] == 3.1


def test_res_switches_engine_mid_file(samples: Path, mdb_export: str, monkeypatch) -> None:
    """A table the built-in reader cannot decode is read by mdb-export; the tables read before are kept."""
    from voltlab.data.readers import _jet

    original = _jet.JetDatabase.read_table

    def picky(self, name, *args, **kwargs):
        if name == "Global_Table":
            raise _jet.JetUnsupportedError("column 'Comments' of table 'Global_Table' has type 0x10",
                                           path=self.path)
        return original(self, name, *args, **kwargs)

    monkeypatch.setattr(_jet.JetDatabase, "read_table", picky)
    data = ArbinResReader.read(_arbin(samples, RES))
    extra = data.metadata.extra
    assert extra["res_engine"] == "native+mdbtools"
    assert extra["res_tables_native"] == ["Channel_Normal_Table", "Auxiliary_Table"]
    assert extra["res_engine_fallback"] == "column 'Comments' of table 'Global_Table' has type 0x10"
    assert len(data.timeseries) == 10_261 and extra["test_name"] == "20160805_sic006_45_cc_01-01-003"
    assert extra["mass"] == pytest.approx(0.00085283798, rel=1e-9)  # as mdb-export prints it
