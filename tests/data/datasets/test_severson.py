"""Severson et al. (2019) loaders: Qdlin data set, batch-1 summary, original batch .mat (HDF5)."""

from __future__ import annotations

import shutil
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from voltlab.data.cycling import CyclingData
from voltlab.data.datasets import (
    SeversonDataset,
    load_severson_batch1_summary,
    load_severson_batch_mat,
    load_severson_qdlin,
)
from voltlab.errors import DataFormatError, MissingFileError, SchemaError, VoltlabError

FUZZ = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _load_or_error(load, path: Path):
    """``(result, None)`` on success, ``(None, error)`` for a VoltlabError (anything else propagates)."""
    try:
        return load(path), None
    except VoltlabError as exc:
        return None, exc
BATCH1_NAME = "2017-05-12_batchdata_updated_struct_errorcorrect.mat"


_LOADED: dict[Path, SeversonDataset] = {}


@pytest.fixture
def sev_root(shared_data: Path) -> Path:
    root = shared_data / "severson_attia_2019_cycle_life"
    assert root.is_dir(), f"{root} missing from shared/data"
    return root


@pytest.fixture
def dataset(sev_root: Path) -> SeversonDataset:
    # loading 124 gzip'd matrices takes a few seconds: once per test process
    if sev_root not in _LOADED:
        _LOADED[sev_root] = load_severson_qdlin(sev_root)
    return _LOADED[sev_root]


# ---------------------------------------------------------------------------- Qdlin data set


@pytest.mark.shared
def test_qdlin_has_124_cells_with_published_split(dataset: SeversonDataset) -> None:
    assert len(dataset) == 124
    assert dataset.qdlin_ah.shape == (124, 1000, 99)
    counts = pd.Series(dataset.split).value_counts().to_dict()
    assert counts == {"train": 41, "test1": 43, "test2": 40}
    assert dataset.cycle_numbers.tolist() == list(range(2, 101))
    assert dataset.cell_ids[0] == "train-cell1"
    assert dataset.cell_ids[41] == "test1-cell1"


@pytest.mark.shared
def test_qdlin_voltage_grid_is_monotonic(dataset: SeversonDataset) -> None:
    v = dataset.voltage_grid_volt
    assert v.shape == (1000,)
    assert np.all(np.diff(v) < 0)
    assert v[0] == pytest.approx(3.5, abs=1e-12)
    assert v[-1] == pytest.approx(2.0, abs=1e-12)


@pytest.mark.shared
def test_qdlin_values_match_raw_file(dataset: SeversonDataset, sev_root: Path) -> None:
    # first two numbers of train/cell1.csv.gz, row 0 (3.5 V): cycles 2 and 3
    assert dataset.qdlin_ah[0, 0, 0] == pytest.approx(-0.00046003, abs=1e-12)
    assert dataset.qdlin_ah[0, 0, 1] == pytest.approx(-0.0003519, abs=1e-12)
    raw = pd.read_csv(sev_root / "qdlin_cycles2to100" / "test2" / "cell40.csv.gz", header=None).to_numpy()
    np.testing.assert_array_equal(dataset.qdlin_ah[-1], raw)
    # capacity grows as the voltage falls: Q(2.0 V) ~ 1.06 Ah for the first train cell, cycle 2
    assert dataset.qdlin_ah[0, -1, 0] == pytest.approx(1.061, abs=1e-4)


@pytest.mark.shared
def test_published_cycle_lives_and_table9(dataset: SeversonDataset) -> None:
    train = dataset.subset("train")
    # first lines of train/test1/test2_cycle_lives.csv and Table 9 rows
    assert train.cycle_life[:3].tolist() == [2160, 1434, 1074]
    assert train.barcode[0] == "EL150800460486"
    assert train.charging_policy[0] == "3.6C(80%)-3.6C"
    assert train.batch_date[0] == "2017-05-12"
    test1 = dataset.subset("test1")
    assert test1.cycle_life[0] == 1852
    assert test1.barcode[0] == "EL150800460514"
    test2 = dataset.subset("test2")
    assert test2.cycle_life[-1] == 1801
    assert test2.charging_policy[-1] == "4.36C(80%)-4.36C"
    assert test2.batch_date[-1] == "2018-04-12"
    assert dataset.cycle_life.min() == 148
    assert dataset.cycle_life.max() == 2237
    frame = dataset.to_frame().sort_values("table_row")
    assert frame["barcode"].iloc[0] == "EL150800460514"  # Table 9 row 0 is a primary-test cell


