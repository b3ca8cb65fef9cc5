"""Fidelity measures (vidstyle.evaluate.fidelity) and their place in the eval stream: tOF, content
distance to the input, perceptual distance to the baseline, checked on hand-made videos of
a real image whose right answers are known."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from vidstyle.evaluate.fidelity import FeatureMeter, flow_magnitude, tof, unit_normalize
from vidstyle.evaluate.metrics import EvalFrame, warping_errors
from vidstyle.flow import make_backend

H, W = 48, 64


@pytest.fixture(scope="module")
def photo(data_dir) -> np.ndarray:
    with Image.open(data_dir / "chelsea_128.png") as im:
        return np.asarray(im.convert("RGB")).copy()


@pytest.fixture(scope="module")
def meter() -> FeatureMeter:
    return FeatureMeter("cpu")


def pan(photo: np.ndarray, n: int, step: int = 2) -> list[EvalFrame]:
    """A real image panned by ``step`` pixels per frame."""
    return [
        EvalFrame(i, i / 25, np.ascontiguousarray(photo[20 : 20 + H, 8 + step * i : 8 + step * i + W]))
        for i in range(n)
    ]


def test_tof_is_the_mean_length_of_the_flow_difference():
    a = np.zeros((4, 5, 2), np.float32)
    b = a.copy()
    b[..., 0], b[..., 1] = 3.0, 4.0  # |(3, 4)| = 5 everywhere
    assert tof(a, b) == pytest.approx(5.0)
    assert tof(b, b) == 0.0
    assert flow_magnitude(b) == pytest.approx(5.0)
    with pytest.raises(ValueError, match="H×W×2"):
        tof(a, b[:3])


def test_content_and_perceptual_distances_are_zero_for_equal_frames_and_grow_with_change(photo, meter):
    frame = pan(photo, 1)[0].image
    noisy = np.clip(frame + np.random.default_rng(0).normal(0, 25, frame.shape), 0, 255).astype(np.uint8)
    fa, fb = meter.features(frame), meter.features(noisy)
    assert meter.content_distance(fa, fa) == 0.0 and meter.perceptual_distance(fa, fa) == 0.0
    assert meter.content_distance(fa, fb) > 0 and meter.perceptual_distance(fa, fb) > 0
    # Float frames in [0, 1] are the same picture as their uint8 form.
    ff = meter.features(frame.astype(np.float32) / 255.0)
    assert meter.content_distance(fa, ff) < 1e-6 * float(fa["relu4_2"].square().mean())
    # Perceptual distance is bounded: ≤ 4 per layer for unit vectors (5 layers).
    assert meter.perceptual_distance(fa, fb) <= 20.0


def test_unit_normalize_gives_unit_channel_vectors():
    x = torch.randn(2, 7, 3, 4)
    n = unit_normalize(x).square().sum(dim=1)
    assert torch.allclose(n, torch.ones_like(n), atol=1e-5)


def test_stream_fidelity_a_copy_scores_zero_and_a_frozen_video_the_inputs_motion(photo, meter):
    frames = pan(photo, 5)
    frozen = [EvalFrame(f.index, f.time, frames[0].image) for f in frames]
    report = warping_errors(
        frames,
        {"copy": list(frames), "frozen": frozen, "baseline": list(frames)},
        backend=make_backend("dis"),
        fidelity=meter,
    )
    copy, still = report.series["copy"], report.series["frozen"]
    assert report.flow_magnitude is not None and report.flow_magnitude.shape == (4,)
    # The pan moves 2 px a frame: the input's flow magnitude is about 2.
    assert report.flow_magnitude.mean() == pytest.approx(2.0, abs=0.4)
    # A video equal to its input: same flow, tOF 0; same frames, content distance 0.
    assert copy.tof is not None and np.all(copy.tof == 0.0)
    assert copy.content is not None and np.all(copy.content == 0.0) and copy.content.shape == (5,)
    # A frozen video's flow is zero: its tOF is the input's own motion.
    assert still.tof is not None
    np.testing.assert_allclose(still.tof, report.flow_magnitude, rtol=0.05, atol=0.05)
    # ... and it drifts away from the moving input, frame by frame.
    assert still.content is not None and still.content[0] == 0.0
    assert np.all(np.diff(still.content) > 0)
    # Perceptual distance to the baseline for every non-baseline video.
    assert copy.perceptual is not None and np.all(copy.perceptual == 0.0)
    assert still.perceptual is not None and np.all(still.perceptual[1:] > 0)
    assert report.series["baseline"].perceptual is None and report.series["input"].tof is None
    d = json.loads(json.dumps(report.to_dict()))
    assert d["series"]["frozen"]["tof"]["mean"] == pytest.approx(float(still.tof.mean()))
    assert d["series"]["frozen"]["content_distance"]["last"] == pytest.approx(float(still.content[-1]))
    assert d["input_flow_magnitude"]["mean"] == pytest.approx(float(report.flow_magnitude.mean()))
    assert "tof" in d["fidelity"] and "perceptual_to_baseline" in d["series"]["copy"]


def test_stream_without_a_meter_measures_stability_only(photo):
    frames = pan(photo, 3)
    report = warping_errors(frames, {"output": list(frames)})
    assert report.flow_magnitude is None and report.series["output"].tof is None
    assert "fidelity" not in report.to_dict()
