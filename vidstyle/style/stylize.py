"""Stylising one image: style targets, the criterion, and the coarse-to-fine schedule.

:class:`Stylizer` holds the network and the style images and builds a criterion for any
content image at any size; :func:`optimize_image` runs the coarse-to-fine optimisation
(with optional extra loss terms, which the video stages use for temporal consistency);
:func:`stylize_image` is the one-call API behind ``vidstyle image``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from vidstyle.compute.device import resolve_device, resolve_precision
from vidstyle.compute.threads import set_torch_threads, torch_threads, torch_threads_for, use_budget
from vidstyle.errors import VidstyleError
from vidstyle.image.io import fit_longest, load_image, resize
from vidstyle.settings import ImageSettings, OptimSettings, StyleSettings
from vidstyle.style import color
from vidstyle.style.losses import ContentLoss, Criterion, LossTerm, StyleLoss, TVLoss, gram
from vidstyle.style.optimize import Callback, Iterate, Objective, minimize
from vidstyle.style.vgg import build_encoder, min_input_side

ImageLike = Tensor | str | os.PathLike[str]
ExtraTerms = Callable[[tuple[int, int]], Mapping[str, LossTerm]]
"""Given the (H, W) of a scale, the additional loss terms to use at that scale."""


def pyramid(
    size: tuple[int, int],
    *,
    scales: int | None = None,
    min_side: int = 128,
    factor: float = math.sqrt(2),
    min_short_side: int = 16,
) -> list[tuple[int, int]]:
    """Sizes (H, W) from coarse to fine, ``factor`` apart, ending exactly at ``size``.

    With ``scales=None`` the coarsest scale is the last one whose longest side is still
    at least ``min_side``. Scales whose shorter side would fall below ``min_short_side``
    (too small for the network) are left out.
    """
    h, w = size
    longest = max(h, w)
    if scales is None:
        scales = 1 if longest <= min_side else 1 + math.floor(math.log(longest / min_side) / math.log(factor) + 1e-9)
    sizes: list[tuple[int, int]] = []
    for k in range(scales):
        side = round(longest / factor ** (scales - 1 - k))
        s = (h, w) if k == scales - 1 else fit_longest(h, w, side)
        if min(s) < min_short_side and k != scales - 1:
            continue
        if not sizes or s != sizes[-1]:
            sizes.append(s)
    return sizes or [(h, w)]


def scale_sizes(size: tuple[int, int], optim: OptimSettings, style: StyleSettings) -> list[tuple[int, int]]:
    """The coarse-to-fine sizes that :func:`optimize_image` will use for an image of ``size``."""
    return pyramid(
        size,
        scales=optim.scales,
        min_side=optim.min_side,
        factor=optim.scale_factor,
        min_short_side=min_input_side(tuple(style.content_layers) + tuple(style.style_layers)),
    )


def total_iterations(size: tuple[int, int], optim: OptimSettings, style: StyleSettings) -> int:
    """Iteration budget over all scales (for progress displays)."""
    n = len(scale_sizes(size, optim, style))
    return sum(optim.iterations_at(k, n) for k in range(n))


def _as_image(image: ImageLike) -> Tensor:
    return image if isinstance(image, Tensor) else load_image(image)


class Stylizer:
    """The network and the style images; makes the criterion for content at any size.

    Images are RGB (N, 3, H, W); :meth:`criterion` and :meth:`finish` work in the 0–255
    range the optimiser uses.
    """

    def __init__(
        self,
        styles: Sequence[ImageLike],
        settings: StyleSettings | None = None,
        device: torch.device | str = "cpu",
    ) -> None:
        self.settings = settings or StyleSettings()
        if not styles:
            raise VidstyleError("at least one style image is needed")
        blend = self.settings.style_blend or (1.0,) * len(styles)
        if len(blend) != len(styles):
            raise VidstyleError(f"style.style_blend has {len(blend)} weights for {len(styles)} style images")
        total = sum(blend)
        self.blend = [b / total for b in blend]
        self.device = torch.device(device)
        self.styles = [_as_image(s).to(self.device) * 255.0 for s in styles]
        s = self.settings
        self.encoder = build_encoder(
            tuple(s.content_layers) + tuple(s.style_layers),
            network=s.network,
            pooling=s.pooling,
            weights_path=s.weights,
            device=self.device,
            compute_dtype=resolve_precision(s.precision, self.device),
        )
        self.min_side = min_input_side(tuple(s.content_layers) + tuple(s.style_layers))
        self._gram_cache: dict[tuple[int, int], dict[str, Tensor]] = {}

    def check_size(self, size: tuple[int, int]) -> None:
        """Refuse images too small for the deepest layer in use."""
        if min(size) < self.min_side:
            raise VidstyleError(
                f"image size {size[1]}x{size[0]} is too small: the network needs at least "
                f"{self.min_side} px on the shorter side for the layers in use (raise --size)"
            )

    @torch.no_grad()
    def style_grams(self, size: tuple[int, int], reference: Tensor | None = None) -> dict[str, Tensor]:
        """Blended Gram targets (1, C, C) for a frame of ``size``; ``reference`` is the content (0–255)
        whose colours the style takes on in the colour-preserving modes."""
        mode = self.settings.preserve_colors
        cacheable = mode == "none" or reference is None
        if cacheable and size in self._gram_cache:
            return self._gram_cache[size]
        longest = max(1, round(max(size) * self.settings.style_scale))
        layers = self.settings.style_layers
        grams: dict[str, Tensor] = {}
        for weight, style in zip(self.blend, self.styles):
            if weight == 0:
                continue
            sh, sw = fit_longest(style.shape[-2], style.shape[-1], longest)
            if min(sh, sw) < self.min_side:  # too small for the network: enlarge to the minimum
                grow = self.min_side / min(sh, sw)
                sh, sw = max(self.min_side, round(sh * grow)), max(self.min_side, round(sw * grow))
            x = resize(style, (sh, sw))
            if reference is not None and mode == "match":
                x = color.match_color(x, reference)
            elif reference is not None and mode == "luminance":
                x = color.match_luminance(x, reference)
            elif mode == "luminance":
                x = color.luminance(x)
            feats = self.encoder(x, layers)
            for layer in layers:
                g = gram(feats[layer]) * weight
                grams[layer] = grams[layer] + g if layer in grams else g
        if cacheable:
            self._gram_cache[size] = grams
        return grams

    def network_view(self, image: Tensor) -> Tensor:
        """What the network is shown for ``image`` (its luminance in luminance mode)."""
        return color.luminance(image) if self.settings.preserve_colors == "luminance" else image

    def criterion(
        self,
        content: Tensor,
        *,
        extra: Mapping[str, LossTerm] | None = None,
        color_reference: Tensor | None = None,
    ) -> Criterion | _LuminanceCriterion:
        """Loss for images shaped like ``content`` (N, 3, H, W, 0–255): content + style + TV + extra."""
        s = self.settings
        with torch.no_grad():
            targets = self.encoder(self.network_view(content), s.content_layers)
        size = (content.shape[-2], content.shape[-1])
        ref = color_reference if color_reference is not None else content
        grams = self.style_grams(size, ref if s.preserve_colors != "none" else None)
        terms: dict[str, LossTerm] = {
            "content": ContentLoss(targets, s.content_weight),
            "style": StyleLoss(grams, s.style_weight, s.style_layer_weights),
            "tv": TVLoss(s.tv_weight),
        }
        terms.update(extra or {})
        criterion = Criterion(self.encoder, terms)
        if s.preserve_colors == "luminance":
            return _LuminanceCriterion(criterion)
        return criterion

    def finish(self, result: Tensor, content: Tensor) -> Tensor:
        """Final RGB image in [0, 1] from an optimised result (both 0–255)."""
        if self.settings.preserve_colors == "luminance":
            result = color.combine_luminance(result, content)
        return (result / 255.0).clamp(0.0, 1.0)


class _LuminanceCriterion(torch.nn.Module):
    """Shows the network only the luminance of the image being optimised."""

    def __init__(self, inner: Criterion) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, image: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        return self.inner(color.luminance(image))


@dataclass(frozen=True, eq=False)
class FixedPixels:
    """Pixels the optimiser must not move: under ``mask`` (N, 1, H, W, 0/1) the image keeps
    ``values`` (N, 3, H, W, 0–255) exactly, and the loss sees them there."""

    mask: Tensor
    values: Tensor

    def at(self, size: tuple[int, int]) -> FixedPixels:
        """The same at another scale (resized, so a coarse scale holds a blend)."""
        if tuple(self.mask.shape[-2:]) == tuple(size):
            return self
        return FixedPixels(resize(self.mask, size).clamp(0.0, 1.0), resize(self.values, size).clamp(0.0, 255.0))

    def to(self, device: torch.device) -> FixedPixels:
        """On ``device``, in float32 (the optimiser's image dtype)."""
        return FixedPixels(self.mask.to(device, torch.float32), self.values.to(device, torch.float32))

    def apply(self, image: Tensor) -> Tensor:
        """m·v + (1 − m)·x: ``image`` (same size) with the fixed pixels in place."""
        return self.mask * self.values + (1.0 - self.mask) * image


def _with_fixed(objective: Objective, fixed: FixedPixels) -> Objective:
    """The objective of the image with ``fixed``'s pixels in place: its gradient is zero there."""
    return lambda image: objective(fixed.apply(image))


def initial_image(init: str, content: Tensor, seed: int) -> Tensor:
    """Start image (0–255) for the coarsest scale: the content, seeded noise, or an image file."""
    if init == "content":
        return content.clone()
    if init == "noise":
        g = torch.Generator().manual_seed(seed)
        noise = torch.randn(content.shape, generator=g) * 32.0 + 127.5
        return noise.to(content)
    path = Path(init)
    image = load_image(path).to(content) * 255.0
    return resize(image, (content.shape[-2], content.shape[-1])).expand_as(content).contiguous()


def optimize_image(
    stylizer: Stylizer,
    content: Tensor,
    optim: OptimSettings | None = None,
    *,
    init: Tensor | None = None,
    extra_terms: ExtraTerms | None = None,
    callback: Callback | None = None,
    context: Mapping[str, object] | None = None,
    fixed: FixedPixels | None = None,
) -> Tensor:
    """Coarse-to-fine optimisation of ``content`` (N, 3, H, W, in [0, 1]); returns [0, 1] RGB.

    ``init`` (in [0, 1]) overrides the start image of the coarsest scale; each finer scale
    starts from the upsampled result of the one below. ``fixed`` (0–255, at the content's
    size) pins pixels: the result equals its values under its mask, bit for bit.
    """
    optim = optim or OptimSettings()
    device = stylizer.device
    content255 = content.to(device) * 255.0
    fixed = fixed.to(device) if fixed is not None else None
    size = (content255.shape[-2], content255.shape[-1])
    stylizer.check_size(size)
    sizes = scale_sizes(size, optim, stylizer.settings)
    x: Tensor | None = None
    for k, s in enumerate(sizes):
        c = resize(content255, s)
        if x is None:
            x = resize(init.to(device) * 255.0, s) if init is not None else initial_image(optim.init, c, optim.seed)
        else:
            x = resize(x, s)
        criterion: Objective = stylizer.criterion(c, extra=extra_terms(s) if extra_terms else None)
        fixed_s = fixed.at(s) if fixed is not None else None
        if fixed_s is not None:
            x = fixed_s.apply(x)
            criterion = _with_fixed(criterion, fixed_s)
        ctx = {**(context or {}), "scale": k, "scales": len(sizes), "size": s}
        guard = _FiniteGuard(callback)
        # On the CPU, torch threads follow the budget, the image size and the cores other
        # processes leave free, re-decided every few iterations (vidstyle.compute.threads).
        cpu = device.type == "cpu"
        try:
            with torch_threads(torch_threads_for(s[0] * s[1]) if cpu else torch.get_num_threads()):
                x = minimize(
                    x,
                    criterion,
                    iterations=optim.iterations_at(k, len(sizes)),
                    optimizer=optim.optimizer,
                    learning_rate=optim.learning_rate,
                    history=optim.history,
                    tolerance=optim.tolerance,
                    tolerance_window=optim.tolerance_window,
                    callback=_adapting_threads(guard, s[0] * s[1]) if cpu else guard,
                    context=ctx,
                )
        except VidstyleError:
            guard.check(None, context)  # minimize's own non-finite check fired: name the setting if we can
            raise
        guard.check(x, context)
        if fixed_s is not None:
            x = fixed_s.apply(x)
    assert x is not None
    out = stylizer.finish(x, content255)
    return out if fixed is None else fixed.apply(out * 255.0) / 255.0


# The setting behind each loss term (the CLI names its flag).
LOSS_SETTINGS = {
    "content": "style.content_weight",
    "style": "style.style_weight",
    "tv": "style.tv_weight",
    "temporal": "temporal.temporal_weight",
}


class _FiniteGuard:
    """Watches the losses of one optimisation for NaN/inf without waiting on the device each
    iteration (the flags stay on the device until :meth:`check`)."""

    def __init__(self, callback: Callback | None) -> None:
        self.callback = callback
        self.first_bad: dict[str, Tensor] = {}  # first iteration where the term was not finite (-1: never)
        self.peak: dict[str, Tensor] = {}

    def __call__(self, it: Iterate) -> None:
        for name, v in (*it.parts.items(), ("total", it.loss)):
            v = v.detach()
            bad = ~torch.isfinite(v).all()
            first = self.first_bad.get(name)
            if first is None:
                first = torch.full((), -1.0, device=v.device)
            self.first_bad[name] = torch.where(bad & (first < 0), torch.full_like(first, it.iteration), first)
            mag = torch.nan_to_num(v.abs().max().float(), nan=0.0)
            self.peak[name] = mag if name not in self.peak else torch.maximum(self.peak[name], mag)
        if self.callback is not None:
            self.callback(it)

    def check(self, x: Tensor | None, context: Mapping[str, object] | None) -> None:
        """Raise a one-line error if a loss or the image (``x``, when given) stopped being finite."""
        firsts = {name: float(v) for name, v in self.first_bad.items()}
        went = [f for f in firsts.values() if f >= 0]
        bad = [name for name, f in firsts.items() if went and f == min(went)]  # the first to go wrong
        if not bad and (x is None or bool(torch.isfinite(x).all())):
            return
        where = ""
        if context and "pos" in context:
            where = f"frame {context['pos']}" + (f" (pass {context['pass']})" if "pass" in context else "") + ": "
        terms = [n for n in bad if n in LOSS_SETTINGS]
        if not terms:  # the total overflowed, or the image diverged: blame the largest term
            finite = {n: float(v) for n, v in self.peak.items() if n in LOSS_SETTINGS}
            terms = [max(finite, key=finite.__getitem__)] if finite else []
        if terms:
            what = ", ".join(f"the {n} loss" for n in terms)
            hint = " or ".join(LOSS_SETTINGS[n] for n in terms)
            raise VidstyleError(f"{where}{what} became infinite or NaN during optimisation; lower {hint}")
        raise VidstyleError(
            f"{where}the optimisation diverged (the image became infinite or NaN); "
            "lower optim.learning_rate or use optim.optimizer lbfgs"
        )


def _adapting_threads(callback: Callback | None, pixels: int, every: int = 8) -> Callback:
    """``callback``, and every ``every`` iterations a new torch thread count for the next ones."""

    def call(it: Iterate) -> None:
        if it.iteration % every == 0:
            set_torch_threads(torch_threads_for(pixels))
        if callback is not None:
            callback(it)

    return call


def stylize_image(
    content: ImageLike,
    styles: Sequence[ImageLike],
    *,
    size: int | None = ImageSettings.model_fields["size"].default,
    style: StyleSettings | None = None,
    optim: OptimSettings | None = None,
    device: str | torch.device | None = None,
    callback: Callback | None = None,
    threads: int | None = None,
) -> Tensor:
    """Paint ``content`` in the style of ``styles``; returns RGB (1, 3, H, W) in [0, 1].

    ``size`` is the longest side of the result (None keeps the content's size). Images are
    file paths or RGB tensors (1, 3, H, W) in [0, 1]. ``threads`` is the compute-thread
    budget (default: the one in force, see :mod:`vidstyle.compute.threads`); ``device`` is
    cpu, cuda, cuda:N or auto (default: ``ComputeSettings.device``).
    """
    use_budget(threads)
    dev = resolve_device(device)
    optim = optim or OptimSettings()
    image = _as_image(content)
    if optim.init not in ("content", "noise"):
        load_image(optim.init)  # fail on a bad init file before any work
    image = resize(image, fit_longest(image.shape[-2], image.shape[-1], size))
    torch.manual_seed(optim.seed)
    stylizer = Stylizer(styles, style, dev)
    return optimize_image(stylizer, image, optim, callback=callback).cpu()
