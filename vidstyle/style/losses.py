"""Loss terms, composed into one criterion.

Normalisations follow Ruder et al.'s code (and Johnson's neural-style it builds on), so
that the reference weights (content 5, style 100, TV 1e-3, temporal 1000) apply as is:

* content: mean over C·H·W of (F − P)², at each content layer;
* style: Gram G = F Fᵀ / (C·H·W), then the mean over C² of (G − A)², summed over the style
  layers with per-layer weights;
* total variation: ½ Σ (Δx² + Δy²) over the image, in 0–255 units;
* temporal (see :mod:`vidstyle.temporal.terms`): mean over C·H·W of c·(x − ω(x_prev))².

Every term returns one value per image of the batch, shape (N,), so that independent
images (frames of a batched pass) can share one backward pass.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import torch
from torch import Tensor, nn

Features = Mapping[str, Tensor]


def at_least_fp32(x: Tensor) -> Tensor:
    """Reduced-precision tensors (bf16/fp16 features) upcast so losses accumulate in fp32."""
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


def gram(features: Tensor) -> Tensor:
    """Gram matrices (N, C, C) of feature maps (N, C, H, W), normalised by C·H·W."""
    n, c, h, w = features.shape
    f = at_least_fp32(features.reshape(n, c, h * w))
    return torch.bmm(f, f.transpose(1, 2)) / (c * h * w)


def per_sample_mean(x: Tensor) -> Tensor:
    """Mean over all but the batch dimension."""
    return x.reshape(x.shape[0], -1).mean(dim=1)


class LossTerm(nn.Module):
    """One weighted term; ``layers`` names the feature maps it reads (empty for pixel terms)."""

    layers: tuple[str, ...] = ()

    def __init__(self, weight: float) -> None:
        super().__init__()
        self.weight = float(weight)

    def forward(self, image: Tensor, features: Features) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError


class ContentLoss(LossTerm):
    """Feature reconstruction of the content image at the given layers."""

    def __init__(self, targets: Mapping[str, Tensor], weight: float) -> None:
        super().__init__(weight)
        self.layers = tuple(targets)
        for i, t in enumerate(targets.values()):
            self.register_buffer(f"target{i}", at_least_fp32(t.detach()), persistent=False)

    def forward(self, image: Tensor, features: Features) -> Tensor:
        total = image.new_zeros(image.shape[0])
        for i, layer in enumerate(self.layers):
            target = getattr(self, f"target{i}")
            total = total + per_sample_mean((at_least_fp32(features[layer]) - target) ** 2)
        return self.weight * total


class StyleLoss(LossTerm):
    """Gram-matrix match at the style layers, with per-layer weights."""

    def __init__(
        self,
        target_grams: Mapping[str, Tensor],
        weight: float,
        layer_weights: Sequence[float] | None = None,
    ) -> None:
        super().__init__(weight)
        self.layers = tuple(target_grams)
        lw = [1.0] * len(self.layers) if layer_weights is None else [float(v) for v in layer_weights]
        if len(lw) != len(self.layers):
            raise ValueError(f"{len(lw)} style layer weights for {len(self.layers)} style layers")
        self.layer_weights = lw
        for i, t in enumerate(target_grams.values()):
            self.register_buffer(f"target{i}", at_least_fp32(t.detach()), persistent=False)

    def forward(self, image: Tensor, features: Features) -> Tensor:
        total = image.new_zeros(image.shape[0])
        for i, layer in enumerate(self.layers):
            target = getattr(self, f"target{i}")
            total = total + self.layer_weights[i] * per_sample_mean((gram(features[layer]) - target) ** 2)
        return self.weight * total


class TVLoss(LossTerm):
    """Total variation: half the sum of squared neighbour differences (smoothness prior)."""

    def forward(self, image: Tensor, features: Features) -> Tensor:
        dx = image[..., :, 1:] - image[..., :, :-1]
        dy = image[..., 1:, :] - image[..., :-1, :]
        return self.weight * 0.5 * (dx.square().flatten(1).sum(1) + dy.square().flatten(1).sum(1))


class Criterion(nn.Module):
    """Encoder plus named loss terms: image → (total per image, each term per image)."""

    def __init__(self, encoder: Callable[..., dict[str, Tensor]], terms: Mapping[str, LossTerm]) -> None:
        super().__init__()
        self.encoder = encoder
        kept = {k: v for k, v in terms.items() if v.weight != 0.0}
        self.terms = nn.ModuleDict(kept)
        self.layers = tuple(sorted({layer for t in kept.values() for layer in t.layers}))

    def forward(self, image: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        features = self.encoder(image, self.layers) if self.layers else {}
        parts = {name: term(image, features) for name, term in self.terms.items()}
        total = torch.stack(list(parts.values())).sum(0) if parts else image.new_zeros(image.shape[0])
        return total, parts
