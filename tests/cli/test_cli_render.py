"""``vidstyle render`` and ``vidstyle status`` from the command line: progress modes, status, bad input."""

from __future__ import annotations

import json

import pytest

STYLE = "sample_clips/styles/starry_night.jpg"
TINY = ["--size", "48", "--end", "4f", "--preset", "fast", "--iterations", "6", "--frame-iterations", "3",
        "--flow-workers", "0", "--cuts", "none", "--device", "cpu"]  # fmt: skip


def test_json_progress_lines_and_status(cli, sample_clip, tmp_path):
    out, job = tmp_path / "o.mp4", tmp_path / "job"
    code, stdout, err = cli("render", sample_clip, STYLE, "-o", out, "--job", job, "--json-progress", *TINY)
    assert code == 0, err
    rows = [json.loads(line) for line in stdout.splitlines()]
    kinds = [r["event"] for r in rows]
    assert kinds[0] == "stage" and "plan" in kinds and kinds.count("frame") == 4
    plan = rows[kinds.index("plan")]
    assert plan["frames"] == 4 and plan["shots"] == [{"shot": 0, "start": 0, "end": 4, "tasks": 4, "done": 0}]
    frame = rows[kinds.index("frame")]
    assert frame["pass"] == 1 and frame["skipped"] is False and "total" in frame["losses"]
    assert (job / "log.txt").read_text().count("done in") == 4

    code, stdout, _ = cli("status", job, "--json")
    st = json.loads(stdout)
    assert code == 0 and st["finished"] and st["done"] == st["total"] == 4 and st["running"] is None
    code, stdout, _ = cli("status", job)
    assert code == 0 and "4/4" in stdout and "finished" in stdout

    # Resuming a finished job reuses every frame and only encodes.
    code, stdout, err = cli("render", sample_clip, STYLE, "-o", out, "--job", job, "--json-progress", *TINY)
    rows = [json.loads(line) for line in stdout.splitlines()]
    assert code == 0 and all(r["skipped"] for r in rows if r["event"] == "frame")


def _one_line_error(cli, *args, needle: str) -> None:
    code, _, err = cli(*args)
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith("vidstyle: error:") and "Traceback" not in err, err
    assert needle in err, err


@pytest.mark.parametrize(
    "args,needle",
    [
        (["MISSING.mp4", STYLE], "MISSING.mp4: file not found"),
        (["{clip}", "nope.jpg"], "nope.jpg: style image not found"),
        (["{clip}"], "no style image"),
        (["{clip}", STYLE, "--preset", "turbo"], "--preset"),
        (["{clip}", STYLE, "--temporal-weight", "-1"], "--temporal-weight"),
        (["{clip}", STYLE, "--long-term", "1,x"], "--long-term"),
        (["{clip}", STYLE, "--passes", "0"], "--passes"),
        (["{clip}", STYLE, "--flow-backend", "magic"], "--flow-backend"),
        (["{clip}", STYLE, "--cuts", "soon"], "--cuts"),
        (["{clip}", STYLE, "--config", "missing.toml"], "missing.toml"),
        (["{clip}", STYLE, "--device", "cuda:7"], "--device"),
        (["{clip}", STYLE, "--codec", "mpeg1"], "mpeg1"),
    ],
)
def test_bad_input_is_one_line(cli, sample_clip, tmp_path, args, needle):
    args = [a.replace("{clip}", str(sample_clip)) for a in args]
    _one_line_error(cli, "render", *args, "-o", tmp_path / "o.mp4", needle=needle)
    assert not (tmp_path / "o.mp4").exists() and not (tmp_path / "o.mp4.vidstyle-job").exists()


def test_unwritable_output_and_bad_input_file(cli, sample_clip, tmp_path):
    _one_line_error(cli, "render", sample_clip, STYLE, "-o", tmp_path / "no" / "o.mp4", needle="does not exist")
    text = tmp_path / "notes.mp4"
    text.write_text("not a video")
    _one_line_error(cli, "render", text, STYLE, "-o", tmp_path / "o.mp4", *TINY, needle="notes.mp4")
    _one_line_error(cli, "status", tmp_path / "nojob", needle="job directory not found")
