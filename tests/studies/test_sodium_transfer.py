"""Study ``sodium-transfer``: Li source model -> Na learning curve (Na only, Li only, Li + offset, transfer)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from voltlab.errors import DataFormatError, StudyConfigError
from voltlab.studies import run_study
from voltlab.studies.sodium_transfer import host_features, synthetic_electrodes

SMALL = {"n_train": [5, 20], "repeats": 3, "n_trees": 40, "synthetic_li": 200, "synthetic_na": 60}


@pytest.fixture(scope="module")
def embedded(tmp_path_factory):
    return run_study("sodium-transfer", tmp_path_factory.mktemp("sodium-transfer"), config=SMALL)


def test_transfer_beats_na_only_at_small_n_on_synthetic_data(embedded):
    m = embedded.metrics
    assert m["synthetic_data"] == 1.0
    assert m["mae_transfer_n5_volt"] < m["mae_na_only_n5_volt"]
    assert m["mae_transfer_n5_volt"] < m["mae_li_only_n5_volt"]  # the few Na points correct the Li→Na offset
    # the generator puts Na 0.3-0.55 V below Li: the Li model over-predicts Na voltages
    assert -0.7 < m["mean_na_minus_li_model_volt"] < -0.15
    for k, v in m.items():
        if k.startswith("mae_") and k.endswith("_volt"):
            assert 0 < v < 2.0, k


def test_tables_figures_and_synthetic_labels(embedded):
    curve = embedded.tables["Learning curve (mean over splits)"]
    assert set(curve["method"]) == {"Na only", "Li only", "Li + offset", "transfer"}
    assert sorted(curve["n_na_train"].unique()) == [5, 20]
    runs = embedded.tables["Every split"]
    assert len(runs) == 3 * 2 * 4
    li_only = runs[runs["method"] == "Li only"].groupby("repeat")["mae_volt"].nunique()
    assert (li_only == 1).all()  # the Li-only model does not depend on n
    lc = next(f for f in embedded.figures if f.key == "learning_curve")
    assert [s.name for s in lc.series] == ["Na only", "Li only", "Li + offset", "transfer"]
    assert any(f.key == "parity" for f in embedded.figures)
    assert any("SYNTHETIC" in n for n in embedded.notes)
    assert embedded.model_cards[1]["data kind"].startswith("SYNTHETIC")
    assert "SYNTHETIC" in embedded.answer


def test_generator_and_host_features_are_working_ion_agnostic():
    df = synthetic_electrodes(20, 10, seed=3)
    assert df.equals(synthetic_electrodes(20, 10, seed=3))
    assert df["average_voltage_volt"].between(0, 6).all()
    li = host_features(["FePO4"], ["LiFePO4"], "Li")
    na = host_features(["FePO4"], ["NaFePO4"], "Na")
    pd.testing.assert_frame_equal(li, na)  # same host, same features, whatever the ion
    assert li["ion_per_host_atom_discharged"].iloc[0] == pytest.approx(1 / 6)
    assert li["ion_per_host_atom_charged"].iloc[0] == 0
    half = host_features(["Na(CrS2)2"], ["NaCrS2"], "Na")
    assert half["ion_per_host_atom_charged"].iloc[0] == pytest.approx(1 / 6)
    assert np.isfinite(half.to_numpy(dtype=float)).sum() > 100


@pytest.mark.parametrize(("config", "key"), [
    ({"unknown": 3}, "unknown"),
    ({"repeats": "many"}, "repeats"),
    ({"n_train": [10, 5]}, "n_train"),
    ({"n_train": [2, 5]}, "n_train"),
    ({"test_fraction": 0.95}, "test_fraction"),
    ({"transfer": "magic"}, "transfer"),
])
def test_bad_config_names_the_key(tmp_path, config, key):
    with pytest.raises(StudyConfigError, match=key):
        run_study("sodium-transfer", tmp_path, config=config)


def test_too_few_na_rows_is_a_clear_error(tmp_path):
    with pytest.raises(DataFormatError, match="n_train"):
        run_study("sodium-transfer", tmp_path, config={"synthetic_na": 20, "n_train": [5, 40]})


@pytest.mark.shared
def test_transfer_beats_na_only_on_materials_project(shared_file, tmp_path):
    path = shared_file("materials_project_insertion_electrodes", "mp_batteries.csv")
    cfg = {"n_train": [5, 10, 40], "repeats": 3, "n_trees": 50, "max_li_rows": 1000}
    r = run_study("sodium-transfer", tmp_path, config=cfg, data=path)
    m = r.metrics
    assert m["synthetic_data"] == 0.0
    assert m["n_na_target"] > 250 and m["n_li_source"] == 1000
    assert m["mae_transfer_n5_volt"] < m["mae_na_only_n5_volt"] - 0.2
    assert m["mae_transfer_n10_volt"] < m["mae_na_only_n10_volt"]
    assert 0.2 < m["mae_transfer_n5_volt"] < 0.8  # DFT voltages spread over 0-6 V
    assert m["mean_na_minus_li_model_volt"] < 0  # Na voltages below Li ones (Ong et al. 2011)
