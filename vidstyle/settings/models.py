"""Every tunable of the style engine, with its default, defined once.

The CLI options, the Python API and (later) TOML configs all read these models.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from vidstyle.style.vgg import LAYERS, Network, Pooling

SQRT2 = math.sqrt(2.0)


# Loss weights beyond this overflow the float32 arithmetic of the losses and the optimiser
# (a weight times a squared 0-255 error, then squared again inside L-BFGS).
MAX_WEIGHT = 1e12
# Longest side of a working frame or image: beyond this a frame does not fit in memory (or in
# FFmpeg's scaler) on any machine vidstyle runs on.
MAX_SIDE = 16384


class _Model(BaseModel):
    # Every number is finite: inf and nan are refused wherever a setting comes from (CLI, TOML, Python).
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class StyleSettings(_Model):
    """What the image should look like: network, layers, loss weights, colour handling."""

    content_weight: float = Field(5.0, ge=0, le=MAX_WEIGHT, description="weight of the content (relu4_2) loss")
    style_weight: float = Field(100.0, ge=0, le=MAX_WEIGHT, description="weight of the Gram style loss")
    tv_weight: float = Field(1e-3, ge=0, le=MAX_WEIGHT, description="weight of the total-variation smoothness loss")
    content_layers: tuple[str, ...] = Field(
        ("relu4_2",), description="VGG-19 layers whose features the result keeps from the frame"
    )
    style_layers: tuple[str, ...] = Field(
        ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"),
        description="VGG-19 layers whose Gram matrices carry the style",
    )
    style_layer_weights: tuple[float, ...] | None = Field(None, description="per style layer; default all 1")
    style_blend: tuple[float, ...] | None = Field(None, description="per style image; default equal")
    style_scale: float = Field(1.0, gt=0, le=8, description="style image size relative to the frame")
    preserve_colors: Literal["none", "luminance", "match"] = Field(
        "none",
        description="keep the frame's colours: none, luminance (restyle brightness only) or match (recolour the style)",
    )
    pooling: Pooling = Field("max", description="pooling in the network: max (Gatys) or avg")
    network: Network = Field(
        "caffe", description="caffe (original VGG-19 weights) or torchvision (needs style.weights)"
    )
    weights: Path | None = Field(None, description="weights file (torchvision network; caffe overrides)")
    precision: Literal["auto", "fp32", "bf16"] = Field(
        "auto",
        description="network arithmetic: bf16 (losses still in fp32) or fp32; auto is bf16 where the GPU or CPU runs it natively",
    )

    @field_validator("content_layers", "style_layers")
    @classmethod
    def _known_layers(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for layer in v:
            if layer not in LAYERS:
                raise ValueError(f"unknown VGG-19 layer {layer!r}")
        return v

    @field_validator("style_blend", "style_layer_weights")
    @classmethod
    def _non_negative(cls, v: tuple[float, ...] | None) -> tuple[float, ...] | None:
        if v is not None and (any(w < 0 for w in v) or not any(w > 0 for w in v)):
            raise ValueError("weights must be non-negative and not all zero")
        if v is not None and any(w > MAX_WEIGHT for w in v):
            raise ValueError(f"weights must be at most {MAX_WEIGHT:g}")
        return v

    @model_validator(mode="after")
    def _something_to_optimise(self) -> StyleSettings:
        if self.content_weight == 0 and self.style_weight == 0 and self.tv_weight == 0:
            raise ValueError("content_weight, style_weight and tv_weight are all 0: there is nothing to optimise")
        return self

    @model_validator(mode="after")
    def _layer_weights_match(self) -> StyleSettings:
        if self.style_layer_weights is not None and len(self.style_layer_weights) != len(self.style_layers):
            raise ValueError(
                f"{len(self.style_layer_weights)} style layer weights for {len(self.style_layers)} style layers"
            )
        return self


Optimizer = Literal["lbfgs", "adam"]
# The step size of each optimiser when optim.learning_rate is not set: L-BFGS takes Ruder's
# fixed unit step (no line search); Adam steps in 0-255 pixel units.
DEFAULT_LEARNING_RATES: dict[str, float] = {"lbfgs": 1.0, "adam": 10.0}


class OptimSettings(_Model):
    """How hard to optimise: method, iteration budget, coarse-to-fine scales, start image."""

    optimizer: Optimizer = Field("lbfgs", description="lbfgs (Ruder's settings: fixed step) or adam")
    iterations: int = Field(500, ge=1, description="iterations at the finest scale")
    coarse_iterations: int | None = Field(
        None, ge=1, description="iterations at each coarser scale (default: half of iterations)"
    )
    learning_rate: float | None = Field(
        None,
        gt=0,
        le=1e6,
        description="step size (default: "
        + ", ".join(f"{v:g} for {k}" for k, v in DEFAULT_LEARNING_RATES.items())
        + ")",
    )
    history: int = Field(100, ge=1, le=1000, description="L-BFGS history length")
    tolerance: float = Field(1e-4, ge=0, description="stop when the loss falls less than this (relative) …")
    tolerance_window: int = Field(50, ge=0, description="… over this many iterations (0: never stop early)")
    scales: int | None = Field(None, ge=1, le=12, description="coarse-to-fine scales; default: from min_side up")
    min_side: int = Field(128, ge=16, description="longest side of the coarsest scale")
    scale_factor: float = Field(SQRT2, gt=1, le=4, description="size ratio between scales")
    init: str = Field("content", description="content, noise, or an image file")
    seed: int = Field(0, description="seed of the noise start; results are deterministic for a seed")

    def iterations_at(self, scale: int, n_scales: int) -> int:
        """Iteration budget of scale ``scale`` (0 = coarsest) of ``n_scales``."""
        if scale == n_scales - 1:
            return self.iterations
        return self.coarse_iterations if self.coarse_iterations is not None else max(1, self.iterations // 2)


class TemporalSettings(_Model):
    """Video consistency (Ruder et al.): warped start, temporal losses, multipass schedule."""

    temporal_weight: float = Field(
        1e4,
        ge=0,
        le=MAX_WEIGHT,
        description="weight of the short/long-term temporal loss (Ruder used 1e3; 1e4 flickers less, see README)",
    )
    long_term: tuple[int, ...] = Field(
        (1,), description="earlier frames tied to each frame: 1 (short-term only) or e.g. 1,2,4 (long-term)"
    )
    frame_iterations: int = Field(150, ge=1, description="iterations for each frame after a shot's first")
    frame_scales: int = Field(1, ge=1, le=12, description="coarse-to-fine scales for frames after the first")
    warm_start: bool = Field(True, description="start each frame from the warped previous result")
    fill: Literal["content", "previous"] = Field(
        "content", description="where the warp is unreliable, start from the content frame or the previous result"
    )
    passes: int = Field(1, ge=1, le=50, description="1: single sequential pass; more: Ruder's multipass")
    pass_iterations: int = Field(100, ge=1, description="iterations per frame in each pass after the first")
    temporal_from_pass: int = Field(2, ge=1, description="first pass that uses the temporal loss (multipass)")
    blend: float = Field(1.0, ge=0, le=1e6, description="b in the multipass start (x_prev + b·c·ω(x_nbr)) / (1 + b·c)")
    follow_input: bool = Field(
        False,
        description="temporal loss on changes: the warped earlier painting also moves with the smooth part of the "
        "input's own change along the flow (suits colour-preserving styles; most paintings compress tones and "
        "would over-follow)",
    )
    follow_sigma: float = Field(
        0.03, ge=0, le=1, description="blur of the followed input change, as a fraction of the frame's longest side"
    )
    photometric_check: bool = Field(
        True,
        description="release a pixel from the earlier painting (repaint it from the content) where the input now "
        "differs from the input it was painted for by more than photometric_abs + photometric_rel x brightness: a "
        "fade, a lighting change, a new object (off: Ruder's weights from the flow alone)",
    )
    photometric_rel: float = Field(0.15, ge=0, le=10, description="relative part of the photometric threshold")
    photometric_abs: float = Field(8.0, ge=0, le=255, description="absolute part of the photometric threshold (0-255)")
    photometric_sigma: float = Field(
        0.04,
        ge=0,
        le=1,
        description="blur before the photometric check, as a fraction of the frame's longest side: "
        "lighting changes are smooth, while the anchor carried along the flow loses fine texture",
    )
    adaptive_iterations: bool = Field(
        True,
        description="frames that are largely new (released or disoccluded) get more iterations, up to the first "
        "frame's budget and coarse to fine when most of the frame is new",
    )
    still_change: float = Field(
        0.0,
        ge=0,
        le=255,
        description="frames whose input barely changed along the flow get fewer iterations: below this RMS change "
        "(0-255, over the pixels the warped start covers) the budget shrinks in proportion, to none (the warped start is kept) for an "
        "unchanged frame (0: off)",
    )

    hold_change: float = Field(
        0.0,
        ge=0,
        le=255,
        description="hold still pixels exactly: a pixel keeps its painting bit for bit while the input there has "
        "changed by at most this much (blurred luminance, 0-255, e.g. 2) and moved by at most hold_motion pixels "
        "since it was painted; for locked-off shots, where it also spares the encoder's coding noise (0: off)",
    )
    hold_motion: float = Field(
        0.5,
        ge=0,
        le=2,
        description="the input motion (pixels, accumulated since the pixel was painted) that ends a hold",
    )

    chunk: int | None = Field(
        None,
        ge=2,
        le=10_000_000,
        description="split shots longer than this many frames into chunks that render in parallel (several "
        "processes or machines on one job); unset: every shot is one unit of work",
    )
    chunk_overlap: int = Field(
        32,
        ge=0,
        le=10000,
        description="frames a chunk starts before its seam: both chunks render them and the output cross-fades "
        "from one to the other over them (0: a hard seam; the seam's extra flicker falls as 1/overlap², see README)",
    )

    @model_validator(mode="after")
    def _hold_needs_a_sequential_pass(self) -> TemporalSettings:
        if self.hold_change > 0 and (self.passes > 1 or not self.warm_start):
            raise ValueError(
                "temporal.hold_change needs a single sequential pass that starts each frame from the previous one "
                f"(temporal.passes = 1 and temporal.warm_start on; got temporal.passes = {self.passes}, "
                f"temporal.warm_start = {self.warm_start}; the best preset has 8 passes)"
            )
        return self

    @model_validator(mode="after")
    def _overlap_within_chunk(self) -> TemporalSettings:
        if self.chunk is not None and self.chunk_overlap >= self.chunk:
            raise ValueError(f"chunk_overlap ({self.chunk_overlap}) must be less than chunk ({self.chunk})")
        return self

    @field_validator("long_term")
    @classmethod
    def _offsets(cls, v: tuple[int, ...]) -> tuple[int, ...]:
        if not v or any(k < 1 or k > 10000 for k in v) or len(set(v)) != len(v) or 1 not in v:
            raise ValueError("long-term offsets must be distinct positive integers including 1, e.g. 1,2,4")
        return tuple(sorted(v))


class FlowSettings(_Model):
    """Optical flow used for the temporal terms."""

    backend: Literal["dis", "farneback", "raft"] = Field(
        "dis", description="optical flow method: dis (OpenCV, CPU), farneback, or raft (needs flow.raft_weights)"
    )
    preset: Literal["ultrafast", "fast", "medium"] = Field("medium", description="DIS preset")
    scale: float = Field(1.0, gt=0, le=1, description="estimate flow at this fraction of the frame size")
    raft_weights: Path | None = Field(None, description="local RAFT state dict (backend raft)")
    workers: int | None = Field(
        None,
        ge=0,
        le=64,
        description="flow worker processes, within the thread budget (default: none below 4 cores, else 1 per 8 cores, at most 4)",
    )
    motion_boundaries: bool = Field(
        False,
        description="also zero the temporal weight at motion boundaries (Ruder); off by default: at working sizes "
        "the flow is smooth across moving objects, the test flags whole objects, and they flicker",
    )


class EncodeSettings(_Model):
    """How the stylised frames are written out (the source's timing and audio are always kept)."""

    codec: str | None = Field(None, description="h264 (default), h265, vp9, prores, ffv1")
    crf: int | None = Field(
        None,
        ge=0,
        le=63,
        description="constant rate factor: lower is better quality and bigger files (default: the codec's)",
    )
    preset: str | None = Field(None, description="encoder speed preset, e.g. medium")


class ComputeSettings(_Model):
    """How the work is run on this machine; never changes a result, so not part of a job's settings."""

    device: str = Field("auto", description="cpu, cuda, cuda:N, or auto (CUDA where present)")
    threads: int | None = Field(
        None,
        ge=1,
        le=4096,
        description="compute threads for the stylising process and its flow workers together "
        "(default: all cores this process may run on); see the README on sharing a machine",
    )
    workers: int = Field(
        1,
        ge=1,
        le=256,
        description="render processes on this machine, working on the job's units together; each gets its own "
        "GPU where CUDA is present, else an equal share of the thread budget",
    )
    ray: str | None = Field(
        None,
        description="render the units with Ray actors: auto (RAY_ADDRESS, else a local cluster), local, or a "
        "cluster address like ray://head:10001 (pip install 'vidstyle[ray]'); decoding and encoding stay here",
    )
    ray_gpus: float = Field(
        1.0, gt=0, le=1, description="GPUs each Ray actor asks for where the cluster has GPUs (a fraction shares one)"
    )


class FrameSelection(_Model):
    """Which frames of the input a render processes: a trim and a stride."""

    start: str | None = Field(None, description="start at this time (2.5, 1:02.5) or frame (120f)")
    end: str | None = Field(None, description="stop before this time or frame")
    stride: int = Field(1, ge=1, le=100000, description="keep every n-th frame")


class ImageSettings(_Model):
    """Everything that decides what one stylised image looks like."""

    size: int | None = Field(
        512, ge=16, le=MAX_SIDE, description="longest side of the result in pixels (None: the content's size)"
    )
    styles: tuple[Path, ...] = Field((), description="style images (paintings); blend weights in style.style_blend")
    style: StyleSettings = StyleSettings()
    optim: OptimSettings = OptimSettings()

    @model_validator(mode="after")
    def _blend_matches_styles(self) -> ImageSettings:
        blend = self.style.style_blend
        if blend is not None and self.styles and len(blend) != len(self.styles):
            raise ValueError(f"style_blend has {len(blend)} weights for {len(self.styles)} style images")
        return self


class RenderSettings(ImageSettings):
    """Everything that decides what one shot's stylised frames look like: an image's settings
    (``size`` is the frames' longest side) and the temporal terms with their flow."""

    temporal: TemporalSettings = TemporalSettings()
    flow: FlowSettings = FlowSettings()

    def independent(self) -> RenderSettings:
        """The per-frame baseline: every frame optimised alone, like the first frame of a shot."""
        return self.model_copy(
            update={
                "temporal": self.temporal.model_copy(update={"warm_start": False, "temporal_weight": 0.0, "passes": 1})
            }
        )
