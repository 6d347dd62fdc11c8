import json
import math
import sqlite3

import numpy as np
import pytest

from voltlab.errors import MissingFileError, OptimizationError, StoreError
from voltlab.optimize import Campaign, Objective, OutcomeConstraint, Real, SearchSpace
from voltlab.optimize.campaign import Settings
from voltlab.optimize.pareto import pareto_mask

SQUARE = SearchSpace([Real("x1", 0.0, 1.0), Real("x2", 0.0, 1.0)])


def _run(camp: Campaign, f, n_asks: int, q: int = 1) -> None:
    for _ in range(n_asks):
        for s in camp.ask(q):
            camp.tell(s.id, f(s.point))


def test_every_gp_suggestion_satisfies_simplex_and_linear_constraints(tmp_path, nmc_space, fast, nmc_capacity):
    camp = Campaign.create(tmp_path / "nmc.sqlite", nmc_space, [Objective("capacity_mAh_g")], n_init=6, seed=2,
                           **fast)
    _run(camp, lambda p: {"capacity_mAh_g": nmc_capacity(p)}, 1, q=6)
    _run(camp, lambda p: {"capacity_mAh_g": nmc_capacity(p)}, 2, q=2)
    sugg = camp.suggestions()
    assert [s.source for s in sugg] == ["center"] + ["sobol"] * 5 + ["qLogNEI"] * 4
    assert sugg[0].point == nmc_space.center()
    for s in sugg:
        assert abs(s.point["Ni"] + s.point["Co"] + s.point["Mn"] - 1.0) <= 1e-9
        assert s.point["Co"] + s.point["Mn"] <= 0.35 + 1e-9
        assert nmc_space.contains(s.point, tol=1e-9)
    # The GP pushes Ni up (capacity grows with Ni, and Co + Mn <= 0.35 means Ni >= 0.65).
    gp_ni = [s.point["Ni"] for s in sugg if s.source == "qLogNEI"]
    assert np.mean(gp_ni) > np.mean([s.point["Ni"] for s in sugg[:6]])
    state = sugg[-1].model_state
    assert state["acquisition"] == "qLogNEI" and state["n_train"] == 8 and state["n_pending"] == 0
    assert len(state["hyperparameters"]["capacity_mAh_g"]["lengthscales_unit"]) == nmc_space.dim
    assert state["hyperparameters"]["capacity_mAh_g"]["noise_variance"] > 0
    assert np.isfinite(state["acquisition_value"])


def test_bo_beats_random_search_at_equal_budget(tmp_path, fast, bowl):
    f = lambda p: {"y": bowl(p["x1"], p["x2"])}  # noqa: E731
    results = {}
    for surrogate in ("gp", "random"):
        camp = Campaign.create(tmp_path / f"{surrogate}.sqlite", SQUARE, [Objective("y", "minimize")], n_init=4,
                               seed=0, surrogate=surrogate, **fast)
        _run(camp, f, 1, q=4)
        _run(camp, f, 6)
        assert camp.counts()["complete"] == 10
        results[surrogate] = camp.best().values["y"]
    # Same seed: the first 4 Sobol points are shared; the GP then spends 6 evaluations far better.
    # Measured: GP 3.4e-5, Sobol 1.4e-2 (seeds 0-3: GP <= 2.7e-4, Sobol >= 1.4e-2).
    assert results["gp"] < 1e-3
    assert results["random"] > 1e-2
    assert results["gp"] < results["random"] / 10


def test_same_seed_same_suggestions(tmp_path, fast, bowl):
    f = lambda p: {"y": bowl(p["x1"], p["x2"])}  # noqa: E731
    points = []
    for k in range(2):
        camp = Campaign.create(tmp_path / f"s{k}.sqlite", SQUARE, [Objective("y", "minimize")], n_init=4, seed=5,
                               **fast)
        _run(camp, f, 1, q=4)
        _run(camp, f, 2)
        points.append([s.point for s in camp.suggestions()])
    assert points[0] == points[1]
    other = Campaign.create(tmp_path / "s9.sqlite", SQUARE, [Objective("y", "minimize")], n_init=4, seed=6, **fast)
    assert [s.point for s in other.ask(4)] != points[0][:4]


