"""Neware readers (BTSDA CSV layouts, native .ndax via fastnda) against the real sample files.

Expected numbers are raw values copied from the CSV text (line numbers given
are 1-based lines of the file). For the binary .ndax they come from its
SOURCE.md (decoded independently with NewareNDA) and from TestInfo.xml.
"""

from __future__ import annotations

import io
import re
import shutil
import sys
import zipfile
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from voltlab.data.cycling import CyclingData
from voltlab.data.readers import read_cycler_file
from voltlab.data.readers.neware import NewareCsvReader, NewareNdaxReader, parse_duration
from voltlab.errors import DataFormatError, DependencyError, VoltlabError

UIO = "neware_uio.csv"
IFE = "nw_regular_export_ife_example.csv"
NDAX = "20260302_IFE_BTS85_2_9_8_1.ndax"

FUZZ = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
FUZZ_SLOW = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

TIGHT = 1e-12  # relative tolerance for numbers copied from the CSV text (same float parse)
CAP = 1e-10  # absolute tolerance (Ah) for sums of a few raw capacity values


def _nw(samples: Path, name: str) -> Path:
    return samples / "neware" / name


@lru_cache(maxsize=4)
def _read(path: str) -> CyclingData:
    cls = NewareNdaxReader if path.endswith(".ndax") else NewareCsvReader
    return cls.read(path)


def _utc(text: str) -> float:
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC).timestamp()


# ------------------------------------------------------------------------------------------
# Record-layer CSV (neware_uio.csv)
# ------------------------------------------------------------------------------------------


def test_uio_rows_cycles_first_and_last_row(samples: Path) -> None:
    data = _read(str(_nw(samples, UIO)))
    ts = data.timeseries
    assert len(ts) == 9065
    assert data.cycles == [1, 2, 3, 4]
    first, last = ts.iloc[0], ts.iloc[-1]
    # line 2: 1,1,1,Rest,00:00:00,00:00:00,0.00000000,2.9170,...,2022-05-18 16:27:52
    assert first["test_time_second"] == 0.0
    assert first["voltage_volt"] == pytest.approx(2.9170, rel=TIGHT)
    assert first["current_ampere"] == 0.0
    assert first["unix_time_second"] == pytest.approx(_utc("2022-05-18 16:27:52"), abs=1e-6)
    # last line: 9065,4,13,CC Chg,01:27:00,144:02:18,0.00099171,0.4251,0.00143796,...
    assert last["test_time_second"] == pytest.approx(144 * 3600 + 2 * 60 + 18, abs=1e-9)
    assert last["step_time_second"] == pytest.approx(87 * 60, abs=1e-9)
    assert last["voltage_volt"] == pytest.approx(0.4251, rel=TIGHT)
    assert last["current_ampere"] == pytest.approx(0.00099171, rel=TIGHT)
    assert last["cycle_count"] == 4
    assert last["step_index"] == 13
    assert last["step_type"] == "CC Chg"
    assert last["record_index"] == 9065
    assert data.metadata.source_format == "neware_csv"


def test_uio_discharge_row_is_negative_in_ampere(samples: Path) -> None:
    ts = _read(str(_nw(samples, UIO))).timeseries
    # line 724: 723,1,2,CC DChg,00:00:00,12:00:00,-0.00024865,2.8684,0.00000002,...
    row = ts.iloc[722]
    assert row["record_index"] == 723
    assert row["current_ampere"] == pytest.approx(-0.00024865, rel=TIGHT)
    assert row["voltage_volt"] == pytest.approx(2.8684, rel=TIGHT)
    assert row["test_time_second"] == pytest.approx(12 * 3600, abs=1e-9)
    kinds = ts.groupby("step_type")["current_ampere"].agg(["min", "max"])
    assert kinds.loc["CC DChg", "max"] < 0 < kinds.loc["CC Chg", "min"]
    assert kinds.loc["Rest", "min"] == kinds.loc["Rest", "max"] == 0.0


