import itertools
import threading

import pytest

from voltlab.errors import VoltlabError
from voltlab.parallel import DIRECT_ENV, default_workers, direct_to_workers, parallel_map


def _inverse(x: int) -> float:
    return 1 / x


@pytest.mark.parametrize("backend", ["serial", "thread", "process"])
def test_results_and_errors_per_item(backend):
    out = {item: (res, err) for item, res, err in parallel_map(_inverse, [1, 2, 0, 4], workers=2, backend=backend)}
    assert out[2][0] == 0.5 and out[4][0] == 0.25
    assert out[0][0] is None and isinstance(out[0][1], ZeroDivisionError)


def test_worker_settings(monkeypatch):
    monkeypatch.setenv("VOLTLAB_WORKERS", "3")
    assert default_workers() == 3
    monkeypatch.setenv("VOLTLAB_WORKERS", "zero")
    with pytest.raises(VoltlabError, match="VOLTLAB_WORKERS must be a positive integer"):
        default_workers()
    monkeypatch.delenv("VOLTLAB_WORKERS")
    with pytest.raises(VoltlabError, match="backend must be"):
        list(parallel_map(_inverse, [1, 2], backend="gpu"))


class _UnpicklableError(Exception):
    def __init__(self, a, b):
        super().__init__(f"{a}/{b}")
        # a lock cannot be pickled, even where tblib (imported with distributed) makes exceptions picklable
        self.lock = threading.Lock()


def _raise_unpicklable(x: int) -> int:
    if x == 3:
        raise _UnpicklableError(x, "three")
    return x


@pytest.mark.parametrize("backend", ["thread", "process"])
@pytest.mark.parametrize("chunksize", [3, None])
def test_chunks_yield_every_item_once_with_its_own_error(backend, chunksize):
    items = [1, 2, 0, 4, 5, 0, 7, 8, 9, 10]
    seen = [item for item, _, _ in parallel_map(_inverse, items, workers=2, backend=backend, chunksize=chunksize)]
    assert sorted(seen) == sorted(items)
    out = list(parallel_map(_inverse, items, workers=2, backend=backend, chunksize=chunksize))
    assert sorted(r for _, r, e in out if e is None) == sorted(1 / x for x in items if x)
    assert sum(isinstance(e, ZeroDivisionError) for _, _, e in out) == 2


def _planned(n: int, threads: int, item_seconds: float, target: float = 0.5) -> list[int]:
    """Task sizes the Dask planner hands out for ``n`` items of ``item_seconds`` each, with a window of
    two tasks per thread (the first window goes out before any time is known)."""
    from voltlab.parallel import _ChunkPlanner

    planner = _ChunkPlanner(n, None, target_seconds=target)
    sizes = []
    for _ in range(2 * threads):
        chunk = planner.take(threads)
        if chunk is not None:
            sizes.append(len(chunk))
    planner.record(sizes[0], sizes[0] * item_seconds)
    while (chunk := planner.take(threads)) is not None:
        sizes.append(len(chunk))
    return sizes


def test_planner_sizes_tasks_from_measured_time_and_shrinks_them_at_the_end():
    from voltlab.parallel import _ChunkPlanner

    sizes = _planned(256, 2, 0.025)  # 25 ms items: 0.5 s tasks are 20 items
    assert sum(sizes) == 256 and sizes[:4] == [1, 1, 1, 1] and max(sizes) == 20
    assert sizes[4:13] == [20] * 9 and sizes[-3:] == [2, 2, 2]  # guided tail, floored at 20 // 8
    assert all(a >= b for a, b in itertools.pairwise(sizes[4:]))  # the tail never grows again
    assert len(sizes) == 24  # against 32 tasks of 8 items before, one per 1/16 of a thread's share
    assert _planned(24, 2, 0.4) == [1] * 24  # items longer than the target: one per task
    assert _planned(10, 4, 1e-6) == [1] * 8 + [2]  # the floor (1/8 of a 0.5-s task) takes the last two
    # a slow first item (a worker building its model) does not keep later tasks small: the fastest counts
    planner = _ChunkPlanner(1000, None, target_seconds=0.5)
    assert [len(planner.take(1)) for _ in range(2)] == [1, 1]
    planner.record(1, 5.0)
    assert len(planner.take(1)) == 1
    planner.record(1, 0.01)
    planner.record(1, 5.0)
    assert len(planner.take(1)) == 50
    fixed = _ChunkPlanner(10, 4)
    assert [len(fixed.take(2)) for _ in range(3)] == [4, 4, 2] and fixed.take(2) is None


