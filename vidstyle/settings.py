"""Every tunable of the style engine, with its default, defined once.

The CLI options, the Python API and (later) TOML configs all read these models.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .vgg import LAYERS

SQRT2 = math.sqrt(2.0)


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class StyleSettings(_Model):
    """What the image should look like: network, layers, loss weights, colour handling."""

    content_weight: float = Field(5.0, ge=0, description="weight of the content (relu4_2) loss")
    style_weight: float = Field(100.0, ge=0, description="weight of the Gram style loss")
    tv_weight: float = Field(1e-3, ge=0, description="weight of the total-variation smoothness loss")
    content_layers: tuple[str, ...] = ("relu4_2",)
    style_layers: tuple[str, ...] = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
    style_layer_weights: tuple[float, ...] | None = Field(None, description="per style layer; default all 1")
    style_blend: tuple[float, ...] | None = Field(None, description="per style image; default equal")
    style_scale: float = Field(1.0, gt=0, le=8, description="style image size relative to the frame")
    preserve_colors: Literal["none", "luminance", "match"] = "none"
    pooling: Literal["max", "avg"] = "max"
    network: Literal["caffe", "torchvision"] = "caffe"
    weights: Path | None = Field(None, description="weights file (torchvision network; caffe overrides)")

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
        return v

    @model_validator(mode="after")
    def _layer_weights_match(self) -> StyleSettings:
        if self.style_layer_weights is not None and len(self.style_layer_weights) != len(self.style_layers):
            raise ValueError(
                f"{len(self.style_layer_weights)} style layer weights for {len(self.style_layers)} style layers"
            )
        return self


class OptimSettings(_Model):
    """How hard to optimise: method, iteration budget, coarse-to-fine scales, start image."""

    optimizer: Literal["lbfgs", "adam"] = "lbfgs"
    iterations: int = Field(500, ge=1, description="iterations at the finest scale")
    coarse_iterations: int | None = Field(
        None, ge=1, description="iterations at each coarser scale (default: half of iterations)"
    )
    learning_rate: float | None = Field(None, gt=0, description="default 1 for L-BFGS, 10 for Adam")
    history: int = Field(100, ge=1, le=1000, description="L-BFGS history length")
    tolerance: float = Field(1e-4, ge=0, description="stop when the loss falls less than this (relative) …")
    tolerance_window: int = Field(50, ge=0, description="… over this many iterations (0: never stop early)")
    scales: int | None = Field(None, ge=1, le=12, description="coarse-to-fine scales; default: from min_side up")
    min_side: int = Field(128, ge=16, description="longest side of the coarsest scale")
    scale_factor: float = Field(SQRT2, gt=1, le=4, description="size ratio between scales")
    init: str = Field("content", description="content, noise, or an image file")
    seed: int = 0

    def iterations_at(self, scale: int, n_scales: int) -> int:
        """Iteration budget of scale ``scale`` (0 = coarsest) of ``n_scales``."""
        if scale == n_scales - 1:
            return self.iterations
        return self.coarse_iterations if self.coarse_iterations is not None else max(1, self.iterations // 2)


DEFAULT_IMAGE_SIZE = 512
