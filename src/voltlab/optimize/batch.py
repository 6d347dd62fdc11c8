"""Evaluate campaign suggestions in parallel: local processes or a Dask cluster.

:func:`evaluate_batches` runs the loop a lab runs by hand — ask a batch,
evaluate every point, tell the outcomes — with the evaluations spread over
:func:`voltlab.parallel.parallel_map` workers (a local process pool, or a Dask
cluster with ``scheduler=`` / ``$VOLTLAB_SCHEDULER``). Each outcome is told
as soon as it arrives (one SQLite transaction each), so a crash loses at most
the evaluations in flight: they stay *pending* in the campaign and
:func:`evaluate_batches` re-evaluates them first when run again. An
evaluation that raises is told as *failed* with its error as the reason, and
the campaign goes on.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from voltlab.errors import OptimizationError
from voltlab.optimize.campaign import Campaign, Suggestion

__all__ = ["evaluate_batches"]


def _check_outcome(result: Any, names: list[str]) -> dict[str, float]:
    if isinstance(result, Mapping):
        return {str(k): float(v) for k, v in result.items()}
    if len(names) == 1 and isinstance(result, (int, float)):
        return {names[0]: float(result)}
    raise OptimizationError(
        f"the evaluation function must return a mapping of outcome name to value (outcomes: {names}), "
        f"or a number when there is one outcome; got {type(result).__name__}", value=type(result).__name__,
    )


def evaluate_batches(
    campaign: Campaign,
    func: Callable[[dict[str, Any]], Mapping[str, float] | float],
    *,
    n_batches: int,
    batch_size: int,
    workers: int | None = None,
    backend: str = "process",
    scheduler: str | None = None,
    progress: Callable[[Suggestion], None] | None = None,
) -> list[Suggestion]:
    """Ask, evaluate in parallel and tell, ``n_batches`` times.

    Parameters
    ----------
    campaign
        An open :class:`~voltlab.optimize.Campaign`.
    func
        Evaluates one point (parameter name -> value, in the space's units)
        and returns ``{outcome: value}`` (or a number for a single outcome).
        Module-level (picklable) for the process and Dask backends.
    n_batches, batch_size
        Number of ask/tell rounds and points per round.
    workers, backend, scheduler
        See :func:`voltlab.parallel.parallel_map`.
    progress
        Called with each suggestion once told.

    Returns
    -------
    list of Suggestion
        Every suggestion told by this call (completed or failed), in the order told.

    Raises
    ------
    OptimizationError
        Bad batch settings, or ``func`` returned something that is not an outcome.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from voltlab.optimize import Campaign, Objective, Real, SearchSpace
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "c.sqlite"
    >>> c = Campaign.create(path, SearchSpace([Real("x", 0, 1)]), [Objective("y", "minimize")], seed=0)
    >>> told = evaluate_batches(c, lambda p: {"y": (p["x"] - 0.3) ** 2}, n_batches=2, batch_size=2,
    ...                         backend="serial")
    >>> [s.status for s in told], c.counts()["complete"]
    (['complete', 'complete', 'complete', 'complete'], 4)
    """
    from voltlab.parallel import parallel_map

    for name, value in (("n_batches", n_batches), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise OptimizationError(f"{name} must be a positive integer, got {value!r}", value=value)
    names = campaign.outcome_names
    told: list[Suggestion] = []

    def run(batch: list[Suggestion]) -> None:
        jobs = [s.point for s in batch]
        by_point = {id(p): s for p, s in zip(jobs, batch, strict=True)}
        for point, result, error in parallel_map(func, jobs, workers=workers, backend=backend,  # type: ignore[arg-type]
                                                 scheduler=scheduler):
            s = by_point[id(point)]
            if error is not None:
                done = campaign.tell(s.id, failed=True, reason=f"{type(error).__name__}: {error}")
            else:
                done = campaign.tell(s.id, _check_outcome(result, names))
            told.append(done)
            if progress is not None:
                progress(done)

    pending = campaign.suggestions("pending")
    if pending:  # left by a crashed run: evaluate them before asking for more
        run(pending)
    for _ in range(n_batches):
        run(campaign.ask(batch_size))
    return told