def test_uio_capacity_is_cumulative_within_cycle(samples: Path) -> None:
    ts = _read(str(_nw(samples, UIO))).timeseries
    per_cycle = ts.groupby("cycle_count")
    # Neware restarts DChg. Cap. at every step; cycle 1 has three discharge steps whose last
    # rows (lines 2045, 2232, 2400) read 0.00468031, 0.00028183 and 0.00012414 Ah.
    assert per_cycle["discharging_capacity_ah"].last()[1] == pytest.approx(
        0.00468031 + 0.00028183 + 0.00012414, abs=CAP
    )
    # one charge step in cycle 1, last row (line 3444) Chg. Cap. 0.00424934 Ah
    assert per_cycle["charging_capacity_ah"].last()[1] == pytest.approx(0.00424934, abs=CAP)
    # DChg. Energy(Wh) of the same three steps: 0.00084024 + 0.00001751 + 0.00000719
    assert per_cycle["discharging_energy_wh"].last()[1] == pytest.approx(
        0.00084024 + 0.00001751 + 0.00000719, abs=CAP
    )
    for _, g in per_cycle:
        for col in ("charging_capacity_ah", "discharging_capacity_ah"):
            v = g[col].to_numpy()
            assert v[0] == 0.0
            assert (np.diff(v) >= 0).all()


def test_uio_reads_mA_mV_mAh_units(samples: Path, tmp_path: Path) -> None:
    """The same records exported with mA/mV/mAh/mWh headers give the same canonical table."""
    raw = pd.read_csv(_nw(samples, UIO), nrows=3000, dtype=str)
    conv = raw.rename(columns={
        "Current(A)": "Current(mA)", "Voltage(V)": "Voltage(mV)", "Chg. Cap.(Ah)": "Chg. Cap.(mAh)",
        "DChg. Cap.(Ah)": "DChg. Cap.(mAh)", "DChg. Energy(Wh)": "DChg. Energy(mWh)",
    })
    for new, old in (("Current(mA)", "Current(A)"), ("Voltage(mV)", "Voltage(V)"),
                     ("Chg. Cap.(mAh)", "Chg. Cap.(Ah)"), ("DChg. Cap.(mAh)", "DChg. Cap.(Ah)"),
                     ("DChg. Energy(mWh)", "DChg. Energy(Wh)")):
        conv[new] = raw[old].astype(float) * 1000.0
    p_ref, p_conv = tmp_path / "ref.csv", tmp_path / "milli.csv"
    raw.to_csv(p_ref, index=False)
    conv.to_csv(p_conv, index=False)
    ref, got = NewareCsvReader.read(p_ref).timeseries, NewareCsvReader.read(p_conv).timeseries
    for col in ("voltage_volt", "current_ampere", "charging_capacity_ah", "discharging_capacity_ah",
                "discharging_energy_wh"):
        np.testing.assert_allclose(got[col], ref[col], rtol=1e-12, atol=1e-15)


def test_unsigned_export_is_signed_from_step_type(samples: Path, tmp_path: Path) -> None:
    raw = pd.read_csv(_nw(samples, UIO), nrows=1000, dtype=str)
    raw["Current(A)"] = raw["Current(A)"].str.lstrip("-")
    p = tmp_path / "unsigned.csv"
    raw.to_csv(p, index=False)
    data = NewareCsvReader.read(p)
    ts = data.timeseries
    dchg = ts["step_type"] == "CC DChg"
    assert dchg.any()
    assert (ts.loc[dchg, "current_ampere"] < 0).all()
    # line 724 again, now exported without the sign
    assert ts["current_ampere"].iloc[722] == pytest.approx(-0.00024865, rel=TIGHT)
    assert "negated" in data.metadata.extra["current_sign"]