@pytest.mark.shared
def test_delta_q_log_variance_correlates_with_cycle_life(dataset: SeversonDataset) -> None:
    train = dataset.subset("train")
    dq = train.delta_q(100, 10)
    assert dq.shape == (41, 1000)
    np.testing.assert_array_equal(dq, train.qdlin_ah[:, :, 98] - train.qdlin_ah[:, :, 8])
    x = np.log10(np.var(dq, axis=1))
    y = np.log10(train.cycle_life)
    r = np.corrcoef(x, y)[0, 1]
    assert r == pytest.approx(-0.904, abs=0.005)  # SOURCE.md: -0.904 (paper: about -0.93)


@pytest.mark.shared
def test_delta_q_rejects_cycles_outside_the_data(dataset: SeversonDataset) -> None:
    with pytest.raises(ValueError, match="accepted 2 to 100"):
        dataset.delta_q(101, 10)
    with pytest.raises(ValueError, match="split must be one of"):
        dataset.indices("validation")


@pytest.mark.shared
def test_qdlin_dataset_is_read_only(dataset: SeversonDataset) -> None:
    with pytest.raises(ValueError, match="read-only"):
        dataset.qdlin_ah[0, 0, 0] = 1.0


@pytest.mark.shared
def test_source_ids_join_qdlin_with_batch1_summary(dataset: SeversonDataset, sev_root: Path) -> None:
    summary = load_severson_batch1_summary(sev_root)
    frame = dataset.to_frame()
    b1 = frame[frame["source_cell_id"].str.startswith("b1c")]
    assert len(b1) == 41
    assert set(frame["source_cell_id"].str[:2]) == {"b1", "b2", ""}
    matches = 0
    for _, row in b1.iterrows():
        cell = summary[summary["cell_id"] == row["source_cell_id"]].set_index("cycle_count")
        matches += int(cell.index.max() + 1 == row["cycle_life"])
        # Qdlin at 2.0 V (CC part of the discharge) sits just below QDischarge (CC + CV)
        k = dataset.cell_ids.index(row["cell_id"])
        gap = cell.loc[2:100, "discharge_capacity_ah"].to_numpy() - dataset.qdlin_ah[k, -1, :]
        assert np.median(gap) == pytest.approx(0.02, abs=0.03)
    assert matches == 36  # the other 5 (b1c0-b1c4) continued in batch 2
    continued = frame.set_index("source_cell_id").loc[["b1c0", "b1c1", "b1c2", "b1c3", "b1c4"], "cycle_life"]
    assert continued.tolist() == [1852, 2160, 2237, 1434, 1709]


def test_qdlin_missing_root_names_download_site(tmp_path: Path) -> None:
    with pytest.raises(MissingFileError, match=r"data\.matr\.io/1/"):
        load_severson_qdlin(tmp_path / "nope")


@pytest.mark.shared
def test_qdlin_rejects_inconsistent_release(sev_root: Path, tmp_path: Path) -> None:
    root = tmp_path / "sev"
    shutil.copytree(sev_root / "cycle_lives", root / "cycle_lives")
    (root / "qdlin_cycles2to100").mkdir(parents=True)
    shutil.copy(sev_root / "severson_et_al_SI_table9.csv", root)
    lives = root / "cycle_lives" / "train_cycle_lives.csv"
    lines = lives.read_text().splitlines()
    lines[0] = "2161"
    lives.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataFormatError, match="do not match") as exc:
        load_severson_qdlin(root)
    assert "train_cycle_lives.csv" in str(exc.value)


