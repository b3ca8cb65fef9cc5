"""The warping error (vidstyle.evaluate.warping, .metrics): exact cases on a real image, the one-pass stream,
and real clips with and without flicker."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image

from vidstyle.errors import VidstyleError
from vidstyle.evaluate.chart import line_chart, nice_ticks
from vidstyle.evaluate.metrics import (
    EvalFrame,
    FrameCountMismatch,
    evaluate_files,
    resized_frames,
    warping_errors,
)
from vidstyle.evaluate.warping import pair_warping_error, valid_mask, warping_error
from vidstyle.flow import make_backend
from vidstyle.video import VideoWriter, open_video

H, W = 64, 96


@pytest.fixture(scope="module")
def photo(data_dir) -> np.ndarray:
    with Image.open(data_dir / "chelsea_128.png") as im:
        return np.asarray(im.convert("RGB")).copy()


def crop(img: np.ndarray, x: int, y: int) -> np.ndarray:
    return np.ascontiguousarray(img[y : y + H, x : x + W])


def translated_pair(photo: np.ndarray, dx: int, dy: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Frame t, frame t+1 = frame t moved by (dx, dy), and the exact flows t→t+1, t+1→t."""
    a = crop(photo, 10, 10)
    b = crop(photo, 10 - dx, 10 - dy)  # b(x + d) = a(x)
    fwd = np.broadcast_to(np.float32([dx, dy]), (H, W, 2)).copy()
    return a, b, fwd, -fwd


def test_zero_for_a_frame_moved_exactly_by_the_flow(photo):
    a, b, fwd, bwd = translated_pair(photo, 3, 2)
    mask = valid_mask(fwd, bwd)
    # Pixels whose target leaves the frame are out: the last 3 columns and 2 rows.
    assert mask.sum() == (W - 3) * (H - 2)
    assert not mask[:, -3:].any() and not mask[-2:, :].any()
    assert pair_warping_error(a, b, fwd, bwd) == pytest.approx(0.0, abs=1e-12)
    # Without the mask the replicated border would count.
    assert warping_error(a, b, fwd, np.ones((H, W), bool)) > 1e-4


def test_positive_for_flicker_and_noise(photo):
    a, b, fwd, bwd = translated_pair(photo, -2, 1)
    fa, fb = a / 255.0 * 0.8, b / 255.0 * 0.8
    # A uniform brightness step of 0.1 gives exactly 0.1² per colour value.
    assert pair_warping_error(fa, fb + 0.1, fwd, bwd) == pytest.approx(0.01, rel=1e-4)
    noise = np.random.default_rng(0).normal(0, 0.05, fb.shape)
    assert pair_warping_error(fa, fb + noise, fwd, bwd) == pytest.approx(0.05**2, rel=0.1)
    # Channels are averaged, not summed: a step in one channel counts a third.
    step = np.zeros_like(fb)
    step[..., 1] = 0.1
    assert pair_warping_error(fa, fb + step, fwd, bwd) == pytest.approx(0.01 / 3, rel=1e-4)