def test_seconds_and_realtime_columns(tmp_path: Path) -> None:
    """Older BTSDA layout: plain-second step time, 'Realtime' dates, no total time."""
    text = (
        "Record ID,Cycle ID,Step ID,Status,Time,Realtime,Current(mA),Voltage(V),Capacity(mAh)\n"
        "1,1,1,Rest,0,2023-01-02 03:04:05,0,3.0000,0\n"
        "2,1,1,Rest,10,2023-01-02 03:04:15,0,3.0010,0\n"
        "3,1,2,CC_Chg,0,2023-01-02 03:04:15,100,3.1000,0\n"
        "4,1,2,CC_Chg,36,2023-01-02 03:04:51,100,3.2000,1.0\n"
        "5,1,3,CC_DChg,0,2023-01-02 03:04:51,-100,3.1000,0\n"
        "6,1,3,CC_DChg,18,2023-01-02 03:05:09,-100,3.0000,0.5\n"
    )
    p = tmp_path / "old.csv"
    p.write_text(text)
    ts = NewareCsvReader.read(p, timezone="Europe/Oslo").timeseries
    assert ts["test_time_second"].tolist() == [0.0, 10.0, 10.0, 46.0, 46.0, 64.0]
    assert ts["current_ampere"].tolist() == [0.0, 0.0, 0.1, 0.1, -0.1, -0.1]
    assert ts["charging_capacity_ah"].iloc[-1] == pytest.approx(0.001)
    assert ts["discharging_capacity_ah"].tolist() == pytest.approx([0, 0, 0, 0, 0, 0.0005])
    # 03:04:05 in Oslo (CET, UTC+1) is 02:04:05 UTC
    assert ts["unix_time_second"].iloc[0] == pytest.approx(_utc("2023-01-02 02:04:05"))


def test_parse_duration_formats() -> None:
    got = parse_duration(pd.Series(["00:00:00", "144:02:18", "1:02:03.250", "1-00:00:01", "12.5", "x"]))
    assert got[:5].tolist() == [0.0, 518538.0, 3723.25, 86401.0, 12.5]
    assert np.isnan(got[5])


# ------------------------------------------------------------------------------------------
# 3-layer CSV (nw_regular_export_ife_example.csv)
# ------------------------------------------------------------------------------------------


def _cycle_layer(path: Path) -> pd.DataFrame:
    """The cycle rows (lines starting with a digit), parsed independently of the reader."""
    lines = path.read_text().splitlines()
    header = lines[0].split(",")
    rows = [ln.split(",")[: len(header)] for ln in lines[3:] if re.match(r"^\d", ln)]
    return pd.DataFrame(rows, columns=header).astype({"Cycle Index": int, "Chg. Cap.(Ah)": float,
                                                      "DChg. Cap.(Ah)": float, "Chg. Energy(Wh)": float,
                                                      "DChg. Energy(Wh)": float})


def test_three_layer_records_and_carried_cycle_step(samples: Path) -> None:
    data = _read(str(_nw(samples, IFE)))
    ts = data.timeseries
    assert len(ts) == 9295
    assert data.cycles == list(range(1, 21))
    extra = data.metadata.extra
    assert extra["layout"].startswith("3-layer")
    assert extra["cycles_in_cycle_layer"] == 20
    assert extra["steps_in_step_layer"] == 81  # 80 step lines + step 1 on the first cycle line
    # line 5: ,,1,00:00:00,00:00:00,0.00000,4.3185,...,2026-03-06 12:37:25,0.00000,0.0000,26.61,...
    first = ts.iloc[0]
    assert first["voltage_volt"] == pytest.approx(4.3185, rel=TIGHT)
    assert first["temperature_celsius"] == pytest.approx(26.61, rel=TIGHT)
    assert first["unix_time_second"] == pytest.approx(_utc("2026-03-06 12:37:25"))
    assert (first["cycle_count"], first["step_index"], first["step_count"], first["step_type"]) == (1, 1, 1, "Rest")
    # line 181 is the step row ',4,4,CC DChg,...'; line 182 its first record
    # ',,175,00:00:00,00:08:11,-0.50000,4.3366,0.000000000,0.00000,2026-03-06 12:45:36,-2.16832,...'
    row = ts.iloc[174]
    assert row["record_index"] == 175
    assert row["current_ampere"] == pytest.approx(-0.5, rel=TIGHT)
    assert row["voltage_volt"] == pytest.approx(4.3366, rel=TIGHT)
    assert row["power_watt"] == pytest.approx(-2.16832, rel=TIGHT)
    assert row["test_time_second"] == pytest.approx(8 * 60 + 11)
    assert (row["cycle_count"], row["step_index"], row["step_count"], row["step_type"]) == (1, 4, 4, "CC DChg")
    # last line: ,,9295,00:05:00,27:55:43,...
    assert ts["test_time_second"].iloc[-1] == pytest.approx(27 * 3600 + 55 * 60 + 43)
    assert ts["step_count"].max() == 81


