import threading

import pytest

from voltlab.errors import VoltlabError
from voltlab.parallel import default_workers, parallel_map


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
