"""vidstyle: paint images and videos in the style of an artwork."""

from __future__ import annotations

__version__ = "0.1.0"

from .errors import VidstyleError

__all__ = ["VidstyleError", "__version__"]