def test_three_layer_capacity_matches_cycle_layer(samples: Path) -> None:
    path = _nw(samples, IFE)
    ts = _read(str(path)).timeseries
    ends = ts.groupby("cycle_count").last()
    # line 263, the last record of cycle 1's discharge step, reads Capacity 0.330669612 Ah
    assert ends.loc[1, "discharging_capacity_ah"] == pytest.approx(0.330669612, abs=CAP)
    cyc = _cycle_layer(path).set_index("Cycle Index")
    assert list(cyc.index) == list(range(1, 21))
    # the cycle layer rounds to 5 decimals (Ah, Wh)
    np.testing.assert_allclose(ends["charging_capacity_ah"], cyc["Chg. Cap.(Ah)"], atol=6e-6)
    np.testing.assert_allclose(ends["discharging_capacity_ah"], cyc["DChg. Cap.(Ah)"], atol=6e-6)
    np.testing.assert_allclose(ends["charging_energy_wh"], cyc["Chg. Energy(Wh)"], atol=6e-6)
    np.testing.assert_allclose(ends["discharging_energy_wh"], cyc["DChg. Energy(Wh)"], atol=6e-6)
    signs = ts.groupby("step_type")["current_ampere"].agg(["min", "max"])
    assert signs.loc["CC DChg", "max"] < 0 < signs.loc["CC Chg", "min"]


def test_three_layer_timezone_option(samples: Path) -> None:
    ts = NewareCsvReader.read(_nw(samples, IFE), timezone="Europe/Oslo").timeseries
    # 12:37:25 CET = 11:37:25 UTC
    assert ts["unix_time_second"].iloc[0] == pytest.approx(_utc("2026-03-06 11:37:25"))


def test_record_before_any_cycle_row(tmp_path: Path) -> None:
    p = tmp_path / "bad3.csv"
    p.write_text("Cycle Index,Chg. Cap.(Ah)\n,Step Index,Step Number,Step Type\n"
                 ",,DataPoint,Time,Total Time,Current(A),Voltage(V)\n,,1,00:00:00,00:00:00,0,3.0\n")
    with pytest.raises(DataFormatError, match="before any cycle row") as info:
        NewareCsvReader.read(p)
    assert "bad3.csv" in str(info.value)


# ------------------------------------------------------------------------------------------
# .ndax via fastnda
# ------------------------------------------------------------------------------------------


def test_ndax_against_source_md(samples: Path) -> None:
    data = _read(str(_nw(samples, NDAX)))
    ts = data.timeseries
    # SOURCE.md (NewareNDA): 252,951 records, 1 cycle, 5 steps, statuses Control/CC_Chg/CV_Chg,
    # CC_Chg 1.66 to 119.7 mA, charge only
    assert len(ts) == 252_951
    assert data.cycles == [1]
    assert ts["step_count"].max() == 5
    assert set(ts["step_type"]) == {"Control", "CC_Chg", "CV_Chg"}
    cc = ts.loc[ts["step_type"] == "CC_Chg", "current_ampere"]
    assert cc.min() == pytest.approx(1.66e-3, abs=0.01e-3)
    assert cc.max() == pytest.approx(119.7e-3, abs=0.05e-3)
    assert (ts["current_ampere"] >= 0).all()
    assert (ts.loc[ts["step_type"] == "Control", "current_ampere"] == 0).all()
    assert ts["voltage_volt"].between(0.2, 4.75).all()
    assert ts["discharging_capacity_ah"].max() == 0.0
    # 1 s logging for about 3 days
    assert ts["test_time_second"].iloc[0] == 0.0
    assert ts["test_time_second"].iloc[-1] == pytest.approx(252_946.0)
    assert data.metadata.protocol == "LNMO-C_Formation_1Ah feb 2026.xml"


