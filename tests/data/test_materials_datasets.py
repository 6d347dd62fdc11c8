"""Loaders of the materials data sets, on the real files in ../shared/data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from voltlab.data.datasets import (
    load_doped_ncm,
    load_liverpool_ionics,
    load_mp_insertion_electrodes,
    load_obelix,
    read_obelix_table,
)
from voltlab.errors import DataFormatError, MissingFileError, SchemaError

OBELIX = "obelix_solid_electrolyte_conductivity"
MP = "materials_project_insertion_electrodes"
NCM = "doped_ncm_capacity"


@pytest.mark.shared
def test_obelix_official_split_and_censoring(shared_data: Path):
    df = load_obelix(shared_data / OBELIX)
    assert len(df) == 599
    assert df["split"].value_counts().to_dict() == {"train": 478, "test": 121}
    assert df["id"].is_unique
    # SOURCE.md: 562 numeric values, 37 upper bounds (36 x '<1E-10', 1 x '<1E-8'), none dropped.
    assert int(df["is_upper_bound"].sum()) == 37
    assert df["log10_ionic_conductivity_s_per_cm"].notna().sum() == 562
    bounds = df.loc[df["is_upper_bound"], "ionic_conductivity_upper_bound_s_per_cm"]
    assert (bounds == 1e-10).sum() == 36 and (bounds == 1e-8).sum() == 1
    assert df.loc[df["is_upper_bound"], "ionic_conductivity_s_per_cm"].isna().all()
    assert df["log10_ionic_conductivity_s_per_cm"].min() == pytest.approx(-17.38, abs=0.01)
    assert df["log10_ionic_conductivity_s_per_cm"].max() == pytest.approx(-1.60, abs=0.01)
    assert int(df["has_cif"].sum()) == 321
    first = df.iloc[0]  # train.csv row 1: jqc, Li7BiO6, 1.58489e-06 S/cm, P -1 (2), a = 5.5071 A
    assert (first["id"], first["composition"], first["split"]) == ("jqc", "Li7BiO6", "train")
    assert first["ionic_conductivity_s_per_cm"] == pytest.approx(1.58489e-06, rel=1e-12)
    assert first["log10_ionic_conductivity_s_per_cm"] == pytest.approx(np.log10(1.58489e-06), rel=1e-12)
    assert first["space_group_number"] == 2 and first["a_angstrom"] == pytest.approx(5.5071)
    assert first["icsd_id"] == 155950
    test_first = df[df["split"] == "test"].iloc[0]  # test.csv row 1: ro9, Li3BP2O8, 9.6e-12 S/cm
    assert (test_first["id"], test_first["composition"]) == ("ro9", "Li3BP2O8")
    assert test_first["ionic_conductivity_s_per_cm"] == pytest.approx(9.6e-12, rel=1e-12)
    one = read_obelix_table(shared_data / OBELIX / "test.csv")  # a single table: the same rows, no split
    assert len(one) == 121 and "split" not in one.columns
    pd.testing.assert_frame_equal(one, df[df["split"] == "test"].drop(columns="split").reset_index(drop=True))


@pytest.mark.shared
def test_mp_electrodes_columns_and_voltage_filter(shared_data: Path):
    path = shared_data / MP / "mp_batteries.csv"
    every = load_mp_insertion_electrodes(path, voltage_range_volt=None)
    assert len(every) == 4351
    assert every["working_ion"].value_counts().to_dict() == {
        "Li": 2440, "Ca": 435, "Mg": 423, "Zn": 366, "Na": 309, "K": 107, "Al": 95, "Y": 93, "Rb": 50, "Cs": 33}
    assert every["average_voltage_volt"].min() == pytest.approx(-7.75, abs=0.01)
    assert every["average_voltage_volt"].max() == pytest.approx(54.6, abs=0.1)
    df = load_mp_insertion_electrodes(path)
    # 159 averages <= 0 V and 41 above 6 V are dropped.
    assert len(df) == 4151 and df.attrs["n_dropped_voltage"] == 200 and df.attrs["n_rows_read"] == 4351
    assert df.attrs["filter"] == "0 V < average voltage <= 6 V"
    assert ((df["average_voltage_volt"] > 0) & (df["average_voltage_volt"] <= 6)).all()
    row = df.set_index("battery_id").loc["mp-22526_Li"]  # LiCoO2: 3.79 V, 274 mAh/g
    assert row["battery_formula"] == "Li0-1CoO2"
    assert row["average_voltage_volt"] == pytest.approx(3.789714, abs=1e-6)
    assert row["gravimetric_capacity_mah_per_g"] == pytest.approx(273.839389, abs=1e-6)
    lfp = df.set_index("battery_id").loc["mp-19017_Li"]
    assert lfp["average_voltage_volt"] == pytest.approx(3.499170, abs=1e-6)
    assert df["steps"].dtype == np.int64
    na = load_mp_insertion_electrodes(path, working_ion="Na")
    assert set(na["working_ion"]) == {"Na"} and len(na) <= 309
    assert na.attrs["n_dropped_voltage"] + na.attrs["n_dropped_working_ion"] + len(na) == 4351


@pytest.mark.shared
def test_mp_capacity_matches_theoretical_capacity_feature(shared_data: Path):
    from voltlab.features import MagpieFeaturizer

    df = load_mp_insertion_electrodes(shared_data / MP / "mp_batteries.csv").set_index("battery_id")
    x = MagpieFeaturizer().featurize_many(["LiFePO4"])
    # MP's gravimetric capacity of olivine LiFePO4 (1 Li per formula) equals F / (3.6 M).
    assert x["theoretical_gravimetric_capacity_mah_per_g"].iloc[0] == pytest.approx(
        df.loc["mp-19017_Li", "gravimetric_capacity_mah_per_g"], rel=1e-5)


@pytest.mark.shared
def test_doped_ncm_groups_and_values(shared_data: Path):
    df = load_doped_ncm(shared_data / NCM)
    assert len(df) == 168
    assert df["group"].nunique() == 59
    assert df["dopant"].nunique() == 22
    assert df["dopant"].value_counts()["Mg"] == 24
    first = df.iloc[0]  # Rb-doped Li-rich: IC 220.33, EC 207.91 mAh/g, 2.0-4.8 V, 50 mA/g
    assert first["formula"] == "Li1.19Ni0.13Co0.13Mn0.49Rb0.01O2"
    assert first["initial_discharge_capacity_mah_per_g"] == pytest.approx(220.33)
    assert first["discharge_capacity_cycle50_mah_per_g"] == pytest.approx(207.91)
    assert (first["v_min_volt"], first["v_max_volt"], first["current_density_ma_per_g"]) == (2.0, 4.8, 50.0)
    assert first["group"] == "10.1016/j.electacta.2017.01.137"
    assert df["initial_discharge_capacity_mah_per_g"].between(86, 350).all()
    assert df["discharge_capacity_cycle50_mah_per_g"].between(42, 276).all()
    undoped = df[df["dopant_amount"] == 0]
    assert len(undoped) == 2 and not undoped["formula"].str.contains(undoped["dopant"].iloc[0]).any()


@pytest.mark.shared
def test_doped_ncm_original_file_is_rejected_with_the_fix(shared_data: Path):
    with pytest.raises(SchemaError, match=r"missing column 'dopant'"):
        load_doped_ncm(shared_data / NCM / "NMC_numerical_new.csv")


def test_missing_files_name_the_source(tmp_path: Path):
    with pytest.raises(MissingFileError, match=r"train\.csv.*github\.com/NRC-Mila/OBELiX"):
        load_obelix(tmp_path)
    with pytest.raises(MissingFileError, match=r"Materials Project insertion-electrode CSV not found"):
        load_mp_insertion_electrodes(tmp_path / "mp_batteries.csv")
    with pytest.raises(MissingFileError, match=r"Tawheed-tariq"):
        load_doped_ncm(tmp_path)


def _obelix_file(path: Path, ic: list[str], ids: list[str]) -> None:
    cols = ["ID", "Reduced Composition", "Z", "True Composition", "Ionic conductivity (S cm-1)", "Space group",
            "Space group #", "a", "b", "c", "alpha", "beta", "gamma", "Family", "DOI", "Cif ID", "ICSD ID"]
    rows = [[i, "Li2O", 1, "Li2O", v, "P 1", 1, 3, 3, 3, 90, 90, 90, "oxide", "10.1/x", "", ""]
            for i, v in zip(ids, ic, strict=True)]
    pd.DataFrame(rows, columns=cols).to_csv(path, index=False)


def test_obelix_bad_conductivity_and_overlapping_split(tmp_path: Path):
    _obelix_file(tmp_path / "train.csv", ["1e-4", "high"], ["a", "b"])
    _obelix_file(tmp_path / "test.csv", ["<1E-10"], ["c"])
    with pytest.raises(DataFormatError, match=r"train\.csv: row 1: column 'Ionic conductivity \(S cm-1\)': "
                                              r"conductivity 'high' is neither"):
        load_obelix(tmp_path)
    _obelix_file(tmp_path / "train.csv", ["1e-4", "-2e-5"], ["a", "b"])
    with pytest.raises(DataFormatError, match=r"row 1: .*'-2e-5' is neither a positive number"):
        load_obelix(tmp_path)
    _obelix_file(tmp_path / "train.csv", ["1e-4", "2e-5"], ["a", "c"])
    with pytest.raises(DataFormatError, match=r"ids \['c'\] are in both"):
        load_obelix(tmp_path)
    _obelix_file(tmp_path / "train.csv", ["1e-4", "2e-5"], ["a", "b"])
    df = load_obelix(tmp_path)
    assert df["is_upper_bound"].tolist() == [False, False, True]
    assert df["log10_ionic_conductivity_s_per_cm"].iloc[0] == pytest.approx(-4.0)
    assert df["log10_ionic_conductivity_upper_bound_s_per_cm"].iloc[2] == pytest.approx(-10.0)


@pytest.mark.shared
def test_mp_bad_arguments(shared_data: Path):
    path = shared_data / MP / "mp_batteries.csv"
    with pytest.raises(DataFormatError, match=r"voltage_range_volt must be \(low, high\) with low < high"):
        load_mp_insertion_electrodes(path, voltage_range_volt=(6.0, 0.0))
    with pytest.raises(DataFormatError, match=r"working_ion 'Xe' not in the data; it has \['Al', 'Ca'"):
        load_mp_insertion_electrodes(path, working_ion="Xe")


@pytest.mark.shared
def test_liverpool_ionics_values_and_temperature_flags(shared_data: Path):
    df = load_liverpool_ionics(shared_data / OBELIX)
    assert len(df) == 820
    raw = pd.read_csv(shared_data / OBELIX / "related_databases" / "LiIonDatabase.csv", encoding="utf-8-sig")
    # the file's own log10 column agrees to 0.002 (some rows were rounded there), most rows to 1e-8
    diff = np.abs(df["log10_ionic_conductivity_s_per_cm"] - raw["log_target"])
    assert diff.max() < 2e-3 and float(np.median(diff)) < 1e-8
    first = df.iloc[0]  # row 1 of the file: Li2Ti0.75Ta0.25O3.125, 10.1016/j.fusengdes.2010.04.003, 300, 9.00E-05
    assert first["composition"] == "Li2Ti0.75Ta0.25O3.125" and first["doi"] == "10.1016/j.fusengdes.2010.04.003"
    assert first["ionic_conductivity_s_per_cm"] == pytest.approx(9.0e-5) and first["temperature_as_recorded"] == 300
    assert first["temperature_unit_ambiguous"] and not first["is_room_temperature"]
    lisicon = df[df["composition"] == "Li14ZnGe4O16"].iloc[0]  # 0.125 S/cm "at 300": LISICON at 300 °C
    assert lisicon["ionic_conductivity_s_per_cm"] == pytest.approx(0.125) and lisicon["temperature_unit_ambiguous"]
    assert int(df["is_room_temperature"].sum()) == 465 and int(df["temperature_unit_ambiguous"].sum()) == 66
    assert not (df["is_room_temperature"] & df["temperature_unit_ambiguous"]).any()
    assert df.loc[df["is_room_temperature"], "temperature_as_recorded"].between(15, 35).all()


def test_liverpool_loader_errors_name_file_row_and_column(tmp_path):
    with pytest.raises(MissingFileError, match="LiIonDatabase.csv"):
        load_liverpool_ionics(tmp_path)
    good = "ID,composition,source,temperature,target,log_target,family\n1,Li3PS4,10.1/x,25,1.6e-4,-3.8,Thio\n"
    p = tmp_path / "LiIonDatabase.csv"
    p.write_text(good)
    df = load_liverpool_ionics(tmp_path)
    assert df["is_room_temperature"].tolist() == [True] and df["log10_ionic_conductivity_s_per_cm"].iloc[0] == \
        pytest.approx(np.log10(1.6e-4))
    p.write_text(good.replace("1.6e-4", "-1.6e-4"))
    with pytest.raises(DataFormatError, match=r"target must be > 0") as exc:
        load_liverpool_ionics(p)
    assert exc.value.row == 0 and exc.value.column == "target"
    p.write_text(good.replace(",25,", ",warm,"))
    with pytest.raises(DataFormatError, match="temperature"):
        load_liverpool_ionics(p)
    p.write_text(good.replace("family", "kind"))
    with pytest.raises(SchemaError, match="missing column 'family'"):
        load_liverpool_ionics(p)
