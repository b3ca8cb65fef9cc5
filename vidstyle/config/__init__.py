"""Render configs in TOML: file-wide settings, then per-shot overrides (see :mod:`.file`).

:mod:`.file` reads and layers a config, :mod:`.messages` words its problems as one line,
:mod:`.template` writes the documented default config from the settings models.
"""

from vidstyle.config.blocks import SECTIONS, ShotBlock
from vidstyle.config.file import COMMAND_LINE, ConfigFile, RenderConfig, config_from_options, load_config
from vidstyle.config.template import default_config_text

__all__ = [
    "COMMAND_LINE",
    "SECTIONS",
    "ConfigFile",
    "RenderConfig",
    "ShotBlock",
    "config_from_options",
    "default_config_text",
    "load_config",
]