def test_initial_design_starts_at_the_centre_then_follows_the_sobol_stream(tmp_path, nmc_space):
    centred = Campaign.create(tmp_path / "a.sqlite", SQUARE, [Objective("y")], seed=4)
    plain = Campaign.create(tmp_path / "b.sqlite", SQUARE, [Objective("y")], seed=4, init_center=False)
    assert centred.settings.n_init == 5 and (centred.settings.num_restarts, centred.settings.raw_samples) == (20, 1024)
    first = centred.ask(3)
    assert first[0].point == {"x1": 0.5, "x2": 0.5} and [s.source for s in first] == ["center", "sobol", "sobol"]
    rest = centred.ask(2)
    assert [s.source for s in rest] == ["sobol", "sobol"]  # one centre per campaign
    assert [s.point for s in first[1:] + rest] == [s.point for s in plain.ask(4)]  # the same Sobol stream
    # a campaign file written before init_center existed resumes without a centre point
    old = Settings.from_dict({k: v for k, v in plain.settings.to_dict().items() if k != "init_center"})
    assert old.init_center is False
    # the centre of a constrained simplex is feasible, and the middle of each range where the bounds allow
    c = nmc_space.center()
    assert nmc_space.contains(c, tol=1e-9) and abs(c["Ni"] + c["Co"] + c["Mn"] - 1.0) <= 1e-12


def test_outcome_constraint_concentrates_suggestions_in_the_feasible_region(tmp_path, fast):
    # maximise x1 + x2 subject to x1^2 + x2^2 <= 0.5: the feasible optimum is (0.5, 0.5) with value 1,
    # the unconstrained one is (1, 1).
    def f(p):
        return {"y": p["x1"] + p["x2"], "r2": p["x1"] ** 2 + p["x2"] ** 2}

    # init_center=False: the centre (0.5, 0.5) is this problem's optimum, which would make the test trivial.
    camp = Campaign.create(tmp_path / "c.sqlite", SQUARE, [Objective("y")], ["r2 <= 0.5"], n_init=5, seed=3,
                           init_center=False, **fast)
    _run(camp, f, 1, q=5)
    _run(camp, f, 5)
    gp = [s for s in camp.suggestions() if s.source == "qLogNEI"]
    r2 = np.array([s.values["r2"] for s in gp])
    # Measured: r2 of the 5 GP points in [0.43, 0.56], 3 feasible; best feasible y = 0.99.
    assert np.sum(r2 <= 0.5) >= 3
    assert r2.max() < 0.65  # all hug the boundary circle r2 = 0.5
    best = camp.best()
    assert best.values["r2"] <= 0.5
    assert best.values["y"] == pytest.approx(1.0, abs=0.05)
    # Without the constraint the same campaign heads for the infeasible corner (1, 1).
    free = Campaign.create(tmp_path / "u.sqlite", SQUARE, [Objective("y")], n_init=5, seed=3, init_center=False,
                           **fast)
    _run(free, lambda p: {"y": f(p)["y"]}, 1, q=5)
    _run(free, lambda p: {"y": f(p)["y"]}, 2)
    free_r2 = [s.point["x1"] ** 2 + s.point["x2"] ** 2 for s in free.suggestions() if s.source == "qLogNEI"]
    assert min(free_r2) > 1.0


def test_failed_evaluation_is_recorded_and_the_campaign_continues(tmp_path, fast, bowl):
    f = lambda p: {"y": bowl(p["x1"], p["x2"])}  # noqa: E731
    camp = Campaign.create(tmp_path / "f.sqlite", SQUARE, [Objective("y", "minimize")], n_init=4, seed=1, **fast)
    first = camp.ask(5)
    for s in first[:4]:
        camp.tell(s.id, f(s.point))
    bad = camp.tell(first[4].id, failed=True, reason="cell shorted during formation")
    assert bad.status == "failed" and bad.values is None and bad.reason == "cell shorted during formation"
    [nxt] = camp.ask(1)
    assert nxt.source == "qLogNEI"
    assert nxt.model_state["n_train"] == 4 and nxt.model_state["n_pending"] == 1  # failed point avoided
    [nxt2] = camp.ask(1)  # nxt still pending: it and the failed point are both avoided
    assert nxt2.model_state["n_pending"] == 2
    assert np.hypot(nxt2.point["x1"] - nxt.point["x1"], nxt2.point["x2"] - nxt.point["x2"]) > 1e-3
    camp.tell(nxt.id, f(nxt.point))
    camp.tell(nxt2.id, f(nxt2.point))
    again = Campaign.open(camp.path)
    assert again.counts() == {"pending": 0, "complete": 6, "failed": 1, "total": 7, "next_batch": 3}
    assert again.get(first[4].id).reason == "cell shorted during formation"


