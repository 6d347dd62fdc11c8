import itertools

import numpy as np
import pytest

from voltlab.errors import OptimizationError
from voltlab.optimize import Campaign, Objective, Real, SearchSpace, hypervolume, plots, reference_point


@pytest.fixture
def two_objective(tmp_path):
    space = SearchSpace([Real("x", 0.0, 1.0)])
    camp = Campaign.create(tmp_path / "p.sqlite", space, [Objective("capacity"), Objective("fade", "minimize")],
                           ["ok >= 0"], surrogate="random", seed=0)
    for s in camp.ask(8):
        x = s.point["x"]
        camp.tell(s.id, {"capacity": x, "fade": x**2, "ok": 0.5 - x})  # feasible only for x <= 0.5
    return camp


def test_pareto_front_plot_marks_the_feasible_non_dominated_set(two_objective, tmp_path):
    camp = two_objective
    # capacity = x vs fade = x^2: every feasible point is a trade-off, hence non-dominated.
    feasible = [s for s in camp.suggestions("complete") if s.point["x"] <= 0.5]
    assert {s.id for s in camp.pareto_front()} == {s.id for s in feasible}
    fig = plots.pareto_front(camp, "plotly")
    names = [tr.name for tr in fig.data]
    assert names == ["feasible", "infeasible", "non-dominated", "front"]
    assert len(fig.data[2].x) == len(feasible)
    assert list(fig.data[2].x) == sorted(s.values["capacity"] for s in feasible)
    png = plots.save(plots.pareto_front(camp, "matplotlib"), tmp_path / "front.png")
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_convergence_plot_steps_through_the_best_feasible_value(two_objective):
    fig = plots.convergence(two_objective, "plotly")
    best = list(fig.data[-1].y)
    done = sorted(two_objective.suggestions("complete"), key=lambda s: (s.told_utc, s.id))
    expected, cur = [], None
    for s in done:
        if s.point["x"] <= 0.5:
            cur = s.values["capacity"] if cur is None else max(cur, s.values["capacity"])
        expected.append(cur)
    assert [b for b in best if b == b] == [e for e in expected if e is not None]
    with pytest.raises(OptimizationError, match=r"must end in .png, .svg, .pdf or .html"):
        plots.backend_for("fig.jpg")


def test_hypervolume_trace_is_monotone_and_matches_hand_values(two_objective):
    camp = two_objective
    trace, ref = camp.hypervolume_trace()
    feas = np.array([camp.utilities(s) for s in camp.suggestions("complete") if camp.feasible(s)])
    assert ref == reference_point(feas)
    assert all(b >= a for a, b in itertools.pairwise(trace))
    assert trace[-1] == pytest.approx(hypervolume(feas, ref), rel=1e-12)
    fig = plots.hypervolume(camp, "plotly")
    assert list(fig.data[0].y) == trace


def test_exact_hypervolume_against_hand_and_botorch_values():
    # Two points (2, 1) and (1, 2) over ref (0, 0): 2 + 2 - 1 = 3.
    assert hypervolume(np.array([[2.0, 1.0], [1.0, 2.0]]), [0.0, 0.0]) == pytest.approx(3.0, abs=1e-15)
    assert hypervolume(np.array([[2.0, 1.0], [1.5, 0.5]]), [0.0, 0.0]) == pytest.approx(2.0, abs=1e-15)
    assert hypervolume(np.array([[-1.0, 5.0]]), [0.0, 0.0]) == 0.0
    import torch
    from botorch.utils.multi_objective.hypervolume import Hypervolume

    rng = np.random.default_rng(0)
    pts = rng.uniform(0, 1, size=(25, 3))
    ref = np.array([0.1, 0.0, 0.2])
    expected = Hypervolume(torch.tensor(ref)).compute(torch.tensor(pts[pareto_front_rows(pts)]))
    assert hypervolume(pts, ref) == pytest.approx(float(expected), rel=1e-10)


def pareto_front_rows(pts):
    from voltlab.optimize import pareto_mask

    return pareto_mask(pts)


@pytest.fixture
def constrained(tmp_path):
    """y = x1 + x2 on the unit square, feasible where r2 = x1^2 + x2^2 <= 0.5 (a quarter disc)."""
    space = SearchSpace([Real("x1", 0.0, 1.0), Real("x2", 0.0, 1.0)])
    camp = Campaign.create(tmp_path / "f.sqlite", space, [Objective("y")], ["r2 <= 0.5"], surrogate="random", seed=1)
    for s in camp.ask(24):
        x1, x2 = s.point["x1"], s.point["x2"]
        camp.tell(s.id, {"y": x1 + x2, "r2": x1**2 + x2**2})
    return camp


