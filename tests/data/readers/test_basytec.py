"""BaSyTec text reader against PyProBE's sample_data_basytec.txt (plus synthetic variants).

Raw numbers come from the file's text (tab-split lines; the header is line
13 and data row r is line r + 14). The sample holds only rest and one charge
step (+0.45 A): charge is positive as in the file; BaSyTec writes discharge
current negative, which is voltlab's rule, checked here on synthetic data
only because no real BaSyTec discharge is available.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from voltlab.data.readers import detect_format, read_cycler_file
from voltlab.data.readers.basytec import BasytecReader
from voltlab.errors import DataFormatError, SchemaError, UnitError

FUZZ = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
EXACT = 1e-12


@pytest.fixture
def basytec(samples) -> Path:
    return samples / "basytec" / "sample_data_basytec.txt"


def _raw(path: Path) -> tuple[list[str], list[list[str]]]:
    lines = path.read_text(encoding="utf-8").splitlines()
    header = lines[12].lstrip("~").split("\t")
    return header, [ln.split("\t") for ln in lines[13:]]


def test_raw_values(basytec):
    d = BasytecReader.read(basytec)
    ts = d.timeseries
    header, rows = _raw(basytec)
    col = {name: k for k, name in enumerate(header)}
    assert d.n_rows == len(rows) == 74
    # first data line: 0  1  0  0  0  3  Pause  3.52575489148741  0 ... 25.47953 ... 0 1 3
    assert ts["test_time_second"].iloc[0] == 0.0
    assert ts["voltage_volt"].iloc[0] == pytest.approx(3.52575489148741, rel=EXACT)
    assert ts["temperature_celsius"].iloc[0] == pytest.approx(25.47953, rel=EXACT)
    assert ts["command"].iloc[0] == "Pause"
    for r in (1, 40, 63, 73):
        assert ts["test_time_second"].iloc[r] == pytest.approx(float(rows[r][col["Time[s]"]]), rel=EXACT)
        assert ts["voltage_volt"].iloc[r] == pytest.approx(float(rows[r][col["U[V]"]]), rel=EXACT)
        assert ts["current_ampere"].iloc[r] == pytest.approx(float(rows[r][col["I[A]"]]), rel=EXACT)
    # step index from the test-plan line, cycle from Cyc-Count (0 on the first row, then 1)
    assert ts["step_index"].tolist() == [int(r[col["Line"]]) for r in rows]
    assert ts["cycle_count"].tolist() == [int(r[col["Cyc-Count"]]) for r in rows]
    assert d.cycles == [0, 1]


def test_charge_sign_and_counters(basytec):
    d = BasytecReader.read(basytec)
    ts = d.timeseries
    header, rows = _raw(basytec)
    col = {name: k for k, name in enumerate(header)}
    # only rest and charge in this file: every current >= 0, the charge rows positive as written
    assert (ts["current_ampere"] >= 0).all()
    assert ts["current_ampere"].iloc[63] == pytest.approx(float(rows[63][col["I[A]"]]), rel=EXACT)
    assert ts["current_ampere"].iloc[63] > 0.45
    assert ts["command"].iloc[63] == "Charge"
    # end of cycle 1: Ah-Cyc-Charge and Wh-Cyc-Charge of the last line
    assert ts["charging_capacity_ah"].iloc[-1] == pytest.approx(float(rows[-1][col["Ah-Cyc-Charge"]]), rel=1e-9)
    assert ts["charging_energy_wh"].iloc[-1] == pytest.approx(float(rows[-1][col["Wh-Cyc-Charge"]]), rel=1e-9)
    assert (ts["discharging_capacity_ah"] == 0).all()
    assert ts["power_watt"].iloc[63] == pytest.approx(float(rows[63][col["P[W]"]]), rel=EXACT)
    assert ts["internal_resistance_ohm"].iloc[73] == pytest.approx(float(rows[73][col["R-DC"]]), rel=EXACT)


def test_metadata_from_preamble(basytec):
    extra = BasytecReader.read(basytec).metadata.extra
    assert extra["testchannel"] == "1814 CH14 XCTS_40"
    assert extra["start_of_test"] == "19.06.2023 17:56:53"
    assert extra["testplan"] == "plan.pln"
    assert extra["banner"] == "Resultfile from Basytec Battery Test System"


SYNTH = (
    "~Resultfile from Basytec Battery Test System\n~Name of Test: synthetic\n~\n"
    "~Time[h]\tCommand\tU[mV]\tI[mA]\tAh-Cyc-Charge\tAh-Cyc-Discharge\tCyc-Count\tLine\n"
    "0\tPause\t3500,5\t0\t0\t0\t1\t1\n"
    "0,5\tCharge\t3900\t1000\t0,5\t0\t1\t2\n"
    "1\tCharge\t4100\t1000\t1\t0\t1\t2\n"
    "1,5\tDischarge\t3700\t-1000\t1\t-0,5\t1\t3\n"
    "2\tDischarge\t3300\t-1000\t1\t-1\t1\t3\n"
    "2,5\tCharge\t3900\t1000\t0,5\t0\t2\t2\n"
)


def test_synthetic_units_decimal_comma_discharge(tmp_path):
    p = tmp_path / "synthetic.txt"
    p.write_text(SYNTH, encoding="cp1252")
    d = BasytecReader.read(p)
    ts = d.timeseries
    assert ts["test_time_second"].tolist() == [0, 1800, 3600, 5400, 7200, 9000]
    assert ts["voltage_volt"].iloc[0] == pytest.approx(3.5005)
    assert ts["current_ampere"].tolist() == pytest.approx([0, 1, 1, -1, -1, 1])  # discharge negative
    assert ts["discharging_capacity_ah"].tolist() == pytest.approx([0, 0, 0, 0.5, 1, 0])  # |negative counter|
    assert ts["charging_capacity_ah"].tolist() == pytest.approx([0, 0.5, 1, 1, 1, 0])
    assert d.cycles == [1, 2]


def test_bad_unit_and_missing_column(tmp_path):
    p = tmp_path / "bad_unit.txt"
    p.write_text(SYNTH.replace("U[mV]", "U[furlong]"))
    with pytest.raises(UnitError, match="furlong"):
        BasytecReader.read(p)
    q = tmp_path / "no_current.txt"
    q.write_text(SYNTH.replace("I[mA]", "X[mA]"))
    with pytest.raises(SchemaError, match=r"I\[A\]"):
        BasytecReader.read(q)


def test_detection(basytec, tmp_path):
    assert detect_format(basytec) is BasytecReader
    dat = tmp_path / "renamed.dat"
    shutil.copy(basytec, dat)
    assert detect_format(dat) is BasytecReader
    assert read_cycler_file(dat).n_rows == 74


def test_wrong_format(samples):
    pec = samples / "pec" / "Test25195.csv"
    with pytest.raises(DataFormatError, match="not a BaSyTec export") as ei:
        BasytecReader.read(pec)
    assert str(pec) in str(ei.value)


@FUZZ
@given(data=st.data())
def test_fuzz(basytec, tmp_path, reader_robust, data):
    base = basytec.read_bytes()
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
    reader_robust(BasytecReader.read, raw, tmp_path / "fuzz.txt")


def test_counter_helpers_give_cycle_cumulative(basytec):
    ts = BasytecReader.read(basytec).timeseries
    for _, g in ts.groupby("cycle_count"):
        v = g["charging_capacity_ah"].to_numpy()
        assert v[0] == 0.0
        assert np.all(np.diff(v) >= 0)


def test_huge_exponent_is_rejected_not_crashing(tmp_path):
    # found by fuzzing: "3.52575489148741" with one byte flipped to 'E' crashed pandas (segfault)
    p = tmp_path / "damaged.txt"
    p.write_text(SYNTH.replace("3500,5", "3.53E08307115776"))
    with pytest.raises(DataFormatError, match="exponent out of range") as ei:
        BasytecReader.read(p)
    assert str(p) in str(ei.value)


def test_row_with_extra_fields_is_an_error_not_a_silent_cut(samples, tmp_path):
    from voltlab.data.readers.basytec import BasytecReader
    from voltlab.errors import DataFormatError

    lines = (samples / "basytec" / "sample_data_basytec.txt").read_text(encoding="latin-1").splitlines()
    lines[-5] = lines[-5] + "\t1.0"  # one extra field: pandas would drop it with only a warning
    bad = tmp_path / "extra.txt"
    bad.write_text("\n".join(lines), encoding="latin-1")
    with pytest.raises(DataFormatError, match=rf"line {len(lines) - 4} has 30 fields but the header 29: its value\(s\) "
                                              r"'1.0' would be lost") as exc:
        BasytecReader.read(bad)
    assert str(bad) in str(exc.value)