@pytest.mark.shared
def test_qdlin_rejects_wrong_matrix_shape(sev_root: Path, tmp_path: Path) -> None:
    root = tmp_path / "sev"
    shutil.copytree(sev_root / "cycle_lives", root / "cycle_lives")
    shutil.copy(sev_root / "severson_et_al_SI_table9.csv", root)
    train = root / "qdlin_cycles2to100" / "train"
    train.mkdir(parents=True)
    (train / "cell1.csv").write_text("0.1,0.2\n0.3,0.4\n")
    with pytest.raises(DataFormatError, match=r"shape \(2, 2\)") as exc:
        load_severson_qdlin(root)
    assert "cell1.csv" in str(exc.value)


# ---------------------------------------------------------------------------- batch-1 summary


@pytest.mark.shared
def test_batch1_summary_values_and_units(sev_root: Path) -> None:
    s = load_severson_batch1_summary(sev_root / "batch1_per_cycle_summary" / "batch1_2017-05-12_summary.csv")
    assert len(s) == 38811
    assert s["cell_id"].nunique() == 46
    assert list(s.columns) == [
        "cell_id", "cell_index", "cycle_count", "discharge_capacity_ah", "charge_capacity_ah",
        "internal_resistance_ohm", "temperature_max_celsius", "temperature_mean_celsius",
        "charge_time_to_80pct_second", "is_placeholder", "excluded_by_severson", "continued_in_batch2",
    ]
    row = s.iloc[1]  # cell_0, cycle 2.0 in the file
    assert row["cell_id"] == "b1c0"
    assert row["cycle_count"] == 2
    assert row["discharge_capacity_ah"] == pytest.approx(1.0706892, abs=1e-9)
    assert row["charge_capacity_ah"] == pytest.approx(1.0710422, abs=1e-9)
    assert row["internal_resistance_ohm"] == pytest.approx(0.016742354, abs=1e-12)
    assert row["temperature_max_celsius"] == pytest.approx(35.652016, abs=1e-9)
    assert row["temperature_mean_celsius"] == pytest.approx(31.875010776448963, abs=1e-9)
    assert row["charge_time_to_80pct_second"] == pytest.approx(13.341250000000006 * 60, abs=1e-9)
    assert s["cycle_count"].dtype == np.int64


@pytest.mark.shared
def test_batch1_summary_flags_cycle1_zeros_instead_of_dropping(sev_root: Path) -> None:
    s = load_severson_batch1_summary(sev_root)
    flagged = s[s["is_placeholder"]]
    assert len(flagged) == 46
    assert set(flagged["cycle_count"]) == {1}
    assert (flagged["discharge_capacity_ah"] == 0).all()
    excluded = sorted(s.loc[s["excluded_by_severson"], "cell_index"].unique())
    assert excluded == [8, 10, 12, 13, 22]
    assert sorted(s.loc[s["continued_in_batch2"], "cell_index"].unique()) == [0, 1, 2, 3, 4]
    # a known outlier is kept as is: b1c0 cycle 12
    out = s[(s["cell_id"] == "b1c0") & (s["cycle_count"] == 12)]
    assert out["discharge_capacity_ah"].iloc[0] == pytest.approx(1.539, abs=1e-3)


def test_batch1_summary_errors_name_file_and_column(tmp_path: Path) -> None:
    p = tmp_path / "summary.csv"
    p.write_text("cell_id,cycle,QDischarge,QCharge,IR,Tmax,Tavg\ncell_0,1,0,0,0,0,0\n")
    with pytest.raises(SchemaError, match="chargetime") as exc:
        load_severson_batch1_summary(p)
    assert str(p) in str(exc.value)
    p.write_text("cell_id,cycle,QDischarge,QCharge,IR,Tmax,Tavg,chargetime\ncell_0,1,abc,0,0,0,0,0\n")
    with pytest.raises(DataFormatError, match="'abc' is not a number") as exc:
        load_severson_batch1_summary(p)
    assert exc.value.column == "QDischarge"
    assert exc.value.row == 0
    with pytest.raises(MissingFileError, match=r"data\.matr\.io"):
        load_severson_batch1_summary(tmp_path / "absent.csv")


