"""Leases: one holder per unit, given back on release or death, stale holders elsewhere taken over."""

from __future__ import annotations

import json
import multiprocessing
import os
import threading
import time

from vidstyle.job.leases import SIZE, lease_path, read_lease, read_leases, take
from vidstyle.job.store import Job


def test_a_unit_has_one_holder_until_it_is_released(tmp_path):
    a = take(tmp_path, "shot0000")
    assert a is not None
    assert take(tmp_path, "shot0000") is None  # another descriptor, as another process would
    info = read_lease(tmp_path, "shot0000")
    assert info is not None and info.pid == os.getpid() and info.locked and info.state() == "held"
    a.release()
    info = read_lease(tmp_path, "shot0000")
    assert info is not None and info.released and not info.locked and info.state() == "free"
    b = take(tmp_path, "shot0000")
    assert b is not None
    b.release()


def test_the_heartbeat_is_refreshed(tmp_path):
    lease = take(tmp_path, "u", heartbeat=0.05)
    assert lease is not None
    first = read_lease(tmp_path, "u").heartbeat
    time.sleep(0.3)
    assert read_lease(tmp_path, "u").heartbeat > first
    assert len(lease_path(tmp_path, "u").read_bytes()) == SIZE
    lease.release()


def _hold_and_die(root, ready):
    lease = take(root, "u")
    assert lease is not None
    ready.set()
    time.sleep(60)


def test_a_dead_holder_on_this_host_frees_its_unit_at_once(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    ready = ctx.Event()
    p = ctx.Process(target=_hold_and_die, args=(str(tmp_path), ready))
    p.start()
    assert ready.wait(60)
    assert take(tmp_path, "u") is None
    assert read_leases(tmp_path)["u"].state() == "held"
    p.kill()
    p.join()
    info = read_lease(tmp_path, "u")
    assert info is not None and info.state() == "stale"  # never released, holder gone
    lease = take(tmp_path, "u")
    assert lease is not None
    lease.release()


def _fake(root, host, age):
    path = lease_path(root, "u")
    path.parent.mkdir(parents=True, exist_ok=True)
    now = time.time()
    row = {"unit": "u", "host": host, "pid": 1, "started": now - age, "heartbeat": now - age, "released": False}
    path.write_bytes(json.dumps(row).encode().ljust(SIZE))


def test_a_live_holder_on_another_host_is_respected_and_a_stale_one_taken_over(tmp_path):
    _fake(tmp_path, "elsewhere", age=5)  # its flock is not visible here (filesystem without shared locks)
    assert read_lease(tmp_path, "u").state(stale_after=30) == "held"
    assert take(tmp_path, "u", stale_after=30) is None
    _fake(tmp_path, "elsewhere", age=100)
    assert read_lease(tmp_path, "u").state(stale_after=30) == "stale"
    lease = take(tmp_path, "u", stale_after=30)
    assert lease is not None and read_lease(tmp_path, "u").host != "elsewhere"
    lease.release()


def test_concurrent_appends_never_interleave(tmp_path):
    job = Job(tmp_path)

    def write(k):
        for n in range(50):
            job._append({"type": "invalidate", "shots": [k], "reason": "x" * (n * 37 % 300)})

    threads = [threading.Thread(target=write, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rows, damaged = job._manifest_rows()
    assert len(rows) == 200 and not damaged


def test_new_manifest_lines_are_read_from_where_the_last_read_stopped(tmp_path):
    job = Job(tmp_path)
    job._append({"type": "invalidate", "shots": [1], "reason": "a"})
    rows, offset, inode = job.rows_from(0)
    assert len(rows) == 1 and offset == job.manifest_path.stat().st_size
    with open(job.manifest_path, "ab") as f:
        f.write(b'{"type":"invalidate","shots":[2]')  # a line still being written
    assert job.rows_from(offset)[:2] == ([], offset)
    with open(job.manifest_path, "ab") as f:
        f.write(b',"reason":"b"}\n')
    rows, later, same = job.rows_from(offset)
    assert [r.shots for r in rows] == [[2]] and later > offset and same == inode


def test_a_render_with_other_settings_does_not_redo_shots_under_working_renders(tmp_path):
    from pathlib import Path

    import pytest

    from vidstyle.errors import VidstyleError
    from vidstyle.render import render
    from vidstyle.settings import apply_overrides, preset_settings

    repo = Path(__file__).resolve().parents[2]
    clip, style = (
        repo / "sample_clips" / "vpf_dog_848x464_aac.mp4",
        repo / "sample_clips" / "styles" / "starry_night.jpg",
    )

    def settings(weight):
        over = {"size": 32, "styles": (str(style),), "optim": {"iterations": 3}, "flow": {"workers": 0},
                "style": {"style_weight": weight}, "temporal": {"frame_iterations": 2}}  # fmt: skip
        return apply_overrides(preset_settings("fast"), over)

    job = tmp_path / "job"
    render(clip, tmp_path / "o.mp4", settings(100.0), end="2f", cuts="none", job=job, device="cpu")
    lease = take(job, "shot0000")  # as another render at work on the job would
    try:
        with pytest.raises(VidstyleError, match="while other renders work on the job"):
            render(clip, tmp_path / "o.mp4", settings(200.0), end="2f", cuts="none", job=job, device="cpu",
                   redo_changed=True)  # fmt: skip
    finally:
        lease.release()
