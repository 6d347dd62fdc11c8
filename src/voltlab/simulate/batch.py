"""Solve one built simulation for many input-parameter values, serially or on worker processes.

Each worker process builds the PyBaMM model once per
:class:`~voltlab.simulate.base.SimulationSpec` (a module-level cache keyed by
the spec) and reuses it for every point it is given; results come back in
input order. Work goes through :func:`voltlab.parallel.parallel_map`.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Literal

from voltlab.errors import SimulationError, VoltlabError
from voltlab.parallel import parallel_map
from voltlab.simulate.base import SimulationSetupError, SimulationSpec

if TYPE_CHECKING:
    from voltlab.simulate.result import SimulationResult
    from voltlab.simulate.simulator import OnFailure, Simulator

__all__ = ["sweep"]

SweepBackend = Literal["process", "serial", "dask"]

_WORKER_SIMULATORS: dict[SimulationSpec, Simulator] = {}
"""Built simulators of this process, by spec (filled in worker processes)."""


def _worker_simulator(spec: SimulationSpec) -> Simulator:
    from voltlab.simulate.simulator import Simulator

    sim = _WORKER_SIMULATORS.get(spec)
    if sim is None:
        sim = Simulator.from_spec(spec).build()
        _prime(sim)
        _WORKER_SIMULATORS[spec] = sim
    return sim


def _prime(sim: Simulator) -> None:
    """One solve at the input defaults, converted to the light form and dropped.

    The first solve of a built simulation sets up the solver, processes the output variables and
    PyBaMM's electrode-SOH model for the summary variables: 1.2 s for the SPM of the scale
    benchmark, against 0.04 s for every later point. Done here, it is paid once per worker
    process with the model build rather than inside the first point's task."""
    try:
        result = sim.solve(None, on_failure="return")
    except SimulationError:  # a spec whose defaults cannot be solved: the first real point sets up
        return
    _light(result)  # the time series and degradation table: their conversions set up once


def _light(result: SimulationResult) -> SimulationResult:
    """A copy without the PyBaMM solution (time series and degradation table converted first)."""
    light = type(result).__new__(type(result))
    light.__setstate__(result.__getstate__())
    return light


def _solve_point(job: tuple[int, SimulationSpec, dict[str, float], str]) -> tuple[int, SimulationResult]:
    index, spec, inputs, on_failure = job
    result = _worker_simulator(spec).solve(inputs, on_failure=on_failure)  # type: ignore[arg-type]
    # Hand back the light form so that a worker holding many finished results (a Dask worker keeps
    # them until they are fetched) does not hold their solutions too.
    return index, _light(result)


def sweep(
    simulator: Simulator,
    inputs: Sequence[Mapping[str, float]],
    *,
    backend: SweepBackend = "process",
    workers: int = 2,
    on_failure: OnFailure = "raise",
    scheduler: str | None = None,
) -> list[SimulationResult]:
    """Solve ``simulator`` once per dict of input-parameter values.

    Parameters
    ----------
    simulator
        Its spec's ``inputs`` name the parameters that may vary.
    inputs
        One dict per point: parameter name (PyBaMM, with unit) -> value.
    backend
        ``"process"``: worker processes, each building the model once;
        ``"serial"``: this process, reusing ``simulator``'s built model;
        ``"dask"``: a Dask cluster (``scheduler``, ``$VOLTLAB_SCHEDULER`` or a
        LocalCluster of ``workers``), each worker building the model once.
    workers
        Worker processes for the process backend.
    on_failure
        Per point, as :meth:`Simulator.solve`.
    scheduler
        Dask scheduler address (``tcp://host:port``); given (or in
        ``$VOLTLAB_SCHEDULER``), the points run on that cluster.

    Returns
    -------
    list of SimulationResult
        In the order of ``inputs``. Results from worker processes carry their
        time series and degradation table but no PyBaMM ``solution``.

    Raises
    ------
    SimulationSetupError
        A point names a parameter that is not an input of ``simulator``.
    SimulationError
        A point failed (with ``on_failure="raise"``); the message names the
        point's index and inputs.

    Examples
    --------
    >>> from voltlab.simulate import Simulator
    >>> sim = Simulator("SPM", "Chen2020", ["Discharge at 2C until 3.0 V"], initial_soc=1.0,
    ...                 inputs=["Negative particle diffusivity [m2.s-1]"])
    >>> points = [{"Negative particle diffusivity [m2.s-1]": d} for d in (1e-14, 3.3e-14)]
    >>> [r.completed_cycles for r in sweep(sim, points, backend="serial")]
    [1, 1]
    """
    if backend not in ("process", "serial", "dask"):
        raise SimulationSetupError(f"backend must be 'process', 'serial' or 'dask', got {backend!r}", value=backend)
    from voltlab.parallel import resolve_scheduler

    on_cluster = backend == "dask" or (backend == "process" and resolve_scheduler(scheduler) is not None)
    points = [dict(p) for p in inputs]
    for k, p in enumerate(points):
        try:
            simulator._merge_inputs(p)
        except SimulationSetupError as exc:
            raise SimulationSetupError(f"sweep point {k}: {exc}", value=p) from exc
    if backend == "serial" or ((workers <= 1 or len(points) <= 1) and not on_cluster):
        out = []
        for k, p in enumerate(points):
            try:
                out.append(simulator.solve(p, on_failure=on_failure))
            except SimulationError as exc:
                raise SimulationError(f"sweep point {k} {p}: {exc}", value=p) from exc
        return out
    jobs = [(k, simulator.spec, p, on_failure) for k, p in enumerate(points)]
    results: list[SimulationResult | None] = [None] * len(points)
    errors: dict[int, BaseException] = {}
    # Forked workers inherit a model this process already built (no rebuild at all); with
    # spawn they build it once each from the spec.
    lend = simulator.built and not on_cluster and multiprocessing.get_start_method(allow_none=False) == "fork"
    if lend:
        _WORKER_SIMULATORS[simulator.spec] = simulator
    try:
        for job, res, err in parallel_map(_solve_point, jobs, workers=workers, chunksize=None,
                                          backend="dask" if on_cluster else "process", scheduler=scheduler):
            if err is not None:
                errors[job[0]] = err
            else:
                assert res is not None
                results[res[0]] = res[1]
    finally:
        if lend:
            _WORKER_SIMULATORS.pop(simulator.spec, None)
    if errors:
        k = min(errors)
        first = errors[k]
        cls: type[VoltlabError] = type(first) if isinstance(first, VoltlabError) else SimulationError
        raise cls(f"sweep point {k} {points[k]}: {first}", value=points[k]) from first
    return [r for r in results if r is not None]