def test_tell_is_idempotent_and_results_are_immutable(tmp_path):
    camp = Campaign.create(tmp_path / "t.sqlite", SQUARE, [Objective("y")], n_init=2, surrogate="random")
    [s] = camp.ask(1)
    camp.tell(s.id, {"y": 1.5})
    assert camp.tell(s.id, {"y": 1.5}).values == {"y": 1.5}  # repeat: no-op
    assert camp.counts()["complete"] == 1
    with pytest.raises(OptimizationError, match=r"suggestion 0 is already complete with values \{'y': 1.5\}"):
        camp.tell(s.id, {"y": 2.0})
    with pytest.raises(OptimizationError, match=r"no suggestion with id 7; ids run from 0 to 0"):
        camp.tell(7, {"y": 1.0})
    [s2] = camp.ask(1)
    with pytest.raises(OptimizationError, match=r"unknown outcomes \['z'\], missing outcomes \['y'\]"):
        camp.tell(s2.id, {"z": 1.0})
    with pytest.raises(OptimizationError, match=r"outcome 'y' is nan; record a broken evaluation with failed=True"):
        camp.tell(s2.id, {"y": float("nan")})
    assert camp.get(s2.id).status == "pending"


def test_tell_by_point_completes_pending_or_adds_external(tmp_path):
    camp = Campaign.create(tmp_path / "p.sqlite", SQUARE, [Objective("y")], n_init=2, surrogate="random")
    [s] = camp.ask(1)
    done = camp.tell(dict(s.point), {"y": 0.5})
    assert done.id == s.id and done.status == "complete"
    ext = camp.tell({"x1": 0.25, "x2": 0.75}, {"y": 0.9})
    assert ext.source == "external" and ext.id == 1 and ext.point == {"x1": 0.25, "x2": 0.75}
    with pytest.raises(OptimizationError, match=r"outside the search space"):
        camp.tell({"x1": 1.5, "x2": 0.0}, {"y": 0.0})


def test_multi_objective_uses_qlognehvi_with_the_stated_reference_point(tmp_path, fast):
    def f(p):
        return {"capacity": 1.0 - (p["x1"] - 0.2) ** 2, "fade": (p["x1"] - 0.8) ** 2 + 0.1 * p["x2"]}

    camp = Campaign.create(tmp_path / "m.sqlite", SQUARE, [Objective("capacity"), Objective("fade", "minimize")],
                           n_init=5, seed=4, hvi_baseline="noisy", **fast)
    _run(camp, f, 1, q=5)
    camp.tell({"x1": 0.0, "x2": 1.0}, f({"x1": 0.0, "x2": 1.0}))  # dominated, and worst in fade: off the front
    [s] = camp.ask(1)
    assert s.source == "qLogNEHVI" and s.model_state["hvi_baseline"] == "noisy"
    done = camp.suggestions("complete")
    U = np.array([[d.values["capacity"], -d.values["fade"]] for d in done])
    front = U[pareto_mask(U)]  # the reference point comes from the non-dominated points only
    assert len(front) >= 2 and len(front) < len(U)
    expected = front.min(axis=0) - 0.1 * (front.max(axis=0) - front.min(axis=0))
    np.testing.assert_allclose(s.model_state["ref_point_utility"], expected, atol=1e-9)
    everything = U.min(axis=0) - 0.1 * (U.max(axis=0) - U.min(axis=0))
    assert (expected >= everything - 1e-12).all() and (expected > everything + 1e-3).any()
    assert "Pareto front" in s.model_state["ref_point_rule"]
    camp.tell(s.id, f(s.point))
    front = camp.pareto_front()
    done = camp.suggestions("complete")
    def dominates(a, b):
        ua, ub = camp.utilities(a), camp.utilities(b)
        return all(x >= y for x, y in zip(ua, ub, strict=True)) and ua != ub
    assert front and all(not dominates(o, p) for p in front for o in done)
    assert all(any(dominates(p, o) for p in front) for o in done if o not in front)


