"""Indigo HDF5 reader against beep's indigo_test_sample.h5.

Raw values are taken with h5py straight from the pandas block datasets
(``block0_values`` int32, ``block1_values`` int64, ``block2_values`` float32),
independently of the reader; float32 values are compared at float32 precision.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from voltlab.data.readers import detect_format, read_cycler_file
from voltlab.data.readers.indigo import IndigoReader, _load_h5py
from voltlab.errors import DataFormatError

FUZZ = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
F32 = 1e-6  # float32 values: compare at float32 precision


@pytest.fixture
def indigo(samples) -> Path:
    return samples / "indigo" / "indigo_test_sample.h5"


def _raw(path: Path) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    with h5py.File(path, "r") as fh:
        g = fh["time_series_data"]
        for k in range(3):
            items = [x.decode() for x in g[f"block{k}_items"][()]]
            values = g[f"block{k}_values"][()]
            for j, name in enumerate(items):
                out[name] = values[:, j]
    return out


def test_raw_values(indigo):
    d = IndigoReader.read(indigo)
    ts = d.timeseries
    raw = _raw(indigo)
    assert d.n_rows == 20000
    assert d.cycles == list(range(1, 85))
    # first row: time_s 31.532019, voltage 4.053948, current -4.996267 (discharge), 35.75 degC
    assert ts["test_time_second"].iloc[0] == pytest.approx(31.532019, rel=F32)
    assert ts["voltage_volt"].iloc[0] == pytest.approx(4.053948, rel=F32)
    assert ts["current_ampere"].iloc[0] == pytest.approx(-4.996267, rel=F32)
    assert ts["temperature_celsius"].iloc[0] == 35.75
    for name, col in (("time_s", "test_time_second"), ("cell_voltage_v", "voltage_volt"),
                      ("cell_current_a", "current_ampere"), ("cell_power_w", "power_watt")):
        np.testing.assert_array_equal(ts[col].to_numpy(), raw[name].astype(np.float64))
    np.testing.assert_array_equal(ts["cycle_count"].to_numpy(), raw["cycle_count"])
    # system_time_us (Unix microseconds) -> seconds
    assert ts["unix_time_second"].iloc[0] == pytest.approx(1570746395.467835, rel=1e-15)
    assert d.metadata.extra["indigo_cell_id"] == 452


def test_signs_and_capacities(indigo):
    ts = IndigoReader.read(indigo).timeseries
    raw = _raw(indigo)
    half = raw["half_cycle_count"]
    q = raw["cell_coulomb_count_c"].astype(np.float64)
    # half cycle 3 (first half of cycle 2) is a discharge: its counter goes down to -67293.47 C
    in3 = half == 3
    assert q[in3].min() == pytest.approx(-67293.468750, rel=F32)
    assert (ts["current_ampere"].to_numpy()[in3].mean()) < 0
    last2 = int(np.flatnonzero(ts["cycle_count"].to_numpy() == 2)[-1])
    assert ts["discharging_capacity_ah"].iloc[last2] == pytest.approx(-q[in3].min() / 3600, rel=1e-12)
    # half cycle 4 (charge) ends at +67108.49 C
    in4 = half == 4
    assert ts["charging_capacity_ah"].iloc[last2] == pytest.approx(q[in4].max() / 3600, rel=1e-12)
    assert (ts["current_ampere"].to_numpy()[in4] > -0.1).all()
    # cumulative within cycle, and one step per half cycle
    for _, g in ts.groupby("cycle_count"):
        for c in ("charging_capacity_ah", "discharging_capacity_ah", "charging_energy_wh"):
            v = g[c].to_numpy()
            assert v[0] == 0.0
            assert np.all(np.diff(v) >= 0)
    assert ts["step_count"].iloc[-1] == 169
    # energy: joules -> Wh, counted from the first row of the cycle (its counter reads -17.5 mJ there)
    e = raw["cell_energy_j"].astype(np.float64)
    first2 = int(np.flatnonzero(in3)[0])
    expected = -(e[in3].min() - e[first2]) / 3600
    assert ts["discharging_energy_wh"].iloc[last2] == pytest.approx(expected, rel=1e-12)


def test_h5py_fallback_matches_pandas(indigo):
    a = _load_h5py(indigo)
    b = pd.read_hdf(indigo, "time_series_data").reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b)


def test_detection(indigo, tmp_path):
    assert detect_format(indigo) is IndigoReader
    dat = tmp_path / "renamed.dat"
    shutil.copy(indigo, dat)
    assert detect_format(dat) is IndigoReader
    assert read_cycler_file(dat).n_rows == 20000


def test_wrong_format(samples, tmp_path):
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as fh:
        fh["something"] = np.arange(3)
    assert IndigoReader.sniff(other, other.read_bytes()[:65536]) == 0.0
    with pytest.raises(DataFormatError, match="time_series_data") as ei:
        IndigoReader.read(other)
    assert str(other) in str(ei.value)
    text = samples / "pec" / "Test25195.csv"
    with pytest.raises(DataFormatError, match="not an HDF5 file"):
        IndigoReader.read(text)


def test_corrupted_file_that_crashed_pytables_is_a_clear_error(indigo, tmp_path):
    """13 bytes inserted after the superblock (found by test_fuzz): PyTables' HDF5 calls segfaulted on
    it, killing the process; the reader now opens such files with h5py, which raises."""
    base = indigo.read_bytes()
    bad = tmp_path / "corrupt.h5"
    bad.write_bytes(base[:56] + b"\x1a\x93\xed\x83&y\xde\xb1\xcb\xd7c\xeb\xe9" + base[56:])
    with pytest.raises(DataFormatError, match="address of object past end of allocation") as ei:
        IndigoReader.read(bad)
    assert str(bad) in str(ei.value)


@FUZZ
@given(data=st.data())
def test_fuzz(indigo, tmp_path, reader_robust, data):
    base = indigo.read_bytes()
    kind = data.draw(st.sampled_from(["truncate", "flip", "garbage", "empty"]))
    if kind == "truncate":
        raw = base[: data.draw(st.integers(0, len(base)))]
    elif kind == "flip":
        b = bytearray(base)
        for _ in range(data.draw(st.integers(1, 20))):
            b[data.draw(st.integers(0, len(b) - 1))] = data.draw(st.integers(0, 255))
        raw = bytes(b)
    elif kind == "garbage":
        k = data.draw(st.integers(0, len(base)))
        raw = base[:k] + data.draw(st.binary(min_size=1, max_size=200)) + base[k:]
    else:
        raw = b""
    reader_robust(IndigoReader.read, raw, tmp_path / "fuzz.h5")
