"""voltlab._malloc: the glibc mmap and trim thresholds on workers whose environment froze them (Dask's nanny).

Each check runs in a fresh Python process, since the setting is process-wide and made once. Whether a
1 MiB numpy array is its own ``mmap`` is read from ``mallinfo2().hblks`` (blocks served by mmap).
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
                                reason="the allocator setting exists only on glibc (Linux)")

REPO = str(Path(__file__).resolve().parents[1])
SRC = str(Path(REPO) / "src")

PROBE = r"""
import json, sys

from tests._heap_probe import freed_heap_kept, mmapped_while_alive
from voltlab import _malloc

if sys.argv[1:] == ["trim"]:  # a freed 16 MiB block: handed back at once, or kept until the task ends
    out = {"untuned": freed_heap_kept(), "tuned": _malloc.tune_for_numpy(), "after": freed_heap_kept()}
elif len(sys.argv) > 1:  # through parallel_map's process pool, this process left as it started
    from voltlab.parallel import parallel_map

    out = {"worker": sorted(r for _, r, _ in parallel_map(mmapped_while_alive, [0, 1], workers=2))}
else:
    out = {"before": [mmapped_while_alive(), mmapped_while_alive()], "tuned": _malloc.tune_for_numpy()}
    out["after"] = mmapped_while_alive()
    _malloc.release_free_memory()
    out["again"] = _malloc.tune_for_numpy()
print(json.dumps(out))
"""


def _probe(tmp_path: Path, env_extra: dict[str, str], *args: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    env.update(env_extra, PYTHONPATH=os.pathsep.join([SRC, REPO]))
    done = subprocess.run([sys.executable, "-c", PROBE, *args], env=env, capture_output=True, text=True,
                          timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_dask_trim_setting_is_undone_for_numpy_temporaries(tmp_path):
    """With Dask's MALLOC_TRIM_THRESHOLD_=65536 every 1 MiB array is an mmap of its own; after the
    tuning it comes from the heap, and the tuning is made once."""
    out = _probe(tmp_path, {"MALLOC_TRIM_THRESHOLD_": "65536"})
    assert out == {"before": [1, 1], "tuned": True, "after": 0, "again": True}


def test_nothing_changes_without_a_fixed_threshold(tmp_path):
    """A plain process keeps glibc's dynamic threshold, nothing to undo: the first 1 MiB array is an
    mmap, and freeing it raised the threshold, so the next comes from the heap."""
    out = _probe(tmp_path, {})
    assert out == {"before": [1, 0], "tuned": False, "after": 0, "again": False}


def test_an_explicit_mmap_threshold_wins(tmp_path):
    """A user who set MALLOC_MMAP_THRESHOLD_ keeps it: 512 KiB stays, so 1 MiB is still an mmap."""
    out = _probe(tmp_path, {"MALLOC_TRIM_THRESHOLD_": "65536", "MALLOC_MMAP_THRESHOLD_": "524288"})
    assert out == {"before": [1, 1], "tuned": False, "after": 1, "again": False}


def test_parallel_map_workers_are_tuned(tmp_path):
    """Process-pool tasks of parallel_map, in workers that inherited the trim setting, allocate a
    1 MiB array from the heap: the setting is made in the worker before the task runs."""
    out = _probe(tmp_path, {"MALLOC_TRIM_THRESHOLD_": "65536"}, "pool")
    assert out == {"worker": [0, 0]}


def test_freed_heap_is_kept_during_a_task_and_handed_back_after_it(tmp_path):
    """Under Dask's 64 KiB trim threshold a freed 16 MiB block (an mmap before the tuning) would be
    trimmed at once, and the next temporary faulted in again; tuned, the heap keeps it until
    release_free_memory() at the end of the task hands it back."""
    out = _probe(tmp_path, {"MALLOC_TRIM_THRESHOLD_": "65536"}, "trim")
    assert out == {"untuned": {"kept_mib": 0, "after_release_mib": 0}, "tuned": True,
                   "after": {"kept_mib": 16, "after_release_mib": 0}}


def test_a_users_own_trim_threshold_is_kept(tmp_path):
    """MALLOC_TRIM_THRESHOLD_ other than Dask's 65536 is the user's: the mmap threshold is raised
    (the 16 MiB block comes from the heap) but freed memory is still trimmed at once."""
    out = _probe(tmp_path, {"MALLOC_TRIM_THRESHOLD_": "131072"}, "trim")
    assert out["tuned"] is True and out["after"] == {"kept_mib": 0, "after_release_mib": 0}


def test_a_plain_process_keeps_glibcs_own_behaviour(tmp_path):
    """Nothing froze the thresholds: nothing is tuned, and glibc's dynamic trim threshold keeps the
    block, which release_free_memory() leaves alone."""
    out = _probe(tmp_path, {}, "trim")
    assert out["tuned"] is False and out["after"]["kept_mib"] >= 15 and out["after"]["after_release_mib"] >= 15
