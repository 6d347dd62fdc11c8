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
    each item's result is yielded exactly once. Results come straight from
    the workers when they are on this machine (:func:`direct_to_workers`).

See ``docs/scale.md`` for SLURM (dask-jobqueue) and Kubernetes set-ups.
"""

from __future__ import annotations

import functools
import ipaddress
import os
import pickle
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor, as_completed
from typing import Any, Literal, TypeVar

from voltlab import _malloc
from voltlab.errors import DependencyError, VoltlabError

__all__ = [
    "DASK_BATCH_CONFIG", "DIRECT_ENV", "SCHEDULER_ENV", "TASK_SECONDS", "default_workers", "direct_to_workers",
    "parallel_map", "resolve_scheduler",
]

T = TypeVar("T")
R = TypeVar("R")
Backend = Literal["process", "thread", "serial", "dask"]
_BACKENDS = ("process", "thread", "serial", "dask")

#: Environment variable with a Dask scheduler address; when set, voltlab's parallel work runs there.
SCHEDULER_ENV = "VOLTLAB_SCHEDULER"

#: Environment variable: ``1`` fetches each task's results from its worker directly, ``0`` through the
#: scheduler (Dask's default); unset, directly when every worker listens on a loopback address.
DIRECT_ENV = "VOLTLAB_DIRECT_TO_WORKERS"

#: Dask settings for batch work, applied to the LocalCluster voltlab starts itself and recommended
#: for any cluster it runs on (``docs/scale.md``). Dask's defaults suit interactive use: each
#: scheduler, nanny and worker checks its event loop every 20 ms, samples its system counters every
#: 500 ms, and each worker's profiler samples its threads every 10 ms. An idle cluster of 2 workers
#: spent 0.17 cores of a 2-core machine on this (0.08 in the scheduler's process, 0.09 in the
#: workers), against 0.04 with these settings; under load the profiler also contends with the
#: task for the GIL. The costs: event-loop stall warnings come within 1 s rather than 20 ms, the
#: dashboard's system plots are sampled every 5 s, and its profile page stays empty.
DASK_BATCH_CONFIG: dict[str, Any] = {
    "distributed.admin.tick.interval": "1s",
    "distributed.admin.system-monitor.interval": "5s",
    "distributed.worker.profile.enabled": False,
}


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
    chunksize: int | None = 1,
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
        Dask only: extra runs of an item whose ``func`` raised, before its error
        is reported (tasks lost with a dead worker are rescheduled by Dask
        regardless).
    chunksize
        Items per task for the process and Dask backends (default 1). ``None``
        is for many short items (a 20-ms simulation each), where one task per
        item would cost the client and scheduler about as much CPU as the
        workers spend: the process backend makes about 16 tasks per worker;
        the Dask backend sizes tasks as it goes, to about
        :data:`TASK_SECONDS` of work each from the measured time per item,
        shrinking towards the end so the workers finish together. Items of a
        chunk run one after another on one worker; their results are still
        yielded one by one.

    Raises
    ------
    VoltlabError
        Bad ``workers``, ``backend``, ``chunksize`` or scheduler address.
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
    if chunksize is not None and (isinstance(chunksize, bool) or not isinstance(chunksize, int) or chunksize < 1):
        raise VoltlabError(f"chunksize must be an integer >= 1 or None (automatic), got {chunksize!r}",
                           value=chunksize)
    address = resolve_scheduler(scheduler)
    if address is not None or backend == "dask":
        yield from _dask_map(func, todo, n, address, retries, chunksize)
        return
    if backend == "serial" or n == 1 or len(todo) <= 1:
        for item in todo:
            try:
                yield item, func(item), None
            except Exception as exc:  # noqa: BLE001 - reported to the caller per item
                yield item, None, exc
        return
    chunks = _chunks(len(todo), chunksize, n)
    pool: Executor = (
        ProcessPoolExecutor(max_workers=min(n, len(chunks)))
        if backend == "process"
        else ThreadPoolExecutor(max_workers=min(n, len(chunks)))
    )
    with pool:
        # threads share this process: their errors need not (and may not) pickle
        futures = {pool.submit(_run_chunk, func, 0, [todo[k] for k in chunk], backend == "process"): chunk
                   for chunk in chunks}
        for fut in as_completed(futures):
            yield from _unchunk(todo, futures[fut], fut)


def _chunks(n_items: int, chunksize: int | None, threads: int) -> list[range]:
    """Index ranges of the tasks: ``chunksize`` items each, or about 16 tasks per thread (None)."""
    size = chunksize if chunksize is not None else max(1, -(-n_items // (16 * max(threads, 1))))
    return [range(s, min(s + size, n_items)) for s in range(0, n_items, size)]


def _run_chunk(func: Callable[[T], R], retries: int, chunk: list[T],
               travels: bool = True) -> list[tuple[R | None, BaseException | None]]:
    """One task: ``func`` on each item of the chunk, each error caught (and retried) per item;
    ``travels``: the task runs in another process (a pool or Dask worker) and its results go back
    through pickle, so must the errors; there the allocator is set for numpy (:mod:`voltlab._malloc`)."""
    if travels:
        _malloc.tune_for_numpy()
    out: list[tuple[R | None, BaseException | None]] = []
    for item in chunk:
        for attempt in range(retries + 1):
            try:
                out.append((func(item), None))
                break
            except Exception as exc:  # noqa: BLE001 - reported to the caller per item
                if attempt == retries:
                    out.append((None, _picklable(exc) if travels else exc))
    if travels:
        _malloc.release_free_memory()
    return out


def _picklable(exc: BaseException) -> BaseException:
    """``exc``, or a VoltlabError with its message when it cannot travel back from a worker process."""
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:  # noqa: BLE001 - any pickling failure
        return VoltlabError(f"{type(exc).__name__}: {exc}")
    return exc


def _unchunk(todo: list[T], chunk: range, fut: Any) -> Iterator[tuple[T, R | None, BaseException | None]]:
    """Per-item ``(item, result, error)`` of one finished chunk task (every item fails with it if the
    task itself failed, e.g. Dask's KilledWorker)."""
    try:
        pairs = fut.result()
    except Exception as exc:  # noqa: BLE001 - reported to the caller per item
        return _split(todo, chunk, None, exc)
    return _split(todo, chunk, pairs, None)


def _split(todo: list[T], chunk: range, pairs: list[tuple[R | None, BaseException | None]] | None,
           error: BaseException | None) -> Iterator[tuple[T, R | None, BaseException | None]]:
    """Per-item ``(item, result, error)`` of a chunk's ``pairs``, or ``error`` for each item without them."""
    if pairs is None:
        for k in chunk:
            yield todo[k], None, error
        return
    for k, (result, err) in zip(chunk, pairs, strict=True):
        yield todo[k], result, err


#: Work per task (s) that :class:`_ChunkPlanner` aims at when ``chunksize=None``.
TASK_SECONDS = 0.5


class _ChunkPlanner:
    """The index ranges of a Dask map's tasks, handed out one at a time as workers free up.

    With a fixed ``chunksize`` every task has that many items. Otherwise (None) the first tasks
    hold one item each; once one has come back, tasks are sized to about :data:`TASK_SECONDS` of
    work from the fastest per-item time seen so far (a worker's one-off warm-up, such as its model
    build, then does not keep every task small), and never larger than the not-yet-submitted items
    over twice the worker threads, so that tasks shrink towards the end and the workers finish
    together ("guided" scheduling), down to an eighth of that size (a tail of tasks of one short
    item each would cost more than the few tens of ms by which the workers' ends then differ).
    Each task costs the client and scheduler some CPU (about 10 ms
    on a 2-core machine), which on small machines share the cores with the workers: one task per
    50-ms simulation would spend a sixth of the machine on them.
    """

    def __init__(self, n_items: int, chunksize: int | None, target_seconds: float = TASK_SECONDS) -> None:
        self.n_items = n_items
        self.chunksize = chunksize
        self.target_seconds = target_seconds
        self.next_index = 0
        self.item_seconds: float | None = None  # fastest measured seconds per item

    def take(self, threads: int) -> range | None:
        """The next task's item indices (None when every item has been handed out)."""
        left = self.n_items - self.next_index
        if left <= 0:
            return None
        if self.chunksize is not None:
            size = self.chunksize
        elif self.item_seconds is None:
            size = 1
        else:
            wanted = max(1, int(self.target_seconds / max(self.item_seconds, 1e-9)))
            guided = -(-left // (2 * max(threads, 1)))
            size = max(1, wanted // 8, min(wanted, guided))
        chunk = range(self.next_index, min(self.next_index + size, self.n_items))
        self.next_index = chunk.stop
        return chunk

    def record(self, n_items: int, seconds: float) -> None:
        """A task of ``n_items`` items ran for ``seconds`` on its worker."""
        if n_items > 0 and seconds >= 0:
            per_item = seconds / n_items
            self.item_seconds = per_item if self.item_seconds is None else min(self.item_seconds, per_item)


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
    import dask

    with dask.config.set(DASK_BATCH_CONFIG):  # read as the scheduler, nannies and workers start
        cluster = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True, dashboard_address=":0")
        return Client(cluster, set_as_default=False), cluster


class _Boxed:
    """One work item, opaque to Dask: the graph builder would otherwise walk every element of a
    list or tuple item (50,000 formulas per featurisation partition) looking for futures."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __reduce__(self) -> tuple[Any, tuple[Any]]:
        return _Boxed, (self.value,)


def _cluster_now(client: Any, fallback: int) -> tuple[int, bool]:
    """Worker threads on the cluster now (``fallback`` while none has joined yet), and whether
    results are fetched from the workers directly (:func:`direct_to_workers`)."""
    try:
        nthreads = dict(client.nthreads())
    except Exception:  # noqa: BLE001 - a scheduler that cannot answer: assume the requested size
        nthreads = {}
    threads = int(sum(nthreads.values()))
    return max(threads, fallback if threads == 0 else 1, 1), direct_to_workers(list(nthreads))


def _is_loopback(address: str) -> bool:
    """True for a worker address on this machine's loopback interface (``tcp://127.0.0.1:40135``)."""
    from distributed.comm import get_address_host

    try:
        host = get_address_host(address)
    except ValueError:  # e.g. another process's inproc:// address
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name
        return False


def direct_to_workers(worker_addresses: list[str]) -> bool:
    """Whether a Dask map fetches its results from the workers directly rather than through the scheduler.

    Dask's client asks the scheduler for a result, which fetches it from the worker and passes it
    on: two transfers, and on a LocalCluster both in the client's own process, which on a small
    machine shares the cores with the workers. Fetching from the worker is one transfer, but the
    client must be able to reach every worker, which a client outside a Kubernetes cluster often
    cannot. So it is the rule only where that is certain, every worker on a loopback address
    (a LocalCluster, or ``dask worker`` processes on this machine), unless ``$VOLTLAB_DIRECT_TO_WORKERS``
    says ``1`` (e.g. a SLURM cluster, whose login node reaches the compute nodes) or ``0``.

    Raises
    ------
    VoltlabError
        ``$VOLTLAB_DIRECT_TO_WORKERS`` holds something other than 1/0 (true/false, yes/no).

    Examples
    --------
    >>> direct_to_workers(["tcp://127.0.0.1:40135", "tcp://127.0.0.1:40137"])
    True
    >>> direct_to_workers(["tcp://10.0.0.7:40135"])
    False
    """
    setting = os.environ.get(DIRECT_ENV, "").strip().lower()
    if setting in ("1", "true", "yes"):
        return True
    if setting in ("0", "false", "no"):
        return False
    if setting:
        raise VoltlabError(f"{DIRECT_ENV} must be 1 or 0 (or unset: direct on loopback workers), got "
                           f"{os.environ[DIRECT_ENV]!r}", value=os.environ[DIRECT_ENV])
    return bool(worker_addresses) and all(_is_loopback(a) for a in worker_addresses)


def _run_boxed_chunk(func: Callable[[T], R], retries: int, boxed: _Boxed,
                     ) -> tuple[float, list[tuple[R | None, BaseException | None]]]:
    """A Dask task: the chunk's per-item pairs, with the seconds they took on the worker."""
    t0 = time.perf_counter()
    pairs = _run_chunk(func, retries, boxed.value)
    return time.perf_counter() - t0, pairs


def _dask_map(
    func: Callable[[T], R], todo: list[T], n_workers: int, address: str | None, retries: int,
    chunksize: int | None,
) -> Iterator[tuple[T, R | None, BaseException | None]]:
    if not todo:
        return
    client, cluster = _dask_client(address, n_workers)
    try:
        from distributed import as_completed as dask_completed

        planner = _ChunkPlanner(len(todo), chunksize)
        # Tasks go out in a window of about two per worker thread, topped up as each finishes, not all
        # at once: submitting 10^6 formulas in one graph kept every worker idle for ~1.5 s while the
        # client pickled them, a window bounds what the scheduler holds, and it lets the planner size
        # later tasks from the time earlier ones took.
        task = functools.partial(_run_boxed_chunk, func, retries)
        chunk_of: dict[str, range] = {}
        threads, direct = _cluster_now(client, n_workers)
        with client.as_current():  # as_completed looks up "the" client; ours is not the global default
            completed = dask_completed()

        def submit(count: int) -> None:
            for _ in range(count):
                chunk = planner.take(threads)
                if chunk is None:
                    return
                # pure=False: equal items are still separate tasks (each item yields once, in any order).
                fut = client.submit(task, _Boxed([todo[k] for k in chunk]), pure=False)
                chunk_of[fut.key] = chunk
                completed.add(fut)

        submit(2 * threads)
        for done, fut in enumerate(completed, start=1):
            chunk = chunk_of.pop(fut.key)
            error: BaseException | None = None
            try:
                seconds, pairs = client.gather(fut, direct=direct)
            except Exception as exc:  # noqa: BLE001 - the whole task failed (e.g. KilledWorker)
                pairs, error = None, exc
            else:
                planner.record(len(chunk), seconds)
            # one more task per finished one; every 16th, look at the workers again (an adaptive cluster grows)
            if done % 16 == 0:
                threads, direct = _cluster_now(client, n_workers)
            submit(max(1, 2 * threads - completed.count()))
            yield from _split(todo, chunk, pairs, error)
            fut.release()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
