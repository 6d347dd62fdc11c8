"""Study closed-loop: multi-fidelity vs expensive-only on simulated cells, fidelity errors, config errors."""

import numpy as np
import pytest

from voltlab.errors import StudyConfigError
from voltlab.studies import run_study
from voltlab.studies.closed_loop import STEPS, ProtocolLifeMap, describe

SMALL = {"n_seeds": 1, "seed": 0, "expensive_budget": 6, "n_train_cells": 14, "n_validation_cells": 10,
         "n_screen": 96}


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    return run_study("closed-loop", tmp_path_factory.mktemp("closed_loop"), config=SMALL)


def test_multifidelity_needs_no_more_full_tests(result):
    per = result.tables["Per seed"].set_index("arm")
    budget = SMALL["expensive_budget"]
    n = per["expensive_evals_to_optimum"].replace(np.inf, budget + 1)
    assert np.isfinite(per.loc["multi-fidelity", "expensive_evals_to_optimum"])   # it reaches the optimum
    assert n["multi-fidelity"] <= n["expensive-only"]
    assert per.loc["multi-fidelity", "medium_evals"] > 0 and per.loc["expensive-only", "medium_evals"] == 0
    assert (per["expensive_evals"] == n.clip(upper=budget)).all()          # each arm stops once it reaches it
    m = result.metrics
    assert m["expensive_evals_to_optimum_multifidelity_median"] <= m["expensive_evals_to_optimum_expensive_only_median"]
    assert np.isclose(m["target_life_cycles"], 0.95 * m["optimum_life_cycles"])


def test_medium_fidelity_beats_cheap_on_held_out_cells(result):
    val = result.tables["Fidelity errors (held-out cells)"]
    assert (val["medium_mape_percent"] < val["cheap_mape_percent"]).all()
    assert (val["medium_mape_percent"] < 20).all()


def test_protocols_on_the_simplex_and_costs(result):
    log = result.tables["Evaluation log (medium and expensive)"]
    t = log[list(STEPS)].to_numpy()
    assert np.all(np.abs(t.sum(axis=1) - 10.0) <= 1e-9)
    assert np.all((t >= 1.5 - 1e-9) & (t <= 3.5 + 1e-9))
    med = log[log["fidelity"] == "medium"]
    assert np.all(med["cost_cycles"] == 100.0)
    eo = log[(log["arm"] == "expensive-only")]
    assert np.allclose(eo["cost_cycles"], eo["value_cycles"])          # a full test costs its life
    # best true life is monotone over full tests
    for _, g in log[log["fidelity"] == "expensive"].groupby("arm"):
        assert np.all(np.diff(g["best_true_life_cycles"].to_numpy()) >= 0)


def test_life_map_optimum_is_the_maximum():
    lm = ProtocolLifeMap()
    point, best = lm.optimum()
    assert abs(sum(point.values()) - 10.0) < 1e-6
    lives = [lm.life(p) for p in lm.space().sample(2000, seed=1)]
    assert best >= max(lives) - 1e-6
    assert best > lm.life(dict.fromkeys(STEPS, 2.5))                   # better than uniform 4.8C
    c = lm.c_rates(point)
    assert np.all(np.diff(c) < 0), describe(point)                      # fast at low SOC, slow at high SOC


@pytest.mark.parametrize(("cfg", "key"), [({"expensive_budgt": 5}, "expensive_budgt"), ({"n_seeds": "two"}, "n_seeds"),
                                      ({"tolerance_percent": 0.0}, "tolerance_percent"),
                                      ({"charge_time_min": 20.0}, "charge_time_min")])
def test_config_errors_name_the_key(tmp_path, cfg, key):
    with pytest.raises(StudyConfigError, match=key):
        run_study("closed-loop", tmp_path, config=cfg)


def test_takes_no_data(tmp_path):
    f = tmp_path / "x.csv"
    f.write_text("a\n1\n")
    with pytest.raises(StudyConfigError, match="no --data"):
        run_study("closed-loop", tmp_path, config=SMALL, data=f)
