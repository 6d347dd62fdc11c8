"""Generic reader (read_generic and format="generic") on real exports and small synthetic tables.

Raw numbers are read from the files' text with the csv module; synthetic
tables are built here with known values.
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from voltlab.data.readers import detect_format, read_cycler_file
from voltlab.data.readers.base import read_head, registered_readers
from voltlab.data.readers.generic import GenericReader, read_generic
from voltlab.errors import DataFormatError, SchemaError, UnitError, UnknownFormatError

FUZZ = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
EXACT = 1e-12

PEC_MAP = {
    "Total Time (Seconds)": "test_time_second",
    "Voltage (mV)": ("voltage_volt", "mV"),
    "Current (mA)": ("current_ampere", "mA"),
    "Cycle": "cycle_count",
    "Step": "step_index",
    "Discharge Capacity (mAh)": ("discharging_capacity_ah", "mAh"),
    "Charge Capacity (mWh)": ("charging_energy_wh", "mWh"),
}


def _raw(path: Path, header_line: int) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        lines = fh.read().splitlines()[header_line:]
    return list(csv.DictReader(lines))


def test_pec_with_units(samples):
    p = samples / "pec" / "pec.csv"
    d = read_generic(p, PEC_MAP, chemistry="LFP")
    ts = d.timeseries
    raw = _raw(p, 32)
    assert d.n_rows == len(raw) == 16255
    assert d.metadata.chemistry == "LFP"
    assert d.metadata.source_format == "generic"
    assert ts["voltage_volt"].iloc[0] == pytest.approx(float(raw[0]["Voltage (mV)"]) / 1000, rel=EXACT)
    k = next(i for i, r in enumerate(raw) if float(r["Current (mA)"]) < 0)
    assert ts["current_ampere"].iloc[k] == pytest.approx(float(raw[k]["Current (mA)"]) / 1000, rel=EXACT)
    assert ts["current_ampere"].iloc[k] < 0
    # end of cycle 0: the raw discharge counter reads 11634.168 mAh
    last0 = max(i for i, r in enumerate(raw) if r["Cycle"] == "0")
    assert raw[last0]["Discharge Capacity (mAh)"] == "11634.168"
    assert ts["discharging_capacity_ah"].iloc[last0] == pytest.approx(11.634168, rel=EXACT)
    # cycle 2 starts at 0.001 mWh and ends at 147740.133 mWh: cumulative within cycle = the difference
    first2 = min(i for i, r in enumerate(raw) if r["Cycle"] == "2")
    assert (raw[first2]["Charge Capacity (mWh)"], raw[-1]["Charge Capacity (mWh)"]) == ("0.001", "147740.133")
    assert ts["charging_energy_wh"].iloc[-1] == pytest.approx(147.740132, rel=1e-9)
    assert d.cycles == [0, 1, 2]
    assert d.metadata.extra["units"]["Current (mA)"] == "mA"


def test_hhmmss_time_and_datetime_unix(samples):
    p = samples / "pec" / "Test25195.csv"
    d = read_generic(p, {"Total Time (Hours in hh:mm:ss.xxx)": "test_time_second", "Voltage (V)": "voltage_volt",
                         "Current (A)": "current_ampere", "Real Time": "unix_time_second"})
    ts = d.timeseries
    raw = _raw(p, 45)
    assert raw[-1]["Total Time (Hours in hh:mm:ss.xxx)"] == "00:02:42.363"
    assert ts["test_time_second"].iloc[-1] == pytest.approx(162.363, rel=EXACT)
    assert ts["current_ampere"].iloc[0] == pytest.approx(-8e-06, rel=EXACT)
    # "01/06/2026 17:51:06" read as UTC (no time zone in the file)
    assert ts["unix_time_second"].iloc[0] == pd.Timestamp("2026-01-06 17:51:06", tz="UTC").timestamp()
    assert d.metadata.extra["cycle_count_inferred"] is True
    assert d.cycles == [1]


def test_landt_with_preamble(samples):
    p = samples / "landt" / "SINTEF__LiGrR2032__2024-04-30__25degC__Landt.csv"
    d = read_generic(p, {"test_time_s": "test_time_second", "voltage_V": "voltage_volt",
                         "current_A": "current_ampere", "cycle_index": "cycle_count",
                         "discharge_capacity_Ah": "discharging_capacity_ah", "step_name": "step_name"})
    ts = d.timeseries
    assert d.n_rows == 25162
    assert d.cycles == [1, 2]
    assert ts["voltage_volt"].iloc[0] == pytest.approx(2.9215, rel=EXACT)
    assert ts["step_name"].iloc[0] == "rest"
    assert ts["discharging_capacity_ah"].max() == pytest.approx(0.0063, rel=EXACT)


def _synthetic(tmp_path: Path, sep: str = ",", decimal: str = ".") -> tuple[Path, pd.DataFrame]:
    """Charge at +500 mA for 60 min, discharge at -500 mA; times in minutes, T in K, energy in mWh."""
    t_min = np.arange(0, 121, 10.0)
    i_ma = np.where(t_min <= 60, 500.0, -500.0)
    i_ma[0] = 0.0
    q_mah = np.where(t_min <= 60, 500 * t_min / 60, 500 * (t_min - 60) / 60)
    e_mwh = q_mah * 3.7
    df = pd.DataFrame({"Zeit (min)": t_min, "Spannung (mV)": 3600 + t_min, "Strom (mA)": i_ma,
                       "Ladung (mAh)": np.where(t_min <= 60, q_mah, 0.0),
                       "Entladung (mAh)": np.where(t_min > 60, q_mah, 0.0),
                       "Energie (mWh)": np.where(t_min > 60, e_mwh, 0.0), "T (K)": 298.15})
    p = tmp_path / "synthetic.txt"
    with open(p, "w") as fh:
        fh.write("Export of channel 3\nOperator: me\n\n")
        df.to_csv(fh, sep=sep, decimal=decimal, index=False)
    return p, df


SYN_MAP = {"Zeit (min)": ("test_time_second", "min"), "Spannung (mV)": ("voltage_volt", "mV"),
           "Strom (mA)": ("current_ampere", "mA"), "Ladung (mAh)": ("charging_capacity_ah", "mAh"),
           "Entladung (mAh)": ("discharging_capacity_ah", "mAh"), "T (K)": ("temperature_celsius", "K")}


@pytest.mark.parametrize(("sep", "decimal"), [(",", "."), ("\t", "."), (";", ","), ("\t", ",")])
def test_units_separators_decimal_comma(tmp_path, sep, decimal):
    p, df = _synthetic(tmp_path, sep, decimal)
    d = read_generic(p, {**SYN_MAP, "Energie (mWh)": ("discharging_energy_wh", "mWh")})
    ts = d.timeseries
    assert ts["test_time_second"].tolist() == pytest.approx((df["Zeit (min)"] * 60).tolist())
    assert ts["voltage_volt"].iloc[-1] == pytest.approx(3.72)
    assert ts["current_ampere"].iloc[1] == pytest.approx(0.5)
    assert ts["current_ampere"].iloc[-1] == pytest.approx(-0.5)
    assert ts["temperature_celsius"].iloc[0] == pytest.approx(25.0)
    assert ts["charging_capacity_ah"].max() == pytest.approx(0.5)
    assert ts["discharging_capacity_ah"].iloc[-1] == pytest.approx(0.5)
    assert ts["discharging_energy_wh"].iloc[-1] == pytest.approx(1.85)
    assert d.cycles == [1]  # one charge then one discharge


def test_pandas_index_column_is_not_data_but_a_stray_value_is_an_error(tmp_path):
    """``to_csv`` with its index writes an unnamed first column of row numbers: read as before. A value
    under an unnamed header field elsewhere would be dropped unseen: an error naming the row."""
    from voltlab.errors import DataFormatError

    _, df = _synthetic(tmp_path)
    indexed = tmp_path / "indexed.csv"
    df.to_csv(indexed)  # header ",Zeit (min),...", rows "0,0.0,..."
    d = read_generic(indexed, SYN_MAP)
    assert d.timeseries["voltage_volt"].iloc[-1] == pytest.approx(3.72) and len(d.timeseries) == len(df)
    lines = indexed.read_text().splitlines()
    lines[0] += ","  # a blank name for a last field, and a value under it on one row
    lines[4] += ",9.9"
    stray = tmp_path / "stray.csv"
    stray.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataFormatError, match=r"data row 4 \(header on line 1\) has the value '9.9' in field 9, "
                                              r"which has no name"):
        read_generic(stray, SYN_MAP)


def test_units_dict_and_positive_discharge(tmp_path):
    p, _df = _synthetic(tmp_path)
    cols = {"Zeit (min)": "test_time_second", "Spannung (mV)": "voltage_volt", "Strom (mA)": "current_ampere"}
    d = read_generic(p, cols, units={"Zeit (min)": "h", "Spannung (mV)": "mV", "Strom (mA)": "mA"},
                     current_sign="positive_discharge")
    ts = d.timeseries
    assert ts["test_time_second"].iloc[1] == pytest.approx(36000.0)  # 10 "h"
    assert ts["current_ampere"].iloc[1] == pytest.approx(-0.5)  # flipped


def test_xlsx_and_parquet(tmp_path):
    _, df = _synthetic(tmp_path)
    x = tmp_path / "sheet.xlsx"
    with pd.ExcelWriter(x, engine="openpyxl") as xw:
        pd.DataFrame({"note": ["first sheet"]}).to_excel(xw, sheet_name="Info", index=False)
        pd.DataFrame([["Export"], [""]]).to_excel(xw, sheet_name="Data", index=False, header=False)
        df.to_excel(xw, sheet_name="Data", index=False, startrow=3)
    d = read_generic(x, SYN_MAP, sheet="Data")
    assert d.timeseries["voltage_volt"].iloc[0] == pytest.approx(3.6)
    assert d.n_rows == len(df)
    q = tmp_path / "table.parquet"
    df.to_parquet(q)
    d2 = read_generic(q, SYN_MAP)
    pd.testing.assert_frame_equal(d2.timeseries, d.timeseries, check_exact=False, rtol=1e-12)
    with pytest.raises(DataFormatError, match="sheet"):
        read_generic(x, SYN_MAP, sheet="Nope")


def test_format_generic_without_mapping(samples):
    bdf = samples / "bdf" / "SINTEF__LiGrR2032__2024-04-30__25degC__Landt.bdf.csv"
    d = read_cycler_file(bdf, format="generic")
    assert d.n_rows == 25162
    assert d.metadata.source_format == "generic"
    assert d.timeseries["voltage_volt"].iloc[0] == pytest.approx(2.9215, rel=EXACT)
    landt = samples / "landt" / "SINTEF__LiGrR2032__2024-04-30__25degC__Landt.csv"
    with pytest.raises(SchemaError) as ei:
        read_cycler_file(landt, format="generic")
    msg = str(ei.value)
    assert str(landt) in msg
    assert "'test_time_s'" in msg
    assert "'step_name'" in msg
    assert "read_generic(path, columns={'test_time_s': 'test_time_second'" in msg
    d2 = read_cycler_file(landt, format="generic", columns={"test_time_s": "test_time_second",
                                                            "voltage_V": "voltage_volt", "current_A": "current_ampere"})
    assert d2.n_rows == 25162


def test_human_labels_without_mapping(tmp_path):
    p = tmp_path / "labels.csv"
    p.write_text("Test Time / s;Voltage / V;Current / A;Cycle Count / 1\n0;3,5;0;1\n1;3,6;1,5;1\n")
    d = read_cycler_file(p, format="generic")
    assert d.timeseries["voltage_volt"].tolist() == [3.5, 3.6]
    assert d.timeseries["current_ampere"].iloc[1] == 1.5


def test_sniff_is_low_and_never_detected(samples, tmp_path):
    for f in sorted(samples.glob("*/*")):
        if f.suffix == ".md":
            continue
        assert GenericReader.sniff(f, read_head(f)) <= 0.3
    p = tmp_path / "plain.csv"
    p.write_text("Time,Voltage,Current\n0,3.5,0\n1,3.6,1\n")
    assert GenericReader.sniff(p, p.read_bytes()) == pytest.approx(0.2)
    with pytest.raises(UnknownFormatError):
        read_cycler_file(p)
    assert "generic" in registered_readers()
    shutil.copy(p, tmp_path / "plain.dat")
    d = read_cycler_file(tmp_path / "plain.dat", format="generic",
                         columns={"Time": "test_time_second", "Voltage": "voltage_volt", "Current": "current_ampere"})
    assert d.timeseries["current_ampere"].tolist() == [0.0, 1.0]


def test_mapping_errors(tmp_path):
    p, _ = _synthetic(tmp_path)
    with pytest.raises(UnitError, match="accepted units"):
        read_generic(p, {**SYN_MAP, "Strom (mA)": ("current_ampere", "mAh")})
    with pytest.raises(UnitError):
        read_generic(p, {**SYN_MAP, "Strom (mA)": ("current_ampere", "furlong")})
    with pytest.raises(SchemaError, match="did you mean"):
        read_generic(p, {**SYN_MAP, "Strom (ma)": ("current_ampere", "mA")})
    with pytest.raises(SchemaError, match="several columns"):
        read_generic(p, {**SYN_MAP, "T (K)": ("voltage_volt", "V")})
    with pytest.raises(SchemaError, match="neither a canonical"):
        read_generic(p, {**SYN_MAP, "T (K)": "Temperature!"})
    with pytest.raises(SchemaError, match="current_ampere"):
        read_generic(p, {"Zeit (min)": ("test_time_second", "min"), "Spannung (mV)": ("voltage_volt", "mV")})
    with pytest.raises(DataFormatError, match="current_sign"):
        read_generic(p, SYN_MAP, current_sign="up")


def test_bad_value_names_row(tmp_path):
    p = tmp_path / "bad.csv"
    p.write_text("t,v,i\n0,3.5,0\n1,3.5,0\n2,oops,0\n")
    with pytest.raises(DataFormatError) as ei:
        read_generic(p, {"t": "test_time_second", "v": "voltage_volt", "i": "current_ampere"})
    assert ei.value.row == 2
    assert ei.value.column == "voltage_volt"
    assert str(p) in str(ei.value)


def test_wrong_format_is_clear(samples):
    h5 = samples / "indigo" / "indigo_test_sample.h5"
    with pytest.raises(DataFormatError, match="binary") as ei:
        read_generic(h5, {"t": "test_time_second"})
    assert str(h5) in str(ei.value)
    assert detect_format(h5).name == "indigo_hdf5"


@FUZZ
@given(data=st.data())
def test_fuzz(tmp_path, reader_robust, data):
    base, _ = _synthetic(tmp_path, ";", ",")
    raw = base.read_bytes()
    kind = data.draw(st.sampled_from(["truncate", "flip", "garbage", "empty"]))
    if kind == "truncate":
        raw = raw[: data.draw(st.integers(0, len(raw)))]
    elif kind == "flip":
        b = bytearray(raw)
        for _ in range(data.draw(st.integers(1, 12))):
            b[data.draw(st.integers(0, len(b) - 1))] = data.draw(st.integers(0, 255))
        raw = bytes(b)
    elif kind == "garbage":
        lines = raw.splitlines(keepends=True)
        lines.insert(data.draw(st.integers(0, len(lines))), data.draw(st.binary(max_size=60)) + b"\n")
        raw = b"".join(lines)
    else:
        raw = b""
    reader_robust(lambda p: read_generic(p, SYN_MAP), raw, tmp_path / "fuzz.txt")
    reader_robust(lambda p: read_cycler_file(p, format="generic"), raw, tmp_path / "fuzz2.txt")


def test_huge_exponent_in_parquet_strings(tmp_path):
    q = tmp_path / "strings.parquet"
    pd.DataFrame({"t": ["0", "1"], "v": ["3.5", "3.5e2147483648"], "i": ["0", "0"]}).to_parquet(q)
    with pytest.raises(DataFormatError, match="exponent out of range") as ei:
        read_generic(q, {"t": "test_time_second", "v": "voltage_volt", "i": "current_ampere"})
    assert ei.value.row == 1
