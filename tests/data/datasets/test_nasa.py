"""NASA PCoE battery-ageing loaders: CSV discharge curves, per-cycle summaries, original .mat."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.io
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from voltlab.data.cycling import CyclingData
from voltlab.data.datasets import (
    NasaPcoeMat,
    load_nasa_pcoe,
    load_nasa_pcoe_mat,
    load_nasa_pcoe_summary,
)
from voltlab.errors import DataFormatError, MissingFileError, SchemaError, VoltlabError

FUZZ = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _load_or_error(load, path: Path):
    """``(result, None)`` on success, ``(None, error)`` for a VoltlabError (anything else propagates)."""
    try:
        return load(path), None
    except VoltlabError as exc:
        return None, exc
CELLS = ("B0005", "B0006", "B0007", "B0018")
N_DISCHARGES = {"B0005": 168, "B0006": 168, "B0007": 168, "B0018": 132}
CAPACITY_TOL_AH = 0.03  # acceptance criterion: Coulomb-counted vs NASA's Capacity, every cycle

_LOADED: dict[Path, list[CyclingData]] = {}


@pytest.fixture
def nasa_root(shared_data: Path) -> Path:
    root = shared_data / "nasa_pcoe_battery_aging"
    assert root.is_dir(), f"{root} missing from shared/data"
    return root


@pytest.fixture
def nasa_cells(nasa_root: Path) -> list[CyclingData]:
    if nasa_root not in _LOADED:
        _LOADED[nasa_root] = load_nasa_pcoe(nasa_root)
    return _LOADED[nasa_root]


# ---------------------------------------------------------------------------- CSV curves


@pytest.mark.shared
def test_b0005_rows_cycles_and_raw_values(nasa_cells: list[CyclingData]) -> None:
    cell = nasa_cells[0]
    ts = cell.timeseries
    assert cell.cell_id == "B0005"
    assert len(ts) == 50285
    assert cell.cycles == list(range(1, 169))
    # first data line: 4.191491807505295,-0.0049015892074626,24.330033885570543,-0.0006,0.0,0.0,1
    first = ts.iloc[0]
    assert first["voltage_volt"] == pytest.approx(4.191491807505295, abs=1e-12)
    assert first["current_ampere"] == pytest.approx(-0.0049015892074626, abs=1e-15)
    assert first["temperature_celsius"] == pytest.approx(24.330033885570543, abs=1e-12)
    assert first["test_time_second"] == 0.0
    assert first["cycle_count"] == 1
    # third line is in the 2 A discharge: negative current, as in the file (A, no scaling)
    third = ts.iloc[2]
    assert third["current_ampere"] == pytest.approx(-2.0125283240860368, abs=1e-12)
    assert third["cycle_time_second"] == pytest.approx(35.703, abs=1e-9)
    assert third["load_current_ampere"] == pytest.approx(-1.9982, abs=1e-12)
    assert third["load_voltage_volt"] == pytest.approx(3.062, abs=1e-12)
    assert cell.metadata.nominal_capacity_ah == 2.0
    assert cell.metadata.source_format == "nasa_pcoe_csv"
    assert cell.metadata.extra["discharge_cutoff_volt"] == 2.7


@pytest.mark.shared
@pytest.mark.parametrize("k", range(4))
def test_all_cells_discharge_counts_and_continuous_time(nasa_cells: list[CyclingData], k: int) -> None:
    cell = nasa_cells[k]
    assert cell.cell_id == CELLS[k]
    ts = cell.timeseries
    assert ts["cycle_count"].nunique() == N_DISCHARGES[cell.cell_id]
    t = ts["test_time_second"].to_numpy()
    assert np.all(np.diff(t) > 0)  # strictly increasing across the whole test
    # within a cycle the stitched clock keeps NASA's spacing
    for _, g in ts.groupby("cycle_count"):
        np.testing.assert_allclose(np.diff(g["test_time_second"]), np.diff(g["cycle_time_second"]), atol=1e-6)
    assert (ts.groupby("cycle_count")["cycle_time_second"].first() == 0.0).all()
    # capacity is cumulative within each cycle: starts at 0, never decreases
    cap = ts.groupby("cycle_count")["discharging_capacity_ah"]
    assert (cap.first() == 0.0).all()
    assert (cap.apply(lambda s: np.diff(s.to_numpy()).min()) >= 0).all()


@pytest.mark.shared
@pytest.mark.parametrize("k", range(4))
def test_coulomb_counted_capacity_matches_nasa_capacity(
    nasa_cells: list[CyclingData], nasa_root: Path, k: int
) -> None:
    cell = nasa_cells[k]
    ref = load_nasa_pcoe_summary(nasa_root, cells=[cell.cell_id])
    counted = cell.timeseries.groupby("cycle_count")["discharging_capacity_ah"].max()
    assert counted.index.tolist() == ref["cycle_count"].tolist()
    err = np.abs(counted.to_numpy() - ref["discharge_capacity_ah"].to_numpy())
    assert err.max() < CAPACITY_TOL_AH, f"{cell.cell_id}: worst cycle {counted.index[err.argmax()]}"


@pytest.mark.shared
@pytest.mark.parametrize("k", range(4))
def test_cycle_summary_capacity_matches_nasa_capacity(
    nasa_cells: list[CyclingData], nasa_root: Path, k: int
) -> None:
    summary = pytest.importorskip("voltlab.data.summary")
    cell = nasa_cells[k]
    ref = load_nasa_pcoe_summary(nasa_root, cells=[cell.cell_id])
    s = summary.cycle_summary(cell)
    assert s["cycle_count"].tolist() == ref["cycle_count"].tolist()
    err = np.abs(s["discharge_capacity_ah"].to_numpy() - ref["discharge_capacity_ah"].to_numpy())
    assert err.max() < CAPACITY_TOL_AH


@pytest.mark.shared
def test_single_file_and_cell_selection(nasa_root: Path) -> None:
    one = load_nasa_pcoe(nasa_root / "discharge_curves" / "B0018.csv")
    assert len(one) == 1
    assert one[0].cell_id == "B0018"
    assert len(one[0].timeseries) == 34866
    assert one[0].metadata.extra["discharge_cutoff_volt"] == 2.5
    two = load_nasa_pcoe(nasa_root / "discharge_curves", cells=("B0007", "B0006"))
    assert [c.cell_id for c in two] == ["B0007", "B0006"]


@pytest.mark.shared
def test_missing_paths_name_nasa_repository(tmp_path: Path, nasa_root: Path) -> None:
    with pytest.raises(MissingFileError, match=r"nasa\.gov/intelligent-systems-division.*Battery Data Set"):
        load_nasa_pcoe(tmp_path / "nowhere")
    with pytest.raises(MissingFileError, match="B0042") as exc:
        load_nasa_pcoe(nasa_root, cells=["B0042"])
    assert "pcoe-data-set-repository" in str(exc.value)
    with pytest.raises(MissingFileError, match="Battery Data Set"):
        load_nasa_pcoe_mat(tmp_path / "B0005.mat")
    with pytest.raises(MissingFileError):
        load_nasa_pcoe_summary(tmp_path / "nowhere")


@pytest.mark.shared
def test_wrong_file_names_file_and_column(shared_data: Path, tmp_path: Path) -> None:
    other = shared_data / "severson_attia_2019_cycle_life" / "batch1_per_cycle_summary" / "batch1_2017-05-12_summary.csv"
    with pytest.raises(SchemaError, match="missing column 'Voltage_measured'") as exc:
        load_nasa_pcoe(other)
    assert str(other) in str(exc.value)
    bad = tmp_path / "B0005.csv"
    bad.write_text(
        "Voltage_measured,Current_measured,Temperature_measured,Current_load,Voltage_load,Time,cycle_idx\n"
        "4.19,-0.004,24.3,-0.0006,0.0,0.0,1\n4.18,-2.0,24.3,-1.99,3.0,x10,1\n"
    )
    with pytest.raises(DataFormatError, match="'x10' is not a number") as exc:
        load_nasa_pcoe(bad)
    assert exc.value.column == "Time"
    assert exc.value.row == 1


# ---------------------------------------------------------------------------- summaries


@pytest.mark.shared
def test_capacity_summary_values(nasa_root: Path) -> None:
    s = load_nasa_pcoe_summary(nasa_root)
    assert s.groupby("cell_id").size().to_dict() == N_DISCHARGES
    first = s.iloc[0]  # B0005_capacity.csv line 2
    assert first["cell_id"] == "B0005"
    assert first["cycle_count"] == 1
    assert first["discharge_capacity_ah"] == pytest.approx(1.8564874208181574, abs=1e-12)
    assert first["soh_percent"] == pytest.approx(100.0)
    assert first["capacity_retention"] == pytest.approx(1.0)
    assert first["end_voltage_volt"] == pytest.approx(3.277169976825196, abs=1e-12)
    assert first["temperature_max_celsius"] == pytest.approx(38.98218133148803, abs=1e-12)
    assert first["discharge_time_second"] == pytest.approx(3690.234, abs=1e-9)
    b6 = s[s["cell_id"] == "B0006"]
    # first and last lines of B0006_capacity.csv
    assert b6["discharge_capacity_ah"].iloc[0] == pytest.approx(2.035337591005598, abs=1e-12)
    assert b6["discharge_capacity_ah"].iloc[-1] == pytest.approx(1.1856752327929356, abs=1e-12)
    assert b6["soh_percent"].iloc[-1] == pytest.approx(58.254475229690506, abs=1e-12)


@pytest.mark.shared
def test_feature_summaries(nasa_root: Path) -> None:
    charge = load_nasa_pcoe_summary(nasa_root, kind="charge_features")
    assert charge.groupby("cell_id").size().to_dict() == {"B0005": 170, "B0006": 170, "B0007": 170, "B0018": 134}
    assert list(charge.columns) == ["cell_id", "charge_index", "temperature_max_celsius", "charge_time_second"]
    assert charge["charge_time_second"].iloc[0] == pytest.approx(7597.875, abs=1e-9)
    dis = load_nasa_pcoe_summary(nasa_root / "per_cycle_summary" / "B0005_discharge_features.csv")
    assert dis.attrs["kind"] == "discharge_features"
    assert dis["ic_peak"].iloc[0] == pytest.approx(22694.72595654437, abs=1e-9)
    with pytest.raises(ValueError, match="kind must be one of"):
        load_nasa_pcoe_summary(nasa_root, kind="impedance")


# ---------------------------------------------------------------------------- fuzz


@pytest.fixture
def b0005_prefix(nasa_root: Path) -> bytes:
    lines = (nasa_root / "discharge_curves" / "B0005.csv").read_bytes().splitlines(keepends=True)
    return b"".join(lines[:700])  # header + the first two discharges and part of the third


@pytest.mark.shared
@FUZZ
@given(data=st.data())
def test_csv_loader_fuzz(data: st.DataObject, b0005_prefix: bytes, tmp_path: Path, reader_robust) -> None:
    raw = bytearray(b0005_prefix)
    op = data.draw(st.sampled_from(["truncate", "flip", "garbage", "empty"]))
    if op == "truncate":
        raw = raw[: data.draw(st.integers(0, len(raw)))]
    elif op == "flip":
        for _ in range(data.draw(st.integers(1, 20))):
            raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    elif op == "garbage":
        at = raw.find(b"\n", data.draw(st.integers(0, len(raw) - 1))) + 1
        raw[at:at] = data.draw(st.binary(min_size=1, max_size=120)).replace(b"\n", b" ") + b"\n"
    else:
        raw = bytearray()
    reader_robust(lambda p: load_nasa_pcoe(p)[0], bytes(raw), tmp_path / "B0005.csv")


@pytest.mark.shared
@FUZZ
@given(data=st.data())
def test_summary_loader_fuzz(data: st.DataObject, nasa_root: Path, tmp_path: Path) -> None:
    raw = bytearray((nasa_root / "per_cycle_summary" / "B0005_capacity.csv").read_bytes()[:3000])
    for _ in range(data.draw(st.integers(0, 15))):
        raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    raw = raw[: data.draw(st.integers(0, len(raw)))]
    p = tmp_path / "B0005_capacity.csv"
    p.write_bytes(bytes(raw))
    out, err = _load_or_error(load_nasa_pcoe_summary, p)
    if err is not None:
        assert str(p) in str(err)
    else:
        assert isinstance(out, pd.DataFrame)


# ---------------------------------------------------------------------------- original .mat

# A small file reproducing the layout of the original B000X.mat (MATLAB v5):
# variable B0005 = struct with field `cycle`, a 1 x n struct array with fields
# type / ambient_temperature / time (date vector) / data; `data` holds
# Voltage_measured, Current_measured, Temperature_measured, Current_charge,
# Voltage_charge, Time for charges, Current_load, Voltage_load, Time, Capacity
# for discharges, and the EIS spectra plus Re, Rct for impedance records.


def _row(x: np.ndarray) -> np.ndarray:
    return np.asarray(x, dtype=np.float64).reshape(1, -1)


def _charge(n: int = 25, dur: float = 3600.0) -> dict[str, np.ndarray]:
    t = np.linspace(0.0, dur, n)
    return {
        "Voltage_measured": _row(np.linspace(3.6, 4.2, n)), "Current_measured": _row(np.full(n, 1.5)),
        "Temperature_measured": _row(np.full(n, 25.0)), "Current_charge": _row(np.full(n, 1.5)),
        "Voltage_charge": _row(np.linspace(3.7, 4.3, n)), "Time": _row(t),
    }


def _discharge(capacity_ah: float, n: int = 40) -> dict[str, np.ndarray]:
    t = np.linspace(0.0, capacity_ah / 2.0 * 3600.0, n)
    return {
        "Voltage_measured": _row(np.linspace(4.1, 2.7, n)), "Current_measured": _row(np.full(n, -2.0)),
        "Temperature_measured": _row(np.linspace(25.0, 38.0, n)), "Current_load": _row(np.full(n, -2.0)),
        "Voltage_load": _row(np.linspace(3.1, 2.1, n)), "Time": _row(t), "Capacity": np.array([[capacity_ah]]),
    }


def _impedance(re: float, rct: float) -> dict[str, np.ndarray]:
    spectrum = (np.linspace(0.05, 0.1, 48) + 1j * np.linspace(-0.01, 0.02, 48)).reshape(-1, 1)
    return {
        "Sense_current": _row(np.ones(48)) * (1 + 1j), "Battery_current": _row(np.ones(48)) * (0.9 + 1j),
        "Current_ratio": _row(np.ones(48)) + 0j, "Battery_impedance": spectrum,
        "Rectified_Impedance": spectrum[:40], "Re": np.array([[re]]), "Rct": np.array([[rct]]),
    }


def write_nasa_mat(path: Path, name: str = "B0005") -> None:
    records = [
        ("charge", [2008, 4, 2, 13, 8, 17.921], _charge()),
        ("discharge", [2008, 4, 2, 15, 25, 41.593], _discharge(1.856)),
        ("impedance", [2008, 4, 2, 16, 37, 51.984], _impedance(0.0446, 0.0693)),
        ("charge", [2008, 4, 2, 17, 0, 0.0], _charge()),
        ("charge", [2008, 4, 2, 18, 30, 0.0], _charge(n=5, dur=300.0)),
        ("discharge", [2008, 4, 2, 19, 0, 0.0], _discharge(1.846)),
        ("impedance", [2008, 4, 2, 20, 0, 0.0], _impedance(0.0450, 0.0700)),
    ]
    dtype = [("type", "O"), ("ambient_temperature", "O"), ("time", "O"), ("data", "O")]
    cycle = np.empty((1, len(records)), dtype=dtype)
    for k, (kind, date, data) in enumerate(records):
        cycle[0, k] = (kind, np.array([[24]], dtype=np.uint8), np.array([date], dtype=np.float64), data)
    scipy.io.savemat(path, {name: {"cycle": cycle}})


@pytest.fixture
def mat_file(tmp_path: Path) -> Path:
    p = tmp_path / "B0005.mat"
    write_nasa_mat(p)
    return p


def test_synthetic_mat_has_original_layout(mat_file: Path) -> None:
    m = scipy.io.loadmat(mat_file)
    cyc = m["B0005"][0, 0]["cycle"]
    assert cyc.shape == (1, 7)
    assert set(cyc.dtype.names) == {"type", "ambient_temperature", "time", "data"}
    assert cyc[0, 1]["type"][0] == "discharge"
    assert "Capacity" in cyc[0, 1]["data"].dtype.names
    assert "Current_charge" in cyc[0, 0]["data"].dtype.names


def test_mat_curves_cycles_and_capacity(mat_file: Path) -> None:
    out = load_nasa_pcoe_mat(mat_file)
    assert isinstance(out, NasaPcoeMat)
    ts = out.data.timeseries
    assert out.data.cell_id == "B0005"
    assert out.data.metadata.source_format == "nasa_pcoe_mat"
    assert out.data.metadata.extra["start_time"] == "2008-04-02T13:08:17.921000"
    # a cycle = the charge(s) before a discharge plus that discharge; EIS records hold no curve
    assert out.data.cycles == [1, 2]
    assert ts["record_index"].unique().tolist() == [0, 1, 3, 4, 5]
    assert ts.groupby("cycle_count")["record_index"].unique().map(list).to_dict() == {1: [0, 1], 2: [3, 4, 5]}
    # sign: charge +1.5 A, discharge -2 A as in Current_measured
    assert ts.loc[ts["record_index"] == 0, "current_ampere"].iloc[0] == 1.5
    assert ts.loc[ts["record_index"] == 1, "current_ampere"].iloc[0] == -2.0
    # test time from the record start dates: the first discharge starts 2 h 17 min 23.672 s in
    t1 = ts.loc[ts["record_index"] == 1, "test_time_second"]
    assert t1.iloc[0] == pytest.approx(2 * 3600 + 17 * 60 + 23.672, abs=1e-6)
    assert np.all(np.diff(ts["test_time_second"].to_numpy()) > 0)
    # Coulomb counting per cycle, not across the gap between records
    by_cycle = ts.groupby("cycle_count")
    assert by_cycle["charging_capacity_ah"].max().tolist() == pytest.approx([1.5, 1.5 + 0.125], abs=1e-9)
    assert by_cycle["discharging_capacity_ah"].max().tolist() == pytest.approx([1.856, 1.846], abs=1e-9)
    assert (by_cycle["discharging_capacity_ah"].first() == 0).all()
    charge_rows = ts[ts["record_index"] == 0]
    assert charge_rows["instrument_voltage_volt"].iloc[0] == pytest.approx(3.7)
    assert ts["ambient_temperature_celsius"].unique().tolist() == [24.0]

    cap = out.capacity
    assert cap["cycle_count"].tolist() == [1, 2]
    assert cap["discharge_capacity_ah"].tolist() == pytest.approx([1.856, 1.846])
    assert cap["coulomb_counted_capacity_ah"].tolist() == pytest.approx([1.856, 1.846], abs=1e-9)


def test_mat_impedance_records(mat_file: Path) -> None:
    eis = load_nasa_pcoe_mat(mat_file).impedance
    assert eis["record_index"].tolist() == [2, 6]
    assert eis["cycle_count"].tolist() == [2, 3]
    assert eis["electrolyte_resistance_ohm"].tolist() == pytest.approx([0.0446, 0.0450])
    assert eis["charge_transfer_resistance_ohm"].tolist() == pytest.approx([0.0693, 0.0700])
    assert eis["test_time_second"].iloc[0] == pytest.approx(3 * 3600 + 29 * 60 + 34.063, abs=1e-6)


def test_mat_cycle_summary_capacity(mat_file: Path) -> None:
    summary = pytest.importorskip("voltlab.data.summary")
    out = load_nasa_pcoe_mat(mat_file)
    s = summary.cycle_summary(out.data)
    assert s["discharge_capacity_ah"].tolist() == pytest.approx(out.capacity["discharge_capacity_ah"].tolist())


def test_mat_wrong_files(tmp_path: Path) -> None:
    no_cycle = tmp_path / "other.mat"
    scipy.io.savemat(no_cycle, {"x": np.arange(3.0)})
    with pytest.raises(SchemaError, match="no struct with a 'cycle' field") as exc:
        load_nasa_pcoe_mat(no_cycle)
    assert str(no_cycle) in str(exc.value)
    text = tmp_path / "B0005.mat"
    text.write_text("Voltage_measured,Current_measured\n1,2\n")
    with pytest.raises(DataFormatError, match=r"B0005\.mat"):
        load_nasa_pcoe_mat(text)


def test_mat_unknown_record_type(tmp_path: Path) -> None:
    p = tmp_path / "B0006.mat"
    cycle = np.empty((1, 1), dtype=[("type", "O"), ("ambient_temperature", "O"), ("time", "O"), ("data", "O")])
    cycle[0, 0] = ("rest", np.array([[24]]), np.array([[2008, 4, 2, 13, 8, 17.9]]), _charge())
    scipy.io.savemat(p, {"B0006": {"cycle": cycle}})
    with pytest.raises(DataFormatError, match="unknown type 'rest'"):
        load_nasa_pcoe_mat(p)


@pytest.fixture
def mat_bytes(tmp_path: Path) -> bytes:
    p = tmp_path / "seed.mat"
    write_nasa_mat(p)
    return p.read_bytes()


@FUZZ
@given(data=st.data())
def test_mat_loader_fuzz(data: st.DataObject, mat_bytes: bytes, tmp_path: Path) -> None:
    raw = bytearray(mat_bytes)
    op = data.draw(st.sampled_from(["truncate", "flip", "empty"]))
    if op == "truncate":
        raw = raw[: data.draw(st.integers(0, len(raw) - 1))]
    elif op == "flip":
        for _ in range(data.draw(st.integers(1, 20))):
            raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    else:
        raw = bytearray()
    p = tmp_path / "B0005.mat"
    p.write_bytes(bytes(raw))
    out, err = _load_or_error(load_nasa_pcoe_mat, p)
    if err is not None:
        assert str(p) in str(err)
    else:
        assert isinstance(out.data, CyclingData)
