"""Optical-flow estimators behind one interface.

Every backend maps two RGB uint8 frames ``a`` and ``b`` (H×W×3) to the flow FROM ``a`` TO
``b``: an H×W×2 float32 array (u = x, v = y, pixels) such that pixel ``x`` of ``a`` shows
up at ``x + flow(x)`` in ``b``. Backends are cheap to construct and picklable (worker
processes receive them that way); heavy per-process state (OpenCV objects, a network) is
built on first use and never pickled.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

import cv2
import numpy as np

from vidstyle.errors import VidstyleError, file_error
from vidstyle.settings.models import FlowSettings


def setting_default(name: str) -> Any:
    """The default of a :class:`~vidstyle.settings.FlowSettings` field (defined there, once)."""
    return FlowSettings.model_fields[name].default


DIS_PRESETS: dict[str, int] = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}
# Options that the settings do not hold (only ``vidstyle flow``/``eval`` and Python callers set them).
RAFT_MODELS = ("raft_large", "raft_small")
DEFAULT_RAFT_MODEL = "raft_large"
DEFAULT_RAFT_ITERS = 12
RAFT_MIN_SIDE = 128

# The smallest side the pyramid-based estimators handle gracefully.
MIN_SIDE = 16


@runtime_checkable
class FlowBackend(Protocol):
    """Anything that estimates dense flow from frame ``a`` to frame ``b``."""

    name: str

    def compute(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """H×W×2 float32 flow from ``a`` to ``b`` (both H×W×3 uint8 RGB)."""
        ...

    def identity(self) -> dict[str, Any]:
        """Name and every option that changes the result (not the device): the cache identity."""
        ...


def _check_pair(a: np.ndarray, b: np.ndarray) -> None:
    if a.shape != b.shape or a.ndim != 3 or a.shape[2] != 3 or a.dtype != np.uint8 or b.dtype != np.uint8:
        raise ValueError(
            f"expected two H×W×3 uint8 frames of equal size, got {a.shape} {a.dtype} and {b.shape} {b.dtype}"
        )
    if min(a.shape[:2]) < MIN_SIDE:
        raise VidstyleError(f"frames of {a.shape[1]}x{a.shape[0]} are too small for optical flow (min side {MIN_SIDE})")


def _gray(img: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)


def _resize_for(img: np.ndarray, scale: float) -> np.ndarray:
    if scale == 1.0:
        return img
    h, w = img.shape[:2]
    size = (max(MIN_SIDE, round(w * scale)), max(MIN_SIDE, round(h * scale)))
    return cv2.resize(img, size, interpolation=cv2.INTER_AREA)


def _upscale_flow(flow: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Resize a flow field computed on a smaller image to ``shape`` (H, W), rescaling vectors."""
    h, w = shape
    fh, fw = flow.shape[:2]
    if (fh, fw) == (h, w):
        return flow
    out = cv2.resize(flow, (w, h), interpolation=cv2.INTER_LINEAR)
    out[..., 0] *= w / fw
    out[..., 1] *= h / fh
    return out


def _check_scale(scale: float) -> float:
    scale = float(scale)
    if not 0.0 < scale <= 1.0:
        raise VidstyleError(f"flow scale {scale}: must be in (0, 1] (fraction of the frame size to estimate flow at)")
    return scale


