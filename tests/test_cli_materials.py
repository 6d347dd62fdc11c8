"""``voltlab featurize|train|predict|explain`` on a slice of the MP insertion electrodes (CliRunner on the sub-app)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

torch = pytest.importorskip("torch")
torch.set_num_threads(1)

from voltlab.commands.materials import materials_app  # noqa: E402
from voltlab.errors import DataFormatError, MissingFileError, SchemaError  # noqa: E402
from voltlab.models.property import PropertyRegressor, chemical_family  # noqa: E402


@pytest.fixture(scope="module")
def mp_li(shared_file):
    """The Li electrodes of the MP export (loader filter), read once for the module."""
    from voltlab.data.datasets import load_mp_insertion_electrodes

    return load_mp_insertion_electrodes(
        shared_file("materials_project_insertion_electrodes", "mp_batteries.csv"), working_ion="Li")


@pytest.fixture(scope="module")
def electrodes(mp_li, tmp_path_factory):
    """Every 15th Li electrode, as a formula / voltage CSV."""
    part = mp_li.iloc[::15].reset_index(drop=True)
    out = pd.DataFrame({"formula": part["formula_discharge"], "average_voltage_volt": part["average_voltage_volt"],
                        "family": chemical_family(part["formula_discharge"])})
    path = tmp_path_factory.mktemp("mp") / "li.csv"
    out.to_csv(path, index=False)
    return path


def test_train_predict_explain_round_trip(electrodes, tmp_path):
    runner = CliRunner()
    model, report = tmp_path / "volt.json", tmp_path / "volt.html"
    res = runner.invoke(materials_app, ["train", str(electrodes), "--target", "average_voltage_volt", "--unit", "V",
                                        "--method", "lightgbm", "--split", "cluster", "--seed", "1",
                                        "--out", str(model), "--report", str(report)])
    assert res.exit_code == 0, res.output
    assert "held-out MAE" in res.output
    card = json.loads(model.read_text())["card"]
    assert card["seed"] == 1 and card["target_unit"] == "V" and card["n_train"] + card["n_test"] == card["n_rows"]
    assert card["split"].startswith("leave-cluster-out") and len(card["feature_labels"]) == 143
    # DFT voltages span ~0-6 V: a held-out MAE above 1.5 V would be no better than the mean.
    assert 0 < card["metrics"]["test_mae"] < 1.5
    html = report.read_text()
    assert "Model card" in html and "Learning curve" in html and "Parity" in html

    preds = tmp_path / "pred.csv"
    res = runner.invoke(materials_app, ["predict", str(electrodes), "--model", str(model), "--out", str(preds)])
    assert res.exit_code == 0, res.output
    p = pd.read_csv(preds)
    assert list(p.columns) == ["formula", "predicted_average_voltage_volt", "lower", "upper"]
    assert (p["lower"] <= p["predicted_average_voltage_volt"]).all()
    assert (p["predicted_average_voltage_volt"] <= p["upper"]).all()
    # The CLI's predictions equal the library's on the same model file.
    m = PropertyRegressor.load(model)
    from voltlab.features import MagpieFeaturizer

    X = MagpieFeaturizer().featurize_many(pd.read_csv(electrodes)["formula"]).to_numpy()
    np.testing.assert_allclose(p["predicted_average_voltage_volt"], m.predict(X), rtol=1e-9)

    imp = tmp_path / "imp.csv"
    res = runner.invoke(materials_app, ["explain", "--model", str(model), "--out", str(imp), "--top", "3"])
    assert res.exit_code == 0, res.output
    table = pd.read_csv(imp)
    assert len(table) == 143 and table["mean_abs_shap"].is_monotonic_decreasing
    assert table["mean_abs_shap"].iloc[0] > 0


def test_featurize_and_group_split(electrodes, tmp_path):
    runner = CliRunner()
    feats = tmp_path / "f.parquet"
    res = runner.invoke(materials_app, ["featurize", str(electrodes), "--out", str(feats)])
    assert res.exit_code == 0, res.output
    f = pd.read_parquet(feats)
    assert f.shape[1] == 144 and f.columns[0] == "formula"
    licoo2 = f.loc[f["formula"] == "LiCoO2"]
    if len(licoo2):  # the hand-checked value of tests/features/test_composition.py
        assert licoo2["theoretical_gravimetric_capacity_mah_per_g"].iloc[0] == pytest.approx(273.8, abs=0.1)
    model = tmp_path / "g.json"
    res = runner.invoke(materials_app, ["train", str(electrodes), "--target", "average_voltage_volt",
                                        "--split", "group-column", "--group-column", "family", "--method", "rf",
                                        "--no-learning-curve", "--out", str(model)])
    assert res.exit_code == 0, res.output
    card = json.loads(model.read_text())["card"]
    train = set(chemical_family(card["train_formulas"]))
    table = pd.read_csv(electrodes)
    test = set(table["family"]) - train
    # No chemical family on both sides: every family is either in training or entirely held out.
    assert card["n_test"] == int(table["family"].isin(test).sum()) > 0


def test_featurize_in_parallel_and_to_a_folder(electrodes, tmp_path):
    """--workers and a folder --out give the same numbers as the one-process table."""
    runner = CliRunner()
    assert runner.invoke(materials_app, ["featurize", str(electrodes), "--out", str(tmp_path / "one.csv")]).exit_code == 0
    one = pd.read_csv(tmp_path / "one.csv")
    res = runner.invoke(materials_app, ["featurize", str(electrodes), "--out", str(tmp_path / "two.csv"),
                                        "--workers", "2", "--partition-size", "97"])
    assert res.exit_code == 0, res.output
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "two.csv"), one)
    res = runner.invoke(materials_app, ["featurize", str(electrodes), "--out", str(tmp_path / "feats"),
                                        "--workers", "2", "--partition-size", "97"])
    assert res.exit_code == 0, res.output
    parts = sorted((tmp_path / "feats").glob("part-*.parquet"))
    assert len(parts) == -(-len(one) // 97) and f"({len(parts)} Parquet parts)" in " ".join(res.output.split())
    folder = pd.read_parquet(tmp_path / "feats")
    assert folder["formula"].tolist() == one["formula"].tolist()
    np.testing.assert_allclose(folder.iloc[:, 1:].to_numpy(), one.iloc[:, 1:].to_numpy(), rtol=1e-12, equal_nan=True)
    res = runner.invoke(materials_app, ["featurize", str(electrodes), "--out", str(tmp_path / "feats")])
    assert isinstance(res.exception, DataFormatError) and "--overwrite" in str(res.exception)
    res = runner.invoke(materials_app, ["featurize", str(electrodes), "--out", str(tmp_path / "feats"),
                                        "--overwrite"])
    assert res.exit_code == 0, res.output


def test_errors_name_the_file_column_and_fix(electrodes, tmp_path):
    runner = CliRunner()
    res = runner.invoke(materials_app, ["train", str(electrodes), "--target", "voltage"])
    assert res.exit_code != 0 and isinstance(res.exception, SchemaError)
    assert str(electrodes) in str(res.exception) and "'voltage'" in str(res.exception)
    assert "--target" in str(res.exception)
    res = runner.invoke(materials_app, ["featurize", str(electrodes), "--formula-column", "composition"])
    with pytest.raises(SchemaError, match=r"column 'composition': no such column.*--formula-column"):
        raise res.exception
    res = runner.invoke(materials_app, ["predict", str(electrodes), "--model", str(tmp_path / "none.json")])
    with pytest.raises(MissingFileError, match=r"none\.json: no such model file"):
        raise res.exception
    res = runner.invoke(materials_app, ["featurize", str(tmp_path / "missing.csv")])
    with pytest.raises(MissingFileError, match=r"missing\.csv: no such table"):
        raise res.exception
    bad = tmp_path / "t.xlsx"
    bad.write_text("x")
    res = runner.invoke(materials_app, ["featurize", str(bad)])
    with pytest.raises(DataFormatError, match=r"unsupported table type '\.xlsx'"):
        raise res.exception
    res = runner.invoke(materials_app, ["train", str(electrodes), "--target", "average_voltage_volt",
                                        "--split", "group-column"])
    with pytest.raises(DataFormatError, match="needs --group-column"):
        raise res.exception


def test_featurize_with_cell_features(tmp_path):
    """--cell adds the unit-cell features from lattice columns; a bad lattice value names the row and column."""
    from voltlab.features import CellFeaturizer

    rows = [{"formula": "Li2O", "formula_units_per_cell": 4, "a_angstrom": 4.619, "b_angstrom": 4.619,
             "c_angstrom": 4.619, "alpha_degree": 90, "beta_degree": 90, "gamma_degree": 90, "space_group_number": 225},
            {"formula": "LiF", "formula_units_per_cell": 4, "a_angstrom": 4.03, "b_angstrom": 4.03, "c_angstrom": 4.03,
             "alpha_degree": 90, "beta_degree": 90, "gamma_degree": 90, "space_group_number": 225}]
    table = tmp_path / "cells.csv"
    pd.DataFrame(rows).to_csv(table, index=False)
    out = tmp_path / "f.csv"
    res = CliRunner().invoke(materials_app, ["featurize", str(table), "--out", str(out), "--cell"])
    assert res.exit_code == 0, res.output
    f = pd.read_csv(out)
    assert f.shape == (2, 1 + 143 + len(CellFeaturizer().feature_labels()) - 1)
    assert f["li_mean_spacing_angstrom"].iloc[0] == pytest.approx(4.619 / 2)
    assert f["li_per_anion"].tolist() == [2.0, 1.0]
    rows[1]["gamma_degree"] = 200
    pd.DataFrame(rows).to_csv(table, index=False)
    res = CliRunner().invoke(materials_app, ["featurize", str(table), "--out", str(out), "--cell"])
    assert res.exit_code != 0
    assert "row 1" in str(res.exception) and "gamma_degree" in str(res.exception)
    res = CliRunner().invoke(materials_app, ["featurize", str(table), "--out", str(tmp_path / "folder"), "--cell"])
    assert res.exit_code != 0 and "--cell writes one table" in str(res.exception)
    res = CliRunner().invoke(materials_app, ["featurize", str(table), "--out", str(out), "--cell", "--workers", "2"])
    assert res.exit_code != 0 and "no --workers or scheduler" in str(res.exception)


def test_train_and_predict_with_cell_features(shared_file, tmp_path):
    """OBELiX rows: --cell trains on Magpie + cell features; predict and explain rebuild both from the card."""
    from voltlab.data.datasets import load_obelix

    df = load_obelix(shared_file("obelix_solid_electrolyte_conductivity"))
    df = df[df["log10_ionic_conductivity_s_per_cm"].notna()].rename(columns={"true_composition": "cell_composition"})
    table = tmp_path / "obelix.csv"
    df[["composition", "cell_composition", "a_angstrom", "b_angstrom", "c_angstrom", "alpha_degree", "beta_degree",
        "gamma_degree", "space_group_number", "log10_ionic_conductivity_s_per_cm"]].head(150).to_csv(table, index=False)
    model = tmp_path / "cond.json"
    runner = CliRunner()
    res = runner.invoke(materials_app, ["train", str(table), "--target", "log10_ionic_conductivity_s_per_cm",
                                        "--formula-column", "composition", "--split", "random", "--method", "rf",
                                        "--no-learning-curve", "--cell", "--out", str(model)])
    assert res.exit_code == 0, res.output
    card = json.loads(model.read_text())["card"]
    assert card["cell_features"] is True and card["n_features"] == 143 + 29
    assert "li_per_nm3" in card["feature_labels"] and card["feature_labels"].count("li_atomic_fraction") == 1
    preds = tmp_path / "p.csv"
    res = runner.invoke(materials_app, ["predict", str(table), "--model", str(model), "--formula-column",
                                        "composition", "--out", str(preds)])
    assert res.exit_code == 0, res.output
    p = pd.read_csv(preds)
    assert p["predicted_log10_ionic_conductivity_s_per_cm"].notna().all() and len(p) == 150
    bare = tmp_path / "bare.csv"
    pd.read_csv(table)[["composition"]].to_csv(bare, index=False)  # no lattice columns
    res = runner.invoke(materials_app, ["predict", str(bare), "--model", str(model), "--formula-column",
                                        "composition", "--out", str(preds)])
    assert res.exit_code != 0 and "missing the cell contents" in str(res.exception)


@pytest.fixture(scope="module")
def electrode_pairs(mp_li, tmp_path_factory):
    """Every 12th Li electrode with both formulas."""
    part = mp_li.iloc[::12].reset_index(drop=True)
    out = pd.DataFrame({"discharged": part["formula_discharge"], "charged": part["formula_charge"],
                        "average_voltage_volt": part["average_voltage_volt"]})
    path = tmp_path_factory.mktemp("pairs") / "pairs.csv"
    out.to_csv(path, index=False)
    return path


def test_electrode_pairs_featurize_train_predict_explain(electrode_pairs, tmp_path):
    """--charged-column: host + change features; the card records the column and predict/explain rebuild
    them; predictions equal the library's on the same features."""
    from voltlab.features import ElectrodePairFeaturizer

    runner = CliRunner()
    feats = tmp_path / "f.csv"
    res = runner.invoke(materials_app, ["featurize", str(electrode_pairs), "--formula-column", "discharged",
                                        "--charged-column", "charged", "--out", str(feats)])
    assert res.exit_code == 0, res.output
    table = pd.read_csv(feats)
    src = pd.read_csv(electrode_pairs)
    assert list(table.columns[:2]) == ["discharged", "charged"] and table.shape[1] == 2 + 292
    assert f"{len(src)} rows x 292 features" in res.output
    lib_states = ElectrodePairFeaturizer().featurize_many(zip(src["discharged"], src["charged"], strict=True))
    n_none = len(lib_states.attrs["no_oxidation_states"])
    assert n_none > 0 and f"{n_none} electrodes have no charge-balanced oxidation states" in " ".join(res.output.split())
    lib = ElectrodePairFeaturizer().featurize_many(zip(src["discharged"], src["charged"], strict=True))
    np.testing.assert_allclose(table.iloc[:, 2:].to_numpy(), lib.to_numpy(), rtol=1e-12)

    model = tmp_path / "pair.json"
    res = runner.invoke(materials_app, ["train", str(electrode_pairs), "--target", "average_voltage_volt", "--unit",
                                        "V", "--formula-column", "discharged", "--charged-column", "charged",
                                        "--method", "lightgbm", "--split", "random", "--no-learning-curve",
                                        "--out", str(model)])
    assert res.exit_code == 0, res.output
    card = json.loads(model.read_text())["card"]
    assert card["charged_column"] == "charged" and card["n_features"] == 292
    assert card["feature_labels"][0].startswith("host_magpie") and card["feature_labels"][285].startswith("change_")
    assert card["feature_labels"][286] == "redox_ionization_energy_ev"
    assert 0 < card["metrics"]["test_mae"] < 1.2

    preds = tmp_path / "p.csv"
    res = runner.invoke(materials_app, ["predict", str(electrode_pairs), "--model", str(model), "--formula-column",
                                        "discharged", "--out", str(preds)])
    assert res.exit_code == 0, res.output
    p = pd.read_csv(preds)
    assert list(p.columns) == ["discharged", "charged", "predicted_average_voltage_volt", "lower", "upper"]
    np.testing.assert_allclose(p["predicted_average_voltage_volt"], PropertyRegressor.load(model).predict(
        lib.to_numpy()), rtol=1e-9)
    imp = tmp_path / "imp.csv"
    res = runner.invoke(materials_app, ["explain", "--model", str(model), str(electrode_pairs), "--formula-column",
                                        "discharged", "--out", str(imp)])
    assert res.exit_code == 0, res.output
    assert len(pd.read_csv(imp)) == 292