def test_ndax_time_and_capacity_units(samples: Path) -> None:
    data = _read(str(_nw(samples, NDAX)))
    ts = data.timeseries
    # TestInfo.xml StartTime="2026-02-27 11:17:33" is Oslo wall clock (CET); fastnda's unix
    # time is true UTC: 10:17:33 UTC (the first record lies within the same second)
    assert data.metadata.extra["start_time"] == "2026-02-27 11:17:33"
    assert ts["unix_time_second"].iloc[0] - _utc("2026-02-27 10:17:33") == pytest.approx(0.5, abs=0.5)
    # capacity in Ah: Coulomb counting of the current agrees with the charge counter (1 %)
    t, i = ts["test_time_second"].to_numpy(), ts["current_ampere"].to_numpy()
    counted = float(np.sum(i[1:] * np.diff(t))) / 3600.0
    assert ts["charging_capacity_ah"].iloc[-1] == pytest.approx(counted, rel=0.01)
    assert 1.0 < counted < 2.0  # a 1 Ah formation charge, in Ah not mAh


def test_ndax_missing_fastnda_is_a_dependency_error(samples: Path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "fastnda", None)
    with pytest.raises(DependencyError, match="fastnda"):
        NewareNdaxReader.read(_nw(samples, NDAX))


def test_ndax_rejects_other_files(samples: Path, tmp_path: Path) -> None:
    with pytest.raises(DataFormatError, match="not a ZIP") as info:
        NewareNdaxReader.read(_nw(samples, UIO))
    assert UIO in str(info.value)
    p = tmp_path / "other.ndax"
    with zipfile.ZipFile(p, "w") as zf:
        zf.writestr("hello.txt", "not neware")
    with pytest.raises(DataFormatError, match=r"data\.ndc"):
        NewareNdaxReader.read(p)


# ------------------------------------------------------------------------------------------
# Detection by content and wrong-format errors
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "fmt"), [(UIO, "neware_csv"), (IFE, "neware_csv"), (NDAX, "neware_ndax")])
def test_detection_by_content(samples: Path, name: str, fmt: str) -> None:
    assert read_cycler_file(_nw(samples, name)).metadata.source_format == fmt


@pytest.mark.parametrize(("name", "fmt"), [(IFE, "neware_csv"), (NDAX, "neware_ndax")])
def test_detection_with_misleading_extension(samples: Path, tmp_path: Path, name: str, fmt: str) -> None:
    p = tmp_path / "export.dat"
    shutil.copyfile(_nw(samples, name), p)
    data = read_cycler_file(p)
    assert data.metadata.source_format == fmt
    assert len(data.timeseries) == len(_read(str(_nw(samples, name))).timeseries)


def test_csv_reader_rejects_other_vendor(samples: Path) -> None:
    p = samples / "biologic" / "gcpl.issue_149.mpt"
    with pytest.raises(DataFormatError, match="not a Neware BTSDA CSV export") as info:
        NewareCsvReader.read(p)
    assert "gcpl.issue_149.mpt" in str(info.value)
    with pytest.raises(DataFormatError, match="binary"):
        NewareCsvReader.read(_nw(samples, NDAX))
    assert NewareCsvReader.sniff(p, p.read_bytes()[:65536]) == 0.0
    arbin = samples / "arbin" / "sample_data_arbin.csv"
    assert NewareCsvReader.sniff(arbin, arbin.read_bytes()) == 0.0


# ------------------------------------------------------------------------------------------
# Fuzzing: every failure is a VoltlabError naming the file, never a hang
# ------------------------------------------------------------------------------------------


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


@pytest.mark.parametrize("name", [UIO, IFE])
def test_csv_fuzz(samples: Path, tmp_path: Path, reader_robust, name: str) -> None:
    raw = _nw(samples, name).read_bytes()[:15_000]

    @FUZZ
    @given(op=_OPS, pos=st.integers(0, 15_000), junk=st.binary(min_size=1, max_size=64))
    def run(op: str, pos: int, junk: bytes) -> None:
        reader_robust(NewareCsvReader.read, _mutate(raw, op, pos, junk), tmp_path / "fuzz.csv")

    run()


