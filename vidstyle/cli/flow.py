"""``vidstyle flow VIDEO -o DIR``: optical flow and consistency weights, cached and pictured."""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, cast

import numpy as np
import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from vidstyle.cli.app import app
from vidstyle.cli.common import default, stderr_console
from vidstyle.cli.options import names_replaced, settings_as_flags
from vidstyle.compute.threads import flow_only_plan
from vidstyle.errors import VidstyleError, file_error
from vidstyle.files.apart import (
    Source,
    Target,
    check_apart,
    names_under,
    sequence_source,
)
from vidstyle.files.atomic import atomic_write_bytes, os_errors
from vidstyle.files.identity import source_id
from vidstyle.flow.backends import (
    DEFAULT_RAFT_ITERS,
    DEFAULT_RAFT_MODEL,
    MIN_SIDE,
    backend_from_settings,
)
from vidstyle.flow.cache import FlowCache
from vidstyle.flow.pipeline import FlowPipeline
from vidstyle.flow.viz import flow_to_rgb, save_png, weights_to_gray
from vidstyle.settings import ComputeSettings, FlowSettings
from vidstyle.video import open_video

# Setting names that library errors give → the flags of ``vidstyle flow`` (and ``eval``).
FLOW_FLAGS: dict[str, str] = {
    "flow.workers": "--workers",
    "flow.raft_weights": "--raft-weights PATH",
    "download=True": "--raft-download",
}


def parse_offsets(text: str | None) -> tuple[int, ...]:
    """``"10,20"`` → (1, 10, 20): frame distances of the pairs; 1 (consecutive) is always in."""
    offsets = {1}
    if text:
        try:
            values = [int(v) for v in text.replace(" ", "").split(",") if v]
        except ValueError:
            raise VidstyleError(
                f"--long-term: expected comma-separated frame distances, e.g. 1,10,20; got {text!r}"
            ) from None
        if any(v < 1 for v in values):
            raise VidstyleError(f"--long-term: frame distances must be 1 or more, got {text!r}")
        offsets.update(values)
    return tuple(sorted(offsets))


def _pictures(cache: FlowCache, lo: int, hi: int, size: tuple[int, int], folder: Path) -> list[str]:
    """Colour-wheel flow both ways and the two weight masks of one cached pair."""
    entry = cache.load(lo, hi, size)
    if entry is None:  # just written by the pipeline; only a vanished disk gets here
        raise file_error(cache.path(lo, hi, size), "flow cache entry missing after computing it")
    fwd, bwd = entry.flow_fwd.astype(np.float32), entry.flow_bwd.astype(np.float32)
    top = max(float(np.hypot(fwd[..., 0], fwd[..., 1]).max()), float(np.hypot(bwd[..., 0], bwd[..., 1]).max()))
    names = {
        f"flow_{lo:06d}_{hi:06d}.png": flow_to_rgb(fwd, top),
        f"flow_{hi:06d}_{lo:06d}.png": flow_to_rgb(bwd, top),
        f"weights_{lo:06d}_{hi:06d}.png": weights_to_gray(entry.weights_lo),
        f"weights_{hi:06d}_{lo:06d}.png": weights_to_gray(entry.weights_hi),
    }
    for name, img in names.items():
        save_png(folder / name, img)
    return list(names)


def _no_empty_output(command: Callable[..., None]) -> Callable[..., None]:
    """Remove the output folder the command created when it fails before storing any flow."""

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> None:
        output = Path(kwargs["output"])
        created = not output.exists()
        try:
            command(*args, **kwargs)
        except Exception:
            if created and output.is_dir() and not any(output.rglob("*.vsflow")):
                shutil.rmtree(output, ignore_errors=True)  # nothing of value in it: leave nothing behind
            raise

    return run


