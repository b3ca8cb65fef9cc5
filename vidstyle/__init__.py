"""vidstyle: paint images and videos in the style of an artwork."""

from __future__ import annotations

__version__ = "0.1.0"

from vidstyle.compute.threads import configure_openmp

configure_openmp()  # before anything imports torch: OpenMP reads its wait policy once


# The rest imports torch, so it comes after the OpenMP setup above.
from vidstyle.errors import VidstyleError  # noqa: E402
from vidstyle.render import render  # noqa: E402
from vidstyle.settings import OptimSettings, StyleSettings  # noqa: E402
from vidstyle.style.stylize import Stylizer, optimize_image, stylize_image  # noqa: E402

# ``vidstyle.render`` is the function (the module stays importable as ``vidstyle.render``
# through ``from vidstyle.render import ...``).

__all__ = [
    "OptimSettings",
    "StyleSettings",
    "Stylizer",
    "VidstyleError",
    "__version__",
    "optimize_image",
    "render",
    "stylize_image",
]
