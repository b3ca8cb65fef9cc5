"""The hold (vidstyle.temporal.hold): still pixels keep their painting bit for bit; change,
motion (however slow) and unreliable flow release them; a released pixel comes in along
the whole motion since it was painted. The math on hand-made inputs, then real renders."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
import torch

from vidstyle.job.events import FrameFinished
from vidstyle.render import render
from vidstyle.settings import EncodeSettings, apply_overrides, preset_settings
from vidstyle.style.stylize import FixedPixels, Stylizer, optimize_image
from vidstyle.temporal.hold import advance_hold, previous_flow, start_hold
from vidstyle.video import VideoWriter, open_video

H, W = 4, 6
STYLE = "sample_clips/styles/starry_night.jpg"


def colour(value: float, rgb: tuple[float, float, float] = (0.0, 0.0, 0.0)) -> torch.Tensor:
    """A flat frame of grey ``value`` plus ``rgb`` per channel, (1, 3, H, W)."""
    return torch.full((1, 3, H, W), float(value)) + torch.tensor(rgb).view(1, 3, 1, 1)


def flow(u: float, v: float = 0.0) -> torch.Tensor:
    f = torch.zeros(1, 2, H, W)
    f[:, 0], f[:, 1] = u, v
    return f


ONES = torch.ones(1, 1, H, W)


def run_hold(frames: list, flows: list[float], weights: torch.Tensor = ONES, change=2.0, motion=0.5):
    """The held share of each frame after the first, and the states."""
    frames = [colour(f) if isinstance(f, (int, float)) else f for f in frames]
    state = start_hold(frames[0])
    states, held = [state], []
    for y, u in zip(frames[1:], flows):
        state = advance_hold(state, y, flow(u), weights, change, motion)
        states.append(state)
        held.append(float(state.held.mean()))
    return held, states


def test_a_still_unchanged_input_is_held_and_keeps_its_anchor():
    held, states = run_hold([100, 100.5, 99.5, 101, 100], [0.01, -0.02, 0.0, 0.03])
    assert held == [1.0] * 4
    assert all(torch.equal(s.anchor, colour(100)) for s in states)


@pytest.mark.parametrize("change", [2.5, -40.0])
def test_a_change_releases_at_once_and_moves_the_anchor(change):
    held, states = run_hold([100, 100, 100 + change, 100 + change], [0, 0, 0])
    assert held == [1.0, 0.0, 1.0]  # released on the change, held again after it
    assert torch.equal(states[2].anchor, colour(100 + change))


def test_a_colour_change_at_the_same_luminance_releases():
    # Red up and green down by the same luminance (BT.601 weights 0.299 and 0.587).
    shifted = colour(100, (6.0, -6.0 * 0.299 / 0.587, 0.0))
    held, _ = run_hold([colour(100), colour(100), shifted], [0, 0])
    assert held == [1.0, 0.0]


def test_a_slow_fade_is_released_once_its_accumulated_change_is_large():
    # 0.8 a frame never exceeds the threshold of 2 between neighbours, but does since painted.
    held, _ = run_hold([100 + 0.8 * k for k in range(8)], [0.0] * 7)
    assert held == [1.0, 1.0, 0.0, 1.0, 1.0, 0.0, 1.0]


def test_slow_motion_is_released_after_the_accumulated_motion_and_comes_in_along_all_of_it():
    held, states = run_hold([100] * 6, [0.2] * 5)
    assert held == [1.0, 1.0, 0.0, 1.0, 1.0]  # 0.2, 0.4 held; 0.6 > 0.5 released; then again
    # At the release the previous painting (held since frame 0) comes in along 3 frames' flow.
    assert torch.allclose(previous_flow(states[2].lag, flow(0.2)), flow(0.6))
    assert torch.equal(states[3].lag, flow(0.0))  # painted at frame 3
    assert torch.equal(previous_flow(states[3].lag, flow(0.2)), flow(0.2))
    assert torch.allclose(states[4].lag, flow(0.2))  # a new hold starts from zero


def test_the_lag_is_read_where_the_flow_points():
    # Frame j's painting lags by 0.4 px on the left half and not at all on the right; frame i
    # sees the scene 1 px to the right, so each pixel takes the lag of the pixel it comes from.
    lag = torch.zeros(1, 2, H, W)
    lag[:, 0, :, : W // 2] = 0.4
    got = previous_flow(lag, flow(1.0))[0, 0, 0]
    assert torch.allclose(got, torch.tensor([1.4, 1.4, 1.0, 1.0, 1.0, 1.0]))


def test_unreliable_flow_is_never_held():
    weights = ONES.clone()
    weights[..., :2] = 0.4  # below RELIABLE: occlusion or motion boundary
    _, states = run_hold([100, 100, 100], [0, 0], weights)
    assert torch.equal(states[-1].held[..., :2], torch.zeros(1, 1, H, 2))
    assert torch.equal(states[-1].held[..., 2:], torch.ones(1, 1, H, W - 2))


def test_the_hold_is_refused_where_it_could_not_work():
    with pytest.raises(ValueError, match="hold_change needs a single sequential pass"):
        apply_overrides(preset_settings("best"), {"temporal": {"hold_change": 2.0}})
    with pytest.raises(ValueError, match="warm_start"):
        apply_overrides(preset_settings("fast"), {"temporal": {"hold_change": 2.0, "warm_start": False}})


@pytest.mark.parametrize("scales", [1, 2])
def test_fixed_pixels_keep_their_values_bit_for_bit_and_the_rest_is_optimised(scales):
    stylizer = Stylizer([STYLE], preset_settings("fast").style, "cpu")
    g = torch.Generator().manual_seed(1)
    content = torch.rand(1, 3, 40, 48, generator=g)
    values = torch.randint(0, 256, (1, 3, 40, 48), generator=g).float()
    mask = torch.zeros(1, 1, 40, 48)
    mask[..., :, :24] = 1.0
    optim = preset_settings("fast").optim.model_copy(update={"iterations": 20, "scales": scales})
    out = optimize_image(stylizer, content, optim, init=content, fixed=FixedPixels(mask, values))
    stored = (out * 255).round()
    assert torch.equal(stored[..., :24], values[..., :24])
    assert (stored[..., 24:] - content[..., 24:] * 255).abs().mean() > 1.0  # the free half was painted


# -- real renders -------------------------------------------------------------------------


def settings(**temporal: object):
    return apply_overrides(
        preset_settings("fast"),
        {"size": 96, "styles": (STYLE,), "optim": {"iterations": 100}, "flow": {"workers": 0},
         "temporal": {"frame_iterations": 20, "hold_change": 2.0, **temporal}},
    )  # fmt: skip


def write(path: Path, frames: list[np.ndarray]) -> Path:
    h, w = frames[0].shape[:2]
    with VideoWriter(path, width=w, height=h, fps=24, codec="ffv1") as out:
        for f in frames:
            out.write(np.ascontiguousarray(f))
    return path


def frames_of(path: Path) -> list[np.ndarray]:
    with open_video(path) as r:
        return [f.image.astype(np.float32) for f in r]


@pytest.fixture(scope="module")
def still(sample_clip) -> np.ndarray:
    import cv2

    with open_video(sample_clip, end="1f") as r:
        return cv2.resize(next(iter(r)).image, (96, 64), interpolation=cv2.INTER_AREA)


def square_clip(still: np.ndarray, path: Path, n: int, seed: int) -> Path:
    """``n`` frames of a still real background (with the sensor/coding noise of a real still
    camera) and a red square at y 20–40 moving right 6 px a frame from x 8–24."""
    rng = np.random.default_rng(seed)
    frames = []
    for t in range(n):
        f = still.copy()
        f[20:40, 8 + 6 * t : 24 + 6 * t] = (230, 40, 40)
        frames.append(np.clip(f + rng.normal(0, 0.6, f.shape), 0, 255).astype(np.uint8))
    return write(path, frames)


@pytest.mark.slow
def test_a_still_background_stays_identical_while_a_moving_square_is_repainted(still, tmp_path):
    clip = square_clip(still, tmp_path / "square.mkv", 6, seed=0)
    out = tmp_path / "out.mkv"
    render(clip, out, settings(), device="cpu", encode=EncodeSettings(codec="ffv1"), cuts="none")
    got = frames_of(out)
    # The right third never sees the square: identical from frame to frame.
    for a, b in itertools.pairwise(got):
        assert np.array_equal(a[:, 72:], b[:, 72:])
    # Where the square now is, the painting changed (it is red there, not the old background).
    assert float(np.abs(got[5][30:40, 40:50] - got[1][30:40, 40:50]).mean()) > 10
    # Without the hold the optimiser keeps moving the still part a little.
    off = tmp_path / "off.mkv"
    render(clip, off, settings(hold_change=0.0), device="cpu", encode=EncodeSettings(codec="ffv1"), cuts="none")
    moved = frames_of(off)
    assert any(not np.array_equal(a[:, 72:], b[:, 72:]) for a, b in itertools.pairwise(moved[1:]))


@pytest.mark.slow
def test_a_slow_pan_carries_the_painting_along_without_lag(still, tmp_path):
    import cv2

    # A textured scene panning 0.2 px a frame: slower than the motion a hold tolerates, so
    # every pixel is held for a while and then released; the painting must keep up.
    big = cv2.resize(still, (192, 128), interpolation=cv2.INTER_CUBIC)
    n, step = 12, 0.2
    frames = []
    for t in range(n):
        m = np.float32([[1, 0, -step * t * 2], [0, 1, 0]])  # 2× size: 0.2 px at 96×64
        moved = cv2.warpAffine(big, m, (192, 128), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
        frames.append(cv2.resize(moved, (96, 64), interpolation=cv2.INTER_AREA))
    clip = write(tmp_path / "pan.mkv", frames)
    out = tmp_path / "out.mkv"
    # Only motion releases a pixel here (a colour change of 50 never happens): a painting that
    # came in along the last frame's flow alone, not the whole motion since it was made, lags.
    render(clip, out, settings(hold_change=50.0), device="cpu", encode=EncodeSettings(codec="ffv1"), cuts="none")
    got = frames_of(out)
    g0, g1 = (cv2.cvtColor(f, cv2.COLOR_RGB2GRAY)[8:-8, 8:-8] for f in (got[1], got[-1]))
    (dx, dy), _ = cv2.phaseCorrelate(g0.astype(np.float64), g1.astype(np.float64))
    expected = step * (n - 2)  # the scene moved 2.0 px between frames 1 and 11
    assert abs(abs(dx) - expected) < 0.35, (dx, dy)


@pytest.mark.slow
def test_a_render_resumed_mid_shot_holds_exactly_what_an_uninterrupted_one_does(still, tmp_path):
    clip = square_clip(still, tmp_path / "square.mkv", 7, seed=1)
    s = settings()
    render(clip, tmp_path / "ref.mkv", s, job=tmp_path / "ref", device="cpu", cuts="none")

    class Crash(Exception):
        pass

    def crash_after_frame_3(event: object) -> None:
        if isinstance(event, FrameFinished) and event.pos == 3 and not event.skipped:
            raise Crash

    with pytest.raises(Crash):
        render(clip, tmp_path / "out.mkv", s, job=tmp_path / "job", device="cpu", cuts="none",
               progress=crash_after_frame_3)  # fmt: skip
    render(clip, tmp_path / "out.mkv", s, job=tmp_path / "job", device="cpu", cuts="none")
    ref, got = (
        sorted((tmp_path / "ref" / "passes").rglob("*.png")),
        sorted((tmp_path / "job" / "passes").rglob("*.png")),
    )
    assert [p.name for p in ref] == [p.name for p in got] and len(ref) == 7
    for a, b in zip(ref, got):
        assert a.read_bytes() == b.read_bytes(), b.name
