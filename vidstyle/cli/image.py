"""``vidstyle image``: stylise one still image."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from vidstyle.cli.app import app
from vidstyle.cli.common import IterationProgress, stderr_console
from vidstyle.cli.options import IMAGE_SETTINGS, validated, with_setting_options
from vidstyle.compute.device import resolve_device
from vidstyle.errors import VidstyleError
from vidstyle.files.apart import Source, Target, check_apart
from vidstyle.image.io import check_output_image, fit_longest, load_image, save_image
from vidstyle.settings import ComputeSettings, ImageSettings
from vidstyle.style.stylize import stylize_image, total_iterations


def shown_defaults() -> dict[str, Any]:
    """The values ``image`` uses when an option is not given: the models' defaults."""
    return {"": ImageSettings(), "compute": ComputeSettings()}


@app.command("image")
@with_setting_options(IMAGE_SETTINGS, shown_defaults)
def image_command(
    content: Annotated[Path, typer.Argument(help="Content image (the photo to repaint).", show_default=False)],
    styles: Annotated[list[Path], typer.Argument(help="One or more style images (paintings).", show_default=False)],
    output: Annotated[Path, typer.Option("--output", "-o", help="Output image (.png, .jpg, …).", show_default=False)],
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress display.")] = False,
    settings: dict[str, Any] | None = None,
) -> None:
    """Paint CONTENT in the style of STYLES and write the result to --output."""
    given = dict(settings or {})
    compute = validated(ComputeSettings, given.pop("compute", {}), "compute")
    if given.get("size") == 0:
        given["size"] = None  # the content's size
    if given.get("size") is not None and given["size"] < 0:
        raise VidstyleError("size: must be positive (or 0 for the content's size)")
    image = validated(ImageSettings, {**given, "styles": [str(p) for p in styles]})
    style, optim = image.style, image.optim
    init = optim.init
    check_output_image(output)
    check_apart(
        [Target("output", output)],
        [Source("content image", content), *(Source("style image", p) for p in styles),
         Source("start image", Path(init)) if init not in ("content", "noise") else None,
         Source("network weights", style.weights) if style.weights else None],
    )  # fmt: skip
    dev = resolve_device(compute.device)
    content_image = load_image(content)
    style_images = [load_image(p) for p in styles]
    h, w = fit_longest(content_image.shape[-2], content_image.shape[-1], image.size)
    total = total_iterations((h, w), optim, style)
    console = stderr_console(quiet)
    with IterationProgress(total, console) as progress:
        result = stylize_image(
            content_image,
            style_images,
            size=image.size,
            style=style,
            optim=optim,
            device=dev,
            callback=progress,
            threads=compute.threads,
        )
    save_image(result, output)
    console.print(f"wrote {output} ({w}x{h})")