def test_auto_hvi_baseline_follows_the_fitted_noise(tmp_path, fast):
    """Exact outcomes: the hypervolume improvement against the observed front (the noise-free limit of
    qLogNEHVI; for one point in closed form, LogEHVI, for a batch qLogEHVI);
    outcomes with noise (std 0.1, 14-16 % of their range): qLogNEHVI. The choice and the fitted noise are
    in the model state, the setting survives reopening, and a bad value is refused."""
    objs = [Objective("capacity"), Objective("fade", "minimize")]

    def exact(p):
        return {"capacity": 1.0 - (p["x1"] - 0.2) ** 2, "fade": (p["x1"] - 0.8) ** 2 + 0.1 * p["x2"]}

    rng = np.random.default_rng(0)

    def noisy(p):
        return {k: v + 0.1 * rng.standard_normal() for k, v in exact(p).items()}

    chosen = {}
    for name, f in (("exact", exact), ("noisy", noisy)):
        camp = Campaign.create(tmp_path / f"{name}.sqlite", SQUARE, objs, n_init=12, seed=1, **fast)
        _run(camp, f, 3, q=4)
        [s] = camp.ask(1)
        chosen[name] = (s.source, s.model_state["hvi_baseline"], s.model_state["noise_variance_standardised_max"])
        assert SQUARE.contains(s.point)
        camp.close()
    assert chosen["exact"][:2] == ("LogEHVI", "observed") and chosen["exact"][2] <= 1e-2
    assert chosen["noisy"][:2] == ("qLogNEHVI", "noisy") and chosen["noisy"][2] > 1e-2
    with Campaign.open(tmp_path / "exact.sqlite") as camp:
        assert camp.settings.hvi_baseline == "auto"
        older = {k: v for k, v in camp.settings.to_dict().items() if k != "hvi_baseline"}
    assert Settings.from_dict(older).hvi_baseline == "noisy"  # files from before the setting keep qLogNEHVI
    forced = Campaign.create(tmp_path / "forced.sqlite", SQUARE, objs, n_init=12, seed=1, hvi_baseline="observed",
                             **fast)
    _run(forced, noisy, 3, q=4)
    [s] = forced.ask(1)
    assert s.source == "LogEHVI"
    assert {b.source for b in forced.ask(2)} == {"qLogEHVI"}  # a batch: the Monte-Carlo form
    # no observation meets the outcome constraint: the observed feasible front is empty, and the
    # improvement is over nothing (every feasible point improves)
    never = Campaign.create(tmp_path / "never.sqlite", SQUARE, objs, ["stability >= 5"], n_init=6, seed=2,
                            hvi_baseline="observed", **fast)
    _run(never, lambda p: {**exact(p), "stability": p["x2"]}, 2, q=3)
    [s] = never.ask(1)
    assert s.source == "LogEHVI" and SQUARE.contains(s.point) and not never.pareto_front()
    with pytest.raises(OptimizationError, match=r"hvi_baseline 'exact' is not one of \['auto', 'noisy', 'observed'\]"):
        Campaign.create(tmp_path / "bad.sqlite", SQUARE, objs, hvi_baseline="exact")


def test_active_learning_picks_the_most_uncertain_region(tmp_path, fast):
    line = SearchSpace([Real("x", 0.0, 1.0)])
    camp = Campaign.create(tmp_path / "a.sqlite", line, [Objective("y")], n_init=3, seed=0, mode="explore", **fast)
    for x in (0.0, 0.1, 0.2):
        camp.tell({"x": x}, {"y": np.sin(6 * x)})
    a, b = camp.ask(2)
    assert a.source == "max-std"
    # Data sit in [0, 0.2]: the first point goes to the far end, the second (after conditioning) in between.
    assert a.point["x"] > 0.9
    assert 0.3 < b.point["x"] < 0.8


