"""TOML configs: examples load, errors are one line naming file and key, per-shot layering."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from vidstyle.config import (
    COMMAND_LINE,
    RenderConfig,
    config_from_options,
    default_config_text,
    load_config,
)
from vidstyle.errors import VidstyleError
from vidstyle.settings import DEFAULT_PRESET, EncodeSettings, RenderSettings, preset_settings
from vidstyle.shots import FrameTimes, Shot, ShotsSettings, find_shots, shots_from_cuts, split_frames
from vidstyle.video import Position

REPO = Path(__file__).resolve().parents[2]
CONFIGS = REPO / "configs"
STYLES = REPO / "sample_clips" / "styles"
STARRY, WAVE, KANDINSKY = (STYLES / n for n in ("starry_night.jpg", "great_wave.jpg", "composition_vii.jpg"))


def bbb_shots() -> list[Shot]:
    """The four shots of the bbb 30 s clip (24 fps, cuts at frames 283, 376, 551), no decoding."""
    idx = tuple(range(720))
    ft = FrameTimes(idx, tuple(i / 24 for i in idx), 30.0, 720, 1 / 24)
    return shots_from_cuts(ft, [283, 376, 551])


def write(tmp_path: Path, text: str, name: str = "film.toml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


# -- the examples -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["default.toml", "film_shots.toml", "fast_preview.toml"])
def test_examples_load(name):
    config = load_config(CONFIGS / name)
    for shot in bbb_shots():
        assert isinstance(config.settings_for(shot), RenderSettings)


def test_default_toml_is_generated_and_matches_the_defaults():
    assert (CONFIGS / "default.toml").read_text() == default_config_text(), (
        "configs/default.toml is stale: regenerate it with vidstyle.config.default_config_text()"
    )
    config = load_config(CONFIGS / "default.toml")
    assert config.preset == DEFAULT_PRESET
    assert config.settings == preset_settings(DEFAULT_PRESET)
    assert config.encode == EncodeSettings()
    assert config.shots == ShotsSettings()


def test_default_toml_documents_every_key():
    text = default_config_text().split("# Per-shot overrides")[0]
    for line in text.splitlines():
        if re.match(r"^#? ?[a-z_]+ = ", line):
            key, _, doc = line.partition("  # ")
            assert doc.strip(), f"no comment for {key!r}"
    # Every settings field appears (set or commented out).
    from vidstyle.config import SECTIONS

    for section, model in SECTIONS.items():
        for name in model.model_fields:
            assert re.search(rf"^#? ?{name} = ", text, re.M), f"{section}.{name} missing"


def test_film_shots_layering():
    config = load_config(CONFIGS / "film_shots.toml")
    s0, s1, s2, s3 = (config.settings_for(s) for s in bbb_shots())
    assert s0.styles == (STARRY, WAVE) and s0.style.style_blend == (3.0, 1.0)
    assert s0.style.preserve_colors == "luminance" and s0.size == 384
    assert s1.styles == (WAVE,) and s1.style.style_blend is None  # styles without a blend: equal
    assert s1.style.style_weight == 300 and s1.temporal.temporal_weight == 2000
    # shot 2: selected by index [1, 2] and by the 15.7-23 s range; the later block wins where both set a key
    assert s2.styles == (STARRY, WAVE, KANDINSKY) and s2.style.style_blend == (1, 1, 2)
    assert s2.style.style_weight == 300 and s2.optim.iterations == 600
    assert s3.styles == (KANDINSKY,) and s3.flow.preset == "fast" and s3.style.style_weight == 150
    assert config.unmatched_blocks(bbb_shots()) == []


# -- errors --------------------------------------------------------------------------------------

ERRORS = [
    # (file text, expected message after "film.toml: ")
    ('[optim]\niterations = "many"\n', r"line 2: optim\.iterations: Input should be a valid integer.*'many'"),
    ("size = 8\n", r"line 1: size: Input should be greater than or equal to 16 \(got 8\)"),
    (
        "[[shot]]\nindex = 1\nstyle.style_weight = -5\n",
        r"line 3: shot\[0\]\.style\.style_weight: Input should be greater than or equal to 0 \(got -5\)",
    ),
    ("stlye = 1\n", r"line 1: stlye: unknown key \(did you mean style\?\)"),
    ("[optim]\niteration = 5\n", r"line 2: optim\.iteration: unknown key \(did you mean iterations\?\)"),
    (
        "[[shot]]\nindex = 0\n[shot.temporal]\npasess = 3\n",
        r"line 4: shot\[0\]\.temporal\.pasess: unknown key \(did you mean passes\?\)",
    ),
    ("[shots]\ndetectr = 'content'\n", r"shots\.detectr: unknown key \(did you mean detector\?\)"),
    ('preset = "ultra"\n', r"line 1: preset: unknown preset 'ultra' \(expected fast, balanced, best\)"),
    ('styles = ["missing.jpg"]\n', r"line 1: styles\[0\]: style image not found: .*missing\.jpg"),
    (
        f'styles = ["{STARRY}"]\n[[shot]]\nat = 3\nstyles = ["{WAVE}", "gone.png"]\n',
        r"line 4: shot\[0\]\.styles\[1\]: style image not found: .*gone\.png",
    ),
    ("[optim]\ninit = 'start.png'\n", r"line 2: optim\.init: start image not found: .*start\.png"),
    ("[style]\nstyle_weight 5\n", r"line 2: invalid TOML \(Expected '=' after a key in a key/value pair\)"),
    ("[[shot]]\nstyle.style_weight = 5\n", r"line 1: shot\[0\]: needs a selector"),
    ("[[shot]]\nindex = 1\nat = '3s'\n", r"line 1: shot\[0\]: give one selector, not index and at"),
    ("[[shot]]\nstart = '15s'\nend = 12\n", r"shot\[0\]: start \(15 s\) must be before end \(12 s\)"),
    ("[[shot]]\nindex = -1\n", r"line 2: shot\[0\]\.index\[0\]: Input should be greater than or equal to 0"),
    ("[[shot]]\nat = 'soon'\n", r"line 2: shot\[0\]\.at\[0\]: cannot read 'soon'"),
    ("[[shot]]\nindex = 0\nsize = 256\n", r"shot\[0\]: size applies to the whole video and cannot change per shot"),
    (
        f'styles = ["{STARRY}", "{WAVE}"]\n[[shot]]\nindex = 2\nstyles = ["{WAVE}"]\nstyle.style_blend = [1, 2]\n',
        r"line 5: shot\[0\]\.style\.style_blend: style_blend has 2 weights for 1 style images",
    ),
    ("[style]\nstyle_blend = [1, -1]\n", r"line 2: style\.style_blend: weights must be non-negative"),
    ("[temporal]\nlong_term = [2, 4]\n", r"line 2: temporal\.long_term: long-term offsets must be"),
    ("[shots]\ncuts = [12, 'x']\n", r"line 2: shots\.cuts\[1\]: cannot read 'x'"),
    ("[shots]\ncuts = 'sometimes'\n", r"line 2: shots\.cuts: cannot read 'sometimes'"),
    ("[encode]\ncrf = 99\n", r"line 2: encode\.crf: Input should be less than or equal to 63"),
]


@pytest.mark.parametrize("text,expected", ERRORS, ids=[e[1][:40] for e in ERRORS])
def test_config_errors_are_one_line_naming_file_and_key(tmp_path, text, expected):
    path = write(tmp_path, text)
    with pytest.raises(VidstyleError) as info:
        load_config(path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: "), message
    assert re.search(expected, message.removeprefix(f"{path}: ")), message


def test_unreadable_config_files(tmp_path):
    with pytest.raises(VidstyleError, match=r"nope\.toml: cannot read config"):
        load_config(tmp_path / "nope.toml")
    bad = tmp_path / "bin.toml"
    bad.write_bytes(b"size = \xff\xfe\n")
    with pytest.raises(VidstyleError, match=r"bin\.toml: not a TOML file"):
        load_config(bad)


def test_combination_error_names_the_shot(tmp_path):
    # Each block is valid on its own; shot 1 gets both, and the second sets a blend for 2 images on 1.
    path = write(
        tmp_path,
        f'styles = ["{STARRY}", "{WAVE}"]\n'
        f'[[shot]]\nat = "12s"\nstyles = ["{WAVE}"]\n'
        f"[[shot]]\nindex = 1\nstyle.style_blend = [1, 2]\n",
    )
    config = load_config(path)
    shots = bbb_shots()
    assert config.settings_for(shots[0]).style.style_blend is None
    with pytest.raises(VidstyleError) as info:
        config.settings_for(shots[1])
    assert re.fullmatch(
        rf"{re.escape(str(path))}: shot 1: frames 283-375, .*: line 7: shot\[1\]\.style\.style_blend: "
        r"style_blend has 2 weights for 1 style images",
        str(info.value),
    ), str(info.value)


# -- per-shot selection -------------------------------------------------------------------------


def test_selection_by_index_time_and_range(tmp_path):
    path = write(
        tmp_path,
        """
