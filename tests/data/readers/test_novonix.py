"""Novonix reader against PyProBE's UHPC sample and beep's quoted-line HPC file.

Raw numbers come from the files' text. Neither file holds a discharge: the
charge sign (positive, as recorded) is checked on the real files, the
discharge rule (step types 2/9/10 -> negative current) on a synthetic file.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from voltlab.data.readers import detect_format, read_cycler_file
from voltlab.data.readers.novonix import NovonixReader
from voltlab.errors import DataFormatError, SchemaError

FUZZ = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
EXACT = 1e-12
UHPC = "sample_data_novonix.csv"
HPC = "test_Nova_Form-CH01-01_short.csv"


def _rows(path: Path) -> tuple[list[str], list[list[str]]]:
    lines = path.read_text(encoding="utf-8").splitlines()
    k = next(i for i, ln in enumerate(lines) if ln.strip('"') == "[Data]")
    data = [ln.strip().strip('"').split(",") for ln in lines[k + 1 :] if ln.strip()]
    return data[0], data[1:]


def test_uhpc_raw_values(samples):
    p = samples / "novonix" / UHPC
    d = NovonixReader.read(p)
    ts = d.timeseries
    header, rows = _rows(p)
    c = {n: k for k, n in enumerate(header)}
    assert d.n_rows == len(rows) == 207
    # first data line: 2025-07-19 15:26:20,1,7,0.0000000,0.0000000,0.00000000,3.84318331,...
    assert ts["voltage_volt"].iloc[0] == pytest.approx(3.84318331, rel=EXACT)
    assert ts["test_time_second"].iloc[0] == 0.0
    # second line: Run Time (h) 0.0003556 -> 1.28016 s; current 0.49989602 A (charge, step type 7)
    assert rows[1][c["Run Time (h)"]] == "0.0003556"
    assert ts["test_time_second"].iloc[1] == pytest.approx(0.0003556 * 3600, rel=EXACT)
    assert ts["current_ampere"].iloc[1] == pytest.approx(0.49989602, rel=EXACT)
    assert ts["step_type"].iloc[1] == 7
    # last line: capacity 1.70652976 Ah, energy 6.84854718 Wh, 3.4131889 h
    assert ts["charging_capacity_ah"].iloc[-1] == pytest.approx(1.70652976, rel=EXACT)
    assert ts["charging_energy_wh"].iloc[-1] == pytest.approx(6.84854718, rel=EXACT)
    assert ts["test_time_second"].iloc[-1] == pytest.approx(3.4131889 * 3600, rel=EXACT)
    assert ts["temperature_celsius"].iloc[-1] == pytest.approx(24.792, rel=EXACT)
    assert ts["circuit_temperature_celsius"].iloc[-1] == pytest.approx(25.262, rel=EXACT)
    assert ts["power_watt"].iloc[-1] == pytest.approx(2.06429761, rel=EXACT)
    # only charge in this file: current >= 0, no discharge capacity
    assert (ts["current_ampere"] >= 0).all()
    assert (ts["discharging_capacity_ah"] == 0).all()
    assert d.metadata.nominal_capacity_ah == 5.0
    assert d.metadata.extra["description"] == "LGM50LT-Co10-1C"
    assert d.cycles == [1]


def test_hpc_quoted_lines(samples):
    p = samples / "novonix" / HPC
    d = NovonixReader.read(p)
    ts = d.timeseries
    header, rows = _rows(p)
    c = {n: k for k, n in enumerate(header)}
    assert d.n_rows == len(rows) == 3942
    assert ts["voltage_volt"].iloc[0] == pytest.approx(0.13736417, rel=EXACT)
    # last line: "2022-04-12 4:24:11 AM,1,1,17.4345750,2.3998750,0.0120000763,3.42744146,0.0294679161,..."
    assert ts["test_time_second"].iloc[-1] == pytest.approx(17.4345750 * 3600, rel=EXACT)
    assert ts["current_ampere"].iloc[-1] == pytest.approx(0.0120000763, rel=EXACT)
    assert ts["charging_capacity_ah"].iloc[-1] == pytest.approx(0.0294679161, rel=EXACT)
    assert ts["step_time_second"].iloc[-1] == pytest.approx(2.3998750 * 3600, rel=EXACT)
    assert sorted(ts["step_type"].unique().tolist()) == [0, 1, 7, 8]
    assert ts["step_index"].tolist() == [int(r[c["Step Number"]]) for r in rows]
    assert (ts["current_ampere"] >= 0).all()  # formation charge only
    # dV/dt and dI/dt keep their quantity, not the swapped unit labels "(I/h)" / "(V/h)"
    assert "dvdt_volt_per_hour" in ts.columns
    assert "didt_ampere_per_hour" in ts.columns
    assert d.metadata.protocol == "XC_Formation_Entree_Test.pro1"
    assert d.metadata.nominal_capacity_ah == pytest.approx(0.24)


def test_companion_metadata(samples, tmp_path):
    p = samples / "novonix" / HPC
    summary = NovonixReader.read(p).metadata.extra["cycle_summary"]
    assert summary[0]["Cycle"] == 1
    assert summary[0]["Qd"] == pytest.approx(0.076631919, rel=EXACT)
    alone = tmp_path / HPC
    shutil.copy(p, alone)
    assert "cycle_summary" not in NovonixReader.read(alone).metadata.extra


SYNTH = """[Summary]
Novonix UHPC data file
Capacity (Ah): 1
[End Summary]
[Data]
Date and Time,Cycle Number,Step Type,Run Time (h),Step Time (h),Current (A),Potential (V),Capacity (Ah),Energy (Wh),Step Number
2025-01-01 00:00:00,1,0,0.0,0.0,0.0,3.5,0.0,0.0,1
2025-01-01 00:30:00,1,1,0.5,0.5,0.5,3.9,0.25,0.95,2
2025-01-01 01:00:00,1,1,1.0,1.0,0.5,4.1,0.5,2.0,2
2025-01-01 01:30:00,1,2,1.5,0.5,0.5,3.7,0.25,0.9,3
2025-01-01 02:00:00,1,2,2.0,1.0,0.5,3.3,0.5,1.8,3
2025-01-01 02:30:00,2,9,2.5,0.5,-0.5,3.2,0.1,0.3,4
"""


def test_discharge_sign_from_step_type(tmp_path):
    p = tmp_path / "synthetic.csv"
    p.write_text(SYNTH)
    ts = NovonixReader.read(p).timeseries
    # step types 2 and 9 are discharge: -|I| whatever the recorded sign
    assert ts["current_ampere"].tolist() == [0.0, 0.5, 0.5, -0.5, -0.5, -0.5]
    assert ts["charging_capacity_ah"].tolist() == pytest.approx([0, 0.25, 0.5, 0.5, 0.5, 0])
    assert ts["discharging_capacity_ah"].tolist() == pytest.approx([0, 0, 0, 0.25, 0.5, 0])
    assert ts["discharging_energy_wh"].iloc[4] == pytest.approx(1.8)


def test_missing_columns_and_wrong_format(samples, tmp_path):
    p = tmp_path / "broken.csv"
    p.write_text(SYNTH.replace("Potential (V)", "Voltage"))
    with pytest.raises(SchemaError, match="Potential"):
        NovonixReader.read(p)
    other = samples / "landt" / "SINTEF__LiGrR2032__2024-04-30__25degC__Landt.csv"
    with pytest.raises(DataFormatError, match=r"no '\[Data\]' section") as ei:
        NovonixReader.read(other)
    assert str(other) in str(ei.value)


def test_detection(samples, tmp_path):
    for name in (UHPC, HPC):
        assert detect_format(samples / "novonix" / name) is NovonixReader
    dat = tmp_path / "renamed.dat"
    shutil.copy(samples / "novonix" / HPC, dat)
    assert detect_format(dat) is NovonixReader
    assert read_cycler_file(dat).n_rows == 3942


@FUZZ
@given(data=st.data())
def test_fuzz(samples, tmp_path, reader_robust, data):
    base = (samples / "novonix" / UHPC).read_bytes()
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
    reader_robust(NovonixReader.read, raw, tmp_path / "fuzz.csv")


def test_capacity_cumulative_within_cycle(samples):
    ts = NovonixReader.read(samples / "novonix" / HPC).timeseries
    v = ts["charging_capacity_ah"].to_numpy()
    assert v[0] == 0.0
    assert np.all(np.diff(v) >= 0)


@pytest.mark.parametrize("name", [UHPC, HPC])
def test_blank_lines_in_data_keep_the_file_line_numbers(samples, tmp_path, name):
    """Blank lines after '[Data]' (before the header and among the rows) are skipped as before, and a
    bad row is still named by its line in the file, not its place among the non-blank lines."""
    src = samples / "novonix" / name
    good = NovonixReader.read(src)
    lines = src.read_text(encoding="utf-8").split("\n")
    k = next(i for i, ln in enumerate(lines) if ln.strip().strip('"') == "[Data]")
    lines[k + 1:k + 1] = [""]  # a blank line between '[Data]' and the header
    lines[k + 5:k + 5] = ["", "  "]  # and two among the first rows
    spaced = tmp_path / name
    spaced.write_text("\n".join(lines), encoding="utf-8")
    got = NovonixReader.read(spaced)
    assert got.n_rows == good.n_rows
    np.testing.assert_array_equal(got.timeseries["voltage_volt"], good.timeseries["voltage_volt"])
    bad_line = len(lines) - 5  # 0-based; a data row after the blank lines
    row = lines[bad_line].rstrip("\r")
    lines[bad_line] = (row[:-1] + ',4.2"') if row.endswith('"') else row + ",4.2"
    spaced.write_text("\n".join(lines), encoding="utf-8")
    with pytest.raises(DataFormatError, match=rf"line {bad_line + 1} has \d+ fields but the header \d+: its "
                                              r"value\(s\) '4.2' would be lost"):
        NovonixReader.read(spaced)
