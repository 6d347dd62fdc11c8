"""LANDT tidy-CSV reader against the SINTEF file, and against its BDF twin in bdf/.

Raw numbers come from the file's text (csv module; header on line 7, data
row r on line r + 8).

Twin check (stated tolerance): time, voltage, current and step index agree
with ``bdf/SINTEF__LiGrR2032__2024-04-30__25degC__Landt.bdf.csv`` to a
relative 1e-12 (both files print the same decimals), and the charge and
discharge passed within every step agree to 1e-12 Ah. The canonical
cumulative-within-cycle columns themselves differ where the cycle numbering
differs: the LANDT file numbers rest+discharge+charge as cycle 1, while the
BDF twin has no cycle column and voltlab infers a new cycle at the first
charge after a discharge.
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
from voltlab.data.readers.bdf import BdfCsvReader
from voltlab.data.readers.landt import LandtTidyReader
from voltlab.errors import DataFormatError

FUZZ = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
EXACT = 1e-12
NAME = "SINTEF__LiGrR2032__2024-04-30__25degC__Landt.csv"
TWIN = "SINTEF__LiGrR2032__2024-04-30__25degC__Landt.bdf.csv"


@pytest.fixture
def landt(samples) -> Path:
    return samples / "landt" / NAME


def _raw(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh.read().splitlines()[6:]))


def test_raw_values(landt):
    d = LandtTidyReader.read(landt)
    ts = d.timeseries
    raw = _raw(landt)
    assert d.n_rows == len(raw) == 25162
    assert d.cycles == [1, 2]
    # line 8: 1,1,1,04/30/2024 14:33:19,0.020,0.020,0.0000,2.9215,0,0,0,0,0,0,0,0,rest,
    assert ts["test_time_second"].iloc[0] == pytest.approx(0.020, rel=EXACT)
    assert ts["voltage_volt"].iloc[0] == pytest.approx(2.9215, rel=EXACT)
    assert ts["step_name"].iloc[0] == "rest"
    # first 'discharge CC' row: -0.0002 A (negative = discharge), 'charge CC' rows +0.0002 A
    k = next(i for i, r in enumerate(raw) if r["step_name"] == "discharge CC")
    assert raw[k]["current_A"] == "-0.0002"
    assert ts["current_ampere"].iloc[k] == pytest.approx(-0.0002, rel=EXACT)
    j = next(i for i, r in enumerate(raw) if r["step_name"] == "charge CC")
    assert ts["current_ampere"].iloc[j] == pytest.approx(0.0002, rel=EXACT)
    assert d.metadata.extra["start_time"] == "04/30/2024 14:33:19"


def test_capacities_cumulative_within_cycle(landt):
    ts = LandtTidyReader.read(landt).timeseries
    raw = _raw(landt)
    cyc = ts["cycle_count"].to_numpy()
    last1 = int(np.flatnonzero(cyc == 1)[-1])
    # the raw counters reset at each step: the discharge of cycle 1 ends at 0.0063 Ah, and during the
    # following charge step the raw column is back to 0 while the canonical one holds 0.0063 Ah
    k = max(i for i, r in enumerate(raw) if r["cycle_index"] == "1" and r["step_name"] == "discharge CC")
    assert raw[k]["discharge_capacity_Ah"] == "0.0063"
    assert raw[last1]["discharge_capacity_Ah"] == "0"
    assert ts["discharging_capacity_ah"].iloc[last1] == pytest.approx(0.0063, rel=EXACT)
    assert ts["charging_capacity_ah"].iloc[last1] == pytest.approx(float(raw[last1]["charge_capacity_Ah"]), rel=EXACT)
    assert ts["discharging_capacity_ah"].iloc[-1] == pytest.approx(float(raw[-1]["discharge_capacity_Ah"]), rel=EXACT)
    assert ts["charging_capacity_ah"].iloc[-1] == 0.0  # cycle 2 holds only a discharge
    assert ts["discharging_energy_wh"].iloc[last1] == pytest.approx(0.0012, rel=EXACT)


def test_empty_channels_dropped(landt):
    d = LandtTidyReader.read(landt)
    assert d.metadata.extra["empty_channels"] == [
        "temperature_celsius", "temperature_2_celsius", "temperature_3_celsius", "pressure_psi"]
    assert "temperature_celsius" not in d.timeseries.columns


def test_same_values_as_bdf_twin(landt, samples):
    a = LandtTidyReader.read(landt).timeseries
    b = BdfCsvReader.read(samples / "bdf" / TWIN).timeseries
    assert len(a) == len(b)
    for col in ("test_time_second", "voltage_volt", "current_ampere"):
        np.testing.assert_allclose(a[col].to_numpy(), b[col].to_numpy(), rtol=EXACT, atol=0)
    np.testing.assert_array_equal(a["step_index"].to_numpy(), b["step_index"].to_numpy())
    # capacity passed within each step: identical to 1e-12 Ah although cycle numbering differs
    steps = a["step_count"].to_numpy()
    for col in ("charging_capacity_ah", "discharging_capacity_ah"):
        da = a[col].groupby(steps).agg(lambda s: s.iloc[-1] - s.iloc[0])
        db = b[col].groupby(steps).agg(lambda s: s.iloc[-1] - s.iloc[0])
        np.testing.assert_allclose(da.to_numpy(), db.to_numpy(), rtol=0, atol=1e-12)
    assert a["cycle_count"].tolist() != b["cycle_count"].tolist()  # see module docstring


def test_detection_not_confused_with_bdf(landt, samples, tmp_path):
    twin = samples / "bdf" / TWIN
    assert detect_format(landt) is LandtTidyReader
    assert detect_format(twin) is BdfCsvReader
    assert LandtTidyReader.sniff(twin, twin.read_bytes()[:65536]) == 0.0
    dat = tmp_path / "renamed.dat"
    shutil.copy(landt, dat)
    assert detect_format(dat) is LandtTidyReader
    assert read_cycler_file(dat).n_rows == 25162


def test_wrong_format(samples):
    other = samples / "bdf" / TWIN
    with pytest.raises(DataFormatError, match="not a LANDT tidy CSV") as ei:
        LandtTidyReader.read(other)
    assert str(other) in str(ei.value)


@FUZZ
@given(data=st.data())
def test_fuzz(landt, tmp_path, reader_robust, data):
    base = b"".join(landt.read_bytes().splitlines(keepends=True)[:200])
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
    reader_robust(LandtTidyReader.read, raw, tmp_path / "fuzz.csv")
