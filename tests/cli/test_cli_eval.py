"""``vidstyle eval`` end to end on a real clip (table, JSON, plot, baseline) and its one-line errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from vidstyle.video import VideoWriter, open_video


@pytest.fixture(scope="module")
def clips(sample_clip, tmp_path_factory):
    """Eight frames of a real clip at 96 px: clean and with per-frame brightness flicker."""
    folder = tmp_path_factory.mktemp("evalclips")
    with open_video(sample_clip, size=96, end="8f") as r:
        frames = [f.image for f in r]
        fps = r.info.fps
    rng = np.random.default_rng(5)
    for name, imgs in {
        "clean.mp4": frames,
        "flicker.mp4": [np.clip(f.astype(np.float32) + rng.uniform(-25, 25), 0, 255).astype(np.uint8) for f in frames],
    }.items():
        h, w = imgs[0].shape[:2]
        with VideoWriter(folder / name, width=w, height=h, fps=fps, crf=12) as wr:
            for img in imgs:
                wr.write(img)
    (folder / "notes.mp4").write_text("not a video\n")
    return sample_clip, folder


def test_table_and_default_plot(cli, clips):
    src, d = clips
    code, out, err = cli("eval", src, d / "flicker.mp4", "--baseline", d / "clean.mp4", "--end", "8f", "-q")
    assert code == 0, err
    for word in (
        "output",
        "baseline",
        "input",
        "mean",
        "median",
        "× input",
        "8 frames (7 pairs) at 96x52",
        "fidelity",
        "tOF",
        "content",
        "perceptual",
        "frozen",
    ):
        assert word in out, out
    plot = d / "flicker.eval.png"
    assert f"plot: {plot}" in out
    with Image.open(plot) as im:  # three panels: warping error, content distance, tOF
        assert im.format == "PNG" and im.size == (960, 3 * 460)
    assert not list(d.glob(".*part*"))  # no temporary file left behind


def test_json_only_on_stdout(cli, clips, tmp_path):
    src, d = clips
    plot = tmp_path / "curves.png"
    code, out, err = cli(
        "eval", src, d / "flicker.mp4", "--end", "8f", "--json", "--plot", plot, "--preset", "fast", "-q"
    )
    assert code == 0, err
    data = json.loads(out)  # nothing else on stdout
    assert set(data["series"]) == {"input", "output"}
    assert (data["width"], data["height"], data["frames"], data["pairs"]) == (96, 52, 8, 7)
    assert data["flow"]["backend"]["preset"] == "fast" and data["flow"]["computed_on"] == "input"
    o, i = data["series"]["output"], data["series"]["input"]
    assert len(o["errors"]) == 7 and o["mean"] > 4 * i["mean"] > 0
    assert o["relative_to_input"] == pytest.approx(o["mean"] / i["mean"])
    assert data["pair_index"] == list(range(7))
    assert data["plot"] == str(plot) and plot.is_file()
    # Fidelity: brightness flicker leaves the motion alone (tOF far below a frozen video's)
    # and keeps close to the input's content; the input itself has no fidelity entry.
    assert len(o["tof"]["pairs"]) == 7 and len(o["content_distance"]["frames"]) == 8
    assert 0 <= o["tof"]["mean"] < data["input_flow_magnitude"]["mean"]
    assert o["content_distance"]["mean"] > 0 and "tof" not in i
    assert "perceptual_to_baseline" not in o  # no baseline given


def test_no_fidelity_gives_stability_alone(cli, clips):
    src, d = clips
    code, out, err = cli("eval", src, d / "flicker.mp4", "--end", "8f", "--json", "--no-plot", "--no-fidelity", "-q")
    assert code == 0, err
    data = json.loads(out)
    assert "tof" not in data["series"]["output"] and "input_flow_magnitude" not in data


def test_no_plot_and_flow_cache(cli, clips, tmp_path):
    src, d = clips
    cache = tmp_path / "cache"
    args = ("eval", src, d / "clean.mp4", "--end", "8f", "--json", "--no-plot", "--cache", cache, "-q")
    code, out, err = cli(*args)
    assert code == 0, err
    entries = sorted(cache.rglob("*.vsflow"))
    assert len(entries) == 7 and json.loads(out)["plot"] is None
    stamps = [p.stat().st_mtime_ns for p in entries]
    code, out2, err = cli(*args)
    assert code == 0, err
    assert [p.stat().st_mtime_ns for p in entries] == stamps  # read back, not recomputed
    assert json.loads(out2)["series"] == json.loads(out)["series"]
    assert not list(d.glob("clean.eval.png"))


def test_make_baseline_renders_the_baseline(cli, clips, tmp_path, monkeypatch):
    src, d = clips
    calls = []

    def render_baseline(input_path, output_path, *, device, progress):
        calls.append((input_path, output_path, device, type(progress).__name__))
        return d / "clean.mp4"

    monkeypatch.setattr("vidstyle.cli.evaluate.render_baseline", render_baseline)
    code, out, err = cli(
        "eval", src, d / "flicker.mp4", "--end", "8f", "--make-baseline", "--json", "--no-plot", "--device", "cpu", "-q"
    )
    assert code == 0, err
    # The user's --device, and a progress display (none with -q) as `vidstyle render` shows it.
    assert calls == [(src, d / "flicker.mp4", "cpu", "Silent")]
    assert json.loads(out)["series"]["baseline"]["file"] == str(d / "clean.mp4")


def test_make_baseline_shows_render_progress(monkeypatch, tmp_path):
    import vidstyle.cli.evaluate as ev
    from vidstyle.cli.progress import RichReporter

    seen = []

    def render_baseline(input_path, output_path, *, device, progress):
        seen.append((device, progress))
        return tmp_path / "b.mp4"

    monkeypatch.setattr(ev, "render_baseline", render_baseline)
    assert ev.make_baseline(tmp_path / "in.mp4", tmp_path / "out.mp4", device="cuda") == tmp_path / "b.mp4"
    assert seen[0][0] == "cuda" and isinstance(seen[0][1], RichReporter)


@pytest.mark.parametrize(
    "args,message",
    [
        (["missing.mp4", "{d}/clean.mp4"], "missing.mp4: no such file"),
        (["{src}", "{d}/gone.mp4"], "gone.mp4: no such file"),
        (["{src}", "{d}/clean.mp4", "--baseline", "{d}/nope.mp4"], "nope.mp4: no such file"),
        (["{src}", "{d}/notes.mp4"], "notes.mp4"),
        (["{src}", "{d}/clean.mp4"], "{src} has 96 frames, {d}/clean.mp4 has 8 frames"),
        (["{src}", "{d}/clean.mp4", "--end", "9f"], "{src} has 9 frames in the selected range, {d}/clean.mp4 has 8"),
        (
            ["{src}", "{d}/clean.mp4", "--end", "8f", "--plot", "{d}/no/such/dir/p.png"],
            "directory {d}/no/such/dir does not exist",
        ),
        (["{src}", "{d}/clean.mp4", "--end", "8f", "--plot", "{d}/p.jpg"], "p.jpg: the plot is a PNG"),
        (["{src}", "{d}/clean.mp4", "--baseline", "{d}/clean.mp4", "--make-baseline"], "--make-baseline"),
        (["{src}", "{d}/clean.mp4", "--frames", "1"], "--frames"),
        (["{src}", "{d}/clean.mp4", "--backend", "pwc"], "flow backend 'pwc'"),
        (["{src}", "{d}/clean.mp4", "--preset", "slow"], "preset"),
    ],
)
def test_bad_input_is_one_line(cli, clips, args, message):
    src, d = clips
    before = sorted(p.name for p in d.iterdir())
    code, out, err = cli("eval", *(a.format(src=src, d=d) for a in args), "-q")
    assert code == 2 and out == "", err
    assert len(err.strip().splitlines()) == 1 and message.format(src=src, d=d) in err, err
    assert sorted(p.name for p in d.iterdir()) == before  # no plot, no partial file
