"""Shared simulators for the voltlab.simulate tests (SPM, Chen2020, few cycles, coarse output)."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("PYBAMM_DISABLE_TELEMETRY", "true")

pytest.importorskip("pybamm")

CCCV = [
    "Discharge at 1C until 2.5 V",
    "Rest for 10 minutes",
    "Charge at 1C until 4.2 V",
    "Hold at 4.2 V until C/50",
]
DN = "Negative particle diffusivity [m2.s-1]"


@pytest.fixture(scope="session")
def fc():
    """``voltlab.simulate.fastcharge``, with PyTorch on one thread (its RL agent trains in some tests)."""
    import torch

    torch.set_num_threads(1)
    from voltlab.simulate import fastcharge

    return fastcharge


@pytest.fixture(autouse=True)
def _no_telemetry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYBAMM_DISABLE_TELEMETRY", "true")


@pytest.fixture(scope="session")
def cccv_result():
    """Two CC-CV cycles of SPM Chen2020 starting full (60 s output period)."""
    from voltlab.simulate import Simulator

    return Simulator("SPM", "Chen2020", CCCV, cycles=2, initial_soc=1.0).solve()


@pytest.fixture(scope="session")
def rate_simulator():
    """SPM Chen2020 2C discharge from full, negative particle diffusivity as an input."""
    from voltlab.simulate import Simulator

    return Simulator("SPM", "Chen2020", ["Discharge at 2C until 2.5 V"], initial_soc=1.0,
                     inputs=[DN], period_second=30.0)
