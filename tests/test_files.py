"""Atomic writes: the old file or the new one, never a half-written one, and no temporary left behind."""

import os

import pytest

from voltlab._files import atomic_write_bytes, atomic_write_text


def test_atomic_write_replaces_the_file_and_creates_folders(tmp_path):
    target = tmp_path / "deep" / "er" / "model.json"
    assert atomic_write_text(target, "first") == target
    atomic_write_text(target, "zweite Fassung, 2 µm")
    assert target.read_text(encoding="utf-8") == "zweite Fassung, 2 µm"
    assert atomic_write_bytes(tmp_path / "b.bin", b"\x00\xff").read_bytes() == b"\x00\xff"
    assert sorted(p.name for p in target.parent.iterdir()) == ["model.json"]


def test_a_failed_rename_keeps_the_old_content_and_removes_the_temporary(tmp_path, monkeypatch):
    target = tmp_path / "report.html"
    atomic_write_text(target, "old")

    def boom(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="No space left"):
        atomic_write_text(target, "new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]
