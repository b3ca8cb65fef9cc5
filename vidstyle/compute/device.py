"""Choosing the torch device and the network's arithmetic from the user's settings."""

from __future__ import annotations

import torch

from vidstyle.errors import VidstyleError
from vidstyle.settings import ComputeSettings


def resolve_device(name: str | torch.device | None = None) -> torch.device:
    """The torch device for a ``device`` setting: cpu, cuda, cuda:N, or auto (CUDA when
    present); None means the default of ``ComputeSettings.device``.

    Raises VidstyleError (naming the ``device`` setting) for CUDA on a machine without it
    or an unknown name.
    """
    if name is None:
        name = ComputeSettings.model_fields["device"].default
    if isinstance(name, torch.device):
        name = str(name)
    name = name.strip().lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda" or name.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise VidstyleError(f"compute.device {name}: CUDA is not available on this machine (use cpu or auto)")
        dev = torch.device(name)
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise VidstyleError(f"compute.device {name}: only {torch.cuda.device_count()} CUDA device(s) present")
        return dev
    raise VidstyleError(f"compute.device {name}: unknown device (expected cpu, cuda, cuda:N or auto)")


def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` runs bf16 convolutions in hardware (so they beat fp32)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported(including_emulation=False)
    if device.type == "cpu":
        checks = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")
        return any(bool(getattr(torch.cpu, name, lambda: False)()) for name in checks)
    return False


def resolve_precision(precision: str, device: torch.device) -> torch.dtype | None:
    """The network's compute dtype for ``auto|fp32|bf16`` on ``device``; None means fp32."""
    if precision == "fp32":
        return None
    if precision == "bf16":
        if device.type == "cuda" and not torch.cuda.is_bf16_supported():
            raise VidstyleError(f"style.precision bf16: {torch.cuda.get_device_name(device)} has no bf16 support")
        return torch.bfloat16
    if precision == "auto":
        return torch.bfloat16 if native_bf16(device) else None
    raise VidstyleError(f"style.precision {precision}: unknown precision (expected auto, fp32 or bf16)")
