"""``vidstyle image`` end to end, and its answers to bad input."""

from __future__ import annotations

import shutil

import pytest
import torch
from PIL import Image


def _args(data_dir, out, *extra):
    return ("image", data_dir / "chelsea_128.png", data_dir / "starry_night_128.jpg", "-o", out, *extra)


def test_image_end_to_end(cli, data_dir, tmp_path):
    out = tmp_path / "out.png"
    code, _, err = cli(*_args(data_dir, out, "--size", "48", "--iterations", "8", "--device", "cpu", "-q"))
    assert code == 0, err
    with Image.open(out) as im:
        assert im.size == (48, 32) and im.mode == "RGB"
    assert not list(tmp_path.glob(".*part*")), "no temporary files left behind"


def test_image_with_two_styles_and_options(cli, data_dir, tmp_path):
    out = tmp_path / "out.jpg"
    code, _, err = cli(
        "image", data_dir / "chelsea_128.png", data_dir / "starry_night_128.jpg", data_dir / "great_wave_128.jpg",
        "-o", out, "--size", "40", "--iterations", "4", "--style-blend", "2,1", "--preserve-colors", "luminance",
        "--optimizer", "adam", "--init", "noise", "--scales", "2", "--style-scale", "0.8", "-q",
    )  # fmt: skip
    assert code == 0, err
    assert out.is_file()


def _expect_error(cli, args, *needles, out=None):
    code, _stdout, err = cli(*args)
    assert code == 2, (code, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("vidstyle: error:"), err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    if out is not None:
        assert not out.exists()
        assert not list(out.parent.glob(f".{out.stem}.*")), "no partial output"


def test_missing_content_file(cli, data_dir, tmp_path):
    out = tmp_path / "o.png"
    args = ("image", tmp_path / "nope.png", data_dir / "starry_night_128.jpg", "-o", out)
    _expect_error(cli, args, "nope.png", "not found", out=out)


def test_not_an_image(cli, data_dir, tmp_path):
    text = tmp_path / "style.jpg"
    text.write_text("this is not a picture\n")
    out = tmp_path / "o.png"
    args = ("image", data_dir / "chelsea_128.png", text, "-o", out)
    _expect_error(cli, args, "style.jpg", "not an image", out=out)


def test_zero_size_file(cli, data_dir, tmp_path):
    empty = tmp_path / "empty.png"
    empty.touch()
    out = tmp_path / "o.png"
    _expect_error(cli, ("image", empty, data_dir / "starry_night_128.jpg", "-o", out), "empty.png", "empty", out=out)


def test_truncated_image(cli, data_dir, tmp_path):
    cut = tmp_path / "cut.png"
    data = (data_dir / "chelsea_128.png").read_bytes()
    cut.write_bytes(data[: len(data) // 3])
    out = tmp_path / "o.png"
    _expect_error(cli, ("image", cut, data_dir / "starry_night_128.jpg", "-o", out), "cut.png", out=out)


def test_directory_instead_of_file(cli, data_dir, tmp_path):
    out = tmp_path / "o.png"
    _expect_error(cli, ("image", tmp_path, data_dir / "starry_night_128.jpg", "-o", out), "directory", out=out)


@pytest.mark.parametrize(
    "option,value,needle",
    [
        ("--preserve-colors", "sepia", "--preserve-colors"),
        ("--optimizer", "sgd", "--optimizer"),
        ("--pooling", "min", "--pooling"),
        ("--iterations", "0", "--iterations"),
        ("--content-weight", "-1", "--content-weight"),
        ("--style-blend", "1,x", "--style-blend"),
        ("--style-blend", "1,1", "--style-blend"),
        ("--size", "abc", "--size"),
        ("--device", "tpu", "--device"),
        ("--precision", "fp8", "--precision"),
        ("--init", "missing.png", "missing.png"),
        ("--style-layers", "relu9_1", "relu9_1"),
    ],
)
def test_bad_option_values(cli, data_dir, tmp_path, option, value, needle):
    out = tmp_path / "o.png"
    _expect_error(cli, _args(data_dir, out, option, value, "--size", "32", "--iterations", "1", "-q")
                  if option not in ("--size", "--iterations") else _args(data_dir, out, option, value, "-q"),
                  needle, out=out)  # fmt: skip


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-CUDA message")
def test_cuda_without_cuda(cli, data_dir, tmp_path):
    out = tmp_path / "o.png"
    _expect_error(cli, _args(data_dir, out, "--device", "cuda"), "--device cuda", "CUDA", out=out)


def test_unwritable_or_unknown_output(cli, data_dir, tmp_path):
    _expect_error(cli, _args(data_dir, tmp_path / "missing_dir" / "o.png"), "does not exist")
    _expect_error(cli, _args(data_dir, tmp_path / "o.txt"), "o.txt", "unknown image format")


def test_existing_output_is_untouched_on_failure(cli, data_dir, tmp_path):
    out = tmp_path / "keep.png"
    shutil.copy(data_dir / "chelsea_128.png", out)
    before = out.read_bytes()
    _expect_error(cli, ("image", tmp_path / "nope.png", data_dir / "starry_night_128.jpg", "-o", out), "nope.png")
    assert out.read_bytes() == before


@pytest.mark.slow
def test_console_script_runs_as_a_process(tmp_path, data_dir):
    import subprocess
    import sys

    r = subprocess.run(
        [sys.executable, "-m", "vidstyle", "image", str(data_dir / "nope.png"), str(data_dir / "starry_night_128.jpg"),
         "-o", str(tmp_path / "o.png")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr


def test_too_small_size_is_a_clear_error(cli, data_dir, tmp_path):
    out = tmp_path / "o.png"
    _expect_error(cli, _args(data_dir, out, "--size", "12", "-q"), "--size", "16", out=out)
