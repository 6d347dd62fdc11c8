"""PEC LifeTest CSV reader against cellpy's pec.csv (mV/mA, seconds) and Test25205/Test25195 (V/A, hh:mm:ss).

Raw numbers are read from the files' text with the csv module (data header
on line 33 of pec.csv and line 46 of the newer files).
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from voltlab.data.readers import detect_format, read_cycler_file
from voltlab.data.readers.pec import PecReader
from voltlab.errors import DataFormatError

FUZZ = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
EXACT = 1e-12


def _raw(path: Path, header_line: int) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh.read().splitlines()[header_line:]))


def test_pec_csv_raw_values(samples):
    p = samples / "pec" / "pec.csv"
    d = PecReader.read(p)
    ts = d.timeseries
    raw = _raw(p, 32)
    assert d.n_rows == len(raw) == 16255
    assert d.cycles == [0, 1, 2]
    # first data line: 187,1,SBT0550,001,1,,0,0,1,0,1,0,0,02/22/2019 16:23:27,...,3272.632,0,...
    assert ts["test_time_second"].iloc[0] == 1.0
    assert ts["voltage_volt"].iloc[0] == pytest.approx(3.272632, rel=EXACT)  # 3272.632 mV
    assert ts["temperature_celsius"].iloc[0] == pytest.approx(24.9)
    assert ts["ambient_temperature_celsius"].iloc[0] == pytest.approx(25.83)
    # first discharge row: raw current in mA, negative -> A, negative
    k = next(i for i, r in enumerate(raw) if float(r["Current (mA)"]) < -1000)
    assert ts["current_ampere"].iloc[k] == pytest.approx(float(raw[k]["Current (mA)"]) / 1000, rel=EXACT)
    assert ts["current_ampere"].iloc[k] < -1.6
    # end of each cycle: the raw per-cycle counters (mAh, and the energies mislabelled 'Capacity (mWh)')
    cyc = ts["cycle_count"].to_numpy()
    for c, dis_mah in ((0, "11634.168"), (1, "44351.991")):
        last = int(np.flatnonzero(cyc == c)[-1])
        assert raw[last]["Discharge Capacity (mAh)"] == dis_mah
        assert ts["discharging_capacity_ah"].iloc[last] == pytest.approx(float(dis_mah) / 1000, rel=EXACT)
    assert raw[-1]["Charge Capacity (mAh)"] == "44258.93"
    assert ts["charging_capacity_ah"].iloc[-1] == pytest.approx(44.25893, rel=EXACT)
    last1 = int(np.flatnonzero(cyc == 1)[-1])
    assert ts["discharging_energy_wh"].iloc[last1] == pytest.approx(144.897131, rel=1e-9)
    # discharge capacity grows only where current < 0
    grows = np.diff(ts["discharging_capacity_ah"].to_numpy()) > 0
    assert np.all(ts["current_ampere"].to_numpy()[1:][grows] < 0)
    assert ts["step_time_second"].iloc[-1] == pytest.approx(97157.406, rel=EXACT)


def test_pec_metadata(samples):
    d = PecReader.read(samples / "pec" / "pec.csv")
    assert d.metadata.protocol == "SAFT VL43EFe dQdV C/25"
    extra = d.metadata.extra
    assert extra["start_time"] == "02/22/2019 16:21:35"
    assert extra["pec_rack"] == "SBT0550"
    assert extra["results_check"][0].startswith("ReqYear,Test")


def test_hhmmss_export(samples):
    p = samples / "pec" / "Test25205.csv"
    # rest only, |I| <= 8 µA: the validator's Coulomb check skips charge below 0.1 mAh
    d = PecReader.read(p)
    ts = d.timeseries
    raw = _raw(p, 45)
    assert d.n_rows == len(raw) == 489
    assert raw[-1]["Total Time (Hours in hh:mm:ss.xxx)"] == "19:41:58.980"
    assert ts["test_time_second"].iloc[-1] == pytest.approx(19 * 3600 + 41 * 60 + 58.980, rel=EXACT)
    assert ts["test_time_second"].iloc[0] == pytest.approx(0.002, rel=EXACT)
    assert ts["voltage_volt"].iloc[0] == pytest.approx(3.6824952, rel=EXACT)  # "3.6824952": already V
    assert ts["discharging_capacity_ah"].iloc[-1] == pytest.approx(0.021e-3, rel=EXACT)  # 0.021 mAh
    assert ts["instruction_name"].iloc[0] == "Idle"
    assert d.metadata.chemistry == "Li-ion LG NMC"
    assert d.metadata.extra["pec_cell_id"] == "345626_9356111_33_6"


def test_small_v_a_export(samples):
    p = samples / "pec" / "Test25195.csv"
    d = PecReader.read(p)
    ts = d.timeseries
    assert d.n_rows == 19
    assert ts["current_ampere"].iloc[0] == pytest.approx(-8e-06, rel=EXACT)  # "-8E-06" A
    assert ts["voltage_volt"].iloc[0] == pytest.approx(3.5690308, rel=EXACT)
    assert ts["test_time_second"].iloc[-1] == pytest.approx(162.363, rel=EXACT)  # 00:02:42.363
    assert ts["temperature_celsius"].iloc[1] == pytest.approx(16.75)  # 'Temp (°C)'


def test_detection(samples, tmp_path):
    for name in ("pec.csv", "Test25205.csv", "Test25195.csv"):
        assert detect_format(samples / "pec" / name) is PecReader
    dat = tmp_path / "renamed.dat"
    shutil.copy(samples / "pec" / "Test25195.csv", dat)
    assert detect_format(dat) is PecReader
    assert read_cycler_file(dat).n_rows == 19


def test_wrong_format(samples):
    other = samples / "basytec" / "sample_data_basytec.txt"
    with pytest.raises(DataFormatError, match="not a PEC LifeTest export") as ei:
        PecReader.read(other)
    assert str(other) in str(ei.value)


def test_bad_duration_names_row(samples, tmp_path):
    text = (samples / "pec" / "Test25195.csv").read_text(encoding="utf-8").splitlines()
    assert "00:00:20.000" in text[46 + 3]  # data row 3
    text[46 + 3] = text[46 + 3].replace("00:00:20.000", "00:0x:20.000", 1)
    p = tmp_path / "bad.csv"
    p.write_text("\n".join(text) + "\n", encoding="utf-8")
    with pytest.raises(DataFormatError) as ei:
        PecReader.read(p)
    assert ei.value.row == 3
    assert "hh:mm:ss" in str(ei.value)


@FUZZ
@given(data=st.data())
def test_fuzz(samples, tmp_path, reader_robust, data):
    base = (samples / "pec" / "Test25195.csv").read_bytes()
    kind = data.draw(st.sampled_from(["truncate", "flip", "garbage", "empty"]))
    if kind == "truncate":
        raw = base[: data.draw(st.integers(0, len(base)))]
    elif kind == "flip":
        b = bytearray(base)
        for _ in range(data.draw(st.integers(1, 20))):
            b[data.draw(st.integers(0, len(b) - 1))] = data.draw(st.integers(0, 255))
        raw = bytes(b)
    elif kind == "garbage":
        lines = base.splitlines(keepends=True)
        lines.insert(data.draw(st.integers(0, len(lines))), data.draw(st.binary(max_size=80)) + b"\n")
        raw = b"".join(lines)
    else:
        raw = b""
    reader_robust(PecReader.read, raw, tmp_path / "fuzz.csv")
