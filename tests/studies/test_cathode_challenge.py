"""The main job: cathode candidates → descriptors → models → BO → PyBaMM cycling → verdict."""

from __future__ import annotations

import numpy as np
import pytest

from voltlab.errors import DataFormatError, StudyConfigError
from voltlab.studies import run_study
from voltlab.studies.cathode_challenge import cathode_formula, project_cycle_life

SMALL = {"n_lab": 24, "budget": 14, "batch_size": 4, "n_cells": 2, "sim_cycles": 12, "seed": 1}


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    return run_study("cathode-challenge", tmp_path_factory.mktemp("cc"), config=SMALL)


def test_models_learn_the_lab_and_bo_beats_random(result):
    m = result.metrics
    assert m["lab_rows"] == 24
    # the emulator's noise is 2 mAh/g and 0.5 %: a model that learned nothing is off by ~10 mAh/g
    assert m["capacity_cv_mae_mah_g"] < 8.0
    assert m["retention_cv_mae_percent"] < 2.5
    assert m["bo_hypervolume"] >= m["random_hypervolume"] > 0


def test_campaign_points_are_valid_and_the_front_is_non_dominated(result):
    log = result.tables["BO campaign log"]
    assert np.allclose(log["Ni"] + log["Co"] + log["Mn"], 1.0, atol=1e-9)
    assert (log["Co"] <= 0.2 + 1e-9).all() and (log["Ni"] >= 0.5 - 1e-9).all()
    front = result.tables["Shortlist (Pareto candidates)"]
    assert len(front) == result.metrics["pareto_size"] >= 1
    pts = front[["predicted_capacity_mah_g", "predicted_retention_50_percent"]].to_numpy()
    for i, p in enumerate(pts):
        others = np.delete(pts, i, axis=0)
        assert not np.any(np.all(others >= p, axis=1) & np.any(others > p, axis=1)), front.iloc[i]["formula"]
    assert front["why"].str.contains("Pareto-optimal").all()


def test_pybamm_cells_lose_the_cathode_loss_they_were_given(result):
    sims = result.tables["PyBaMM cycling of the shortlist"]
    assert 1 <= len(sims) <= 2
    # the LAM rate calibration holds: simulated positive-LAM per cycle matches the cathode's 50-cycle loss
    assert np.allclose(sims["simulated_lam_pe_percent_per_cycle"], sims["cathode_loss_percent_per_cycle"], rtol=0.2)
    assert (sims["retention_at_last_simulated_cycle_percent"] < 100).all()
    life = sims["projected_cycles_to_80_percent"]
    # The cell fades no faster than its cathode loses active material plus a little SEI (the positive
    # electrode has excess capacity in this cell, so it fades slower): life >= ~20 / (L + SEI) cycles.
    loss = sims["cathode_loss_percent_per_cycle"]
    fade = (100 - sims["retention_at_last_simulated_cycle_percent"]) / (sims["simulated_cycles"] - 1)
    assert (fade > 0).all() and (fade <= loss + 0.05).all()
    assert (life >= 0.8 * 20.0 / (loss + 0.05)).all()
    assert (life > sims["simulated_cycles"]).all()
    # a ~200 mAh/g cathode in the OKane2022 stack at 3.7 V: 300-400 Wh/kg (stack, no packaging)
    assert sims["stack_energy_density_wh_kg"].between(300, 400).all()
    assert result.metrics["candidates_meeting_both_targets"] == ((result.tables["Shortlist (Pareto candidates)"]
                                                                  .eval("projected_cycles_to_80_percent >= 2000")
                                                                  & (result.tables["Shortlist (Pareto candidates)"]
                                                                     ["lab_capacity_mah_g"] >= 200)).sum())


def test_report_renders_in_chromium(result, report_check, tmp_path):
    from voltlab.report.study import write_study_report

    path = write_study_report(result, tmp_path)
    counts = report_check(path)
    assert counts["figures"] == len(result.figures) >= 4 and counts["rendered"] == counts["figures"]
    assert (tmp_path / "report.pdf").stat().st_size > 10_000
    assert {p.stem for p in (tmp_path / "figures").glob("*.png")} == {f.key for f in result.figures}


def test_same_seed_same_numbers(result, tmp_path):
    again = run_study("cathode-challenge", tmp_path, config={**SMALL, "compare_random": False, "n_cells": 1})
    assert again.metrics["capacity_cv_mae_mah_g"] == result.metrics["capacity_cv_mae_mah_g"]
    assert again.metrics["bo_hypervolume"] == pytest.approx(result.metrics["bo_hypervolume"], rel=1e-9)


def test_formula_and_cycle_life_helpers():
    assert cathode_formula(0.6, 0.2, 0.2) == "LiNi0.6Co0.2Mn0.2O2"
    assert cathode_formula(0.8, 0.1, 0.1, "Zr", 0.00001) == "LiNi0.8Co0.1Mn0.1O2"
    with pytest.raises(DataFormatError):
        cathode_formula(-0.1, 0.5, 0.6)
    c = np.arange(1, 41)
    assert project_cycle_life(c, 1 - 5e-4 * c) == pytest.approx(400.0)
    assert project_cycle_life(c, np.where(c < 30, 1.0, 0.7)) == 30.0
    assert project_cycle_life(c, np.ones(40)) == float("inf")


def test_config_validation(tmp_path):
    with pytest.raises(StudyConfigError, match="ni/co/mn_bounds"):
        run_study("cathode-challenge", tmp_path, config={"ni_bounds": [0.1, 0.2], "co_bounds": [0.0, 0.1],
                                                         "mn_bounds": [0.0, 0.1]})
    with pytest.raises(StudyConfigError, match="'dopants'"):
        run_study("cathode-challenge", tmp_path, config={"dopants": ["Unobtainium"]})
    with pytest.raises(StudyConfigError, match="'budget'"):
        run_study("cathode-challenge", tmp_path, config={"budget": 2})


def test_real_doped_ncm_table(shared_data, tmp_path):
    path = shared_data / "doped_ncm_capacity" / "NMC_doped_with_dopant_and_doi.csv"
    r = run_study("cathode-challenge", tmp_path, data=path,
                  config={"budget": 10, "batch_size": 5, "n_cells": 1, "sim_cycles": 8, "compare_random": False})
    assert 100 <= r.metrics["lab_rows"] < 168  # Li-rich rows are left out
    assert "grouped by source paper" in r.model_cards[0]["validation"]
    assert 3.0 < r.metrics["capacity_cv_mae_mah_g"] < 60.0  # real literature data: far noisier than the emulator
    assert "lab_capacity_mah_g" not in r.tables["Shortlist (Pareto candidates)"].columns
