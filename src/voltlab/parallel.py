"""Run independent pieces of voltlab work in parallel on this machine.

:func:`parallel_map` applies a function to items on a local process pool
(default), a thread pool, or serially, yielding ``(item, result, error)``
as each finishes so callers can show progress and keep going past
failures. Functions and items must be picklable for the process backend.
Scale-out to a cluster goes through Dask (see the Dask integration when
installed); this module is the single-machine layer.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor, as_completed
from typing import Literal, TypeVar

from voltlab.errors import VoltlabError

__all__ = ["default_workers", "parallel_map"]

T = TypeVar("T")
R = TypeVar("R")
Backend = Literal["process", "thread", "serial"]


def default_workers() -> int:
    """Worker count: ``VOLTLAB_WORKERS`` if set, else the CPUs available to this process."""
    env = os.environ.get("VOLTLAB_WORKERS")
    if env:
        try:
            n = int(env)
        except ValueError as exc:
            raise VoltlabError(f"VOLTLAB_WORKERS must be a positive integer, got {env!r}") from exc
        if n < 1:
            raise VoltlabError(f"VOLTLAB_WORKERS must be a positive integer, got {env!r}")
        return n
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - macOS/Windows
        return max(1, os.cpu_count() or 1)


def parallel_map(
    func: Callable[[T], R],
    items: Iterable[T],
    *,
    workers: int | None = None,
    backend: Backend = "process",
) -> Iterator[tuple[T, R | None, BaseException | None]]:
    """Apply ``func`` to every item, yielding ``(item, result, error)`` in completion order.

    Exactly one of ``result``/``error`` is meaningful per item: an exception
    raised by ``func`` is yielded, not raised, so one bad item never stops
    the others.

    Parameters
    ----------
    func
        Function of one argument (module-level for the process backend).
    items
        Work items.
    workers
        Pool size; :func:`default_workers` if None. ``1`` runs serially.
    backend
        ``"process"``, ``"thread"`` or ``"serial"``.

    Examples
    --------
    >>> sorted(r for _, r, _ in parallel_map(abs, [-1, -2, 3], backend="serial"))
    [1, 2, 3]
    """
    todo = list(items)
    n = default_workers() if workers is None else workers
    if n < 1:
        raise VoltlabError(f"workers must be >= 1, got {n}", value=n)
    if backend not in ("process", "thread", "serial"):
        raise VoltlabError(f"backend must be 'process', 'thread' or 'serial', got {backend!r}", value=backend)
    if backend == "serial" or n == 1 or len(todo) <= 1:
        for item in todo:
            try:
                yield item, func(item), None
            except Exception as exc:  # noqa: BLE001 - reported to the caller per item
                yield item, None, exc
        return
    pool: Executor = (
        ProcessPoolExecutor(max_workers=min(n, len(todo)))
        if backend == "process"
        else ThreadPoolExecutor(max_workers=min(n, len(todo)))
    )
    with pool:
        futures = {pool.submit(func, item): item for item in todo}
        for fut in as_completed(futures):
            item = futures[fut]
            try:
                yield item, fut.result(), None
            except Exception as exc:  # noqa: BLE001 - reported to the caller per item
                yield item, None, exc
