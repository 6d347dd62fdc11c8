import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from voltlab.errors import OptimizationError, VoltlabError
from voltlab.optimize import Categorical, Fixed, Integer, LinearConstraint, Real, SearchSpace, Simplex


@pytest.mark.parametrize(
    ("build", "match"),
    [
        (lambda: Real("x", 1.0, 1.0), r"parameter 'x': low=1 must be below high=1"),
        (lambda: Real("x", 2.0, 1.0), r"swap them"),
        (lambda: Real("x", 0.0, 1.0, log=True), r"log=True needs low > 0"),
        (lambda: Real("x", 0.0, float("nan")), r"parameter 'x': high must be finite"),
        (lambda: Integer("n", 1, 2.5), r"parameter 'n': high must be an integer"),
        (lambda: Categorical("g", ("a",)), r"at least 2 choices.*use Fixed"),
        (lambda: Categorical("g", ("a", "a")), r"choices must be unique"),
        (lambda: SearchSpace([Real("x", 0, 1), Real("x", 0, 2)]), r"'x' is defined twice"),
        (lambda: SearchSpace([Fixed("x", 1.0)]), r"every parameter is Fixed"),
        (
            lambda: SearchSpace([Real("a", 0, 1), Real("b", 0, 1)], simplexes=[Simplex(("a", "c"))]),
            r"Simplex refers to unknown parameter 'c'; defined: \['a', 'b'\]",
        ),
        (
            lambda: SearchSpace([Real("a", 0.6, 1), Real("b", 0.5, 1)], simplexes=[Simplex(("a", "b"))]),
            r"simplex a\+b = 1 cannot hold: the bounds allow sums in \[1.1, 2\]; widen",
        ),
        (
            lambda: SearchSpace([Real("a", 0, 0.3), Real("b", 0, 0.3)], simplexes=[Simplex(("a", "b"))]),
            r"allow sums in \[0, 0.6\]",
        ),
        (
            lambda: SearchSpace([Real("a", 1, 10, log=True), Real("b", 0, 1)], constraints=[
                LinearConstraint({"a": 1.0, "b": 1.0}, 3.0)]),
            r"parameter 'a', which is not a linear-scale Real",
        ),
        (
            lambda: SearchSpace([Integer("n", 0, 3), Real("b", 0, 1)], simplexes=[Simplex(("n", "b"))]),
            r"parameter 'n', which is not a linear-scale Real",
        ),
        (
            lambda: SearchSpace([Real("a", 0, 1), Real("b", 0, 1)], constraints=[
                LinearConstraint({"a": 1.0, "b": 1.0}, -0.5)]),
            r"no point satisfies.*1\*a \+ 1\*b <= -0.5.*relax",
        ),
        (
            lambda: SearchSpace(
                [Real("a", 0, 1), Real("b", 0, 1), Real("c", 0, 1)], simplexes=[Simplex(("a", "b")),
                                                                                Simplex(("b", "c"))]),
            r"'b' is in simplexes 0 and 1",
        ),
    ],
)
def test_invalid_spaces_name_the_parameter_and_the_fix(build, match):
    with pytest.raises(OptimizationError, match=match) as info:
        build()
    assert isinstance(info.value, ValueError) and isinstance(info.value, VoltlabError)


def test_points_with_unknown_or_missing_names_are_rejected(nmc_space):
    with pytest.raises(OptimizationError, match=r"unknown names \['Fe'\], missing names \['gas'\]"):
        nmc_space.encode([{"Ni": 0.8, "Co": 0.1, "Mn": 0.1, "T_C": 800.0, "Fe": 0.0}])
    with pytest.raises(OptimizationError, match=r"'N2' is not one of the choices \['O2', 'air'\]"):
        nmc_space.encode([{"Ni": 0.8, "Co": 0.1, "Mn": 0.1, "T_C": 800.0, "gas": "N2"}])


def test_encoding_is_affine_and_one_hot(nmc_space):
    X = nmc_space.encode([{"Ni": 0.7, "Co": 0.175, "Mn": 0.125, "T_C": 750.0, "gas": "air"}])
    # Ni: (0.7-0.5)/0.4, Co: (0.175-0.05)/0.25, Mn: (0.125-0.05)/0.25, T: 50/200, gas one-hot [O2, air]
    np.testing.assert_allclose(X, [[0.5, 0.5, 0.3, 0.25, 0.0, 1.0]], atol=1e-15)
    assert nmc_space.dim == 6


def test_contains_checks_simplex_linear_constraints_and_bounds(nmc_space):
    ok = {"Ni": 0.7, "Co": 0.175, "Mn": 0.125, "T_C": 750.0, "gas": "air"}
    assert nmc_space.contains(ok)
    assert not nmc_space.contains({**ok, "Ni": 0.7 + 2e-9})  # simplex off by 2e-9 > tol
    assert nmc_space.contains({**ok, "Ni": 0.7 + 5e-10})
    # Co + Mn = 0.36 > 0.35 while the simplex still holds
    assert nmc_space.violation({**ok, "Ni": 0.64, "Co": 0.2, "Mn": 0.16}) == pytest.approx(0.01, abs=1e-12)
    assert not nmc_space.contains({**ok, "T_C": 950.0})


