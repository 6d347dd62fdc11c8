"""Whether glibc serves a 1 MiB numpy array by its own mmap (``mallinfo2().hblks``), for the allocator
tests (``test_malloc.py`` runs it in fresh processes, ``test_parallel_dask.py`` on Dask workers)."""

from __future__ import annotations

import ctypes
import functools
from typing import Any

import numpy as np

_FIELDS = ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in _FIELDS]


@functools.cache
def _libc() -> Any:
    libc = ctypes.CDLL("libc.so.6")
    libc.mallinfo2.restype = _MallInfo2
    return libc


def mmapped_while_alive(_: object = None) -> int:
    """Blocks glibc served by mmap while a fresh 1 MiB array is alive, minus before (1: an mmap of its own)."""
    before = _libc().mallinfo2().hblks
    a = np.ones(2**17)
    during = _libc().mallinfo2().hblks
    del a
    return int(during - before)


def freed_heap_kept(_: object = None) -> dict[str, int]:
    """MiB of free heap glibc keeps once a fresh 16 MiB array is freed (``fordblks``, over before),
    and after ``voltlab._malloc.release_free_memory()``."""
    from voltlab import _malloc

    before = _libc().mallinfo2().fordblks
    a = np.ones(2**21)
    del a
    kept = _libc().mallinfo2().fordblks
    _malloc.release_free_memory()
    released = _libc().mallinfo2().fordblks
    return {"kept_mib": int(kept - before) // 2**20, "after_release_mib": max(int(released - before), 0) // 2**20}