@pytest.mark.parametrize("kind", ["rf", "xgb"])
def test_tree_ensemble_surrogates_improve_and_stay_feasible(tmp_path, nmc_space, nmc_capacity, kind):
    camp = Campaign.create(tmp_path / f"{kind}.sqlite", nmc_space, [Objective("capacity_mAh_g")], n_init=6, seed=0,
                           surrogate=kind, rf_candidates=256)
    f = lambda p: {"capacity_mAh_g": nmc_capacity(p)}  # noqa: E731
    _run(camp, f, 1, q=6)
    init_best = camp.best().values["capacity_mAh_g"]
    _run(camp, f, 3, q=2)
    assert {s.source for s in camp.suggestions()} == {"center", "sobol", f"{kind}-EI"}
    assert all(nmc_space.contains(s.point) for s in camp.suggestions())
    assert camp.best().values["capacity_mAh_g"] > init_best
    state = camp.suggestions()[-1].model_state
    assert state["surrogate"] == kind and state["posterior"]["capacity_mAh_g_utility"]["std"] > 0
    with pytest.raises(OptimizationError, match=rf"surrogate='{kind}' handles one objective"):
        Campaign.create(tmp_path / f"{kind}2.sqlite", nmc_space, ["a", "b"], surrogate=kind)


def test_xgboost_ensemble_members_differ_by_bootstrap_and_repeat_with_the_seed():
    from voltlab.optimize._forest import _members_xgb

    rng = np.random.default_rng(0)
    X = rng.random((30, 2))
    y = np.sin(6 * X[:, 0]) + X[:, 1]
    C = rng.random((50, 2))
    a, name = _members_xgb(X, y, C, seed=3, n_members=8)
    b, _ = _members_xgb(X, y, C, seed=3, n_members=8)
    c, _ = _members_xgb(X, y, C, seed=4, n_members=8)
    assert a.shape == (8, 50) and "8 bootstrapped XGBRegressor" in name
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert a.std(axis=0).min() > 0  # every candidate gets a spread
    # the ensemble mean tracks the function: far better than predicting the mean of y
    truth = np.sin(6 * C[:, 0]) + C[:, 1]
    assert np.sqrt(np.mean((a.mean(axis=0) - truth) ** 2)) < 0.5 * truth.std()


def test_campaign_validation_errors(tmp_path):
    with pytest.raises(OptimizationError, match=r"outcome names \['y'\] appear twice"):
        Campaign.create(tmp_path / "a.sqlite", SQUARE, [Objective("y")], ["y >= 0"])
    with pytest.raises(OptimizationError, match=r"also parameter names"):
        Campaign.create(tmp_path / "b.sqlite", SQUARE, [Objective("x1")])
    with pytest.raises(OptimizationError, match=r"direction='target' needs a finite target"):
        Objective("v", "target")
    with pytest.raises(OptimizationError, match=r"not of the form 'name >= value'"):
        OutcomeConstraint.parse("stability > 0.5")
    with pytest.raises(OptimizationError, match=r"surrogate 'svm' is not one of"):
        Campaign.create(tmp_path / "c.sqlite", SQUARE, ["y"], surrogate="svm")
    with pytest.raises(MissingFileError, match=r"no campaign file here"):
        Campaign.open(tmp_path / "missing.sqlite")
    Campaign.create(tmp_path / "d.sqlite", SQUARE, ["y"])
    with pytest.raises(StoreError, match=r"already exists"):
        Campaign.create(tmp_path / "d.sqlite", SQUARE, ["y"])
    (tmp_path / "e.sqlite").write_bytes(b"not a database at all, just text" * 10)
    with pytest.raises(StoreError):
        Campaign.open(tmp_path / "e.sqlite")


