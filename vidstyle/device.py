"""Choosing the torch device from the user's ``cpu|cuda|auto`` setting."""

from __future__ import annotations

import torch

from .errors import VidstyleError


def resolve_device(name: str | torch.device = "auto") -> torch.device:
    """``auto`` picks CUDA when present; asking for CUDA without it is an error."""
    if isinstance(name, torch.device):
        name = str(name)
    name = name.strip().lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda" or name.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise VidstyleError(f"--device {name}: CUDA is not available on this machine (use --device cpu or auto)")
        dev = torch.device(name)
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise VidstyleError(f"--device {name}: only {torch.cuda.device_count()} CUDA device(s) present")
        return dev
    raise VidstyleError(f"--device {name}: unknown device (expected cpu, cuda, cuda:N or auto)")