@app.command("flow")
@_no_empty_output
@settings_as_flags(names_replaced(FLOW_FLAGS))
def flow_command(
    video: Annotated[Path, typer.Argument(help="Input video file or image sequence.", show_default=False)],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Output folder (created if missing).", show_default=False)
    ],
    backend: Annotated[str, typer.Option(help="dis, farneback or raft.")] = default(FlowSettings, "backend"),
    preset: Annotated[str, typer.Option(help="DIS preset: ultrafast, fast or medium.")] = default(
        FlowSettings, "preset"
    ),
    refine: Annotated[
        int | None, typer.Option(help="DIS variational-refinement iterations [default: the preset's].")
    ] = None,
    scale: Annotated[
        float, typer.Option(help="Estimate flow at this fraction of the frame size (faster), 0-1.")
    ] = default(FlowSettings, "scale"),
    raft_weights: Annotated[Path | None, typer.Option(help="Local RAFT state_dict file for --backend raft.")] = None,
    raft_model: Annotated[str, typer.Option(help="raft_large or raft_small.")] = DEFAULT_RAFT_MODEL,
    raft_iters: Annotated[int, typer.Option(help="RAFT refinement iterations.")] = DEFAULT_RAFT_ITERS,
    raft_download: Annotated[
        bool, typer.Option("--raft-download", help="Allow downloading torchvision's RAFT weights (off by default).")
    ] = False,
    device: Annotated[str, typer.Option(help="cpu, cuda or auto (RAFT only).")] = default(ComputeSettings, "device"),
    size: Annotated[
        int | None, typer.Option(help="Longest side of the frames in pixels [default: the video's].")
    ] = None,
    start: Annotated[
        str | None, typer.Option(help="First frame: seconds (2.5, 1:02.5) or a frame number (120f).")
    ] = None,
    end: Annotated[str | None, typer.Option(help="End (exclusive), same forms as --start.")] = None,
    stride: Annotated[int, typer.Option(help="Keep every n-th frame.")] = 1,
    long_term: Annotated[
        str | None, typer.Option(help="Also pair frames this many frames apart, e.g. 10,20,40 (1 is always done).")
    ] = None,
    workers: Annotated[
        int | None, typer.Option(help="Flow worker processes (0: in this process) [default: cores−1, max 4].")
    ] = None,
    pictures: Annotated[bool, typer.Option(help="Write PNG pictures of every pair's flow and weights.")] = True,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress display.")] = False,
) -> None:
    """Compute forward and backward flow and consistency weights for the frame pairs of VIDEO.

    Writes the cache entries (what the stylisation reuses) under --output, a summary
    flow.json, and with --pictures colour-wheel flow and weight-mask PNGs in
    --output/pictures.
    """
    offsets = parse_offsets(long_term)
    if size is not None and size < 16:
        raise VidstyleError("--size: must be at least 16 pixels")
    if workers is not None and workers < 0:
        raise VidstyleError("--workers: must be 0 or more")
    if not video.exists():
        raise file_error(video, "no such file")
    if output.exists() and not output.is_dir():
        raise file_error(output, "exists and is not a directory")
    check_apart(
        [
            Target(
                "output folder", output, "shared", names_under("flow.json", "pictures", re.compile(r".+-[0-9a-f]{16}"))
            )
        ],
        [sequence_source(video), Source("RAFT weights", raft_weights) if raft_weights else None],
    )
    # Unvalidated: the backend checks the values, with the messages this command has always given
    # (hence the casts: they are any strings the user typed, not yet the model's Literals).
    settings = FlowSettings.model_construct(
        backend=cast(Any, backend), preset=cast(Any, preset), scale=scale, raft_weights=raft_weights
    )
    flow_backend = backend_from_settings(
        settings, refine=refine, model=raft_model, iters=raft_iters, device=device, download=raft_download
    )
    # Flow alone: the workers share every core (RAFT: one worker holds the network).
    split = flow_only_plan(workers=workers if workers is not None or flow_backend.name != "raft" else 1)
    console = stderr_console(quiet)

    with open_video(video, size=size, start=start, end=end, stride=stride) as reader:
        info = reader.info
        if min(info.width, info.height) < MIN_SIDE:  # before creating anything or showing progress
            raise file_error(video, f"frames of {info.width}x{info.height} are too small for optical flow "
                                    f"(min side {MIN_SIDE})")  # fmt: skip
        with os_errors(output, "cannot create folder"):
            output.mkdir(parents=True, exist_ok=True)
        if not os.access(output, os.W_OK | os.X_OK):
            raise file_error(output, "folder is not writable")
        folder = output / "pictures"
        if pictures:
            with os_errors(folder, "cannot create folder"):
                folder.mkdir(exist_ok=True)
        frames: list[int] = []
        pairs: list[dict[str, Any]] = []
        progress = Progress(
            TextColumn("flow"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
            disable=console.quiet,
        )
        with (
            FlowPipeline(output, offsets, backend=flow_backend, source=source_id(video), threads=split) as fp,
            progress,
        ):
            task = progress.add_task("flow", total=len(reader) or None)
            assert fp.cache is not None
            for item in fp.iterate(reader):
                frames.append(item.index)
                size_wh = (item.image.shape[1], item.image.shape[0])
                for k, link in sorted(item.links.items()):
                    lo, hi = sorted((item.index, link.source))
                    record: dict[str, Any] = {
                        "frames": [lo, hi],
                        "distance": k,
                        "entry": str(fp.cache.path(lo, hi, size_wh).relative_to(output)),
                    }
                    if pictures:
                        record["pictures"] = [f"pictures/{n}" for n in _pictures(fp.cache, lo, hi, size_wh, folder)]
                    pairs.append(record)
                progress.advance(task)
        warning = reader.warning

    if not frames:
        raise file_error(video, "no frames in the selected range")
    summary = {
        "video": str(video),
        "width": info.width,
        "height": info.height,
        "frames": frames,
        "offsets": list(offsets),
        "backend": flow_backend.identity(),
        "cache": str(fp.cache.directory.relative_to(output)),
        "pairs": pairs,
        "conventions": {
            "flow": "H x W x 2 float16, u = x, v = y in pixels; flow_A_B goes from frame A to frame B",
            "weights_A_B": "consistency weights on frame A's pixels for warping frame B into A with flow_A_B",
        },
    }
    atomic_write_bytes(output / "flow.json", (json.dumps(summary, indent=2) + "\n").encode())
    if warning:
        console.print(f"warning: {warning}")
    console.print(f"wrote {len(pairs)} frame pairs of {len(frames)} frames ({info.width}x{info.height}) to {output}")
