"""SimplexBoxMap: the stick-breaking box coordinates of plain composition simplexes."""

from __future__ import annotations

import numpy as np
import pytest

from voltlab.optimize import Campaign, Categorical, LinearConstraint, Objective, Real, SearchSpace, Simplex
from voltlab.optimize.boxmap import SimplexBoxMap

FOUR = SearchSpace([Real("T_C", 600.0, 900.0), Real("Ni", 0.0, 1.0), Real("Co", 0.0, 1.5), Real("Mn", 0.0, 1.0),
                    Real("Al", 0.0, 1.0), Categorical("gas", ("O2", "air"))],
                   simplexes=[Simplex(("Ni", "Co", "Mn", "Al"))])


def test_round_trip_feasible_and_uniform():
    box = SimplexBoxMap.for_space(FOUR)
    assert box is not None and box.dim == FOUR.dim - 1  # 4 fractions -> 3 box columns
    Z = np.random.default_rng(0).random((20_000, box.dim))
    U = box.from_box(Z)
    np.testing.assert_allclose(box.to_box(U), Z, atol=1e-9)
    points = FOUR.decode(U)
    assert max(FOUR.violation(p) for p in points[:500]) <= 1e-12
    fractions = np.array([[p[n] for n in ("Ni", "Co", "Mn", "Al")] for p in points])
    # uniform box points give uniform (Dirichlet(1,1,1,1)) compositions: mean 1/4, variance 3/80 each
    np.testing.assert_allclose(fractions.mean(axis=0), 0.25, atol=0.006)
    np.testing.assert_allclose(fractions.var(axis=0), 3 / 80, atol=0.002)
    # the columns outside the simplex pass through unchanged
    np.testing.assert_array_equal(U[:, FOUR._column("T_C")], Z[:, box.column(FOUR._column("T_C"))])


def test_three_components_is_the_triangle_map():
    space = SearchSpace([Real("Ni", 0.0, 1.0), Real("Co", 0.0, 1.0), Real("Mn", 0.0, 1.0)],
                        simplexes=[Simplex(("Ni", "Co", "Mn"))])
    box = SimplexBoxMap.for_space(space)
    z1, z2 = 0.36, 0.25
    [p] = space.decode(box.from_box(np.array([[z1, z2]])))
    assert p["Ni"] == pytest.approx(1 - np.sqrt(z1), abs=1e-12)
    assert p["Co"] == pytest.approx(np.sqrt(z1) * (1 - z2), abs=1e-12)
    assert p["Mn"] == pytest.approx(np.sqrt(z1) * z2, abs=1e-12)
    # a vertex and an edge map to the box's faces (at the Ni vertex z2 is free) and back
    corners = space.encode([{"Ni": 1.0, "Co": 0.0, "Mn": 0.0}, {"Ni": 0.0, "Co": 0.5, "Mn": 0.5}])
    Z = box.to_box(corners)
    assert Z[0, 0] == 0.0
    np.testing.assert_allclose(Z[1], [1.0, 0.5], atol=1e-12)
    np.testing.assert_allclose(box.from_box(Z), corners, atol=1e-12)


@pytest.mark.parametrize("space", [
    SearchSpace([Real("Ni", 0.5, 0.9), Real("Co", 0.0, 1.0), Real("Mn", 0.0, 1.0)],  # Ni's bounds bind
                simplexes=[Simplex(("Ni", "Co", "Mn"))]),
    SearchSpace([Real("Ni", 0.0, 1.0), Real("Co", 0.0, 0.4), Real("Mn", 0.0, 1.0)],  # Co <= 0.4 binds
                simplexes=[Simplex(("Ni", "Co", "Mn"))]),
    SearchSpace([Real("Ni", 0.0, 1.0), Real("Co", 0.0, 1.0), Real("Mn", 0.0, 1.0)],  # a linear constraint
                simplexes=[Simplex(("Ni", "Co", "Mn"))], constraints=[LinearConstraint({"Co": 1.0, "Mn": 1.0}, 0.5)]),
    SearchSpace([Real("x", 0.0, 1.0), Real("y", 0.0, 1.0)]),  # no simplex
])
def test_not_plain_keeps_the_fractions(space):
    assert SimplexBoxMap.for_space(space) is None


def test_campaign_works_in_box_coordinates_and_keeps_the_simplex(tmp_path):
    def capacity(p):
        return 150 + 80 * p["Ni"] - 60 * (p["Co"] - 0.1) ** 2 - 2e-4 * (p["T_C"] - 780) ** 2

    fast = {"num_restarts": 2, "raw_samples": 32, "mc_samples": 64}
    camp = Campaign.create(tmp_path / "box.sqlite", FOUR, [Objective("capacity")], n_init=5, seed=3,
                           simplex_map="box", **fast)
    for _ in range(4):  # 6 initial points (the centre and Sobol), then a GP batch of 2
        for s in camp.ask(2):
            camp.tell(s.id, {"capacity": capacity(s.point)})
    gp = [s for s in camp.suggestions() if s.source == "qLogNEI"]
    assert len(gp) == 2
    for s in gp:
        assert s.model_state["gp_coordinates"] == "simplex box map"
        assert len(s.model_state["hyperparameters"]["capacity"]["lengthscales_unit"]) == FOUR.dim - 1
        assert abs(sum(s.point[n] for n in ("Ni", "Co", "Mn", "Al")) - 1.0) <= 1e-9 and FOUR.contains(s.point)
    plain = Campaign.create(tmp_path / "fr.sqlite", FOUR, [Objective("capacity")], n_init=5, seed=3, **fast)
    for _ in range(3):
        for s in plain.ask(2):
            plain.tell(s.id, {"capacity": capacity(s.point)})
    [s] = plain.ask(1)
    assert plain.settings.simplex_map == "fractions"  # the default
    assert s.model_state["gp_coordinates"] == "unit box"
    assert len(s.model_state["hyperparameters"]["capacity"]["lengthscales_unit"]) == FOUR.dim


