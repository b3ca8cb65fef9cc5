"""``vidstyle flow`` end to end on a real clip, and its one-line errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from vidstyle.flow.cache import decode_entry

CLIP = "videos/imageio_realshort_320x240_aac.mp4"  # handheld, 320x240, 36 frames


def test_flow_command_writes_entries_and_pictures(cli, media, tmp_path):
    out = tmp_path / "flow"
    code, _, err = cli("flow", media / CLIP, "-o", out, "--end", "5f", "--long-term", "2", "--workers", "1", "-q")
    assert code == 0, err
    summary = json.loads((out / "flow.json").read_text())
    assert summary["frames"] == [0, 1, 2, 3, 4]
    assert summary["offsets"] == [1, 2]
    assert (summary["width"], summary["height"]) == (320, 240)
    pairs = {tuple(p["frames"]): p for p in summary["pairs"]}
    assert set(pairs) == {(0, 1), (1, 2), (2, 3), (3, 4), (0, 2), (1, 3), (2, 4)}
    p = pairs[(1, 3)]
    assert p["distance"] == 2
    entry = decode_entry((out / p["entry"]).read_bytes())
    assert (entry.lo, entry.hi) == (1, 3) and entry.flow_fwd.shape == (240, 320, 2)
    assert np.isfinite(entry.flow_fwd.astype(np.float32)).all()
    w = entry.weights_hi.astype(np.float32)
    assert w.min() >= 0 and w.max() <= 1 and w.mean() > 0.5  # mostly reliable on a handheld clip
    names = sorted(x.split("/")[-1] for x in p["pictures"])
    assert names == [
        "flow_000001_000003.png",
        "flow_000003_000001.png",
        "weights_000001_000003.png",
        "weights_000003_000001.png",
    ]
    flow_png = Image.open(out / "pictures/flow_000001_000003.png")
    assert flow_png.size == (320, 240) and flow_png.mode == "RGB"
    assert Image.open(out / "pictures/weights_000003_000001.png").mode == "L"

    # A re-run reuses every entry (files untouched) and can skip the pictures.
    stamps = {f: f.stat().st_mtime_ns for f in out.rglob("*.vsflow")}
    code, _, err = cli(
        "flow", media / CLIP, "-o", out, "--end", "5f", "--long-term", "2", "--workers", "0", "--no-pictures", "-q"
    )
    assert code == 0, err
    assert {f: f.stat().st_mtime_ns for f in out.rglob("*.vsflow")} == stamps


def test_flow_command_size_and_backend_options(cli, media, tmp_path):
    out = tmp_path / "f"
    code, _, err = cli(
        "flow",
        media / CLIP,
        "-o",
        out,
        "--end",
        "3f",
        "--size",
        "160",
        "--backend",
        "farneback",
        "--workers",
        "0",
        "--no-pictures",
        "-q",
    )
    assert code == 0, err
    summary = json.loads((out / "flow.json").read_text())
    assert (summary["width"], summary["height"]) == (160, 120)
    assert summary["backend"]["name"] == "farneback"
    assert not (out / "pictures").exists()


@pytest.mark.parametrize(
    "args,message",
    [
        (["missing.mp4"], "missing.mp4: no such file"),
        ([CLIP, "--long-term", "a,b"], "--long-term"),
        ([CLIP, "--long-term", "0"], "--long-term"),
        ([CLIP, "--backend", "pwc"], "flow backend 'pwc'"),
        ([CLIP, "--backend", "raft"], "--raft-weights"),
        ([CLIP, "--backend", "raft", "--raft-weights", "nope.pth"], "nope.pth: RAFT weights file not found"),
        ([CLIP, "--preset", "slow"], "preset"),
        ([CLIP, "--scale", "0"], "scale"),
        ([CLIP, "--workers", "-1"], "--workers"),
    ],
)
def test_flow_command_errors_are_one_line(cli, media, tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(media)
    code, out, err = cli("flow", *args, "-o", tmp_path / "o", "-q")
    assert code == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1 and message in err, err


def test_flow_command_output_is_a_file(cli, media, tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    code, _, err = cli("flow", media / CLIP, "-o", f, "-q")
    assert code == 2 and "not a directory" in err


def test_flow_command_not_a_video(cli, tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video at all")
    code, _, err = cli("flow", bad, "-o", tmp_path / "o", "-q")
    assert code == 2 and "bad.mp4" in err and len(err.strip().splitlines()) == 1


def test_flow_command_names_its_flags_for_library_settings(cli, media, tmp_path, monkeypatch):
    """The library names settings (flow.workers); ``vidstyle flow`` says its own flag."""
    from vidstyle.errors import VidstyleError
    from vidstyle.flow.pipeline import FlowPipeline

    def dead(self, frames):
        raise VidstyleError("a flow worker process died (out of memory?); try fewer flow.workers")
        yield

    monkeypatch.setattr(FlowPipeline, "iterate", dead)
    code, out, err = cli("flow", media / CLIP, "-o", tmp_path / "o", "--end", "3f", "-q")
    assert code == 2 and out == ""
    assert err.strip().endswith("try fewer --workers") and "flow.workers" not in err, err
    assert not (tmp_path / "o").exists()  # nothing stored: the folder is removed again