def test_predict_recovers_a_smooth_function_with_honest_bands(constrained):
    pts = [{"x1": a, "x2": b} for a in (0.2, 0.5, 0.8) for b in (0.1, 0.6)]
    pred = constrained.predict(pts)
    assert list(pred.columns) == ["y_mean", "y_std", "r2_mean", "r2_std"]
    truth = np.array([p["x1"] + p["x2"] for p in pts])
    np.testing.assert_allclose(pred["y_mean"], truth, atol=0.02)  # a plane: 24 points pin it down
    assert np.all(np.abs(pred["y_mean"] - truth) <= 3 * pred["y_std"] + 1e-3)
    with pytest.raises(OptimizationError, match="outside the search space"):
        constrained.predict([{"x1": 1.5, "x2": 0.0}])


def test_gp_slices_follow_the_model_through_the_best_point(constrained, tmp_path):
    best = constrained.best().point
    fig = plots.gp_slices(constrained, backend="plotly", n=21)
    means = [tr for tr in fig.data if tr.name == "y mean"]
    assert len(means) == 2  # one panel per parameter
    # along x1 with x2 held at the best point, y = x1 + x2_best: slope 1, intercept x2_best
    slope, intercept = np.polyfit(np.asarray(means[0].x), np.asarray(means[0].y), 1)
    assert slope == pytest.approx(1.0, abs=0.05) and intercept == pytest.approx(best["x2"], abs=0.05)
    png = plots.save(plots.gp_slices(constrained, "r2"), tmp_path / "slices.png")
    assert png.read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(OptimizationError, match="unknown outcome 'capacity'"):
        plots.gp_slices(constrained, "capacity")


def test_feasibility_map_is_high_inside_the_disc_and_low_outside(constrained, tmp_path):
    fig = plots.feasibility_map(constrained, "x1", "x2", "plotly", n=21)
    heat = fig.data[0]
    z = np.asarray(heat.z)
    gx, gy = np.asarray(heat.x), np.asarray(heat.y)
    r2 = gx[None, :] ** 2 + gy[:, None] ** 2
    assert z[r2 < 0.35].min() > 0.9 and z[r2 > 0.7].max() < 0.1  # away from the boundary circle
    feasible_obs = fig.data[1]
    assert all(a**2 + b**2 <= 0.5 for a, b in zip(feasible_obs.x, feasible_obs.y, strict=True))
    png = plots.save(plots.feasibility_map(constrained, "x1", "x2"), tmp_path / "feas.png")
    assert png.read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(OptimizationError, match="two different parameters"):
        plots.feasibility_map(constrained, "x1", "x1")
    with pytest.raises(OptimizationError, match="not a numeric parameter"):
        plots.feasibility_map(constrained, "x1", "temperature")


def test_three_objective_pareto_front_is_a_3d_scatter_of_the_non_dominated_set(tmp_path):
    space = SearchSpace([Real("x", 0.0, 1.0), Real("y", 0.0, 1.0)])
    camp = Campaign.create(tmp_path / "p3.sqlite", space,
                           [Objective("capacity"), Objective("fade", "minimize"), Objective("cost", "minimize")],
                           surrogate="random", seed=0)
    for s in camp.ask(12):
        x, y = s.point["x"], s.point["y"]
        camp.tell(s.id, {"capacity": x + y, "fade": x**2, "cost": y**2})
    # a point dominated by a hand-made one: (capacity, fade, cost) = (0.5, 0.5, 0.5) vs (1, 0.25, 0.25)
    camp.tell({"x": 0.5, "y": 0.5}, {"capacity": 1.0, "fade": 0.25, "cost": 0.25})
    worse = camp.tell({"x": 0.25, "y": 0.25}, {"capacity": 0.5, "fade": 0.5, "cost": 0.5})
    front_ids = {s.id for s in camp.pareto_front()}
    assert worse.id not in front_ids
    fig = plots.pareto_front(camp, "plotly")
    assert [tr.type for tr in fig.data] == ["scatter3d", "scatter3d"]
    assert [tr.name for tr in fig.data] == ["feasible", "non-dominated"]
    assert len(fig.data[1].x) == len(front_ids)
    assert len(fig.data[0].x) + len(fig.data[1].x) == 14
    assert fig.layout.scene.zaxis.title.text == "cost (minimize)"
    # two of the three: a 2-D scatter without the joining line (the front is 3-D)
    fig2 = plots.pareto_front(camp, "plotly", objectives=["capacity", "cost"])
    assert [tr.name for tr in fig2.data] == ["feasible", "non-dominated"]
    assert fig2.layout.yaxis.title.text == "cost (minimize)"
    png = plots.save(plots.pareto_front(camp, "matplotlib"), tmp_path / "front3.png")
    assert png.read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(OptimizationError, match=r"2 or 3 different objectives.*\['capacity', 'fade', 'cost'\]"):
        plots.pareto_front(camp, objectives=["capacity", "voltage"])