@pytest.mark.shared
@FUZZ
@given(data=st.data())
def test_batch1_summary_fuzz(data: st.DataObject, sev_root: Path, tmp_path: Path) -> None:
    src = sev_root / "batch1_per_cycle_summary" / "batch1_2017-05-12_summary.csv"
    raw = bytearray(src.read_bytes()[:6000])
    op = data.draw(st.sampled_from(["truncate", "flip", "garbage", "empty"]))
    if op == "truncate":
        raw = raw[: data.draw(st.integers(0, len(raw)))]
    elif op == "flip":
        for _ in range(data.draw(st.integers(1, 20))):
            raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    elif op == "garbage":
        at = data.draw(st.integers(0, len(raw)))
        raw[at:at] = data.draw(st.binary(min_size=1, max_size=200)) + b"\n"
    else:
        raw = bytearray()
    p = tmp_path / "fuzz_summary.csv"
    p.write_bytes(bytes(raw))
    out, err = _load_or_error(load_severson_batch1_summary, p)
    if err is not None:
        assert str(p) in str(err)
    else:
        assert isinstance(out, pd.DataFrame)


# ---------------------------------------------------------------------------- original batch .mat

# A synthetic file with the layout of the MATLAB v7.3 batch files: the 1 x N
# struct array `batch` is an HDF5 group whose fields are (N, 1) datasets of
# object references into `#refs#`; each cell's `summary` is a group of
# (1, n_cycles) doubles, its `cycles` a group of (n_cycles, 1) reference
# datasets (one referenced (1, n_points) vector per cycle), char arrays are
# uint16 (n, 1) datasets, empty arrays the (2,) uint64 placeholder with
# MATLAB_empty = 1. Currents are C-rates and times minutes, as in the originals.

MATLAB_HEADER = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Jan  1 00:00:00 2018 HDF5 schema 1.00 ."


class _MatWriter:
    def __init__(self, h5: h5py.File) -> None:
        self.refs = h5.create_group("#refs#")
        self.n = 0

    def _name(self) -> str:
        self.n += 1
        return f"r{self.n}"

    def double(self, values: np.ndarray) -> h5py.Reference:
        arr = np.asarray(values, dtype=np.float64).reshape(1, -1)  # MATLAB column vector
        ds = self.refs.create_dataset(self._name(), data=arr)
        ds.attrs["MATLAB_class"] = np.bytes_("double")
        return ds.ref

    def empty(self) -> h5py.Reference:
        ds = self.refs.create_dataset(self._name(), data=np.zeros(2, dtype=np.uint64))
        ds.attrs["MATLAB_class"] = np.bytes_("double")
        ds.attrs["MATLAB_empty"] = np.uint8(1)
        return ds.ref

    def char(self, text: str) -> h5py.Reference:
        arr = np.array([ord(c) for c in text], dtype=np.uint16).reshape(-1, 1)
        ds = self.refs.create_dataset(self._name(), data=arr)
        ds.attrs["MATLAB_class"] = np.bytes_("char")
        ds.attrs["MATLAB_int_decode"] = np.int32(2)
        return ds.ref

    def struct(self, fields: dict[str, np.ndarray]) -> h5py.Reference:
        g = self.refs.create_group(self._name())
        g.attrs["MATLAB_class"] = np.bytes_("struct")
        for k, v in fields.items():
            ds = g.create_dataset(k, data=np.asarray(v, dtype=np.float64).reshape(1, -1))
            ds.attrs["MATLAB_class"] = np.bytes_("double")
        return g.ref

    def struct_array(self, fields: dict[str, list[h5py.Reference]]) -> h5py.Reference:
        g = self.refs.create_group(self._name())
        g.attrs["MATLAB_class"] = np.bytes_("struct")
        for k, refs in fields.items():
            ds = g.create_dataset(k, data=np.array(refs, dtype=h5py.ref_dtype).reshape(-1, 1))
            ds.attrs["MATLAB_class"] = np.bytes_("cell")
        return g.ref


