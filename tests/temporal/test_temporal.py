"""Ruder's temporal pieces: warped start, temporal loss, long-term ties, multipass schedule."""

from __future__ import annotations

import pytest
import torch

from vidstyle.image.io import load_image, resize
from vidstyle.settings import TemporalSettings
from vidstyle.temporal.schedule import pass_step, pass_tasks, shot_schedule
from vidstyle.temporal.terms import (
    TemporalLoss,
    WarpedFrame,
    multipass_start,
    temporal_term,
    warp_previous,
    warped_start,
)


@pytest.fixture(scope="module")
def photo(data_dir):
    return resize(load_image(data_dir / "chelsea_128.png"), (40, 64)) * 255


def _shift_flow(h: int, w: int, dx: float, dy: float) -> torch.Tensor:
    flow = torch.zeros(1, 2, h, w)
    flow[:, 0], flow[:, 1] = dx, dy
    return flow


def test_warped_start_equals_previous_result_under_a_translation(photo):
    h, w = photo.shape[-2:]
    # The camera pans: pixel x of the current frame was at x + 3 in the previous one.
    prev = photo
    flow = _shift_flow(h, w, 3.0, 0.0)
    warped = warp_previous(prev, flow, torch.ones(1, 1, h, w))
    content = torch.full_like(photo, 77.0)
    start = warped_start(warped, content)
    assert torch.allclose(start[..., :, : w - 3], prev[..., :, 3:], atol=1e-3)
    # The last 3 columns came from outside the previous frame: weight 0, filled from the content.
    assert torch.all(warped.weights[..., :, w - 2 :] == 0)
    assert torch.allclose(start[..., :, w - 2 :], content[..., :, w - 2 :])


def test_warped_start_fills_disoccluded_pixels_from_the_fill(photo):
    h, w = photo.shape[-2:]
    weights = torch.ones(1, 1, h, w)
    weights[..., 10:20, 10:30] = 0.0
    prev = WarpedFrame(photo, weights)
    fill = torch.zeros_like(photo)
    start = warped_start(prev, fill)
    assert torch.equal(start[..., 10:20, 10:30], fill[..., 10:20, 10:30])
    assert torch.equal(start[..., 25:, :], photo[..., 25:, :])


def test_temporal_loss_zero_when_perfectly_warped_and_ignores_zero_weights(photo):
    h, w = photo.shape[-2:]
    c = torch.ones(1, 1, h, w)
    c[..., :, :20] = 0.0
    loss = TemporalLoss([photo], [c], weight=1000.0)
    assert loss(photo, {}).item() == 0.0
    changed = photo.clone()
    changed[..., :, :20] += 50.0  # only where the weight is zero
    assert loss(changed, {}).item() == 0.0
    changed[..., 0, 0, 30] += 10.0  # one channel of one reliable pixel
    assert loss(changed, {}).item() == pytest.approx(1000.0 * 100.0 / (3 * h * w))


def test_temporal_loss_sums_the_long_term_frames_and_is_per_image(photo):
    h, w = photo.shape[-2:]
    a, b = torch.ones(1, 1, h, w), torch.full((1, 1, h, w), 0.5)
    target2 = photo + 2.0
    loss = TemporalLoss([photo, target2], [a, b], weight=1.0)
    # (x − photo)² = 0 and (x − target2)² = 4 everywhere: 0.5 · 4 = 2.
    assert loss(photo, {}).item() == pytest.approx(2.0)
    batched = TemporalLoss([photo.expand(2, -1, -1, -1)], [a.expand(2, -1, -1, -1)], weight=1.0)
    out = batched(torch.cat([photo, photo + 1.0]), {})
    assert out.shape == (2,) and out[0] == 0 and out[1] == pytest.approx(1.0)


def test_temporal_term_resizes_targets_and_weights_for_coarse_scales(photo):
    frame = WarpedFrame(photo, torch.ones(1, 1, *photo.shape[-2:]))
    term = temporal_term([frame], 10.0, (20, 32))
    assert term.target0.shape[-2:] == (20, 32) and term.c0.shape[-2:] == (20, 32)


def test_multipass_start_blends_as_specified():
    prev_pass = torch.full((1, 3, 2, 2), 100.0)
    neighbour = torch.full((1, 3, 2, 2), 200.0)
    c = torch.tensor([[[[1.0, 0.0], [0.5, 1.0]]]])
    out = multipass_start(prev_pass, WarpedFrame(neighbour, c), blend=1.0)
    # (x_prev + b·c·ω) / (1 + b·c): c=1 → 150, c=0 → 100, c=0.5 → (100 + 100)/1.5.
    expected = torch.tensor([[150.0, 100.0], [200.0 / 1.5, 150.0]])
    assert torch.allclose(out[0, 0], expected)
    assert torch.equal(multipass_start(prev_pass, None), prev_pass)


def test_single_pass_schedule_warm_starts_and_ties_long_term_closest_first():
    t = TemporalSettings(long_term=(1, 2, 4))
    (tasks,) = shot_schedule(0, 10, 16, t)
    assert [x.pos for x in tasks] == list(range(10, 16))
    first, *rest = tasks
    assert first.kind == "alone" and first.first_of_shot and first.start_from is None
    assert all(x.kind == "sequential" and x.start_from == x.pos - 1 for x in rest)
    assert tasks[1].neighbours == (10,)  # only frames inside the shot
    assert tasks[5].neighbours == (14, 13, 11) and tasks[5].offsets == (1, 2, 4)


def test_independent_schedule_optimises_every_frame_alone():
    t = TemporalSettings(warm_start=False, temporal_weight=0.0)
    (tasks,) = shot_schedule(0, 0, 4, t)
    assert all(x.kind == "alone" and x.first_of_shot and not x.neighbours for x in tasks)


def test_multipass_alternates_directions_and_starts_from_the_previous_pass():
    t = TemporalSettings(passes=4, temporal_from_pass=3, long_term=(1, 2))
    passes = shot_schedule(2, 0, 5, t)
    assert [pass_step(p) for p in (1, 2, 3, 4)] == [1, -1, 1, -1]
    p1, p2, p3, p4 = passes
    assert [x.pos for x in p1] == [0, 1, 2, 3, 4] and all(x.kind == "alone" and not x.first_of_shot for x in p1)
    assert [x.pos for x in p2] == [4, 3, 2, 1, 0] and [x.pos for x in p4] == [4, 3, 2, 1, 0]
    assert [x.pos for x in p3] == [0, 1, 2, 3, 4]
    assert p2[0].start_from is None and [x.start_from for x in p2[1:]] == [4, 3, 2, 1]
    assert all(not x.neighbours for x in p2), "no temporal loss before temporal_from_pass"
    assert p3[3].neighbours == (2, 1) and p4[2].neighbours == (3, 4)
    assert all(x.kind == "multipass" and x.shot == 2 for p in (p2, p3, p4) for x in p)


def test_schedule_rejects_bad_ranges():
    with pytest.raises(ValueError):
        pass_tasks(0, 5, 5, 1, TemporalSettings())
    with pytest.raises(ValueError):
        pass_tasks(0, 0, 5, 3, TemporalSettings(passes=2))