def test_ndax_fuzz_file_bytes(samples: Path, tmp_path: Path, reader_robust) -> None:
    """Truncated or overwritten .ndax bytes: ZIP/CRC damage must become a VoltlabError."""
    raw = _nw(samples, NDAX).read_bytes()

    @FUZZ
    @given(op=st.sampled_from(["truncate", "overwrite", "empty"]), pos=st.integers(0, len(raw)),
           junk=st.binary(min_size=1, max_size=256))
    def run(op: str, pos: int, junk: bytes) -> None:
        reader_robust(NewareNdaxReader.read, _mutate(raw, op, pos, junk), tmp_path / "fuzz.ndax")

    run()


@lru_cache(maxsize=1)
def _ndax_members(path: str) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {n: zf.read(n) for n in zf.namelist()}


def test_ndax_fuzz_decoded_content(samples: Path, tmp_path: Path, reader_robust) -> None:
    """A valid ZIP whose binary records are cut or overwritten: fastnda itself sees garbage."""
    members = _ndax_members(str(_nw(samples, NDAX)))

    @FUZZ_SLOW
    @given(member=st.sampled_from(["data.ndc", "data_runInfo.ndc", "data_step.ndc", "TestInfo.xml"]),
           op=st.sampled_from(["truncate", "overwrite"]), frac=st.floats(0.0, 1.0),
           junk=st.binary(min_size=1, max_size=512))
    def run(member: str, op: str, frac: float, junk: bytes) -> None:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
            for name, data in members.items():
                if name == member:
                    data = _mutate(data, op, int(frac * len(data)), junk)
                zf.writestr(name, data)
        reader_robust(NewareNdaxReader.read, buf.getvalue(), tmp_path / "fuzz.ndax")

    run()


@pytest.mark.parametrize("reader", [NewareCsvReader, NewareNdaxReader])
def test_empty_file(tmp_path: Path, reader_robust, reader) -> None:
    reader_robust(reader.read, b"", tmp_path / "empty.csv")
    with pytest.raises(VoltlabError):
        reader.read(tmp_path / "empty.csv")


# ------------------------------------------------------------------------------------------
# Arrow fast path of the record table: the same result as the pandas C parser
# ------------------------------------------------------------------------------------------


def _both_paths(text: str, monkeypatch) -> tuple[pd.DataFrame | None, pd.DataFrame | type]:
    """(the Arrow table, or None where it declines; the pandas-only table, or the type of the error
    pandas raises) of one record-layer text."""
    from voltlab.data.readers import neware

    sep = neware._delimiter(text.lstrip("\ufeff").split("\n", 1)[0].rstrip("\r"))
    with monkeypatch.context() as m:
        m.setattr(neware, "_read_typed_arrow", lambda *args: None)
        try:
            slow: pd.DataFrame | type = neware._read_typed(text, sep)
        except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            slow = type(exc)
    fast = neware._read_typed_arrow(text, sep, *neware._header_and_text_columns(text, sep))
    if fast is not None:  # what _read_typed returns when Arrow takes the text
        pd.testing.assert_frame_equal(neware._read_typed(text, sep), fast)
    return fast, slow


@pytest.mark.parametrize("variant", ["as is", "crlf", "bom", "semicolon", "tab"])
def test_arrow_record_table_equals_pandas_on_the_real_file(samples: Path, monkeypatch, variant: str) -> None:
    text = _nw(samples, UIO).read_text(encoding="utf-8")
    text = {"as is": text, "crlf": text.replace("\n", "\r\n"), "bom": "\ufeff" + text,
            "semicolon": text.replace(",", ";"), "tab": text.replace(",", "\t")}[variant]
    fast, slow = _both_paths(text, monkeypatch)
    assert fast is not None, "the Arrow path declined a plain export"
    pd.testing.assert_frame_equal(fast, slow)
    assert fast["Voltage(V)"].dtype == np.float64 and fast["Date"].dtype == object  # text roles stay text
    assert fast["Voltage(V)"].iloc[0] == 2.9170 and fast["Time"].iloc[0] == "00:00:00"