class DISFlow:
    """OpenCV's Dense Inverse Search (Kroeger et al. 2016): fast, CPU, the default.

    ``preset`` picks OpenCV's speed/quality preset; ``scale`` < 1 estimates at a reduced
    size and upsamples the flow (for speed at high resolutions); ``refine`` overrides the
    preset's number of variational-refinement iterations (None keeps the preset's: 0 for
    ultrafast, 5 for fast and medium; on the ground truth it lowers the EPE, see bench).
    """

    name: ClassVar[str] = "dis"

    def __init__(
        self,
        preset: str = setting_default("preset"),
        scale: float = setting_default("scale"),
        refine: int | None = None,
    ) -> None:
        if preset not in DIS_PRESETS:
            raise VidstyleError(f"DIS preset {preset!r}: expected one of {', '.join(DIS_PRESETS)}")
        if refine is not None and not 0 <= int(refine) <= 100:
            raise VidstyleError(f"DIS refine {refine}: expected 0..100 iterations")
        self.preset = preset
        self.scale = _check_scale(scale)
        self.refine = None if refine is None else int(refine)
        self._dis: Any = None

    def identity(self) -> dict[str, Any]:
        return {"name": self.name, "preset": self.preset, "scale": self.scale, "refine": self.refine}

    def _engine(self) -> Any:
        if self._dis is None:
            self._dis = cv2.DISOpticalFlow.create(DIS_PRESETS[self.preset])
            if self.refine is not None:
                self._dis.setVariationalRefinementIterations(self.refine)
        return self._dis

    def compute(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        _check_pair(a, b)
        ga, gb = _gray(_resize_for(a, self.scale)), _gray(_resize_for(b, self.scale))
        flow = self._engine().calc(ga, gb, None)
        return np.ascontiguousarray(_upscale_flow(flow, a.shape[:2]), np.float32)

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_dis": None}


class FarnebackFlow:
    """OpenCV's Farnebäck polynomial-expansion flow: slower and less accurate than DIS here,
    kept as an independent second estimator."""

    name: ClassVar[str] = "farneback"

    def __init__(
        self,
        scale: float = setting_default("scale"),
        levels: int = 5,
        winsize: int = 15,
        iterations: int = 3,
        poly_n: int = 5,
        poly_sigma: float = 1.1,
    ) -> None:
        self.scale = _check_scale(scale)
        self.levels, self.winsize, self.iterations = int(levels), int(winsize), int(iterations)
        self.poly_n, self.poly_sigma = int(poly_n), float(poly_sigma)
        if self.poly_n not in (5, 7):
            raise VidstyleError(f"Farneback poly_n {poly_n}: expected 5 or 7")

    def identity(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "scale": self.scale,
            "levels": self.levels,
            "winsize": self.winsize,
            "iterations": self.iterations,
            "poly_n": self.poly_n,
            "poly_sigma": self.poly_sigma,
        }

    def compute(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        _check_pair(a, b)
        ga, gb = _gray(_resize_for(a, self.scale)), _gray(_resize_for(b, self.scale))
        flow = cv2.calcOpticalFlowFarneback(  # type: ignore[call-overload]  # flow=None is allowed; the stubs omit it
            ga, gb, None, 0.5, self.levels, self.winsize, self.iterations, self.poly_n, self.poly_sigma, 0
        )
        return np.ascontiguousarray(_upscale_flow(flow, a.shape[:2]), np.float32)


class RAFTFlow:
    """torchvision's RAFT (Teed & Deng 2020) from a local weights file; best on a GPU.

    ``weights_path`` is a ``state_dict`` saved with ``torch.save`` (e.g. torchvision's
    ``raft_large_C_T_SKHT_V2`` checkpoint). Nothing is downloaded unless
    ``download=True`` is given explicitly, in which case torchvision's default weights for
    ``model`` are fetched into the torch hub cache and ``weights_path`` may be None.
    """

    name: ClassVar[str] = "raft"

    def __init__(
        self,
        weights_path: str | os.PathLike[str] | None = None,
        device: str | None = None,  # None: ComputeSettings.device
        model: str = DEFAULT_RAFT_MODEL,
        iters: int = DEFAULT_RAFT_ITERS,
        scale: float = setting_default("scale"),
        download: bool = False,
    ) -> None:
        if model not in RAFT_MODELS:
            raise VidstyleError(f"RAFT model {model!r}: expected one of {', '.join(RAFT_MODELS)}")
        if weights_path is None and not download:
            raise VidstyleError(
                "RAFT needs a local weights file (flow.raft_weights); "
                "nothing is downloaded unless you ask for it (download=True)"
            )
        self.weights_path = None if weights_path is None else Path(weights_path)
        if self.weights_path is not None and not self.weights_path.is_file():
            raise file_error(self.weights_path, "RAFT weights file not found")
        self.device_name = device
        self.model = model
        self.iters = int(iters)
        self.scale = _check_scale(scale)
        self.download = bool(download)
        self._net: Any = None
        self._device: Any = None
        self._digest: str | None = None

    def identity(self) -> dict[str, Any]:
        # The weights file's content identifies the model, not its path or the device.
        if self._digest is None:
            self._digest = _file_digest(self.weights_path) if self.weights_path is not None else "torchvision-default"
        return {
            "name": self.name,
            "model": self.model,
            "weights": self._digest,
            "iters": self.iters,
            "scale": self.scale,
        }

    def _load(self) -> Any:
        if self._net is not None:
            return self._net
        import torch
        from torchvision.models import optical_flow as tvflow

        from vidstyle.compute.device import resolve_device

        self._device = resolve_device(self.device_name)
        builder = getattr(tvflow, self.model)
        if self.weights_path is None:
            default = (
                tvflow.Raft_Large_Weights.DEFAULT if self.model == "raft_large" else tvflow.Raft_Small_Weights.DEFAULT
            )
            net = builder(weights=default, progress=False)
        else:
            net = builder(weights=None, progress=False)
            try:
                state = torch.load(self.weights_path, map_location="cpu", weights_only=True)
            except Exception as e:
                raise file_error(self.weights_path, f"cannot load RAFT weights ({type(e).__name__}: {e})") from None
            if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
                state = state["state_dict"]
            try:
                net.load_state_dict(state)
            except (RuntimeError, TypeError, AttributeError) as e:
                first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
                raise file_error(self.weights_path, f"not {self.model} weights ({first})") from None
        self._net = net.eval().to(self._device)
        return self._net

    def compute(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        _check_pair(a, b)
        import torch
        import torch.nn.functional as F

        net = self._load()
        sa, sb = _resize_for(a, self.scale), _resize_for(b, self.scale)
        h, w = sa.shape[:2]
        # RAFT needs sides divisible by 8 and at least 128 (its correlation pyramid): pad
        # by edge replication, crop the flow afterwards.
        ph = max(RAFT_MIN_SIDE, h + (-h) % 8) - h
        pw = max(RAFT_MIN_SIDE, w + (-w) % 8) - w

        def prep(img: np.ndarray) -> torch.Tensor:
            t = torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1)[None].float()
            t = t / 127.5 - 1.0
            if ph or pw:
                t = F.pad(t, (0, pw, 0, ph), mode="replicate")
            return t.to(self._device)

        with torch.inference_mode():
            flows = net(prep(sa), prep(sb), num_flow_updates=self.iters)
        flow = flows[-1][0, :, :h, :w].permute(1, 2, 0).float().cpu().numpy()
        return np.ascontiguousarray(_upscale_flow(flow, a.shape[:2]), np.float32)

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_net": None, "_device": None}


def _file_digest(path: Path) -> str:
    h = hashlib.blake2b(digest_size=12)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


BACKENDS: dict[str, type] = {"dis": DISFlow, "farneback": FarnebackFlow, "raft": RAFTFlow}


def make_backend(name: str = setting_default("backend"), **options: Any) -> FlowBackend:
    """Build a backend by name (``dis``, ``farneback``, ``raft``); options go to its constructor.

    Options set to None are dropped, so CLI defaults can be passed through untouched.
    """
    key = name.strip().lower()
    if key not in BACKENDS:
        raise VidstyleError(f"flow backend {name!r}: expected one of {', '.join(BACKENDS)}")
    cls = BACKENDS[key]
    opts = {k: v for k, v in options.items() if v is not None}
    try:
        return cls(**opts)
    except TypeError as e:
        raise VidstyleError(f"flow backend {key}: {e}") from None


# The constructor options each backend takes from the settings and from the callers' extras.
_TAKES: dict[str, frozenset[str]] = {
    "dis": frozenset({"preset", "scale", "refine"}),
    "farneback": frozenset({"scale"}),
    "raft": frozenset({"weights_path", "scale", "model", "iters", "device", "download"}),
}
_EXTRAS = frozenset({"refine", "model", "iters", "device", "download"})


def backend_options(flow: FlowSettings, **extra: Any) -> dict[str, Any]:
    """Constructor options of ``flow.backend``, the one place they are built from settings.

    ``preset``, ``scale`` and ``raft_weights`` come from ``flow``; ``extra`` adds options the
    settings do not hold (``refine`` for DIS; ``model``, ``iters``, ``device``, ``download``
    for RAFT). Options the chosen backend does not take are left out, and so is None (the
    backend's default then applies). An unknown backend gives no options: :func:`make_backend`
    names the choices.
    """
    unknown = set(extra) - _EXTRAS
    if unknown:
        raise TypeError(f"unknown flow backend options: {', '.join(sorted(unknown))}")
    takes = _TAKES.get(flow.backend.strip().lower(), frozenset())
    values = {"preset": flow.preset, "scale": flow.scale, "weights_path": flow.raft_weights, **extra}
    return {k: v for k, v in values.items() if k in takes and v is not None}


def backend_from_settings(flow: FlowSettings, **extra: Any) -> FlowBackend:
    """The backend that ``flow`` (plus ``extra``, see :func:`backend_options`) describes.

    Values are checked by the backend, not by pydantic, so a ``FlowSettings.model_construct``
    of what the user typed gets the backend's messages (``flow backend 'pwc': expected ...``).
    """
    return make_backend(flow.backend, **backend_options(flow, **extra))