def test_unit_constraints_match_the_constraints_in_parameter_units(nmc_space):
    eq, ineq = nmc_space.unit_constraints()
    pts = nmc_space.sample(20, seed=3)
    U = nmc_space.encode(pts)
    for p, u in zip(pts, U, strict=True):
        cols, a, b = eq[0]
        assert float(np.dot(u[cols], a)) == pytest.approx(b, abs=1e-12)
        cols, a, b = ineq[0]  # BoTorch convention: sum a u >= b  <=>  Co + Mn <= 0.35
        assert float(np.dot(u[cols], a)) - b == pytest.approx(0.35 - p["Co"] - p["Mn"], abs=1e-12)


def test_sobol_samples_are_feasible_to_1e9_deterministic_and_continuable(nmc_space):
    pts = nmc_space.sample(40, seed=7)
    assert len(pts) == 40
    assert max(nmc_space.violation(p) for p in pts) <= 1e-9
    assert max(abs(p["Ni"] + p["Co"] + p["Mn"] - 1.0) for p in pts) <= 1e-12
    assert nmc_space.sample(40, seed=7) == pts
    assert nmc_space.sample(10, seed=7, skip=30) == pts[30:]
    assert nmc_space.sample(5, seed=8) != pts[:5]
    # Both categories and the whole temperature range are covered by a space-filling design.
    assert {p["gas"] for p in pts} == {"O2", "air"}
    temps = sorted(p["T_C"] for p in pts)
    assert temps[0] < 720 and temps[-1] > 880


def test_tight_simplex_samples_are_spread_not_piled_on_bounds():
    space = SearchSpace([Real("a", 0.6, 0.8), Real("b", 0.1, 0.3), Real("c", 0.05, 0.2)],
                        simplexes=[Simplex(("a", "b", "c"))])
    pts = space.sample(200, seed=0)
    a = np.array([p["a"] for p in pts])
    assert max(space.violation(p) for p in pts) <= 1e-9
    # Rejection keeps the interior: few points exactly on a bound.
    assert np.mean(np.isclose(a, 0.6) | np.isclose(a, 0.8)) < 0.05
    assert a.min() < 0.62 and a.max() > 0.75


def test_project_lands_on_the_simplex_exactly(nmc_space):
    p = nmc_space.project({"Ni": 0.95, "Co": 0.2, "Mn": 0.2, "T_C": 1000.0, "gas": "O2"})
    assert nmc_space.violation(p) <= 1e-12
    assert p["T_C"] == 900.0
    assert p["Co"] + p["Mn"] <= 0.35 + 1e-12


def test_integers_and_fixed_decode():
    space = SearchSpace([Integer("layers", 1, 5), Real("t_um", 1.0, 100.0, log=True), Fixed("Li", 1.05)])
    [p] = space.decode(space.encode([{"layers": 4, "t_um": 10.0}]))
    assert p == {"layers": 4, "t_um": pytest.approx(10.0, rel=1e-12), "Li": 1.05}
    assert space.encode([{"layers": 4, "t_um": 10.0}])[0, 1] == pytest.approx(0.5, abs=1e-12)  # log midpoint


def test_space_dict_round_trip(nmc_space):
    again = SearchSpace.from_dict(nmc_space.to_dict())
    assert again.to_dict() == nmc_space.to_dict()
    assert again.sample(5, seed=1) == nmc_space.sample(5, seed=1)
    with pytest.raises(OptimizationError, match=r"parameters\[0\]: type 'float' is not one of"):
        SearchSpace.from_dict({"parameters": [{"type": "float", "name": "x"}]})


_MIXED = SearchSpace(
    [Real("a", -2.0, 3.0), Real("r", 1e-3, 10.0, log=True), Integer("n", -3, 7),
     Categorical("g", ("x", "y", "z")), Fixed("f", "const")]
)


@given(
    a=st.floats(-2.0, 3.0), r=st.floats(1e-3, 10.0), n=st.integers(-3, 7), g=st.sampled_from(["x", "y", "z"]),
)
def test_encode_decode_round_trip(a, r, n, g):
    point = {"a": a, "r": r, "n": n, "g": g}
    U = _MIXED.encode([point])
    assert np.all((U >= 0) & (U <= 1))
    [back] = _MIXED.decode(U)
    assert back["n"] == n and back["g"] == g and back["f"] == "const"
    assert math.isclose(back["a"], a, rel_tol=1e-12, abs_tol=1e-12)
    assert math.isclose(back["r"], r, rel_tol=1e-10)
    np.testing.assert_allclose(_MIXED.encode([back]), U, atol=1e-12)


@given(st.lists(st.floats(0.0, 1.0), min_size=4, max_size=4))
def test_decode_then_project_is_always_feasible(u):
    space = SearchSpace([Real("Ni", 0.5, 0.9), Real("Co", 0.05, 0.3), Real("Mn", 0.05, 0.3), Real("x", 0, 1)],
                        simplexes=[Simplex(("Ni", "Co", "Mn"))],
                        constraints=[LinearConstraint({"Co": 1.0, "x": 0.5}, 0.4)])
    [p] = space.decode(np.array([u]))
    q = space.project(p)
    assert space.violation(q) <= 1e-9