_FIELDS = st.sampled_from(["0", "1", "-2", "3.25", "1e-3", "", " 4.5", "NaN", "nan", "NA", "inf", "+1",
                           "abc", "True", "False", "2022-05-18 16:27:52", "00:00:01", "1,5", "12:30"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(extra=st.lists(st.lists(_FIELDS, min_size=6, max_size=6), min_size=1, max_size=3),
       volts=st.lists(st.sampled_from(["3.1", "3.2", " 3.3", "", "x", "NaN"]), min_size=6, max_size=6),
       sep=st.sampled_from([",", ";", "\t"]), ragged=st.booleans())
def test_arrow_and_pandas_give_the_same_canonical_table(monkeypatch, extra, volts, sep, ragged) -> None:
    """Generated record tables with numbers, blanks, words, NaN, dates, times and booleans: where the
    Arrow path takes a text, the canonical table (or the error) equals the pandas path's."""
    from voltlab.data.readers.neware import neware_records_to_canonical

    header = ["Record ID", "Step Type", "Time", "Current(A)", "Voltage(V)"] + [f"Col{j}(V)" for j in range(len(extra))]
    rows = []
    for i in range(6):
        row = [str(i + 1), "CC_Chg" if i < 3 else "CC_DChg", f"00:00:0{i}", "0.5" if i < 3 else "-0.5", volts[i]]
        rows.append(row + [col[i] for col in extra])
    if ragged:
        rows[2] = rows[2] + ["9"]
    text = "\n".join(sep.join(r) for r in [header, *rows]) + "\n"
    fast, slow = _both_paths(text, monkeypatch)
    if fast is None:
        return  # declined: the pandas path reads it (or raises, as before)
    assert isinstance(slow, pd.DataFrame), "Arrow read a text that pandas refuses"
    results = []
    for raw in (fast, slow):
        try:
            results.append(neware_records_to_canonical(raw, path=Path("gen.csv"))[0])
        except VoltlabError as exc:
            results.append(type(exc))
    if isinstance(results[0], type):
        assert results[0] is results[1]
    else:
        pd.testing.assert_frame_equal(results[0], results[1])


def test_three_layer_records_are_typed_and_a_quoted_export_matches(samples: Path, tmp_path: Path) -> None:
    """The 3-layer record rows are re-joined and typed like a record-layer export; a field holding
    the separator (quoted: the rows cannot be re-joined safely) keeps the text rows and gives the
    same canonical numbers."""
    from voltlab.data.readers.neware import _read_three_layer

    path = _nw(samples, IFE)
    text = path.read_text(encoding="utf-8")
    raw, _ = _read_three_layer(text, path)
    volt = next(c for c in raw.columns if c.startswith("Voltage"))
    assert raw[volt].dtype == np.float64 and raw[volt].iloc[0] == 4.3185
    quoted = text.replace("CC DChg", '"CC, DChg"')
    raw_q, _ = _read_three_layer(quoted, path)
    assert raw_q[volt].dtype == object and raw_q[volt].iloc[0] == "4.3185"
    q = tmp_path / "quoted.csv"
    q.write_text(quoted, encoding="utf-8")
    want = _read(str(path)).timeseries.copy()
    want["step_type"] = want["step_type"].replace("CC DChg", "CC, DChg")
    pd.testing.assert_frame_equal(NewareCsvReader.read(q).timeseries, want)


def test_a_file_cut_mid_line_loses_the_stub_and_says_so(samples, tmp_path):
    from voltlab.data.readers import read_cycler_file

    src = samples / "neware" / "neware_uio.csv"
    raw = src.read_bytes().rstrip(b"\r\n")
    last_start = raw.rfind(b"\n") + 1
    cut = raw[: last_start + 25]  # 25 bytes into the last record: copied while the test ran
    bad = tmp_path / "cut.csv"
    bad.write_bytes(cut)
    full, part = read_cycler_file(src), read_cycler_file(bad)
    assert len(part.timeseries) == len(full.timeseries) - 1
    assert part.metadata.extra["truncated"] is True
    assert part.metadata.extra["truncated_last_line"] == cut[last_start:].decode()
    assert "truncated" not in full.metadata.extra