def test_box_setting_falls_back_to_fractions_and_bad_values_are_refused(tmp_path):
    from voltlab.errors import OptimizationError

    bounded = SearchSpace([Real("Ni", 0.5, 0.9), Real("Co", 0.0, 1.0), Real("Mn", 0.0, 1.0)],
                          simplexes=[Simplex(("Ni", "Co", "Mn"))])
    camp = Campaign.create(tmp_path / "b.sqlite", bounded, [Objective("y")], n_init=2, seed=0, simplex_map="box",
                           num_restarts=2, raw_samples=32)
    for _ in range(3):
        [s] = camp.ask(1)
        camp.tell(s.id, {"y": s.point["Ni"] - s.point["Co"] ** 2})
    assert s.model_state["gp_coordinates"] == "unit box" and bounded.contains(s.point)  # Ni's bounds bind
    with pytest.raises(OptimizationError, match=r"simplex_map 'auto' is not one of \['fractions', 'box'\]"):
        Campaign.create(tmp_path / "x.sqlite", bounded, [Objective("y")], simplex_map="auto")


def test_box_campaign_does_not_repeat_the_collapsed_corner(tmp_path):
    """At the box's z_1 = 0 face every z_2 is the Ni vertex: a GP in box coordinates sees that face as
    unexplored after the vertex was measured. With the maximum at the vertex it would ask for it again;
    candidates are checked as compositions, so no composition is measured twice."""
    space = SearchSpace([Real("Ni", 0.0, 1.0), Real("Co", 0.0, 1.0), Real("Mn", 0.0, 1.0)],
                        simplexes=[Simplex(("Ni", "Co", "Mn"))])
    camp = Campaign.create(tmp_path / "corner.sqlite", space, [Objective("y")], n_init=3, seed=1, simplex_map="box",
                           num_restarts=4, raw_samples=64)
    points = []
    for _ in range(12):
        [s] = camp.ask(1)
        camp.tell(s.id, {"y": 2.0 * s.point["Ni"] ** 4})
        points.append([s.point[n] for n in ("Ni", "Co", "Mn")])
    P = np.array(points)
    gap = np.abs(P[:, None, :] - P[None, :, :]).max(axis=2) + np.eye(len(P))
    assert gap.min() > 1e-6, "a composition was suggested twice"
    gp = [s.model_state for s in camp.suggestions() if s.source == "qLogNEI"]
    assert len(gp) == 9
    assert P[:, 0].max() > 0.999  # it found the vertex ...
    assert sum(st["restarts_skipped_as_repeats"] for st in gp) > 0  # ... and then passed over restarts repeating it


def test_new_points_and_best_distinct_restart():
    import torch

    from voltlab.optimize._botorch import _best_distinct
    from voltlab.optimize.campaign import _new_points

    seen = np.array([[1.0, 0.0, 0.0], [0.2, 0.3, 0.5]])
    U = np.array([[1.0, 0.0, 5e-7], [0.2, 0.3, 0.5 + 2e-6], [0.0, 1.0, 0.0]])
    assert _new_points(U, seen).tolist() == [False, True, True]
    assert _new_points(U, np.zeros((0, 3))).all()
    cands = torch.tensor([[[0.1, 0.1]], [[0.5, 0.5]], [[0.9, 0.9]]], dtype=torch.float64)  # (R=3, q=1, d=2)
    values = torch.tensor([0.3, 0.1, 0.2], dtype=torch.float64)
    U, v, skipped = _best_distinct(cands, values, lambda X: X, lambda X: X[:, 0] != 0.1)  # the best one repeats
    assert U.tolist() == [[0.9, 0.9]] and float(v) == pytest.approx(0.2) and skipped == 1
    U, v, skipped = _best_distinct(cands, values, lambda X: X, lambda X: np.zeros(len(X), bool))  # all repeat
    assert U.tolist() == [[0.1, 0.1]] and float(v) == pytest.approx(0.3) and skipped == 3


def test_box_campaign_with_a_related_task(tmp_path):
    """Related-task indicator columns come after the box columns; the repeat check sees compositions only."""
    import pandas as pd

    space = SearchSpace([Real("Ni", 0.0, 1.0), Real("Co", 0.0, 1.0), Real("Mn", 0.0, 1.0)],
                        simplexes=[Simplex(("Ni", "Co", "Mn"))])
    camp = Campaign.create(tmp_path / "rel.sqlite", space, [Objective("y")], n_init=3, seed=2, simplex_map="box",
                           num_restarts=4, raw_samples=64)
    rows = [dict(p, y=2.0 * p["Ni"] ** 4 + 0.1) for p in space.sample(10, seed=5)]
    assert camp.add_related(pd.DataFrame(rows), task="older") == 10
    points = []
    for _ in range(6):
        [s] = camp.ask(1)
        camp.tell(s.id, {"y": 2.0 * s.point["Ni"] ** 4})
        points.append([s.point[n] for n in ("Ni", "Co", "Mn")])
        assert abs(sum(points[-1]) - 1.0) <= 1e-9
    gp = [s.model_state for s in camp.suggestions() if s.source == "qLogNEI"]
    assert len(gp) == 3 and all(st["related_tasks"] == {"older": 10} for st in gp)
    assert all("restarts_skipped_as_repeats" in st for st in gp)
    P = np.array(points)
    assert (np.abs(P[:, None, :] - P[None, :, :]).max(axis=2) + np.eye(len(P))).min() > 1e-6
