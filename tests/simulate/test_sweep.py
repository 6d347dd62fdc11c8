"""sweep: process workers give the serial results, in input order, with one build per worker."""

from __future__ import annotations

import numpy as np
import pytest

from voltlab.errors import SimulationError
from voltlab.simulate import SimulationSetupError, sweep
from voltlab.simulate.batch import _WORKER_SIMULATORS

from .conftest import DN

# Not sorted, so that results in completion order would be caught.
POINTS = [{DN: d} for d in (3.3e-14, 5e-15, 1e-13, 1e-14)]


def test_process_sweep_equals_serial(rate_simulator):
    serial = sweep(rate_simulator, POINTS, backend="serial")
    parallel = sweep(rate_simulator, POINTS, backend="process", workers=2)
    assert [r.inputs[DN] for r in parallel] == [p[DN] for p in POINTS]
    for s, p in zip(serial, parallel, strict=True):
        assert p.solution is None and s.solution is not None
        a, b = s.timeseries, p.timeseries
        assert list(a.columns) == list(b.columns) and len(a) == len(b)
        np.testing.assert_allclose(b.to_numpy(dtype=float), a.to_numpy(dtype=float), rtol=1e-9, atol=1e-12)
    caps = [r.degradation()["discharge_capacity_ah"].iloc[0] for r in serial]
    # Capacity at 2C rises with the negative particle diffusivity.
    order = np.argsort([p[DN] for p in POINTS])
    assert np.all(np.diff(np.asarray(caps)[order]) > 0)
    # The built model was lent to the forked workers only for the sweep.
    assert rate_simulator.spec not in _WORKER_SIMULATORS


def test_process_sweep_builds_once_per_worker_when_not_built():
    from voltlab.simulate import Simulator

    sim = Simulator("SPM", "Chen2020", ["Discharge at 2C until 3.0 V"], initial_soc=1.0, inputs=[DN],
                    period_second=60.0)
    results = sweep(sim, POINTS[:3], backend="process", workers=2)
    assert not sim.built
    caps = [r.degradation()["discharge_capacity_ah"].iloc[0] for r in results]
    # Input order kept: 3.3e-14 > 5e-15 and 1e-13 > 3.3e-14 in diffusivity, so in capacity too.
    assert caps[0] > caps[1] and caps[2] > caps[0]


def test_sweep_rejects_unknown_input_before_running(rate_simulator):
    with pytest.raises(SimulationSetupError, match=r"sweep point 1: .*'Positive particle diffusivity"):
        sweep(rate_simulator, [{DN: 1e-14}, {"Positive particle diffusivity [m2.s-1]": 1e-15}])


def test_sweep_failure_names_the_point():
    from voltlab.simulate import Simulator

    sim = Simulator("SPM", "Chen2020", ["Discharge at 2C for 20 minutes"], initial_soc=1.0, inputs=[DN],
                    period_second=60.0)
    # A 100x slower negative particle empties its surface at once: the step hits the 2.5 V cut-off event.
    with pytest.raises(SimulationError, match=r"sweep point 1 .*cycle 1 of 1, step 1 'Discharge at 2C"):
        sweep(sim, [{DN: 3.3e-14}, {DN: 3.3e-16}], backend="serial")
    results = sweep(sim, [{DN: 3.3e-14}, {DN: 3.3e-16}], backend="serial", on_failure="return")
    assert [r.ok for r in results] == [True, False]


def test_worker_simulator_primes_the_solver_once():
    """A worker's simulator is built and solved once at the input defaults before its first point,
    so that the solver and variable set-up (over a second) is not in the first task's time."""
    from voltlab.simulate import Simulator
    from voltlab.simulate.batch import _solve_point, _worker_simulator

    sim = Simulator("SPM", "Chen2020", ["Discharge at 2C until 3.0 V"], initial_soc=1.0, inputs=[DN],
                    period_second=60.0)

    def set_up(s: Simulator) -> int:  # the experiment step solvers that have set up their model
        return sum(bool(v._model_set_up) for v in s.pybamm_simulation.steps_to_built_solvers.values())

    assert set_up(sim.build()) == 0  # built is not yet set up
    try:
        worker = _worker_simulator(sim.spec)
        assert worker is not sim and set_up(worker) == 1
        assert _worker_simulator(sim.spec) is worker  # cached: one build and one priming per process
        index, light = _solve_point((7, sim.spec, {DN: 3.3e-14}, "raise"))
        assert index == 7 and light.solution is None
        direct = sim.solve({DN: 3.3e-14})
        np.testing.assert_allclose(light.timeseries.to_numpy(dtype=float), direct.timeseries.to_numpy(dtype=float), rtol=1e-9)
    finally:
        _WORKER_SIMULATORS.pop(sim.spec, None)
