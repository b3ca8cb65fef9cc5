"""``vidstyle image``: stylise one still image."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vidstyle.compute.device import resolve_device
from vidstyle.errors import VidstyleError
from vidstyle.files.apart import Source, Target, check_apart
from vidstyle.image.io import check_output_image, fit_longest, load_image, save_image
from vidstyle.settings import DEFAULT_IMAGE_SIZE, MAX_SIDE, ComputeSettings, OptimSettings, StyleSettings
from vidstyle.style.stylize import stylize_image, total_iterations
from vidstyle.cli.app import app
from vidstyle.cli.common import IterationProgress, build_settings, default, parse_floats, parse_names, stderr_console

S, O = StyleSettings, OptimSettings


@app.command("image")
def image_command(
    content: Annotated[Path, typer.Argument(help="Content image (the photo to repaint).", show_default=False)],
    styles: Annotated[list[Path], typer.Argument(help="One or more style images (paintings).", show_default=False)],
    output: Annotated[Path, typer.Option("--output", "-o", help="Output image (.png, .jpg, …).", show_default=False)],
    size: Annotated[int, typer.Option(help="Longest side of the result in pixels (0: content's size).")] = DEFAULT_IMAGE_SIZE,
    iterations: Annotated[int, typer.Option(help="Iterations at the finest scale.")] = default(O, "iterations"),
    coarse_iterations: Annotated[
        int | None, typer.Option(help="Iterations at each coarser scale [default: half of --iterations].")
    ] = None,
    content_weight: Annotated[float, typer.Option(help="Weight of the content loss.")] = default(S, "content_weight"),
    style_weight: Annotated[float, typer.Option(help="Weight of the style loss.")] = default(S, "style_weight"),
    tv_weight: Annotated[float, typer.Option(help="Weight of the smoothness (total variation) loss.")] = default(S, "tv_weight"),
    style_blend: Annotated[
        str | None, typer.Option(help="Comma-separated weights of the style images, e.g. 2,1 [default: equal].")
    ] = None,
    style_scale: Annotated[float, typer.Option(help="Style image size relative to the result.")] = default(S, "style_scale"),
    preserve_colors: Annotated[
        str, typer.Option(help="Keep the content's colours: none, luminance (transfer luminance only) or match (recolour the style).")
    ] = default(S, "preserve_colors"),
    init: Annotated[str, typer.Option(help="Start image: content, noise, or an image file.")] = default(O, "init"),
    optimizer: Annotated[str, typer.Option(help="lbfgs or adam.")] = default(O, "optimizer"),
    learning_rate: Annotated[float | None, typer.Option(help="Step size [default: 1 for lbfgs, 10 for adam].")] = None,
    scales: Annotated[
        int | None, typer.Option(help="Coarse-to-fine scales, sqrt(2) apart [default: from 128 px up to --size].")
    ] = None,
    content_layers: Annotated[str | None, typer.Option(help="Comma-separated content layers [default: relu4_2].")] = None,
    style_layers: Annotated[
        str | None, typer.Option(help="Comma-separated style layers [default: relu1_1,relu2_1,relu3_1,relu4_1,relu5_1].")
    ] = None,
    style_layer_weights: Annotated[str | None, typer.Option(help="Comma-separated weights of the style layers.")] = None,
    pooling: Annotated[str, typer.Option(help="max or avg.")] = default(S, "pooling"),
    network: Annotated[str, typer.Option(help="caffe (original VGG-19 weights) or torchvision (needs --weights).")] = default(S, "network"),
    weights: Annotated[Path | None, typer.Option(help="Local weights file for --network torchvision.")] = None,
    device: Annotated[str, typer.Option(help="cpu, cuda or auto.")] = "auto",
    precision: Annotated[
        str, typer.Option(help="Network arithmetic: auto (bf16 where the hardware runs it natively), fp32 or bf16.")
    ] = default(S, "precision"),
    seed: Annotated[int, typer.Option(help="Random seed (noise start).")] = default(O, "seed"),
    threads: Annotated[
        int | None, typer.Option(help="Compute threads [default: all cores].")
    ] = default(ComputeSettings, "threads"),
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress display.")] = False,
) -> None:
    """Paint CONTENT in the style of STYLES and write the result to --output."""
    if size < 0:
        raise VidstyleError("--size: must be positive (or 0 for the content's size)")
    if size > MAX_SIDE:
        raise VidstyleError(f"--size: at most {MAX_SIDE} pixels")
    check_output_image(output)
    check_apart(
        [Target("output", output)],
        [Source("content image", content), *(Source("style image", p) for p in styles),
         Source("start image", Path(init)) if init not in ("content", "noise") else None,
         Source("network weights", weights) if weights else None],
    )  # fmt: skip
    dev = resolve_device(device)
    style = build_settings(
        StyleSettings,
        dict(
            content_weight=content_weight,
            style_weight=style_weight,
            tv_weight=tv_weight,
            style_blend=parse_floats(style_blend, "--style-blend"),
            style_scale=style_scale,
            preserve_colors=preserve_colors,
            content_layers=parse_names(content_layers),
            style_layers=parse_names(style_layers),
            style_layer_weights=parse_floats(style_layer_weights, "--style-layer-weights"),
            pooling=pooling,
            network=network,
            weights=weights,
            precision=precision,
        ),
    )
    optim = build_settings(
        OptimSettings,
        dict(
            optimizer=optimizer,
            iterations=iterations,
            coarse_iterations=coarse_iterations,
            learning_rate=learning_rate,
            scales=scales,
            init=init,
            seed=seed,
        ),
    )
    compute = build_settings(ComputeSettings, {"threads": threads})
    if style.style_blend is not None and len(style.style_blend) != len(styles):
        raise VidstyleError(f"--style-blend: {len(style.style_blend)} weights for {len(styles)} style images")
    content_image = load_image(content)
    style_images = [load_image(p) for p in styles]
    h, w = fit_longest(content_image.shape[-2], content_image.shape[-1], size or None)
    total = total_iterations((h, w), optim, style)
    console = stderr_console(quiet)
    with IterationProgress(total, console) as progress:
        result = stylize_image(
            content_image, style_images, size=size or None, style=style, optim=optim, device=dev, callback=progress,
            threads=compute.threads,
        )
    save_image(result, output)
    console.print(f"wrote {output} ({w}x{h})")
