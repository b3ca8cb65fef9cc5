"""vidstyle render end to end on a real clip, at 64 px with tiny budgets."""

from __future__ import annotations

import json

import numpy as np
import pytest

from vidstyle.evaluate.baseline import render_baseline
from vidstyle.job.spec import read_record
from vidstyle.render import render
from vidstyle.settings import apply_overrides, preset_settings
from vidstyle.video import open_video, probe

CLIP = "sample_clips/vpf_dog_848x464_aac.mp4"
STYLE = "sample_clips/styles/starry_night.jpg"


def tiny(preset: str = "fast", **temporal) -> object:
    return apply_overrides(
        preset_settings(preset),
        {"size": 64, "styles": (STYLE,), "optim": {"iterations": 8}, "flow": {"workers": 0},
         "temporal": {"frame_iterations": 4, "pass_iterations": 3, **temporal}},
    )  # fmt: skip


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    out = tmp_path_factory.mktemp("render") / "dog.mp4"
    result = render(CLIP, out, tiny(), end="6f", device="cpu")
    return out, result


def test_render_gives_a_playable_video_with_the_source_timing_and_audio(rendered):
    out, result = rendered
    assert result.frames == 6 and result.computed == 6 and result.job is None
    assert not out.with_name(out.name + ".vidstyle-job").exists(), "the implicit job is removed after success"
    info, src = probe(out), probe(CLIP)
    assert info.frame_count == 6 and max(info.width, info.height) == 64
    assert info.has_audio and info.audio[0].codec == src.audio[0].codec
    with open_video(out) as a, open_video(CLIP, end="6f") as b:
        frames_out, frames_src = list(a), list(b)
    assert len(frames_out) == 6
    tick = float(info.time_base)
    for fo, fs in zip(frames_out, frames_src):
        assert abs(fo.time - (fs.time - frames_src[0].time)) <= tick + 1e-9
    assert all(f.image.std() > 5 for f in frames_out), "frames are real pictures"


def test_render_records_its_settings_for_eval(rendered):
    out, _ = rendered
    rec = read_record(out)
    assert rec is not None and rec["spans"] == [[0, 6]]
    assert rec["decode"]["size"] == 64 and rec["shots"][0]["styles"][0]["path"].endswith("starry_night.jpg")


def test_temporal_render_is_steadier_than_per_frame_baseline(rendered, tmp_path):
    from vidstyle.evaluate.metrics import evaluate_files

    out, _ = rendered
    base = render_baseline(CLIP, out, path=tmp_path / "base.mp4", device="cpu")
    assert probe(base).frame_count == 6
    report = evaluate_files(CLIP, out, base, end="6f").to_dict()
    means = {name: s["mean"] for name, s in report["series"].items()}
    assert means["output"] < means["baseline"], means


def test_multipass_render_runs_every_pass(tmp_path):
    job = tmp_path / "job"
    result = render(CLIP, tmp_path / "mp.mp4", tiny("best", passes=3), end="4f", job=job, device="cpu")
    assert result.computed == 4 * 3 and result.job == job
    rows = [json.loads(line) for line in (job / "manifest.jsonl").read_text().splitlines()]
    order = [(r["pass"], r["pos"]) for r in rows if r["type"] == "result"]
    assert order == [(1, 0), (1, 1), (1, 2), (1, 3), (2, 3), (2, 2), (2, 1), (2, 0), (3, 0), (3, 1), (3, 2), (3, 3)]
    with open_video(tmp_path / "mp.mp4") as r:
        final = [f.image for f in r]
    assert len(final) == 4 and np.mean([f.std() for f in final]) > 5


def test_render_detects_cuts_as_the_cli_does_stores_them_and_reuses_them_on_resume(tmp_path, monkeypatch):
    """A clip that cuts from the dog to the cat: render() finds the cut by default (as
    ``vidstyle render`` does), stores it in job.json, and a resumed render does not detect
    again (the detector is not called) yet keeps the same shots."""
    import importlib
    from pathlib import Path

    import cv2

    from vidstyle.shots import ShotsSettings

    render_module = importlib.import_module("vidstyle.render")  # the module (``vidstyle.render`` is the function)
    from vidstyle.video import open_video

    seq = tmp_path / "seq"
    seq.mkdir()
    with open_video(CLIP, size=64, end="4f") as reader:
        dog = [f.image for f in reader]
    cat = cv2.cvtColor(cv2.imread(str(Path(__file__).parent / "data" / "chelsea_128.png")), cv2.COLOR_BGR2RGB)
    cat = cv2.resize(cat, (dog[0].shape[1], dog[0].shape[0]))
    for k, image in enumerate([*dog, cat, cat, cat, cat]):
        cv2.imwrite(str(seq / f"{k:03d}.png"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    settings = apply_overrides(preset_settings("fast"), {"size": 32, "styles": (STYLE,),
                                                         "optim": {"iterations": 4}, "temporal": {"frame_iterations": 2},
                                                         "flow": {"workers": 0}})  # fmt: skip
    cuts = ShotsSettings(min_shot_seconds=0.0, analysis_size=64)
    job = tmp_path / "job"
    first = render(seq, tmp_path / "o.mp4", settings, cuts=cuts, job=job, device="cpu")
    assert first.shots == 2
    spec = json.loads((job / "job.json").read_text())
    assert [list(s) for s in spec["shots"]] == [[0, 4], [4, 8]] and spec["cuts"]["min_shot_seconds"] == 0.0

    def no_detection(*args, **kwargs):
        raise AssertionError("cuts were detected again on resume")

    monkeypatch.setattr(render_module, "split_frames", no_detection)
    again = render(seq, tmp_path / "o.mp4", settings, cuts=cuts, job=job, device="cpu")
    assert again.shots == 2 and again.computed == 0 and again.reused == 8
    # A different cut setting is detected afresh (and here refused: the detector is gone).
    with pytest.raises(AssertionError, match="detected again"):
        render(seq, tmp_path / "o.mp4", settings, cuts=ShotsSettings(min_shot_seconds=0.0, analysis_size=96), job=job,
               device="cpu")  # fmt: skip
