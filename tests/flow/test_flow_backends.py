"""Flow backends against ground truth (Middlebury, MPI-Sintel) and their options."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vidstyle.errors import VidstyleError
from vidstyle.flow.backends import (
    DISFlow,
    FarnebackFlow,
    RAFTFlow,
    backend_from_settings,
    backend_options,
    make_backend,
)
from vidstyle.flow.consistency import ConsistencyParams, consistency_params
from vidstyle.flow.evaluate import endpoint_error, ground_truth_pairs

# DIS (medium preset, OpenCV's 5 variational-refinement iterations) measured 0.225 px on
# RubberWhale with OpenCV 5.0; zero flow scores 1.256 px. 0.30 leaves a third of headroom
# for OpenCV builds while still failing for every weaker setting we measured: DIS fast
# 0.44, ultrafast 0.54, Farneback 0.34, and medium without refinement 0.28 < 0.30 (close;
# the ratio test below is the coarse guard).
DIS_RUBBERWHALE_EPE_MAX = 0.30
DIS_OVER_ZERO_MAX = 0.25


@pytest.fixture(scope="module")
def gt_pairs(media):
    pairs = ground_truth_pairs(media)
    assert len(pairs) == 8, [p.name for p in pairs]
    return pairs


@pytest.fixture(scope="module")
def loaded(gt_pairs):
    return {p.name: (*p.frames(), p.gt_flow(), p.valid()) for p in gt_pairs}


def test_dis_rubberwhale_epe(loaded):
    a, b, gt, valid = loaded["RubberWhale"]
    flow = DISFlow().compute(a, b)
    assert flow.shape == (*a.shape[:2], 2) and flow.dtype == np.float32
    epe = endpoint_error(flow, gt, valid)
    zero = endpoint_error(np.zeros_like(flow), gt, valid)
    print(f"\nRubberWhale EPE: DIS medium {epe:.3f}, zero flow {zero:.3f}")
    assert epe < DIS_RUBBERWHALE_EPE_MAX
    assert epe < DIS_OVER_ZERO_MAX * zero


@pytest.mark.parametrize(
    "name,options",
    [("dis", {}), ("dis", {"preset": "fast"}), ("dis", {"preset": "medium", "scale": 0.5}), ("farneback", {})],
)
def test_backend_epe_table(loaded, name, options):
    """Every backend beats zero flow on every ground-truth pair (table printed with -s)."""
    backend = make_backend(name, **options)
    rows = []
    for set_name, (a, b, gt, valid) in loaded.items():
        epe = endpoint_error(backend.compute(a, b), gt, valid)
        zero = endpoint_error(np.zeros(gt.shape, np.float32), gt, valid)
        rows.append((set_name, epe, zero))
    print(f"\n{name} {options}: " + ", ".join(f"{n} {e:.2f} (zero {z:.2f})" for n, e, z in rows))
    for set_name, epe, zero in rows:
        assert epe < zero, set_name
    # On the real (Middlebury) scenes with small motion every backend is well below zero flow.
    for set_name, epe, zero in rows[:2]:
        assert epe < 0.7 * zero, set_name


def test_dis_small_frames_and_bad_options():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 255, (20, 24, 3), dtype=np.uint8)
    assert DISFlow().compute(a, a).shape == (20, 24, 2)
    with pytest.raises(VidstyleError, match="too small"):
        DISFlow().compute(a[:8], a[:8])
    with pytest.raises(VidstyleError, match="preset"):
        DISFlow(preset="slow")
    with pytest.raises(VidstyleError, match="scale"):
        make_backend("dis", scale=2.0)
    with pytest.raises(VidstyleError, match="backend 'pwc'"):
        make_backend("pwc")
    with pytest.raises(VidstyleError, match="dis"):
        make_backend("dis", bogus=1)


def test_identity_changes_with_options():
    assert DISFlow().identity() == make_backend("dis").identity()
    assert DISFlow().identity() != DISFlow(preset="fast").identity()
    assert DISFlow().identity() != DISFlow(scale=0.5).identity()
    assert FarnebackFlow().identity()["name"] == "farneback"


def test_raft_needs_local_weights(tmp_path):
    with pytest.raises(VidstyleError, match="nothing is downloaded") as e:
        make_backend("raft")
    assert "flow.raft_weights" in str(e.value) and "--" not in str(e.value)  # the setting, not a flag
    with pytest.raises(VidstyleError, match="not found"):
        RAFTFlow(tmp_path / "missing.pth")
    bad = tmp_path / "bad.pth"
    torch.save({"foo": torch.zeros(1)}, bad)
    with pytest.raises(VidstyleError, match="not raft_small weights"):
        RAFTFlow(bad, device="cpu", model="raft_small").compute(*(np.zeros((32, 32, 3), np.uint8),) * 2)


def test_raft_loads_local_state_dict_on_cpu(tmp_path):
    """The real loading path with a randomly initialised raft_small (no download)."""
    from torchvision.models.optical_flow import raft_small

    torch.manual_seed(0)
    path = tmp_path / "raft_small.pth"
    torch.save(raft_small(weights=None).state_dict(), path)
    backend = make_backend("raft", weights_path=path, model="raft_small", device="cpu", iters=2)
    rng = np.random.default_rng(0)
    a = rng.integers(0, 255, (36, 44, 3), dtype=np.uint8)  # not a multiple of 8: padding path
    flow = backend.compute(a, np.roll(a, 2, axis=1))
    assert flow.shape == (36, 44, 2) and flow.dtype == np.float32 and np.isfinite(flow).all()
    ident = backend.identity()
    assert ident["model"] == "raft_small" and len(ident["weights"]) == 24


@pytest.mark.cuda
def test_raft_on_cuda_with_real_weights(media, tmp_path):
    if not torch.cuda.is_available():
        pytest.skip("no CUDA")
    import os

    weights = os.environ.get("VIDSTYLE_RAFT_WEIGHTS")
    if not weights:
        pytest.skip("set VIDSTYLE_RAFT_WEIGHTS to a raft_large state_dict to run")
    pair = next(p for p in ground_truth_pairs(media) if p.name == "RubberWhale")
    a, b = pair.frames()
    flow = RAFTFlow(weights, device="cuda").compute(a, b)
    assert endpoint_error(flow, pair.gt_flow(), pair.valid()) < DIS_RUBBERWHALE_EPE_MAX


def test_defaults_come_from_the_settings():
    """FlowSettings holds the one copy of each flow default; the backends read it."""
    from vidstyle.settings import FlowSettings

    s = FlowSettings()
    assert make_backend().identity() == DISFlow().identity() == backend_from_settings(s).identity()
    assert DISFlow().preset == s.preset and DISFlow().scale == FarnebackFlow().scale == s.scale
    assert make_backend().name == s.backend


def test_backend_options_from_settings(tmp_path):
    from vidstyle.settings import FlowSettings

    weights = tmp_path / "w.pth"
    s = FlowSettings(preset="fast", scale=0.5, raft_weights=weights)
    assert backend_options(s) == {"preset": "fast", "scale": 0.5}
    assert backend_options(s, refine=3, device="cpu") == {"preset": "fast", "scale": 0.5, "refine": 3}
    far = s.model_copy(update={"backend": "farneback"})
    assert backend_options(far, refine=3, device="cpu") == {"scale": 0.5}
    raft = s.model_copy(update={"backend": "raft"})
    assert backend_options(raft, refine=None, device="cpu", download=False) == {
        "weights_path": weights,
        "scale": 0.5,
        "device": "cpu",
        "download": False,
    }
    with pytest.raises(TypeError, match="unknown flow backend options: wieghts"):
        backend_options(s, wieghts=1)
    # What the user typed, unvalidated: the backend's own messages.
    with pytest.raises(VidstyleError, match="flow backend 'pwc'"):
        backend_from_settings(FlowSettings.model_construct(backend="pwc"))
    with pytest.raises(VidstyleError, match="DIS preset 'slow'"):
        backend_from_settings(FlowSettings.model_construct(backend="DIS", preset="slow"))
    got = backend_from_settings(FlowSettings.model_construct(backend="dis", preset="fast", scale=0.5), refine=2)
    assert got.identity() == DISFlow("fast", 0.5, 2).identity()


def test_consistency_params_from_settings():
    from vidstyle.settings import FlowSettings

    assert consistency_params(FlowSettings(motion_boundaries=True)) == ConsistencyParams()
    off = consistency_params(FlowSettings())
    assert off.mb_abs == float("inf") and off.fb_abs == ConsistencyParams().fb_abs
