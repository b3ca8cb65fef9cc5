"""Presets for ``vidstyle render --preset``: named starting points over the defaults of :mod:`.models`."""

from __future__ import annotations

from vidstyle.settings.models import RenderSettings

# Presets for ``vidstyle render --preset``: overrides of the defaults above, by section.
# Cost per frame is given for the frames after a shot's first (which gets optim.iterations at
# the finest scale plus half that at each coarser one).
PRESETS: dict[str, dict[str, dict[str, object]]] = {
    # 1 pass × 40 iterations, short-term loss only.
    "fast": {"optim": {"iterations": 200}, "temporal": {"frame_iterations": 40, "long_term": (1,)}},
    # 1 pass × 150 iterations, long-term loss over frames 1, 2 and 4 back.
    "balanced": {"optim": {"iterations": 400}, "temporal": {"frame_iterations": 150, "long_term": (1, 2, 4)}},
    # Multipass: 1 independent pass + 7 alternating passes × 100 iterations (≈ 800 per frame).
    "best": {
        "optim": {"iterations": 500},
        "temporal": {
            "passes": 8,
            "pass_iterations": 100,
            "frame_iterations": 100,
            "long_term": (1, 2, 4),
            "temporal_from_pass": 2,
        },
    },
}
DEFAULT_PRESET = "balanced"


def apply_overrides(settings: RenderSettings, overrides: dict[str, object]) -> RenderSettings:
    """``settings`` with a nested dict of overrides (section → field → value) applied and validated."""
    data = settings.model_dump()
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return RenderSettings.model_validate(data)


def preset_settings(name: str) -> RenderSettings:
    """The defaults with a named preset applied."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r} (expected {', '.join(PRESETS)})")
    return apply_overrides(RenderSettings(), PRESETS[name])  # type: ignore[arg-type]