def test_target_objective_minimises_the_distance(tmp_path, fast):
    line = SearchSpace([Real("x", 0.0, 1.0)])
    camp = Campaign.create(tmp_path / "tg.sqlite", line, [Objective("V", "target", target=3.7)], n_init=4, seed=2,
                           **fast)
    _run(camp, lambda p: {"V": 3.0 + p["x"]}, 1, q=4)
    _run(camp, lambda p: {"V": 3.0 + p["x"]}, 3)
    assert abs(camp.best().values["V"] - 3.7) < 0.03


def test_file_is_wal_and_json_export_round_trips(tmp_path):
    camp = Campaign.create(tmp_path / "j.sqlite", SQUARE, [Objective("y")], ["c >= 0"], n_init=2,
                           surrogate="random", seed=9)
    a, b, _ = camp.ask(3)
    camp.tell(a.id, {"y": 1.0, "c": 0.5})
    camp.tell(b.id, failed=True, reason="timeout")
    out = camp.export_json(tmp_path / "export" / "j.json")
    data = json.loads(out.read_text())
    assert data["format"] == "voltlab-campaign" and data["settings"]["seed"] == 9
    assert [s["status"] for s in data["suggestions"]] == ["complete", "failed", "pending"]
    assert not list(out.parent.glob(".*.tmp"))  # the temp file was renamed away
    back = Campaign.import_json(out, tmp_path / "k.sqlite")
    assert back.to_dict() == camp.to_dict()
    # Resuming the imported copy continues the same Sobol stream as the original.
    assert back.ask(1)[0].point == camp.ask(1)[0].point
    con = sqlite3.connect(tmp_path / "j.sqlite")
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    con.close()
    (tmp_path / "bad.json").write_text("[1, 2]")
    with pytest.raises(OptimizationError, match=r"not a voltlab campaign export"):
        Campaign.import_json(tmp_path / "bad.json", tmp_path / "z.sqlite")


def test_an_ask_racing_another_writer_is_refused_not_duplicated(tmp_path, monkeypatch):
    a = Campaign.create(tmp_path / "race.sqlite", SQUARE, [Objective("y")], n_init=2, surrogate="random")
    b = Campaign.open(a.path)
    original = a._sobol

    def racing(rows, n):
        b.ask(1)  # another process commits while a is still computing its batch
        return original(rows, n)

    monkeypatch.setattr(a, "_sobol", racing)
    with pytest.raises(StoreError, match=r"another process added suggestions while this batch was computed"):
        a.ask(1)
    monkeypatch.undo()
    [s] = a.ask(1)
    assert s.id == 1 and a.counts()["total"] == 2
    assert s.point != b.get(0).point  # the Sobol stream moved on: no duplicate point


def test_gp_fits_start_from_the_previous_hyperparameters(tmp_path, fast):
    """From 20 observations on, each fit starts at the last fit's optimum and lands where a cold fit does."""
    from voltlab.optimize._botorch import WARM_START_MIN_OBSERVATIONS

    def f(p):
        return {"y": math.sin(6 * p["x1"]) + 0.5 * math.cos(4 * p["x2"])}

    camp = Campaign.create(tmp_path / "w.sqlite", SQUARE, [Objective("y")], seed=1, **fast)
    for p in SQUARE.sample(WARM_START_MIN_OBSERVATIONS, seed=3):
        camp.tell(p, f(p))
    [first] = camp.ask(1)
    assert first.model_state["gp_fits_warm_started"] == 0  # no GP fit before it
    camp.tell(first.id, f(first.point))
    [second] = camp.ask(1)
    assert second.model_state["gp_fits_warm_started"] == 1
    warm = second.model_state["hyperparameters"]["y"]
    cold_camp = Campaign.create(tmp_path / "c.sqlite", SQUARE, [Objective("y")], seed=1, **fast)
    for s in camp.suggestions():
        if s.values is not None:
            cold_camp.tell(s.point, s.values)
    [cold_s] = cold_camp.ask(1)  # the same 21 observations, no previous fit
    assert cold_s.model_state["gp_fits_warm_started"] == 0
    cold = cold_s.model_state["hyperparameters"]["y"]
    np.testing.assert_allclose(warm["lengthscales_unit"], cold["lengthscales_unit"], rtol=0.05)
    assert warm["noise_variance_standardised"] == pytest.approx(cold["noise_variance_standardised"], rel=0.5, abs=1e-4)
