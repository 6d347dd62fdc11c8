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
