"""Study ncm-cobalt: emulator trends, BO vs random, simplex and Co cap, Pareto front, --data."""

import math

import numpy as np
import pandas as pd
import pytest

from voltlab.errors import DataFormatError, MissingFileError, StudyConfigError
from voltlab.studies import run_study
from voltlab.studies.ncm_cobalt import ncm_emulator, ncm_properties

SMALL = {"budget": 14, "n_init": 6, "batch_size": 4, "n_seeds": 1, "seed": 0}  # 2 BO batches: BO > random


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    return run_study("ncm-cobalt", tmp_path_factory.mktemp("ncm"), config=SMALL)


def test_bo_hypervolume_at_least_random(result):
    per = result.tables["Hypervolume per seed"]
    assert len(per) == 1
    assert (per["hypervolume_bo_mah_g_percent"] >= per["hypervolume_random_mah_g_percent"]).all()
    assert result.metrics["hypervolume_bo_median_mah_g_percent"] > 0
    assert (result.out_dir / "results.json").is_file()


def test_every_suggestion_on_the_simplex_and_under_the_co_cap(result):
    log = result.tables["BO campaign log"]
    assert len(log) == SMALL["budget"]
    total = log["ni"] + log["co"] + log["mn"]
    assert np.all(np.abs(total - 1.0) <= 1e-9)
    assert np.all(log["co"] <= 0.05 + 1e-9) and np.all(log["co"] >= -1e-12)
    assert np.all(log["dopant_amount"] <= 0.03 + 1e-9)
    assert set(log["dopant"]) <= {"none", "Al", "Mg", "Zr", "Ti"}


def test_pareto_members_feasible_and_non_dominated(result):
    log = result.tables["BO campaign log"]
    front = result.tables["Pareto front"]
    assert len(front) >= 1
    assert np.all(front["thermal_onset_c"] >= 240.0)
    feas = log[log["thermal_onset_c"] >= 240.0]
    for r in front.itertuples():
        dominated = ((feas["capacity_mah_g"] >= r.capacity_mah_g) & (feas["retention_50_percent"] >= r.retention_50_percent)
                     & ((feas["capacity_mah_g"] > r.capacity_mah_g) | (feas["retention_50_percent"] > r.retention_50_percent)))
        assert not dominated.any(), r.composition
    short = result.tables["Shortlist"]
    assert len(short) >= 1 and np.all(short["co_fraction"] <= 0.05 + 1e-9)
    assert set(short["composition"]) <= set(front["composition"])
    kinds = {s.z is not None for f in result.figures if f.key == "pareto_3d" for s in f.series}
    assert kinds == {True}
    assert "SYNTHETIC" in result.notes[0]


def test_emulator_trends():
    def p(ni, co, dop="none", x=0.0, **kw):
        return ncm_properties(ni, co, 1.0 - ni - co, dop, x, **kw)

    caps = [p(ni, 0.05)["capacity_mah_g"] for ni in (0.6, 0.7, 0.8, 0.9)]
    assert np.all(np.diff(caps) > 0)                                        # capacity rises with Ni at fixed Co
    ret = [p(ni, 0.05)["retention_50_percent"] for ni in (0.6, 0.7, 0.8, 0.9)]
    assert np.all(np.diff(ret) < 0)                                         # retention falls with Ni
    th = [p(ni, 0.05)["thermal_onset_c"] for ni in (0.6, 0.7, 0.8, 0.9)]
    assert np.all(np.diff(th) < 0)                                          # thermal stability falls with Ni
    assert p(0.8, 0.02)["thermal_onset_c"] > p(0.8, 0.15)["thermal_onset_c"]   # Mn (for Co) stabilises
    assert p(0.85, 0.10)["capacity_mah_g"] > p(0.85, 0.0)["capacity_mah_g"]     # Co helps ordering
    assert p(0.85, 0.10)["cation_mixing_fraction"] < p(0.85, 0.0)["cation_mixing_fraction"]
    for d in ("Al", "Mg", "Zr", "Ti"):                                     # dopants: capacity for retention
        assert p(0.85, 0.05, d, 0.02)["capacity_mah_g"] < p(0.85, 0.05)["capacity_mah_g"]
        assert p(0.85, 0.05, d, 0.02)["retention_50_percent"] > p(0.85, 0.05)["retention_50_percent"]
    # NCM811 ~ 207 mAh/g, the stated calibration
    assert math.isclose(p(0.8, 0.1)["capacity_mah_g"], 206.7, abs_tol=0.1)
    # noise: deterministic per seed, absent without one
    assert p(0.8, 0.1, seed=3) == p(0.8, 0.1, seed=3) != p(0.8, 0.1, seed=4)
    assert ncm_emulator([{"ni": 0.8, "co": 0.1, "mn": 0.1}])[0] == p(0.8, 0.1)
    with pytest.raises(DataFormatError, match="sum|must be 1"):
        ncm_properties(0.8, 0.1, 0.2)
    with pytest.raises(DataFormatError, match="dopant"):
        ncm_properties(0.8, 0.1, 0.1, "Xx", 0.01)


@pytest.mark.parametrize(("cfg", "key"), [({"budgett": 10}, "budgett"), ({"budget": "ten"}, "budget"),
                                      ({"co_max": 0.0}, "co_low"), ({"dopants": ["Al", "U"]}, "dopants"),
                                      ({"thermal_min_c": "hot"}, "thermal_min_c"),
                                      ({"surrogate_method": "svm"}, "surrogate_method")])
def test_config_errors_name_the_key(tmp_path, cfg, key):
    with pytest.raises(StudyConfigError, match=key):
        run_study("ncm-cobalt", tmp_path, config=cfg)


def test_data_errors(tmp_path):
    with pytest.raises(MissingFileError):
        run_study("ncm-cobalt", tmp_path, config=SMALL, data=tmp_path / "absent.csv")
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"Ni": [0.8], "Co": [0.1], "Mn": [0.1], "IC": [200.0]}).to_csv(bad, index=False)
    with pytest.raises(DataFormatError, match="dopant|ref_doi|column"):
        run_study("ncm-cobalt", tmp_path / "o", config=SMALL, data=bad)


def test_shared_doped_ncm_table(tmp_path, shared_file):
    path = shared_file("doped_ncm_capacity", "NMC_doped_with_dopant_and_doi.csv")
    res = run_study("ncm-cobalt", tmp_path, config={"budget": 8, "n_init": 6, "batch_size": 2, "n_seeds": 1},
                    data=path)
    cards = {c["predicts"]: c for c in res.model_cards}
    assert len(cards) == 2
    for c in cards.values():
        assert "group 5-fold CV by ref_doi" in c["validation"]
        assert "168 rows, 59 papers" in c["training data"]
        assert np.isfinite(c["cv_mae"]) and np.isfinite(c["cv_r2"])
    # capacity error within the table's spread (86-350 mAh/g): a model, not noise
    assert 0 < res.metrics["cv_mae_capacity_mah_g"] < 40
    log = res.tables["BO campaign log"]
    assert np.all(np.abs(log["ni"] + log["co"] + log["mn"] - 1.0) <= 1e-9)
    assert res.provenance["input data"].endswith(")") and "sha256" in res.provenance["input data"]
