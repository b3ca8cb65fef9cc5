"""bench/gpu.py --smoke: the GPU benchmark's own code, at tiny size on the CPU, so it cannot rot
while no GPU is at hand (issue 15)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

import gpu  # noqa: E402

pytestmark = pytest.mark.slow  # subprocesses or many frames: deselect with -m 'not slow'


def test_smoke_run_writes_every_figure(tmp_path):
    out = tmp_path / "gpu.json"
    proc = subprocess.run([sys.executable, str(REPO / "bench" / "gpu.py"), "--smoke", "--out", str(out)],
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["meta"]["smoke"] is True and report["meta"]["device"] == "cpu"
    assert [r["size"] for r in report["sizes"]] == [[64, 36], [96, 54]]
    for row in report["sizes"]:
        assert 0 < row["vgg_fwd_bwd_s"] < row["step_s"] * 10 and row["achieved_tflops"] > 0
        assert row["peak_bf16_tflops"] is None and row["fraction_of_peak"] is None  # no peak for a CPU
        assert row["peak_memory_mb"] > 0 and set(row["preset_s_per_frame"]) == {"fast", "balanced", "best"}
    big, small = report["sizes"][1], report["sizes"][0]
    assert big["conv_tflop_per_iter"] > small["conv_tflop_per_iter"]
    e2e = report["render"]
    assert e2e["frames"] == 3 and e2e["wall_s"] > e2e["optimise_s"] > 0


def test_conv_flops_match_a_hand_count():
    # conv1_1 only, 4x4 image: 2 * 3 * 64 * 9 * 16
    assert gpu.conv_flops(("relu1_1",), 4, 4) == 2 * 3 * 64 * 9 * 16
    # up to conv2_1 on 8x8: conv1_1, conv1_2 at 8x8, conv2_1 at 4x4
    expect = 2 * 9 * (3 * 64 * 64 + 64 * 64 * 64 + 64 * 128 * 16)
    assert gpu.conv_flops(("relu1_1", "relu2_1"), 8, 8) == expect


def test_peak_table_lookup():
    import torch

    assert gpu.bf16_peak(torch.device("cpu")) is None
    names = [k for k, _ in gpu.DENSE_BF16_PEAK_TFLOPS]
    assert names.index("H100 PCIe") < names.index("H100"), "the more specific name must match first"