def test_chunk_sizes_and_unpicklable_errors():
    from voltlab.parallel import _chunks

    assert [len(c) for c in _chunks(10, 4, 2)] == [4, 4, 2]
    assert len(_chunks(256, None, 2)) == 32 and len(_chunks(5, None, 2)) == 5  # ~16 tasks per thread, >= 1 item
    assert [list(c) for c in _chunks(3, None, 8)] == [[0], [1], [2]]
    # an error that cannot travel back from a worker process comes back as a VoltlabError with its text
    out = {i: e for i, _, e in parallel_map(_raise_unpicklable, [1, 3, 5], workers=2, backend="process", chunksize=2)}
    assert out[1] is None and out[5] is None
    assert isinstance(out[3], VoltlabError) and "_UnpicklableError: 3/three" in str(out[3])
    for bad in (0, 1.5, True):
        with pytest.raises(VoltlabError, match="chunksize must be an integer >= 1 or None"):
            list(parallel_map(_inverse, [1, 2], chunksize=bad))


def test_the_documented_cluster_settings_are_the_ones_applied():
    """docs/scale.md's YAML block and its environment-variable spellings say what DASK_BATCH_CONFIG is."""
    import re
    from pathlib import Path

    import yaml

    from voltlab.parallel import DASK_BATCH_CONFIG

    doc = (Path(__file__).resolve().parents[1] / "docs" / "scale.md").read_text(encoding="utf-8")
    section = doc[doc.index("## Cluster settings for batch work"):]
    block = yaml.safe_load(section[section.index("```yaml") + 7:section.index("```", section.index("```yaml") + 7)])

    def flat(d: dict, prefix: str = "") -> dict:
        out = {}
        for k, v in d.items():
            out.update(flat(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v})
        return out

    assert flat(block) == DASK_BATCH_CONFIG
    env = dict(re.findall(r"(DASK_DISTRIBUTED__[A-Z_]+)=(\w+)", section.split("```")[1]))
    expected = {"DASK_" + k.upper().replace(".", "__").replace("-", "_"): str(v) for k, v in DASK_BATCH_CONFIG.items()}
    assert env == expected


def test_results_come_straight_from_workers_only_where_they_surely_can(monkeypatch):
    """Direct on loopback workers (IPv4, IPv6, localhost); through the scheduler as soon as one
    worker is elsewhere or none has joined; the environment variable decides either way."""
    monkeypatch.delenv(DIRECT_ENV, raising=False)
    assert direct_to_workers(["tcp://127.0.0.1:40135", "tcp://[::1]:40137", "tls://localhost:8788"])
    assert direct_to_workers(["tcp://127.0.0.2:1"])  # all of 127/8 is loopback
    assert not direct_to_workers(["tcp://127.0.0.1:40135", "tcp://10.0.0.7:40135"])
    assert not direct_to_workers(["tcp://node17.cluster:40135"]) and not direct_to_workers([])
    assert not direct_to_workers(["inproc://10.0.0.7/1234/1"])
    monkeypatch.setenv(DIRECT_ENV, "1")
    assert direct_to_workers(["tcp://10.0.0.7:40135"])
    monkeypatch.setenv(DIRECT_ENV, " No ")
    assert not direct_to_workers(["tcp://127.0.0.1:40135"])
    monkeypatch.setenv(DIRECT_ENV, "sometimes")
    with pytest.raises(VoltlabError, match="VOLTLAB_DIRECT_TO_WORKERS must be 1 or 0 .* got 'sometimes'"):
        direct_to_workers(["tcp://127.0.0.1:40135"])
