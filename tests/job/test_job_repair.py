"""Issue 11, kind 5: a damaged job is repaired, never stuck, never a traceback.

Every case damages a finished job the way a crash, a full disk or a person would, then runs
the same render again: it must complete, say what it repaired, and give the frames an
undamaged job gives. A Hypothesis test then damages job files at random.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vidstyle.cli import run
from vidstyle.job.events import Note
from vidstyle.job.status import job_status
from vidstyle.job.store import Job, decode_png
from vidstyle.render import render
from vidstyle.settings import apply_overrides, preset_settings

REPO = Path(__file__).resolve().parents[2]
CLIP = REPO / "sample_clips" / "vpf_dog_848x464_aac.mp4"
STARRY = REPO / "sample_clips" / "styles" / "starry_night.jpg"
FRAMES = 4
CLI_ARGS = [str(CLIP), str(STARRY), "--size", "40", "--end", f"{FRAMES}f", "--preset", "fast", "--iterations", "4",
            "--frame-iterations", "2", "--flow-workers", "0", "--cuts", "none", "--device", "cpu", "-q"]  # fmt: skip


def _settings():
    return apply_overrides(
        preset_settings("fast"),
        {"size": 40, "styles": (str(STARRY),), "optim": {"iterations": 4}, "flow": {"workers": 0},
         "temporal": {"frame_iterations": 2}},
    )  # fmt: skip


def _frames(job: Path) -> dict[int, np.ndarray]:
    """The stored result of every frame, as a job holds it."""
    j = Job(job)
    done, bad = j.verified_results()
    assert not bad
    return {pos: j.load_result(rec).astype(int) for (_, pos), rec in done.items()}


def _same_frames(job: Path, ref: Path) -> None:
    got, want = _frames(job), _frames(ref)
    assert sorted(got) == sorted(want) == list(range(FRAMES))
    for pos in want:
        assert np.abs(got[pos] - want[pos]).max() <= 2, f"frame {pos} differs from the undamaged render"


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """A finished, undamaged job of the tiny render."""
    root = tmp_path_factory.mktemp("ref")
    render(CLIP, root / "o.mp4", _settings(), job=root / "job", end=f"{FRAMES}f", device="cpu")
    return root / "job"


@pytest.fixture
def job(reference, tmp_path) -> Path:
    shutil.copytree(reference, tmp_path / "job")
    return tmp_path / "job"


def _rerender(job: Path) -> tuple[list[str], object]:
    notes: list[str] = []
    result = render(CLIP, job.parent / "o.mp4", _settings(), job=job, end=f"{FRAMES}f", device="cpu",
                    progress=lambda e: notes.append(e.text) if isinstance(e, Note) else None)  # fmt: skip
    return notes, result


def _manifest_lines(job: Path) -> list[str]:
    return (job / "manifest.jsonl").read_text().splitlines()


def test_job_json_that_is_a_list_starts_the_job_over(job, reference, cli):
    (job / "job.json").write_text("[1, 2, 3]")
    code, _, err = cli("status", job)
    assert code == 2 and err.count("\n") == 1 and "job.json: damaged" in err and "run the render again" in err, err
    notes, result = _rerender(job)
    assert any("job.json: damaged" in n and "starting the job over" in n for n in notes), notes
    assert result.computed == FRAMES
    _same_frames(job, reference)


def test_shots_entry_missing_its_end(job, reference, cli):
    data = json.loads((job / "job.json").read_text())
    data["shots"] = [[0]]
    (job / "job.json").write_text(json.dumps(data))
    code, _, err = cli("status", job)
    assert code == 2 and err.count("\n") == 1 and "shots.0" in err, err
    notes, _ = _rerender(job)
    assert any("damaged" in n for n in notes), notes
    _same_frames(job, reference)


def test_manifest_line_with_a_wrong_typed_field_is_dropped_and_its_frame_redone(job, reference):
    lines = _manifest_lines(job)
    row = json.loads(lines[2])
    row["pos"] = str(row["pos"])
    lines[2] = json.dumps(row)
    (job / "manifest.jsonl").write_text("\n".join(lines) + "\n")
    assert job_status(job).done == FRAMES - 1  # the damaged line counts for nothing
    notes, result = _rerender(job)
    assert any("manifest.jsonl: dropped 1 damaged line" in n for n in notes), notes
    assert result.computed == 1 and result.reused == FRAMES - 1
    _same_frames(job, reference)
    assert job_status(job).done == FRAMES


def test_a_line_cut_mid_write_never_swallows_the_next_one(job, reference):
    lines = _manifest_lines(job)
    cut = lines[-1][: len(lines[-1]) // 2]
    (job / "manifest.jsonl").write_text("\n".join(lines[:-1]) + "\n" + cut)  # a crash mid-write
    assert job_status(job).done == FRAMES - 1
    notes, result = _rerender(job)  # redoes the last frame and appends its line
    assert result.computed == 1
    st = job_status(job)
    assert st.done == st.total == FRAMES and st.finished
    _same_frames(job, reference)
    # An older vidstyle glued the next line onto the cut one: the whole second line is kept.
    lines = _manifest_lines(job)
    glued = lines[-2][: len(lines[-2]) // 2] + lines[-1]
    (job / "manifest.jsonl").write_text("\n".join([*lines[:-2], glued]) + "\n")
    assert job_status(job).done == FRAMES - 1
    notes, result = _rerender(job)
    assert result.computed == 1 and any("dropped 1 damaged line" in n for n in notes), notes
    keys = [(json.loads(x)["pass"], json.loads(x)["pos"]) for x in _manifest_lines(job)]
    assert sorted(keys) == sorted(set(keys)), "after the repair every frame is recorded once"


def test_a_truncated_decoded_frame_is_decoded_again(job, reference):
    path = job / "content" / "000002.png"
    path.write_bytes(path.read_bytes()[:60])
    notes, result = _rerender(job)
    assert any("decoding them again" in n and "2" in n for n in notes), notes
    assert result.reused == FRAMES
    _same_frames(job, reference)
    notes, _ = _rerender(job)  # and it stays repaired
    assert not notes


def test_random_bytes_in_a_flow_entry_are_recomputed(job, reference):
    entry = sorted((job / "flow").rglob("*.vsflow"))[0]
    data = bytearray(entry.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 16] = b"\xa5" * 16
    entry.write_bytes(bytes(data))
    for p in (job / "passes" / "1").glob("00000[12].png"):  # frames that need that flow
        p.unlink()
    _notes, result = _rerender(job)
    assert result.computed == 2
    _same_frames(job, reference)


# -- random damage -----------------------------------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=6), kids, max_size=3),
    max_leaves=8,
)
FILES = ["job.json", "frames.json", "manifest.jsonl", "content/000001.png", "passes/1/000002.png", "flow"]


@st.composite
def damage(draw):
    name = draw(st.sampled_from(FILES))
    how = draw(st.sampled_from(["truncate", "bytes", "json"]))
    return name, how, draw(st.floats(0, 1)), draw(st.binary(min_size=1, max_size=24)), draw(JSON)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(damage())
def test_any_damage_to_a_job_is_repaired_or_refused_in_one_line(reference, tmp_path, d):
    name, how, where, junk, value = d
    job = tmp_path / "hjob"
    shutil.rmtree(job, ignore_errors=True)
    shutil.copytree(reference, job)
    path = sorted((job / "flow").rglob("*.vsflow"))[0] if name == "flow" else job / name
    data = path.read_bytes()
    at = int(where * len(data))
    if how == "truncate":
        data = data[:at]
    elif how == "bytes":
        data = data[:at] + junk + data[at + len(junk) :]
    else:
        data = json.dumps(value).encode()
    path.write_bytes(data)
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = run(["render", *CLI_ARGS, "-o", str(tmp_path / "o.mp4"), "--job", str(job)])
    text = err.getvalue()
    assert "Traceback" not in text
    if code == 0:
        _same_frames(job, reference)
        assert decode_png((job / "passes" / "1" / "000000.png").read_bytes()).max() > 0, "a black frame"
    else:
        assert code == 2 and text.count("\n") == 1 and text.startswith("vidstyle: error:"), text


def test_the_cli_render_reuses_an_undamaged_job(job, tmp_path, cli):
    """The random-damage test runs the CLI on copies of the API-made job: an undamaged copy is reused whole."""
    code, out, err = cli("render", *CLI_ARGS, "-o", tmp_path / "o.mp4", "--job", job, "--json-progress")
    assert code == 0, err
    frames = [r for r in map(json.loads, out.splitlines()) if r["event"] == "frame"]
    assert len(frames) == FRAMES and all(r["skipped"] for r in frames)
