"""Issue 11, kind 7: a killed render leaves no flow worker (or resource tracker) behind.

A real render with one flow worker process is killed the way the OOM killer or a crash
kills it (SIGKILL to the main process alone), or stopped with a plain SIGTERM. Every
process it started must be gone within seconds, and the caller's pipes must reach EOF
(the orphans used to hold them, hanging scripts that wait on the output).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CLIP = REPO / "sample_clips" / "vpf_dog_848x464_aac.mp4"
STARRY = REPO / "sample_clips" / "styles" / "starry_night.jpg"

pytestmark = [
    pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads the process tree from /proc"),
    pytest.mark.slow,
]


def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            kids.setdefault(ppid, []).append(int(d.name))
    return kids


def _descendants(pid: int) -> list[int]:
    tree, out, todo = _children(), [], [pid]
    while todo:
        for k in tree.get(todo.pop(), []):
            out.append(k)
            todo.append(k)
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_flow_workers_die_with_the_render(tmp_path, sig):
    cmd = [sys.executable, "-m", "vidstyle", "render", str(CLIP), str(STARRY), "-o", str(tmp_path / "o.mp4"),
           "--size", "48", "--end", "40f", "--preset", "fast", "--iterations", "30", "--frame-iterations", "20",
           "--flow-workers", "1", "--cuts", "none", "--device", "cpu", "-q"]  # fmt: skip
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "PYTHONUNBUFFERED": "1"}
    )
    started: list[int] = []
    try:
        deadline = time.monotonic() + 180
        workers: list[int] = []
        while time.monotonic() < deadline and proc.poll() is None:
            kids = _descendants(proc.pid)
            workers = [k for k in kids if "spawn_main" in _cmdline(k)]
            if workers:
                break
            time.sleep(0.2)
        assert workers, "the render never started its flow worker"
        time.sleep(1.0)  # let the worker get busy
        started = [k for k in _descendants(proc.pid) if _alive(k)]
        assert any("resource_tracker" in _cmdline(k) or "spawn_main" in _cmdline(k) for k in started)
        os.kill(proc.pid, sig)  # the main process only, as the OOM killer does
        proc.wait(timeout=30)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(_alive(k) for k in started):
            time.sleep(0.1)
        left = [(k, _cmdline(k)) for k in started if _alive(k)]
        assert not left, f"still running after the render died: {left}"
        _out, err = proc.communicate(timeout=10)  # EOF: nothing holds the caller's pipes any more
        assert b"Traceback" not in err
    finally:
        for k in [*started, *_descendants(proc.pid)]:
            with contextlib.suppress(OSError):
                os.kill(k, signal.SIGKILL)
        if proc.poll() is None:
            proc.kill()