def _cycle_arrays(j: int, crate: float) -> dict[str, np.ndarray]:
    """One synthetic cycle: CC charge at `crate`, rest, 4C discharge; t in minutes, I in C-rate."""
    n_c, n_r, n_d = 12, 3, 15
    q_ch = 1.1 * 0.95
    t_ch = q_ch / (crate * 1.1) * 60  # min
    t_d = (1.07 - 0.001 * j) / 4.4 * 60
    t = np.concatenate([
        np.linspace(0, t_ch, n_c), t_ch + np.linspace(0.5, 1.5, n_r), t_ch + 2 + np.linspace(0, t_d, n_d)
    ])
    current = np.concatenate([np.full(n_c, crate), np.zeros(n_r), np.full(n_d, -4.0)])
    qc = np.concatenate([np.linspace(0, q_ch, n_c), np.full(n_r + n_d, q_ch)])
    qd = np.concatenate([np.zeros(n_c + n_r), np.linspace(0, 1.07 - 0.001 * j, n_d)])
    v = np.concatenate([np.linspace(2.9, 3.6, n_c), np.full(n_r, 3.45), np.linspace(3.3, 2.0, n_d)])
    temp = np.concatenate([np.linspace(30, 34, n_c), np.full(n_r, 33.0), np.linspace(33, 36, n_d)])
    qdlin = np.linspace(0.0, 1.07 - 0.001 * j, 1000)
    return {"I": current, "Qc": qc, "Qd": qd, "Qdlin": qdlin, "T": temp, "Tdlin": np.full(1000, 33.0),
            "V": v, "discharge_dQdV": np.zeros(1000), "t": t}


def write_severson_batch(path: Path, n_cells: int = 3, n_cycles: int = 4, skip_first: bool = True) -> None:
    """Write a small batch file with the reference layout of the original v7.3 files."""
    with h5py.File(path, "w", userblock_size=512) as h5:
        w = _MatWriter(h5)
        batch = h5.create_group("batch")
        batch.attrs["MATLAB_class"] = np.bytes_("struct")
        fields: dict[str, list[h5py.Reference]] = {k: [] for k in (
            "Vdlin", "barcode", "channel_id", "cycle_life", "cycles", "policy", "policy_readable", "summary")}
        for c in range(n_cells):
            crate = 3.6 + 0.4 * c
            fields["barcode"].append(w.char(f"EL15080046{c:04d}"))
            fields["channel_id"].append(w.char(f"CH{c + 1}"))
            fields["policy"].append(w.char(f"{crate:g}C-80per_{crate:g}C".replace(".", "_")))
            fields["policy_readable"].append(w.char(f"{crate:g}C(80%)-{crate:g}C"))
            fields["cycle_life"].append(w.double([np.nan] if c == 2 else [1000 + c]))
            fields["Vdlin"].append(w.double(np.linspace(3.5, 2.0, 1000)))
            cyc_refs: dict[str, list[h5py.Reference]] = {k: [] for k in _cycle_arrays(1, crate)}
            summary = {k: np.zeros(n_cycles) for k in
                       ("IR", "QCharge", "QDischarge", "Tavg", "Tmin", "Tmax", "chargetime", "cycle")}
            summary["cycle"] = np.arange(1, n_cycles + 1)
            for j in range(1, n_cycles + 1):
                if skip_first and j == 1:
                    for k in cyc_refs:
                        cyc_refs[k].append(w.empty())
                    continue
                arrays = _cycle_arrays(j, crate)
                for k, v in arrays.items():
                    cyc_refs[k].append(w.double(v))
                summary["QDischarge"][j - 1] = arrays["Qd"].max()
                summary["QCharge"][j - 1] = arrays["Qc"].max()
                summary["IR"][j - 1] = 0.0165 + 0.0001 * j
                summary["Tmax"][j - 1] = arrays["T"].max()
                summary["Tmin"][j - 1] = arrays["T"].min()
                summary["Tavg"][j - 1] = arrays["T"].mean()
                summary["chargetime"][j - 1] = 0.8 / crate * 60
            fields["summary"].append(w.struct(summary))
            fields["cycles"].append(w.struct_array(cyc_refs))
        for k, refs in fields.items():
            ds = batch.create_dataset(k, data=np.array(refs, dtype=h5py.ref_dtype).reshape(-1, 1))
            ds.attrs["MATLAB_class"] = np.bytes_("cell")
    with open(path, "r+b") as fh:
        fh.write(MATLAB_HEADER.ljust(116) + b"\x00" * 8 + b"\x00\x02IM")