[[shot]]
index = [0, 3]
optim.iterations = 10
[[shot]]
at = ["12s", "551f"]
optim.seed = 7
[[shot]]           # middles: 5.9, 13.7, 19.3, 26.5 s -> shots 1 and 2
start = 11.8
end = "23s"
optim.history = 20
[[shot]]           # open-ended range, in frames: shots whose middle is at or after frame 400
start = "400f"
temporal.passes = 3
[[shot]]
index = 9
optim.min_side = 64
""",
    )
    config = load_config(path)
    shots = bbb_shots()
    got = [config.settings_for(s).optim for s in shots]
    assert [o.iterations for o in got] == [10, 400, 400, 10]
    assert [o.seed for o in got] == [0, 7, 0, 7]
    assert [o.history for o in got] == [100, 20, 20, 100]
    assert [config.settings_for(s).temporal.passes for s in shots] == [1, 1, 3, 3]
    assert [config.blocks_for(s) for s in shots] == [[0], [1, 2], [2, 3], [0, 1, 3]]
    assert config.unmatched_blocks(shots) == ["shot[4] (line 15) (index = 9) selects none of the 4 shots"]


def test_relative_paths_resolve_against_the_config_folder(tmp_path, monkeypatch):
    folder = tmp_path / "cfg"
    folder.mkdir()
    (folder / "art.jpg").write_bytes(STARRY.read_bytes())
    write(folder, 'styles = "art.jpg"\n')
    monkeypatch.chdir(tmp_path)
    assert load_config(Path("cfg") / "film.toml").settings.styles == (folder / "art.jpg",)


def test_layers_with_and_without_shot_blocks(tmp_path):
    path = write(
        tmp_path,
        """
