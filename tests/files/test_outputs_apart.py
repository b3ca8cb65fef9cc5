"""Issue 11, kind 1: no command may write its output over, or inside, something it reads.

Every case is refused before any work with one line and exit code 2, and every input is
left byte for byte as it was.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vidstyle.errors import VidstyleError
from vidstyle.files.apart import Source, Target, check_apart

REPO = Path(__file__).resolve().parents[2]
CLIP = REPO / "sample_clips" / "vpf_dog_848x464_aac.mp4"
STYLE = REPO / "sample_clips" / "styles" / "starry_night.jpg"


def _digest(root: Path) -> dict[str, str]:
    """Every file under ``root`` (links not followed) with its checksum."""
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_file() and not p.is_symlink():
            out[str(p.relative_to(root))] = hashlib.sha256(p.read_bytes()).hexdigest()
        elif p.is_symlink():
            out[str(p.relative_to(root))] = "-> " + os.readlink(p)
    return out


@pytest.fixture
def work(tmp_path, monkeypatch):
    """A folder with a clip, a style, a content image, an image sequence, links and a config."""
    shutil.copy(CLIP, tmp_path / "x.mp4")
    shutil.copy(STYLE, tmp_path / "style.jpg")
    Image.open(STYLE).convert("RGB").resize((64, 48)).save(tmp_path / "a.png")
    (tmp_path / "frames").mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray(rng.integers(0, 255, (48, 64, 3), np.uint8)).save(tmp_path / "frames" / f"{i:04d}.png")
    (tmp_path / "link.mp4").symlink_to("x.mp4")
    os.link(tmp_path / "x.mp4", tmp_path / "hard.mp4")
    (tmp_path / "style_link.jpg").symlink_to(tmp_path / "style.jpg")
    (tmp_path / "cfg").mkdir()
    (tmp_path / "cfg" / "c.toml").write_text('preset = "fast"\n')
    (tmp_path / "jobdir").mkdir()
    monkeypatch.chdir(tmp_path)
    return tmp_path


CASES = [
    # render: the output replaces the input, through a symlink, a hard link, or is the style
    (["render", "x.mp4", "style.jpg", "-o", "x.mp4"], "x.mp4: the output would replace the input"),
    (["render", "x.mp4", "style.jpg", "-o", "link.mp4"], "link.mp4: the output would replace the input"),
    (["render", "x.mp4", "style.jpg", "-o", "hard.mp4"], "hard.mp4: the output would replace the input"),
    (["render", "link.mp4", "style.jpg", "-o", "x.mp4"], "x.mp4: the output would replace the input"),
    (["render", "frames", "style.jpg", "-o", "frames"], "overlaps, the input folder"),
    (["render", "frames", "style.jpg", "-o", "frames/out"], "overlaps, the input folder"),
    (["render", "frames", "style.jpg", "-o", "frames/%04d.png"], "overlaps, the input folder"),
    (["render", "frames/%04d.png", "style.jpg", "-o", "frames/out.mp4"], "inside the input folder"),
    (["render", "x.mp4", "style.jpg", "-o", "o.mp4", "--job", "."], "the job directory would hold the input"),
    (["render", "frames", "style.jpg", "-o", "o.mp4", "--job", "frames"], "the job directory is the same folder"),
    (["render", "x.mp4", "style.jpg", "-o", "jobdir/o.mp4", "--job", "jobdir"], "overlap"),
    (["render", "x.mp4", "style.jpg", "-o", "o.mp4", "--job", "x.mp4"], "would replace the input"),
    (
        ["render", "x.mp4", "style.jpg", "-o", "o.mp4", "--config", "cfg/c.toml", "--job", "cfg"],
        "would hold the config",
    ),
    # image: the output replaces the content, a style (also through a link), or the start image
    (["image", "a.png", "style.jpg", "-o", "a.png"], "a.png: the output would replace the content image"),
    (["image", "a.png", "style.jpg", "-o", "style.jpg"], "style.jpg: the output would replace the style image"),
    (["image", "a.png", "style_link.jpg", "-o", "style.jpg"], "would replace the style image"),
    (["image", "a.png", "style.jpg", "-o", "frames/0001.png", "--init", "frames/0001.png"], "start image"),
    # flow: the output folder is the input folder (or inside it)
    (["flow", "frames", "-o", "frames"], "overlaps, the input folder"),
    (["flow", "frames", "-o", "frames/flow"], "overlaps, the input folder"),
    # eval: the plot replaces a frame of an input sequence; the cache is an input folder
    (["eval", "frames", "frames", "--plot", "frames/0000.png"], "the plot would be written inside the input folder"),
    (["eval", "frames", "frames", "--no-plot", "--cache", "frames/cache"], "the flow cache is the same folder"),
]


@pytest.mark.parametrize("args,needle", CASES, ids=[" ".join(a) for a, _ in CASES])
def test_an_output_never_replaces_or_lives_inside_an_input(cli, work, args, needle):
    before = _digest(work)
    code, _, err = cli(*args)
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith("vidstyle: error:") and "Traceback" not in err, err
    assert needle in err, err
    assert _digest(work) == before, "an input changed or something was left behind"


def test_the_check_itself(tmp_path):
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"x")
    (tmp_path / "sub").mkdir()
    # a pattern output writes only the names it matches into a folder holding other files
    from vidstyle.files.apart import output_target, sequence_source

    check_apart([output_target(tmp_path / "%04d.png")], [sequence_source(clip)])
    (tmp_path / "0001.png").write_bytes(b"x")
    with pytest.raises(VidstyleError, match="would overwrite the input"):
        check_apart([output_target(tmp_path / "%04d.png")], [Source("input", tmp_path / "0001.png")])
    # a folder output may not hold an input; a file output in a sibling folder is fine
    with pytest.raises(VidstyleError, match="would hold the input"):
        check_apart([output_target(tmp_path)], [Source("input", clip)])
    check_apart([output_target(tmp_path / "sub" / "o.mp4")], [Source("input", clip)])
    # two targets may not overlap
    with pytest.raises(VidstyleError, match="overlap"):
        check_apart(
            [Target("output", tmp_path / "sub" / "o.mp4"), Target("job directory", tmp_path / "sub", "folder")], []
        )


def test_outputs_beside_the_inputs_are_fine(cli, work):
    """The check refuses only real clashes: a pattern input rendered into a file beside its
    folder, with the job and output next to the inputs, works and changes no input."""
    before = _digest(work / "frames")
    code, _, err = cli("render", "frames/%04d.png", "style.jpg", "-o", "out.mp4", "--size", "32", "--preset", "fast",
                       "--iterations", "2", "--frame-iterations", "1", "--flow-workers", "0", "--cuts", "none",
                       "--device", "cpu", "-q")  # fmt: skip
    assert code == 0, err
    assert (work / "out.mp4").stat().st_size > 0 and _digest(work / "frames") == before