def test_masked_pixels_are_ignored(photo):
    a, b, fwd, _bwd = translated_pair(photo, 0, 0)
    mask = np.zeros((H, W), bool)
    mask[:, : W // 2] = True
    bad = b.copy()
    bad[:, W // 2 :] = 255 - bad[:, W // 2 :]
    assert warping_error(a, bad, fwd, mask) == pytest.approx(0.0, abs=1e-12)
    # Float weights: uniform scaling changes nothing; NaN under a zero weight does not leak.
    fa, fbad = a / 255.0, bad / 255.0
    fbad[:, -1] = np.nan
    assert warping_error(fa, fbad, fwd, mask * 2.5) == pytest.approx(0.0, abs=1e-12)
    assert math.isnan(warping_error(a, b, fwd, np.zeros((H, W), bool)))
    with pytest.raises(ValueError):
        warping_error(a, b[:-1], fwd, mask)


class CountingFlow:
    """A DIS backend that counts how often flow is computed."""

    def __init__(self) -> None:
        self.inner = make_backend("dis", preset="medium")
        self.name = "dis"
        self.calls = 0

    def compute(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        self.calls += 1
        return self.inner.compute(a, b)

    def identity(self) -> dict:
        return self.inner.identity()


def pan(photo: np.ndarray, n: int, step: int = 2) -> list[EvalFrame]:
    """A real image panned by ``step`` pixels per frame (content moves left)."""
    return [EvalFrame(i, i / 25, crop(photo, 4 + step * i, 8)) for i in range(n)]


def test_stream_measures_several_videos_with_one_flow(photo, tmp_path):
    frames = pan(photo, 6)
    jitter = np.random.default_rng(1).uniform(-30, 30, len(frames))
    flicker = [
        EvalFrame(f.index, f.time, np.clip(f.image + j, 0, 255).astype(np.uint8)) for f, j in zip(frames, jitter)
    ]
    backend = CountingFlow()
    from vidstyle.flow import FlowCache

    cache = FlowCache(tmp_path / "cache", backend.identity(), source="pan")
    done: list[int] = []
    report = warping_errors(
        frames, {"output": flicker, "copy": list(frames)}, backend=backend, cache=cache, progress=done.append
    )
    assert backend.calls == 2 * 5  # both directions, once per pair, shared by the three videos
    assert done == [1, 2, 3, 4, 5, 6]
    assert report.frames == 6 and report.pairs == 5 and report.size == (W, H)
    assert report.index == [0, 1, 2, 3, 4] and report.next_index == [1, 2, 3, 4, 5]
    assert list(report.series) == ["input", "output", "copy"]
    inp, out = report.series["input"], report.series["output"]
    np.testing.assert_array_equal(report.series["copy"].errors, inp.errors)
    assert np.isfinite(inp.errors).all() and inp.mean < 2e-3  # a clean pan is predicted well
    assert out.mean > 10 * inp.mean
    assert report.relative("output") == pytest.approx(out.mean / inp.mean)
    assert 0.8 < report.valid_fraction.min() <= report.valid_fraction.max() <= 1.0
    d = report.to_dict()
    assert d["series"]["output"]["errors"] == pytest.approx(out.errors.tolist())
    assert d["series"]["input"]["relative_to_input"] == pytest.approx(1.0)

    # A second run reads the flow back from the cache: same numbers, no flow computed.
    again = CountingFlow()
    report2 = warping_errors(frames, {"output": flicker}, backend=again, cache=cache)
    assert again.calls == 0
    np.testing.assert_allclose(report2.series["output"].errors, out.errors)


def test_stream_rejects_misaligned_videos(photo):
    frames = pan(photo, 4)
    with pytest.raises(FrameCountMismatch, match="output ended after 3 frames, input has more"):
        warping_errors(frames, {"output": frames[:3]})
    with pytest.raises(VidstyleError, match="at least 2 frames"):
        warping_errors(frames[:1], {"output": frames[:1]})
    small = [EvalFrame(f.index, f.time, f.image[:-2]) for f in frames]
    with pytest.raises(VidstyleError, match="output: frame 0 is 96x62, expected 96x64"):
        warping_errors(frames, {"output": small})


def test_resized_frames_reach_the_exact_size(photo):
    frames = resized_frames(pan(photo, 2), (50, 30))
    assert [f.image.shape for f in frames] == [(30, 50, 3), (30, 50, 3)]


def write_clip(path, frames, fps) -> None:
    h, w = frames[0].shape[:2]
    with VideoWriter(path, width=w, height=h, fps=fps, crf=12) as wr:
        for img in frames:
            wr.write(img)


@pytest.fixture(scope="module")
def dog_clips(sample_clip, tmp_path_factory):
    """The first 12 frames of a real clip at 128 px, re-encoded clean and with brightness flicker."""
    folder = tmp_path_factory.mktemp("dog")
    with open_video(sample_clip, size=128, end="12f") as r:
        frames = [f.image for f in r]
        fps = r.info.fps
    rng = np.random.default_rng(3)
    flick = [np.clip(f.astype(np.float32) + rng.uniform(-20, 20), 0, 255).astype(np.uint8) for f in frames]
    write_clip(folder / "clean.mp4", frames, fps)
    write_clip(folder / "flicker.mp4", flick, fps)
    return sample_clip, folder / "clean.mp4", folder / "flicker.mp4"


def test_real_clip_input_is_steady_and_flicker_is_not(dog_clips):
    src, clean, flicker = dog_clips
    report = evaluate_files(src, flicker, clean, end="12f")
    assert report.size == (128, 70) and report.frames == 12 and report.pairs == 11
    inp, out, base = (report.series[n] for n in ("input", "output", "baseline"))
    assert np.isfinite(inp.errors).all() and 0 < inp.mean < 3e-3
    assert base.mean == pytest.approx(inp.mean, rel=0.3)  # a clean re-encode is as steady as the input
    assert out.mean > 4 * inp.mean
    assert (out.source, base.source, inp.source) == (str(flicker), str(clean), str(src))
    assert report.notes == []


def test_real_clip_frame_counts_must_agree(dog_clips):
    src, clean, _ = dog_clips
    with pytest.raises(VidstyleError) as e:
        evaluate_files(src, clean)
    msg = str(e.value)
    assert f"{src} has 96 frames" in msg and f"{clean} has 12 frames" in msg and "--start/--end" in msg
    # Evaluating only the first frames of both is fine.
    assert evaluate_files(src, clean, frames=4).frames == 4


def test_nice_ticks_and_chart():
    assert nice_ticks(0, 0.023) == pytest.approx([0, 0.005, 0.01, 0.015, 0.02, 0.025])
    assert nice_ticks(0, 10, 6) == pytest.approx([0, 2, 4, 6, 8, 10])
    img = line_chart(
        [0, 1, 2, 3],
        {"a": [0.1, float("nan"), 0.3, 0.2], "b": [0, 0, 0, 0]},
        title="t",
        xlabel="x",
        ylabel="y",
        size=(400, 200),
        means={"a": 0.2, "b": 0.0},
    )
    assert img.size == (400, 200) and img.mode == "RGB"
    px = np.asarray(img)
    assert (px < 250).any() and (px == 255).any()  # something drawn on a white background
    with pytest.raises(ValueError):
        line_chart([0, 1], {"a": [1.0]})