preset = "fast"
[optim]
iterations = 300
[[shot]]
index = 1
optim.iterations = 900
style.style_weight = 500.0
""",
    )
    config = load_config(path)
    shot0, shot1 = bbb_shots()[:2]
    assert config.settings_for(shot0).optim.iterations == 300  # the file beats its preset
    fast = preset_settings("fast").temporal.frame_iterations
    assert fast != RenderSettings().temporal.frame_iterations
    assert config.settings_for(shot0).temporal.frame_iterations == fast  # from preset "fast"
    assert config.settings_for(shot1).optim.iterations == 900

    cli = config.with_overrides({"optim": {"iterations": 50, "seed": None}, "style": {"tv_weight": None}})
    # The command line wins everywhere, per-shot blocks included; keys it does not set keep theirs.
    assert cli.settings_for(shot0).optim.iterations == 50
    assert cli.settings_for(shot1).optim.iterations == 50
    assert cli.settings_for(shot1).style.style_weight == 500
    # --preset replaces the file's preset (keys the file sets still beat it).
    best = config.with_overrides({"preset": "best"})
    assert best.settings.temporal.passes == 8 and best.settings.optim.iterations == 300
    # Successive overrides merge.
    both = cli.with_overrides({"optim": {"seed": 3}})
    assert both.settings.optim.iterations == 50 and both.settings.optim.seed == 3


def test_command_line_merges_into_encode_and_shots():
    config = load_config(CONFIGS / "fast_preview.toml")  # crf 28, analysis_size 128
    cli = config.with_overrides({"encode": {"codec": "vp9"}, "shots": {"cuts": "none", "detector": None}})
    assert (cli.encode.codec, cli.encode.crf) == ("vp9", 28)
    assert (cli.cuts, cli.shots.analysis_size) == ("none", 128)


def test_command_line_style_resets_the_blend(tmp_path):
    config = load_config(CONFIGS / "film_shots.toml")
    cli = config.with_overrides({"styles": [str(KANDINSKY)]})
    for shot in bbb_shots():
        s = cli.settings_for(shot)
        assert s.styles == (KANDINSKY,) and s.style.style_blend is None
    blended = config.with_overrides({"styles": [str(STARRY), str(KANDINSKY)], "style": {"style_blend": [1, 4]}})
    assert blended.settings_for(bbb_shots()[2]).style.style_blend == (1, 4)


def test_command_line_errors_name_the_option():
    with pytest.raises(VidstyleError, match=r"^command line: style\.style_weight: Input should be greater"):
        config_from_options({"style": {"style_weight": -1}})
    with pytest.raises(VidstyleError, match=r"^command line: styles\[0\]: style image not found: nope\.jpg"):
        config_from_options({"styles": ["nope.jpg"]})
    with pytest.raises(VidstyleError, match=r"^command line: preset: unknown preset 'x'"):
        config_from_options({"preset": "x"})
    with pytest.raises(
        VidstyleError, match=r"^command line: shots\.cuts: cannot read '1,,2'|^command line: shots\.cuts"
    ):
        config_from_options({"shots": {"cuts": "1,,2"}})
    with pytest.raises(VidstyleError, match=r"^command line: encode\.crf: Input should be"):
        config_from_options({"encode": {"crf": -3}})
    with pytest.raises(
        VidstyleError, match=r"^command line: optim\.iteratons: unknown key \(did you mean iterations\?\)"
    ):
        config_from_options({"optim": {"iteratons": 3}})


def test_config_from_options_alone():
    config = config_from_options(
        {
            "size": 0,
            "styles": [str(STARRY)],
            "optim": {"iterations": 77},
            "shots": {"cuts": "11.8,360f"},
            "encode": {"crf": 20},
            "temporal": None,
        }
    )
    assert isinstance(config, RenderConfig) and config.source == COMMAND_LINE
    s = config.settings
    assert s.size is None and s.styles == (STARRY,) and s.optim.iterations == 77
    assert config.cuts == (Position(seconds=11.8), Position(frame=360))
    assert config.encode.crf == 20 and config_from_options().settings == preset_settings(DEFAULT_PRESET)
    assert config_from_options({"shots": {"cuts": "none"}}).cuts == "none"


def test_find_shots_with_given_cuts(tmp_path):
    dog = REPO / "sample_clips" / "vpf_dog_848x464_aac.mp4"  # 96 frames at 30 fps
    path = write(tmp_path, '[shots]\ncuts = [1, "60f"]\n')
    shots = find_shots(dog, load_config(path).shots, stride=2)
    assert [(s.first_frame, s.end_frame) for s in shots] == [(0, 30), (30, 60), (60, 96)]
    assert [(s.start, s.end) for s in shots] == [(0, 15), (15, 30), (30, 48)]
    none = find_shots(dog, ShotsSettings(cuts="none"), start="1s")
    assert len(none) == 1 and none[0].first_frame == 30


def test_split_frames_the_renderer_decoded(tmp_path):
    from vidstyle.video import open_video

    dog = REPO / "sample_clips" / "vpf_dog_848x464_aac.mp4"
    with open_video(dog, size=32, start="10f", stride=2) as reader:
        frames = list(reader)
    pairs = [(f.index, f.time) for f in frames]
    shots = split_frames(dog, pairs, ShotsSettings(cuts=(Position(seconds=1.0),)), start="10f", stride=2)
    assert [(s.start, s.end, s.first_frame) for s in shots] == [(0, 10, 10), (10, 43, 30)]
    assert [s.frames for s in shots] == [10, 33]
    auto = split_frames(dog, pairs, ShotsSettings(analysis_size=64), start="10f", stride=2)
    assert len(auto) == 1 and auto[0].end == len(frames)
