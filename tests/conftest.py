"""Shared fixtures: where the real test material lives, and a CLI runner."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "tests" / "data"


def media_root() -> Path | None:
    """The shared real-media folder (``$VIDSTYLE_MEDIA`` or ``../shared/media``), if present."""
    env = os.environ.get("VIDSTYLE_MEDIA")
    candidates = [Path(env)] if env else []
    candidates.append(REPO.parent / "shared" / "media")
    for c in candidates:
        if (c / "manifest.json").is_file():
            return c
    return None


@pytest.fixture(scope="session")
def media() -> Path:
    """Path to ../shared/media; tests that need it skip where it is absent."""
    root = media_root()
    if root is None:
        pytest.skip("shared media folder not found (set VIDSTYLE_MEDIA)")
    return root


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """Small real images and clips committed under tests/data."""
    return DATA


@pytest.fixture
def cli(capsys):
    """Run the vidstyle CLI in-process; returns (exit code, stdout, stderr)."""
    from vidstyle.cli import run

    def _run(*args: str) -> tuple[int, str, str]:
        code = run([str(a) for a in args])
        out = capsys.readouterr()
        return code, out.out, out.err

    return _run


@pytest.fixture(scope="session")
def sample_clip() -> Path:
    """The bundled real clip (dog jumping a log, 848x464, 96 frames, AAC stereo)."""
    return REPO / "sample_clips" / "vpf_dog_848x464_aac.mp4"
