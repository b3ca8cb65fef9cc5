"""Crash-safe writes: complete files only, with ordinary permissions."""

from __future__ import annotations

import os
import stat

import pytest

from vidstyle.files.atomic import atomic_path, atomic_write_bytes


def test_finished_file_gets_the_umask_mode_not_mkstemps_0600(tmp_path):
    old = os.umask(0o022)
    try:
        atomic_write_bytes(tmp_path / "out.bin", b"data")
        with atomic_path(tmp_path / "clip.mp4") as tmp:
            tmp.write_bytes(b"video")
    finally:
        os.umask(old)
    for name in ("out.bin", "clip.mp4"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o644


def test_failed_write_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError), atomic_path(tmp_path / "clip.mp4") as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("encoder died")
    assert list(tmp_path.iterdir()) == []