@pytest.fixture
def batch_file(tmp_path: Path) -> Path:
    p = tmp_path / BATCH1_NAME
    write_severson_batch(p)
    return p


def test_synthetic_batch_file_has_reference_layout(batch_file: Path) -> None:
    with h5py.File(batch_file, "r") as h5:
        batch = h5["batch"]
        assert batch["summary"].shape == (3, 1)
        assert batch["summary"].dtype == h5py.ref_dtype
        cycles = h5[batch["cycles"][0, 0]]
        assert cycles["I"].shape == (4, 1)
        assert h5[cycles["I"][1, 0]].shape[0] == 1
        policy = h5[batch["policy_readable"][0, 0]][()]
        assert policy.tobytes()[::2].decode() == "3.6C(80%)-3.6C"  # how the reference notebooks decode it
    assert batch_file.read_bytes()[:10] == b"MATLAB 7.3"


def test_batch_mat_converts_units_and_builds_cells(batch_file: Path) -> None:
    out = load_severson_batch_mat(batch_file)
    assert [c.cell_id for c in out.cells] == ["b1c0", "b1c1", "b1c2"]
    cell = out.cells[0]
    assert isinstance(cell, CyclingData)
    ts = cell.timeseries
    assert cell.cycles == [2, 3, 4]  # cycle 1 is empty in batch 1
    raw = _cycle_arrays(2, 3.6)
    first = ts[ts["cycle_count"] == 2]
    # current: C-rate x 1.1 Ah; discharge at 4C = -4.4 A, charge at 3.6C = 3.96 A
    assert first["current_ampere"].iloc[0] == pytest.approx(3.6 * 1.1, abs=1e-12)
    assert first["current_ampere"].iloc[-1] == pytest.approx(-4.4, abs=1e-12)
    # time: minutes -> seconds
    np.testing.assert_allclose(first["cycle_time_second"].to_numpy(), raw["t"] * 60.0)
    assert first["test_time_second"].iloc[0] == 0.0
    assert np.all(np.diff(ts["test_time_second"].to_numpy()) > 0)
    assert first["discharging_capacity_ah"].iloc[-1] == pytest.approx(raw["Qd"][-1], abs=1e-12)
    assert first["charging_capacity_ah"].max() == pytest.approx(1.1 * 0.95, abs=1e-12)
    np.testing.assert_allclose(first["voltage_volt"].to_numpy(), raw["V"])
    np.testing.assert_allclose(first["temperature_celsius"].to_numpy(), raw["T"])
    meta = cell.metadata
    assert meta.nominal_capacity_ah == 1.1
    assert meta.protocol == "3.6C(80%)-3.6C"
    assert meta.batch == "2017-05-12"
    assert meta.extra["barcode"] == "EL150800460000"
    assert meta.extra["cycle_life"] == 1000
    assert out.cells[2].metadata.extra["cycle_life"] is None