def test_electrode_pair_errors(electrode_pairs, electrodes, tmp_path):
    runner = CliRunner()
    base = ["featurize", str(electrode_pairs), "--formula-column", "discharged"]
    res = runner.invoke(materials_app, [*base, "--charged-column", "nope", "--out", str(tmp_path / "f.csv")])
    assert isinstance(res.exception, SchemaError) and "--charged-column" in str(res.exception)
    assert "nope" in str(res.exception)
    res = runner.invoke(materials_app, [*base, "--charged-column", "charged", "--cell", "--out",
                                        str(tmp_path / "f.csv")])
    assert isinstance(res.exception, DataFormatError) and "cannot be combined" in str(res.exception)
    res = runner.invoke(materials_app, [*base, "--charged-column", "discharged", "--out", str(tmp_path / "f.csv")])
    assert isinstance(res.exception, DataFormatError) and "both 'discharged'" in str(res.exception)
    res = runner.invoke(materials_app, [*base, "--charged-column", "charged", "--out", str(tmp_path / "folder")])
    assert "--charged-column writes one table" in str(res.exception)
    # a one-formula model refuses --charged-column
    model = tmp_path / "one.json"
    res = runner.invoke(materials_app, ["train", str(electrodes), "--target", "average_voltage_volt", "--split",
                                        "random", "--no-learning-curve", "--out", str(model)])
    assert res.exit_code == 0, res.output
    res = runner.invoke(materials_app, ["predict", str(electrode_pairs), "--model", str(model), "--formula-column",
                                        "discharged", "--charged-column", "charged", "--out", str(tmp_path / "p.csv")])
    assert isinstance(res.exception, DataFormatError) and "electrode models" in str(res.exception)
    # a bad charged formula: NaN features, reported, the row left empty in predictions
    bad = tmp_path / "bad.csv"
    df = pd.read_csv(electrode_pairs).head(20)
    df.loc[3, "charged"] = "Qq2O"
    df.to_csv(bad, index=False)
    res = runner.invoke(materials_app, ["featurize", str(bad), "--formula-column", "discharged", "--charged-column",
                                        "charged", "--out", str(tmp_path / "b.csv")])
    assert res.exit_code == 0 and "1 unparseable formulas" in " ".join(res.output.split())
    assert pd.read_csv(tmp_path / "b.csv").iloc[3, 2:].isna().all()
