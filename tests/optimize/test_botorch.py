"""BoTorch plumbing of the GP proposals."""

from __future__ import annotations

import os
import time
import warnings

import pytest

pytest.importorskip("torch")

from voltlab.optimize._botorch import STALE_BUILD_LOCK_S, clear_stale_build_lock


def test_stale_extension_build_lock_is_removed_and_a_fresh_one_kept(tmp_path, monkeypatch):
    """A compile killed mid-way leaves PyTorch's lock file, on which every later process would wait forever."""
    from botorch.acquisition.multi_objective import logei

    monkeypatch.setattr(logei, "_load_attempted", False)  # as in a process that has not loaded the kernel yet
    monkeypatch.setenv("TORCH_EXTENSIONS_DIR", str(tmp_path))
    assert clear_stale_build_lock("demo_ext") is None  # no lock: nothing to do
    lock = tmp_path / "demo_ext" / "lock"
    lock.parent.mkdir(exist_ok=True)
    lock.touch()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert clear_stale_build_lock("demo_ext") is None  # a compile may own a young lock
    assert lock.exists()
    old = time.time() - STALE_BUILD_LOCK_S - 60
    os.utime(lock, (old, old))
    with pytest.warns(RuntimeWarning, match="stale PyTorch extension build lock"):
        assert clear_stale_build_lock("demo_ext") == lock
    assert not lock.exists()
    lock.touch()
    os.utime(lock, (old, old))
    monkeypatch.setattr(logei, "_load_attempted", True)  # loaded (or fell back) already: no file system look-up
    assert clear_stale_build_lock("demo_ext") is None and lock.exists()
