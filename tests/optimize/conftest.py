"""Fixtures for the optimisation tests: tiny spaces, toy objectives, a one-thread torch."""

from __future__ import annotations

import math

import pytest

from voltlab.optimize import Categorical, LinearConstraint, Real, SearchSpace, Simplex

# Small problems: keep restarts and samples low so the GP tests stay fast on 2 shared cores.
FAST = {"num_restarts": 2, "raw_samples": 32, "mc_samples": 64}


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    # Tiny GPs are dominated by thread overhead; one thread is ~4x faster on a loaded 2-core machine.
    try:
        import torch
    except ImportError:  # pragma: no cover
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def nmc_space() -> SearchSpace:
    """Ni + Co + Mn = 1 with bounds, a linear constraint Co + Mn <= 0.35, a temperature and a gas."""
    return SearchSpace(
        [Real("Ni", 0.5, 0.9), Real("Co", 0.05, 0.3), Real("Mn", 0.05, 0.3), Real("T_C", 700.0, 900.0),
         Categorical("gas", ("O2", "air"))],
        simplexes=[Simplex(("Ni", "Co", "Mn"))],
        constraints=[LinearConstraint({"Co": 1.0, "Mn": 1.0}, 0.35)],
    )


def _nmc_capacity(p: dict) -> float:
    return 150.0 + 60.0 * p["Ni"] - 5e-4 * (p["T_C"] - 800.0) ** 2 + (5.0 if p["gas"] == "O2" else 0.0)


def _bowl(x1: float, x2: float) -> float:
    return (x1 - 0.3) ** 2 + (x2 - 0.7) ** 2 + 0.3 * math.sin(3 * x1) ** 2 * (x2 - 0.7) ** 2


@pytest.fixture
def nmc_capacity():
    """Toy specific capacity, mAh/g: more Ni is better, sintering optimum at 800 °C, O2 helps."""
    return _nmc_capacity


@pytest.fixture
def bowl():
    """Smooth 2-D test function on [0, 1]^2 with minimum 0 at (0.3, 0.7)."""
    return _bowl


@pytest.fixture
def fast():
    """Small acquisition-optimiser budgets for tests (tests cannot import conftest)."""
    return dict(FAST)
