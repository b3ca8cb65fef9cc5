"""``--ray``: a multi-shot clip rendered by Ray actors on a real local cluster (issue 13).

The cluster is started by the test with two logical GPUs (``ray.init(num_cpus=2,
num_gpus=2)``), so the GPU scheduling path runs on a CPU-only machine; the actors then
compute on the CPU with one thread each, like the single-process render they are compared
with.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from vidstyle.errors import VidstyleError
from vidstyle.job.leases import read_leases
from vidstyle.job.store import decode_png
from vidstyle.render import render
from vidstyle.settings import apply_overrides, preset_settings
from vidstyle.temporal.ray_actors import plan_actors
from vidstyle.video import open_video, probe

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.slow  # a Ray cluster and its worker processes

REPO = Path(__file__).resolve().parents[2]
STARRY = REPO / "sample_clips" / "styles" / "starry_night.jpg"
BBB = "videos/moviepy_bbb_1280x720_vp8_vorbis_30s.webm"  # a cut at 11.792 s
START, END, CUT = "11.3", "12.1", "11.79"


def _settings():
    return apply_overrides(
        preset_settings("fast"),
        {"size": 32, "styles": (str(STARRY),), "optim": {"iterations": 6}, "flow": {"workers": 0},
         "temporal": {"frame_iterations": 4}},
    )  # fmt: skip


def _render(media: Path, out: Path, job: Path, **kw):
    return render(media / BBB, out, _settings(), cuts=CUT, start=START, end=END, job=job, keep_job=True,
                  device="cpu", threads=1, **kw)  # fmt: skip


def _results(job: Path) -> list[dict]:
    rows = [json.loads(x) for x in (job / "manifest.jsonl").read_text().splitlines() if x.strip()]
    return [r for r in rows if r["type"] == "result"]


def _frame(job: Path, pos: int) -> np.ndarray:
    return decode_png((job / "passes" / "1" / f"{pos:06d}.png").read_bytes()).astype(int)


@pytest.fixture(scope="module")
def cluster():
    ray.init(num_cpus=2, num_gpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def reference(media, tmp_path_factory):
    """The same render in this one process, one thread."""
    d = tmp_path_factory.mktemp("ref")
    result = _render(media, d / "ref.mp4", d / "job")
    assert result.shots == 2
    return d / "ref.mp4", d / "job", result


def test_plan_actors():
    assert plan_actors({"CPU": 2, "GPU": 2}, budget=2, gpus=1.0, workers=1) == plan_actors(
        {"CPU": 2, "GPU": 2}, 2, 1.0, None
    )
    gpu = plan_actors({"CPU": 16, "GPU": 4}, budget=16, gpus=0.5, workers=None)
    assert (gpu.actors, gpu.gpus) == (8, 0.5)
    cpu = plan_actors({"CPU": 8}, budget=4, gpus=1.0, workers=None)
    assert (cpu.actors, cpu.gpus, cpu.threads) == (2, 0.0, 2)
    assert plan_actors({"CPU": 8}, budget=4, gpus=1.0, workers=4).actors == 4


def test_ray_problems_are_one_line_errors(cli, media, tmp_path, monkeypatch):
    """Before any cluster is started in this process (the tests below start one)."""
    assert not ray.is_initialized()
    args = ["render", media / BBB, STARRY, "-o", tmp_path / "o.mp4", "--size", "32", "--end", "4f", "--cuts", "none"]
    code, _, err = cli(*args, "--ray", "127.0.0.1:1")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "--ray: cannot reach the Ray cluster" in err, err
    code, _, err = cli(*args, "--ray", "nowhere")
    assert code == 2 and "--ray" in err and "not auto, local, or an address" in err, err
    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    with pytest.raises(VidstyleError, match=r"compute\.ray: Ray is not installed"):
        from vidstyle.temporal.ray_actors import connect

        connect("auto")
    code, _, err = cli(*args, "--ray", "auto")
    assert code == 2 and "--ray: Ray is not installed (pip install 'vidstyle[ray]')" in err, err


def test_a_ray_render_equals_a_single_process_one(cluster, media, reference, tmp_path):
    ref_out, ref_job, ref = reference
    out, job = tmp_path / "o.mp4", tmp_path / "job"
    notes: list[str] = []
    result = _render(media, out, job, ray="auto", progress=lambda e: notes.append(str(e)))
    assert result.shots == 2 and result.frames == ref.frames and result.computed == ref.frames
    assert any("Ray: 2 actor(s)" in n for n in notes), "one actor per (logical) GPU"
    keys = sorted((r["pass"], r["pos"]) for r in _results(job))
    assert keys == [(1, p) for p in range(ref.frames)], "every frame stored once"
    for pos in range(ref.frames):
        diff = np.abs(_frame(job, pos) - _frame(ref_job, pos)).max()
        assert diff <= 2, f"frame {pos}: {diff}"
    a, b = probe(out), probe(ref_out)
    assert a.frame_count == b.frame_count == ref.frames and a.has_audio
    with open_video(out) as x, open_video(ref_out) as y:
        assert [f.pts for f in x] == [f.pts for f in y], "the source's timing"
    pids = {int(p) for p in _pids(job)}
    assert os.getpid() not in pids and len(pids) >= 1, "the units ran in the actors, not the driver"


def _pids(job: Path) -> list[str]:
    import re

    return re.findall(r"taken by pid (\d+)", (job / "log.txt").read_text())


def test_a_killed_actor_leaves_its_unit_to_the_other(cluster, media, reference, tmp_path):
    _, ref_job, ref = reference
    out, job = tmp_path / "o.mp4", tmp_path / "job"
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            outcome["result"] = _render(media, out, job, ray="auto")
        except BaseException as e:
            outcome["error"] = e

    t = threading.Thread(target=run)
    t.start()
    killed = None
    deadline = time.monotonic() + 300
    while killed is None and t.is_alive() and time.monotonic() < deadline:
        for unit, lease in read_leases(job).items() if job.exists() else []:
            if lease.pid == os.getpid() or lease.state() != "held" or not (job / "manifest.jsonl").exists():
                continue
            shot = int(unit.removeprefix("shot"))
            if len([r for r in _results(job) if r["shot"] == shot]) >= 1:
                os.kill(lease.pid, signal.SIGKILL)  # the actor's process, mid-unit
                killed = (shot, lease.pid)
                break
        time.sleep(0.02)
    t.join(timeout=600)
    assert killed is not None, "no actor was caught mid-unit"
    assert "error" not in outcome, outcome.get("error")
    keys = sorted((r["pass"], r["pos"]) for r in _results(job))
    assert keys == [(1, p) for p in range(ref.frames)], "nothing stored was computed again"
    for pos in range(ref.frames):
        diff = np.abs(_frame(job, pos) - _frame(ref_job, pos)).max()
        assert diff <= 2, f"frame {pos}: {diff}"
    assert probe(out).frame_count == ref.frames
