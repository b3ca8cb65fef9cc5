"""The thread budget (issue 12): the split between torch and flow workers, the workers' threads,
the cores other processes take, and ``--threads`` on the command line."""

from __future__ import annotations

import subprocess
import sys
import time

import cv2
import pytest
import torch

from vidstyle.compute import threads
from vidstyle.flow import FlowPipeline

STYLE = "sample_clips/styles/starry_night.jpg"


@pytest.fixture(autouse=True)
def restore_budget():
    before = torch.get_num_threads()
    yield
    threads.set_budget(None)
    torch.set_num_threads(before)


@pytest.mark.parametrize("budget", [1, 2, 3, 4, 6, 8, 16, 33, 64])
@pytest.mark.parametrize("requested", [None, 0, 1, 2, 5, 64])
def test_the_render_never_runs_more_threads_than_its_budget(budget, requested):
    plan = threads.plan_threads(budget, requested)
    assert plan.torch >= 1 and plan.concurrent_threads <= budget
    if requested is not None:
        assert plan.flow_workers <= requested
    if requested is None and budget < threads.MIN_CORES_FOR_FLOW_WORKERS:
        assert plan.flow_workers == 0, "on few cores the flow runs in turn with the optimiser"
    flow_alone = threads.flow_only_plan(budget, requested)
    assert flow_alone.flow_workers * flow_alone.flow_threads <= max(budget, flow_alone.flow_workers)


def test_the_budget_sets_torch_threads_and_small_images_get_fewer():
    threads.set_budget(1)
    assert torch.get_num_threads() == 1
    plan = threads.set_budget(2)
    assert torch.get_num_threads() == plan.torch == 2
    assert threads.torch_threads_for(16 * 16, 2) == 1  # 256 px: one thread
    assert threads.torch_threads_for(64 * 36, 2) == 2
    with threads.torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == 2
    with pytest.raises(ValueError):
        threads.set_budget(0)


def test_flow_workers_start_one_opencv_thread_each_within_the_budget(tmp_path):
    threads.set_budget(4)
    with FlowPipeline(tmp_path, workers=None) as fp:
        assert (fp.workers, fp.worker_threads) == (1, 1)
        fp._submit(1, 0, *[__import__("numpy").zeros((16, 16, 3), "uint8")] * 2).result()  # start the pool
        assert fp._pool is not None
        assert fp._pool.submit(cv2.getNumThreads).result() == 1
        assert threads.torch_threads_for(10**6) <= 3, "torch leaves the worker its thread"
    assert threads.reserved_threads() == 0
    threads.set_budget(2)
    with FlowPipeline(tmp_path, workers=None) as fp:
        assert fp.workers == 0, "2 cores: flow in the stylising process, between frames"
    with FlowPipeline(tmp_path, workers=3) as fp:
        assert (fp.workers, fp.worker_threads) == (1, 1), "an explicit count is capped by the budget"
        fp._submit(1, 0, *[__import__("numpy").zeros((16, 16, 3), "uint8")] * 2).result()
        assert threads.torch_threads_for(10**6) == 1, "budget 2 = 1 flow worker + 1 torch thread"
    assert threads.reserved_threads() == 0


@pytest.mark.skipif(threads.available_cores() < 2, reason="needs 2 cores")
@pytest.mark.slow
def test_the_core_monitor_sees_another_process_keep_a_core_busy():
    monitor = threads.CoreMonitor()
    busy = subprocess.Popen([sys.executable, "-c", "import time\nt=time.time()\nwhile time.time()-t<1.5: pass"])
    try:
        time.sleep(1.2)
        free = monitor.free_cores()
    finally:
        busy.wait()
    assert free is not None and free <= threads.available_cores() - 1


def test_render_with_a_thread_budget(tmp_path, sample_clip, cli):
    out, job = tmp_path / "o.mp4", tmp_path / "job"
    code, _, err = cli("render", sample_clip, STYLE, "-o", out, "--job", job, "--threads", "1", "--size", "48",
                       "--end", "3f", "--preset", "fast", "--iterations", "4", "--frame-iterations", "2",
                       "--cuts", "none", "--device", "cpu", "-q")  # fmt: skip
    assert code == 0, err
    assert "1 threads: 1 for torch, 0 flow worker(s)" in (job / "log.txt").read_text()
    assert torch.get_num_threads() == 1
    code, _, err = cli("render", sample_clip, STYLE, "-o", tmp_path / "p.mp4", "--threads", "0")
    assert code == 2 and "--threads" in err
