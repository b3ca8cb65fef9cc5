"""Several renders on one job (issue 13): they share its units by lease, compute every frame
once, survive the death of one of them, and chunked shots have no visible seam."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from vidstyle.job.leases import read_leases
from vidstyle.job.status import job_status
from vidstyle.job.store import decode_png

pytestmark = pytest.mark.slow  # subprocesses: deselect with -m 'not slow'

REPO = Path(__file__).resolve().parents[2]
CLIP = REPO / "sample_clips" / "vpf_dog_848x464_aac.mp4"
STARRY = REPO / "sample_clips" / "styles" / "starry_night.jpg"
FRAMES, SHOT = 16, 4  # four shots of four frames

ARGS = [str(CLIP), str(STARRY), "--size", "48", "--end", f"{FRAMES}f", "--cuts", "4f,8f,12f", "--preset", "fast",
        "--iterations", "30", "--frame-iterations", "12", "--flow-workers", "0", "--threads", "1",
        "--device", "cpu", "-q"]  # fmt: skip
ENV = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}


def _render(out: Path, job: Path, *extra: str) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "vidstyle", "render", *ARGS, *extra, "-o", str(out), "--job", str(job)]
    return subprocess.Popen(cmd, env=ENV, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _finish(proc: subprocess.Popen[bytes]) -> None:
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err.decode()


def _results(job: Path) -> list[dict]:
    rows = [json.loads(x) for x in (job / "manifest.jsonl").read_text().splitlines() if x.strip()]
    return [r for r in rows if r["type"] == "result"]


def _frame(job: Path, pass_: int, pos: int) -> np.ndarray:
    return decode_png((job / "passes" / str(pass_) / f"{pos:06d}.png").read_bytes()).astype(int)


def _takers(job: Path) -> list[tuple[str, int]]:
    return [
        (u, int(p))
        for u, p in re.findall(r"unit (\S+) \(frames [^)]*\) taken by pid (\d+)", (job / "log.txt").read_text())
    ]


def test_two_renders_finish_a_job_together(tmp_path):
    job, out = tmp_path / "job", tmp_path / "o.mp4"
    first = _render(out, job)
    time.sleep(0.5)
    second = _render(out, job)
    _finish(first)
    _finish(second)
    keys = [(r["pass"], r["pos"]) for r in _results(job)]
    assert sorted(keys) == [(1, p) for p in range(FRAMES)], "every frame stored exactly once"
    takers = _takers(job)
    assert sorted(u for u, _ in takers) == [f"shot{k:04d}" for k in range(4)], "every unit run once"
    assert {p for _, p in takers} == {first.pid, second.pid}, "both renders worked on the job"
    from vidstyle.video import probe

    assert probe(out).frame_count == FRAMES and probe(out).has_audio
    log = (job / "log.txt").read_text()
    assert log.count(f"wrote {out}") + log.count("was encoded by another render") == 2
    st = job_status(job)
    assert st.finished and all(u.state == "done" for u in st.units) and st.running is None


def test_a_killed_render_leaves_its_unit_to_the_other(tmp_path):
    ref_job, ref_out = tmp_path / "ref_job", tmp_path / "ref.mp4"
    _finish(_render(ref_out, ref_job))

    job, out = tmp_path / "job", tmp_path / "o.mp4"
    victim, other = _render(out, job), None
    killed: tuple[str, int] | None = None
    deadline = time.monotonic() + 300
    try:
        time.sleep(0.3)
        other = _render(out, job)
        while killed is None and time.monotonic() < deadline and victim.poll() is None:
            for unit, lease in read_leases(job).items():
                if lease.pid != victim.pid or lease.state() != "held" or not (job / "manifest.jsonl").exists():
                    continue
                shot = int(unit.removeprefix("shot"))
                stored = [r for r in _results(job) if r["shot"] == shot]
                if 1 <= len(stored) < SHOT:
                    os.killpg(victim.pid, signal.SIGKILL)  # mid-unit, as a crash or the OOM killer would
                    victim.wait()
                    killed = (unit, len(stored))
                    # while its lease file still names the dead holder, status calls it stale
                    st = {u.unit: u for u in job_status(job).units}
                    assert st[unit].state in ("stale", "running", "done"), st[unit]
                    break
            time.sleep(0.02)
        assert killed is not None, "the render was never caught mid-unit"
        _finish(other)
    finally:
        for p in (victim, other):
            if p is not None and p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
    keys = [(r["pass"], r["pos"]) for r in _results(job)]
    assert sorted(keys) == [(1, p) for p in range(FRAMES)], "nothing stored was computed again"
    shot = int(killed[0].removeprefix("shot"))
    for pos in range(shot * SHOT, (shot + 1) * SHOT):
        diff = np.abs(_frame(job, 1, pos) - _frame(ref_job, 1, pos)).max()
        assert diff <= 2, f"frame {pos} of the killed unit differs from an uninterrupted render by {diff}"
    assert [u for u, p in _takers(job) if p == other.pid].count(killed[0]) == 1, "the unit was taken over"
    from vidstyle.video import probe

    assert probe(out).frame_count == FRAMES


def test_status_shows_who_holds_each_unit(tmp_path, cli):
    from vidstyle.job.leases import take

    job, out = tmp_path / "job", tmp_path / "o.mp4"
    _finish(_render(out, job, "--chunk", "2", "--chunk-overlap", "1"))
    (job / "manifest.jsonl").write_text(
        "".join(x + "\n" for x in (job / "manifest.jsonl").read_text().splitlines() if '"pos":3,' not in x)
    )
    lease = take(job, "shot0000-part01")
    assert lease is not None
    try:
        st = job_status(job)
        row = {u.unit: u for u in st.units}["shot0000-part01"]
        assert row.state == "running" and row.holder == f"pid {os.getpid()} on {lease.host}" and row.done == 2
        assert st.running == row.holder and not st.finished
        code, text, _ = cli("status", job)
        assert code == 0 and "shot0000-part01" in text and f"pid {os.getpid()}" in text and "running" in text
        code, text, _ = cli("status", job, "--json")
        units = {u["unit"]: u for u in json.loads(text)["units"]}
        assert units["shot0000-part01"]["holder"] == row.holder and units["shot0000-part00"]["state"] == "done"
    finally:
        lease.release()


def test_a_long_shot_in_chunks_has_every_frame_and_no_visible_seam(tmp_path):
    """Two workers render the chunks of one shot in parallel; around the seam the output's
    warping error stays within 1.5x the median of the shot's other frames."""
    from vidstyle.evaluate.seams import seam_report
    from vidstyle.render import render
    from vidstyle.settings import apply_overrides, preset_settings
    from vidstyle.video import probe

    settings = apply_overrides(
        preset_settings("fast"),
        {"size": 48, "styles": (str(STARRY),), "optim": {"iterations": 60}, "flow": {"workers": 0},
         "temporal": {"frame_iterations": 30, "chunk": 45, "chunk_overlap": 32}},
    )  # fmt: skip
    job, out = tmp_path / "job", tmp_path / "o.mp4"
    result = render(CLIP, out, settings, end="90f", cuts="none", job=job, device="cpu", workers=2, threads=2)
    assert result.frames == 90 and result.computed == 90 + 32
    assert probe(out).frame_count == 90
    takers = _takers(job)
    assert sorted(u for u, _ in takers) == ["shot0000-part00", "shot0000-part01"] and len({p for _, p in takers}) == 2
    report = seam_report(job)
    print(
        f"seam: mean ratio {report.mean_ratio:.2f}, worst pair {report.ratio:.2f} (x median {report.median_other:.3g})"
    )
    assert report.seam_pairs == list(range(12, 45))
    assert report.mean_ratio <= 1.5


def test_workers_share_the_units_and_report_progress_together(tmp_path):
    job, out = tmp_path / "job", tmp_path / "o.mp4"
    args = [a for a in ARGS if a != "-q"]
    cmd = [sys.executable, "-m", "vidstyle", "render", *args, "--workers", "2", "--json-progress", "-o", str(out),
           "--job", str(job)]  # fmt: skip
    proc = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    events = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert [e["event"] for e in events].count("plan") == 1
    frames = [e for e in events if e["event"] == "frame" and not e["skipped"]]
    assert sorted(e["pos"] for e in frames) == list(range(FRAMES)), "every worker's frames reach the display"
    takers = _takers(job)
    assert len({p for _, p in takers}) == 2 and sorted(u for u, _ in takers) == [f"shot{k:04d}" for k in range(4)]
    keys = [(r["pass"], r["pos"]) for r in _results(job)]
    assert sorted(keys) == [(1, p) for p in range(FRAMES)]
