import pytest

from voltlab.errors import OptimizationError
from voltlab.optimize import Campaign, LinearConstraint, Real, SearchSpace, Simplex

FAST_MF = {"num_restarts": 1, "raw_samples": 16, "num_fantasies": 4}  # one-shot KG is costly


def test_multifidelity_kg_keeps_constraints_spends_cheap_runs_and_records_its_cost_model(tmp_path):
    # Capacity after a fraction of the cycles: low fidelity over-rates Mn-rich compositions.
    space = SearchSpace([Real("Ni", 0.5, 0.9), Real("Co", 0.05, 0.3), Real("Mn", 0.05, 0.3),
                         Real("cycles_frac", 0.1, 1.0)], simplexes=[Simplex(("Ni", "Co", "Mn"))],
                        constraints=[LinearConstraint({"Co": 1.0, "Mn": 1.0}, 0.35)])
    camp = Campaign.create(tmp_path / "mf.sqlite", space, ["cap"], n_init=5, seed=1, fidelity="cycles_frac",
                           fidelity_cost=0.1, **FAST_MF)

    def f(p):
        return {"cap": 150 + 60 * p["Ni"] + 20 * (1 - p["cycles_frac"]) * p["Mn"]}

    for s in camp.ask(5):
        camp.tell(s.id, f(s.point))
    assert camp.recommendation() is None
    [s] = camp.ask(1)
    camp.tell(s.id, f(s.point))
    st = s.model_state
    assert s.source == "qMFKG" and st["model"].startswith("SingleTaskMultiFidelityGP")
    assert abs(s.point["Ni"] + s.point["Co"] + s.point["Mn"] - 1.0) <= 1e-9
    assert s.point["Co"] + s.point["Mn"] <= 0.35 + 1e-9
    # cost = fidelity_cost + cycles_frac; in the unit box 0.2 + 0.9 u.
    assert st["cost_model"] == "0.2 + 0.9 * u_fidelity"
    assert st["cost_unit"][0] == pytest.approx(0.1 + s.point["cycles_frac"], abs=1e-12)
    # Measured: qMFKG picks a cheap run (cycles_frac 0.1, cost 0.2) over full runs (cost 1.1).
    assert s.point["cycles_frac"] < 0.5
    rec = camp.recommendation()
    assert space.contains(rec) and rec["cycles_frac"] == 1.0
    # best() only counts target-fidelity evaluations.
    best = camp.best()
    assert best is None or best.point["cycles_frac"] == 1.0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"fidelity": "z"}, r"fidelity='z' is not a parameter"),
        ({"fidelity": "x", "outcome_constraints": ["c >= 0"]}, r"one maximize/minimize objective without outcome"),
        ({"fidelity": "s", "fidelity_cost": -0.2}, r"makes the cost fidelity_cost \+ s non-positive"),
        ({"fidelity": "s", "surrogate": "rf"}, r"needs surrogate='gp'"),
    ],
)
def test_multifidelity_validation(tmp_path, kwargs, match):
    space = SearchSpace([Real("x", 0.0, 1.0), Real("s", 0.1, 1.0)])
    cons = kwargs.pop("outcome_constraints", ())
    with pytest.raises(OptimizationError, match=match):
        Campaign.create(tmp_path / "v.sqlite", space, ["y"], cons, **kwargs)
