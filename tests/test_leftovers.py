"""Issue 11, kinds 6 and 8: nothing is left behind that holds no work; one check for sequence sizes.

A render that fails before any work removes the job directory it created; ``vidstyle flow``
removes an output folder it created and filled with nothing; image folders get the umask's
mode. ``probe --count`` and ``render`` judge a folder of mixed-size images with the same check.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vidstyle.errors import VidstyleError
from vidstyle.render import render
from vidstyle.settings import apply_overrides, preset_settings
from vidstyle.video.sequence import SequenceWriter

REPO = Path(__file__).resolve().parents[1]
CLIP = REPO / "sample_clips" / "vpf_dog_848x464_aac.mp4"
STARRY = REPO / "sample_clips" / "styles" / "starry_night.jpg"
TINY = ["--size", "40", "--end", "3f", "--preset", "fast", "--iterations", "4", "--frame-iterations", "2",
        "--flow-workers", "0", "--cuts", "none", "--device", "cpu", "-q"]  # fmt: skip


def _one_line(code: int, err: str, *needles: str) -> None:
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith("vidstyle: error:") and "Traceback" not in err, err
    for n in needles:
        assert n in err, err


def test_a_render_with_a_bad_style_or_input_leaves_no_job(cli, tmp_path):
    bad_style = tmp_path / "bad.jpg"
    bad_style.write_text("not an image")
    notes = tmp_path / "notes.mp4"
    notes.write_text("not a video")
    out = tmp_path / "o.mp4"
    code, _, err = cli("render", CLIP, bad_style, "-o", out, *TINY)
    _one_line(code, err, "bad.jpg")
    code, _, err = cli("render", notes, STARRY, "-o", out, *TINY)
    _one_line(code, err, "notes.mp4")
    code, _, err = cli("render", notes, STARRY, "-o", out, "--job", tmp_path / "newjob", *TINY)
    _one_line(code, err, "notes.mp4")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.jpg", "notes.mp4"], "a job holding no work was left"


def test_a_render_failing_after_decoding_but_before_any_frame_leaves_no_job(tmp_path):
    """A per-shot style that is gone is found only after decoding and cutting (Python API)."""
    base = apply_overrides(preset_settings("fast"), {"size": 32, "styles": (str(STARRY),), "flow": {"workers": 0}})
    gone = base.model_copy(update={"styles": (tmp_path / "gone.jpg",)})

    class Plan:
        settings = base

        def settings_for(self, shot):
            return base if shot.index == 0 else gone

    with pytest.raises(VidstyleError, match=r"gone\.jpg: style image of shot 1 not found"):
        render(CLIP, tmp_path / "o.mp4", Plan(), end="4f", device="cpu",
               cuts=[0, 2])  # fmt: skip
    assert list(tmp_path.iterdir()) == []


def test_an_existing_job_is_kept_when_a_render_fails(cli, tmp_path):
    job = tmp_path / "job"
    code, _, err = cli("render", CLIP, STARRY, "-o", tmp_path / "o.mp4", "--job", job, *TINY)
    assert code == 0, err
    bad = tmp_path / "bad.jpg"
    bad.write_text("x")
    code, _, err = cli("render", CLIP, bad, "-o", tmp_path / "o.mp4", "--job", job, *TINY)
    _one_line(code, err, "bad.jpg")
    assert (job / "manifest.jsonl").is_file(), "a job that holds work is never removed"


def test_flow_on_a_too_small_video_leaves_no_folder(cli, tmp_path):
    seq = tmp_path / "seq"
    seq.mkdir()
    for i in range(3):
        Image.fromarray(np.full((8, 8, 3), 40 * i, np.uint8)).save(seq / f"{i}.png")
    code, _, err = cli("flow", seq, "-o", tmp_path / "flow", "--workers", "0")
    _one_line(code, err, "too small for optical flow")
    assert not (tmp_path / "flow").exists()


@pytest.mark.parametrize("umask", [0o022, 0o027])
def test_image_folders_get_the_umasks_mode(tmp_path, umask):
    old = os.umask(umask)
    try:
        writer = SequenceWriter(tmp_path / "frames")
        for _ in range(2):
            writer.write(np.zeros((16, 16, 3), np.uint8))
        writer.close()
    finally:
        os.umask(old)
    assert (tmp_path / "frames").stat().st_mode & 0o777 == 0o777 & ~umask
    assert all(p.stat().st_mode & 0o777 == 0o666 & ~umask for p in (tmp_path / "frames").iterdir())


def test_probe_count_and_render_judge_mixed_sizes_alike(cli, tmp_path):
    seq = tmp_path / "mixed"
    seq.mkdir()
    for i, size in enumerate([(64, 48), (64, 48), (48, 64)]):
        Image.fromarray(np.full((size[1], size[0], 3), 60 * i, np.uint8)).save(seq / f"{i}.png")
    code, _, probe_err = cli("probe", seq, "--count")
    _one_line(code, probe_err, "2.png", "is 48x64, the sequence is 64x48")
    code, _, render_err = cli("render", seq, STARRY, "-o", tmp_path / "o.mp4", *TINY[:2], "--preset", "fast",
                              "--iterations", "2", "--flow-workers", "0", "--cuts", "none", "--device", "cpu", "-q")  # fmt: skip
    _one_line(code, render_err, "2.png", "is 48x64, the sequence is 64x48")
    assert probe_err == render_err
    code, _out, _ = cli("probe", seq)  # without --count: headers only, as before
    assert code == 0
