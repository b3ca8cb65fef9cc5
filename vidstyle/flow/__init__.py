"""Optical flow, consistency weights, warping and the on-disk flow cache.

Conventions used throughout: a flow is H×W×2 float32 (numpy) or (N, 2, H, W) (torch), u = x
and v = y in pixels; ``flow_ij`` goes FROM frame i TO frame j (pixel x of i is at
x + flow_ij(x) in j), and frame j is brought into frame i by ``warp(I_j, flow_ij)``.

The torch parts (:mod:`.warp`) load lazily so that flow worker processes stay light.
"""

from __future__ import annotations

from typing import Any

from vidstyle.flow.backends import (
    DISFlow,
    FarnebackFlow,
    FlowBackend,
    RAFTFlow,
    backend_from_settings,
    backend_options,
    make_backend,
)
from vidstyle.flow.cache import FlowCache, PairEntry
from vidstyle.flow.consistency import (
    ConsistencyParams,
    consistency_params,
    consistency_weights,
    disocclusion_mask,
    long_term_weights,
    motion_boundary_mask,
    occlusion_mask,
    warp_image,
)
from vidstyle.flow.io import read_flo, write_flo
from vidstyle.flow.pipeline import FlowPipeline, FrameFlows, Link

_LAZY = {"warp": ".warp", "flow_to_tensor": ".warp"}

__all__ = [
    "ConsistencyParams",
    "DISFlow",
    "FarnebackFlow",
    "FlowBackend",
    "FlowCache",
    "FlowPipeline",
    "FrameFlows",
    "Link",
    "PairEntry",
    "RAFTFlow",
    "backend_from_settings",
    "backend_options",
    "consistency_params",
    "consistency_weights",
    "disocclusion_mask",
    "flow_to_tensor",
    "long_term_weights",
    "make_backend",
    "motion_boundary_mask",
    "occlusion_mask",
    "read_flo",
    "warp",
    "warp_image",
    "write_flo",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