def test_batch_mat_summary_qdlin_and_table(batch_file: Path) -> None:
    out = load_severson_batch_mat(batch_file)
    s = out.summary
    assert len(s) == 12
    one = s[(s["cell_id"] == "b1c1") & (s["cycle_count"] == 3)].iloc[0]
    assert one["charge_time_to_80pct_second"] == pytest.approx(0.8 / 4.0 * 60 * 60, abs=1e-9)
    assert one["internal_resistance_ohm"] == pytest.approx(0.0168, abs=1e-12)
    assert one["temperature_min_celsius"] == pytest.approx(30.0, abs=1e-12)
    assert s.loc[s["cycle_count"] == 1, "is_placeholder"].all()
    assert not s.loc[s["cycle_count"] > 1, "is_placeholder"].any()
    q = out.qdlin_ah["b1c0"]
    assert q.shape == (4, 1000)
    assert np.isnan(q[0]).all()  # cycle 1
    assert q[1, -1] == pytest.approx(1.068, abs=1e-12)
    assert out.voltage_grid_volt[0] == pytest.approx(3.5)
    table = out.cell_table.set_index("cell_id")
    assert table.loc["b1c1", "charging_policy"] == "4C(80%)-4C"
    assert table.loc["b1c1", "channel_id"] == "CH2"
    assert np.isnan(table.loc["b1c2", "cycle_life"])


def test_batch_mat_subset_of_cells_and_cycles(batch_file: Path) -> None:
    out = load_severson_batch_mat(batch_file, cells=[1], max_cycle=2)
    assert [c.cell_id for c in out.cells] == ["b1c1"]
    assert out.cells[0].cycles == [2]
    assert out.qdlin_ah["b1c1"].shape == (2, 1000)
    with pytest.raises(ValueError, match="out of range"):
        load_severson_batch_mat(batch_file, cells=[7])


def test_batch_mat_without_skipped_cycle_and_other_batch(tmp_path: Path) -> None:
    p = tmp_path / "2018-04-12_batchdata_updated_struct_errorcorrect.mat"
    write_severson_batch(p, n_cells=1, n_cycles=3, skip_first=False)
    out = load_severson_batch_mat(p)
    assert out.cells[0].cell_id == "b3c0"
    assert out.cells[0].cycles == [1, 2, 3]


def test_batch_mat_missing_file_names_download_site(tmp_path: Path) -> None:
    with pytest.raises(MissingFileError, match=r"https://data\.matr\.io/1/"):
        load_severson_batch_mat(tmp_path / BATCH1_NAME)


def test_batch_mat_rejects_v5_and_foreign_hdf5(tmp_path: Path) -> None:
    import scipy.io

    v5 = tmp_path / "v5.mat"
    scipy.io.savemat(v5, {"batch": {"x": np.zeros(3)}})
    with pytest.raises(DataFormatError, match="MATLAB v5") as exc:
        load_severson_batch_mat(v5)
    assert str(v5) in str(exc.value)
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as h5:
        h5["data"] = np.zeros(3)
    with pytest.raises(SchemaError, match="no 'batch' struct"):
        load_severson_batch_mat(other)


@pytest.fixture(scope="module")
def small_batch_bytes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    p = tmp_path_factory.mktemp("sev") / BATCH1_NAME
    write_severson_batch(p, n_cells=1, n_cycles=2)
    return p.read_bytes()


@FUZZ
@given(data=st.data())
def test_batch_mat_fuzz(data: st.DataObject, small_batch_bytes: bytes, tmp_path: Path) -> None:
    raw = bytearray(small_batch_bytes)
    op = data.draw(st.sampled_from(["truncate", "flip", "empty"]))
    if op == "truncate":
        raw = raw[: data.draw(st.integers(0, len(raw) - 1))]
    elif op == "flip":
        for _ in range(data.draw(st.integers(1, 30))):
            raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    else:
        raw = bytearray()
    p = tmp_path / BATCH1_NAME
    p.write_bytes(bytes(raw))
    out, err = _load_or_error(load_severson_batch_mat, p)
    if err is not None:
        assert str(p) in str(err)
    else:
        assert all(isinstance(c, CyclingData) for c in out.cells)
