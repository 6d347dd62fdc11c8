"""Run independent pieces of voltlab work in parallel: locally or on a Dask cluster.

:func:`parallel_map` applies a function to items and yields ``(item, result,
error)`` as each finishes, so callers can show progress and keep going past
failures. Backends:

``"process"`` (default)
    A local process pool (functions and items must be picklable).
``"thread"``
    A local thread pool (for work that releases the GIL or waits on I/O).
``"serial"``
    In this process, one item after another.
``"dask"``
    A Dask cluster: the scheduler at ``scheduler=`` (e.g.
    ``"tcp://10.0.0.5:8786"``), else the one in the ``VOLTLAB_SCHEDULER``
    environment variable, else a :class:`distributed.LocalCluster` of
    ``workers`` single-threaded worker processes started for the call.
    Giving a scheduler (argument or environment) selects this backend
    whatever ``backend`` says, so one setting moves every voltlab command
    to a cluster. A task whose worker dies is re-run on another worker
    (Dask's own rescheduling, plus ``retries`` re-runs of tasks that raise);
    each item's result is yielded exactly once.

See ``docs/scale.md`` for SLURM (dask-jobqueue) and Kubernetes set-ups.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor, as_completed
from typing import Any, Literal, TypeVar

from voltlab.errors import DependencyError, VoltlabError

__all__ = ["SCHEDULER_ENV", "default_workers", "parallel_map", "resolve_scheduler"]

T = TypeVar("T")
R = TypeVar("R")
Backend = Literal["process", "thread", "serial", "dask"]
_BACKENDS = ("process", "thread", "serial", "dask")

#: Environment variable with a Dask scheduler address; when set, voltlab's parallel work runs there.
SCHEDULER_ENV = "VOLTLAB_SCHEDULER"


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


def resolve_scheduler(scheduler: str | None = None) -> str | None:
    """The Dask scheduler address to use: ``scheduler``, else ``$VOLTLAB_SCHEDULER``, else None.

    Raises
    ------
    VoltlabError
        The address is not of the form ``tcp://host:port`` (or ``tls://``,
        ``inproc://``, ``ws://``, ``wss://``, ``ucx://``).

    Examples
    --------
    >>> resolve_scheduler("tcp://127.0.0.1:8786")
    'tcp://127.0.0.1:8786'
    """
    addr = scheduler if scheduler else os.environ.get(SCHEDULER_ENV) or None
    if addr is None:
        return None
    addr = addr.strip()
    if "://" not in addr or not addr.split("://", 1)[1]:
        source = "scheduler" if scheduler else SCHEDULER_ENV
        raise VoltlabError(
            f"{source} must be a Dask scheduler address like 'tcp://host:8786', got {addr!r}", value=addr
        )
    scheme = addr.split("://", 1)[0]
    if scheme not in ("tcp", "tls", "inproc", "ws", "wss", "ucx"):
        raise VoltlabError(f"unknown Dask protocol {scheme!r} in {addr!r}; use tcp://host:port", value=addr)
    return addr


def parallel_map(
    func: Callable[[T], R],
    items: Iterable[T],
    *,
    workers: int | None = None,
    backend: Backend = "process",
    scheduler: str | None = None,
    retries: int = 1,
) -> Iterator[tuple[T, R | None, BaseException | None]]:
    """Apply ``func`` to every item, yielding ``(item, result, error)`` in completion order.

    Exactly one of ``result``/``error`` is meaningful per item: an exception
    raised by ``func`` is yielded, not raised, so one bad item never stops
    the others.

    Parameters
    ----------
    func
        Function of one argument (module-level for the process and Dask backends).
    items
        Work items.
    workers
        Pool size; :func:`default_workers` if None. ``1`` runs serially
        (except on an existing Dask scheduler, whose workers are used as they are).
    backend
        ``"process"``, ``"thread"``, ``"serial"`` or ``"dask"``.
    scheduler
        Dask scheduler address; with it (or ``$VOLTLAB_SCHEDULER``) the Dask
        backend is used.
    retries
        Dask only: extra runs of a task that raised before its error is
        reported (tasks lost with a dead worker are rescheduled by Dask
        regardless).

    Raises
    ------
    VoltlabError
        Bad ``workers``, ``backend`` or scheduler address.
    DependencyError
        The Dask backend without ``distributed`` installed.

    Examples
    --------
    >>> sorted(r for _, r, _ in parallel_map(abs, [-1, -2, 3], backend="serial"))
    [1, 2, 3]
    """
    todo = list(items)
    n = default_workers() if workers is None else workers
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise VoltlabError(f"workers must be an integer >= 1, got {n!r}", value=n)
    if backend not in _BACKENDS:
        raise VoltlabError(f"backend must be one of {_BACKENDS}, got {backend!r}", value=backend)
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise VoltlabError(f"retries must be an integer >= 0, got {retries!r}", value=retries)
    address = resolve_scheduler(scheduler)
    if address is not None or backend == "dask":
        yield from _dask_map(func, todo, n, address, retries)
        return
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


def _dask_client(address: str | None, n_workers: int) -> tuple[Any, Any]:
    """A connected client and the LocalCluster it owns (None when connecting to ``address``)."""
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:
        raise DependencyError(
            "the Dask backend needs 'distributed': pip install -c constraints.txt 'dask[distributed]'"
        ) from exc
    if address is not None:
        try:
            return Client(address, timeout="20s", set_as_default=False), None
        except OSError as exc:
            raise VoltlabError(
                f"cannot reach the Dask scheduler at {address} ({exc}); start one with 'dask scheduler' or "
                f"unset {SCHEDULER_ENV}", value=address,
            ) from exc
    cluster = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True, dashboard_address=":0")
    return Client(cluster, set_as_default=False), cluster


def _dask_map(
    func: Callable[[T], R], todo: list[T], n_workers: int, address: str | None, retries: int
) -> Iterator[tuple[T, R | None, BaseException | None]]:
    if not todo:
        return
    client, cluster = _dask_client(address, n_workers)
    try:
        from distributed import as_completed as dask_completed

        # pure=False: equal items are still separate tasks (each item yields once, in any order).
        futures = client.map(func, todo, pure=False, retries=retries)
        index = {f.key: k for k, f in enumerate(futures)}
        with client.as_current():  # as_completed looks up "the" client; ours is not the global default
            completed = dask_completed(futures)
        del futures  # only as_completed holds them now: each result is freed once fetched
        for fut in completed:
            item = todo[index[fut.key]]
            try:
                result = fut.result()
            except Exception as exc:  # noqa: BLE001 - reported to the caller per item (KilledWorker too)
                fut.release()
                yield item, None, exc
                continue
            fut.release()
            yield item, result, None
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
