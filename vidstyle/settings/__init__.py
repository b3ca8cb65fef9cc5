"""Every tunable of vidstyle, with its default, bounds, choices and help, defined once.

The pydantic models in :mod:`.models` are the one source: the Python API, the TOML configs
(:mod:`vidstyle.config`) and the command line (its options are generated from the models'
fields, see :mod:`vidstyle.cli.options`) all read them. :mod:`.presets` holds the named
starting points of ``vidstyle render --preset``.
"""

from vidstyle.settings.models import (
    MAX_SIDE,
    MAX_WEIGHT,
    ComputeSettings,
    EncodeSettings,
    FlowSettings,
    FrameSelection,
    ImageSettings,
    OptimSettings,
    RenderSettings,
    StyleSettings,
    TemporalSettings,
)
from vidstyle.settings.presets import DEFAULT_PRESET, PRESETS, apply_overrides, preset_settings

__all__ = [
    "DEFAULT_PRESET",
    "MAX_SIDE",
    "MAX_WEIGHT",
    "PRESETS",
    "ComputeSettings",
    "EncodeSettings",
    "FlowSettings",
    "FrameSelection",
    "ImageSettings",
    "OptimSettings",
    "RenderSettings",
    "StyleSettings",
    "TemporalSettings",
    "apply_overrides",
    "preset_settings",
]
