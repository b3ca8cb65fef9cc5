"""Loss values on hand-computed tensors, and gradients against finite differences."""

from __future__ import annotations

import pytest
import torch

from vidstyle.style.losses import ContentLoss, Criterion, StyleLoss, TVLoss, gram
from vidstyle.style.vgg import VGG19Encoder, load_caffe_weights


def test_gram_by_hand():
    f = torch.tensor([[1.0, 2.0], [3.0, 4.0]]).view(1, 2, 1, 2)  # C=2, H=1, W=2
    expected = torch.tensor([[5.0, 11.0], [11.0, 25.0]]) / 4.0  # F Fᵀ / (C·H·W)
    assert torch.allclose(gram(f)[0], expected)


def test_content_loss_by_hand():
    target = torch.zeros(1, 2, 1, 2)
    feats = {"relu4_2": torch.tensor([[1.0, 2.0], [3.0, 4.0]]).view(1, 2, 1, 2)}
    loss = ContentLoss({"relu4_2": target}, weight=5.0)(torch.zeros(1, 3, 2, 2), feats)
    assert loss.shape == (1,)
    assert loss.item() == pytest.approx(5.0 * (1 + 4 + 9 + 16) / 4)


def test_style_loss_by_hand_with_layer_weights():
    f = torch.tensor([[1.0, 2.0], [3.0, 4.0]]).view(1, 2, 1, 2)
    g = gram(f)
    target = torch.zeros_like(g)
    term = StyleLoss({"a": target, "b": target}, weight=100.0, layer_weights=[1.0, 0.5])
    loss = term(torch.zeros(1, 3, 2, 2), {"a": f, "b": f})
    per_layer = (g**2).mean().item()  # ((5² + 11² + 11² + 25²)/16)/4
    assert per_layer == pytest.approx((25 + 121 + 121 + 625) / 16 / 4)
    assert loss.item() == pytest.approx(100.0 * 1.5 * per_layer)


def test_tv_loss_by_hand():
    x = torch.tensor([[0.0, 1.0], [2.0, 4.0]]).view(1, 1, 2, 2)
    # Δx: 1, 2 → 1 + 4; Δy: 2, 3 → 4 + 9; half the sum = 9.
    assert TVLoss(1e-3)(x, {}).item() == pytest.approx(9e-3)


def test_terms_are_per_image():
    x = torch.stack([torch.zeros(1, 4, 4), torch.ones(1, 4, 4)]).expand(2, 3, 4, 4).clone()
    x[1, :, 0, 0] = 3.0
    out = TVLoss(1.0)(x, {})
    assert out.shape == (2,) and out[0] == 0 and out[1] > 0


def _directional_check(fn, x: torch.Tensor, n: int = 3, eps: float = 1e-6) -> None:
    """∇f·v equals the central difference of f along random directions v (float64)."""
    x = x.double().requires_grad_(True)
    (g,) = torch.autograd.grad(fn(x).sum(), x)
    gen = torch.Generator().manual_seed(0)
    for _ in range(n):
        v = torch.randn(x.shape, generator=gen, dtype=torch.float64)
        with torch.no_grad():
            fd = (fn(x + eps * v).sum() - fn(x - eps * v).sum()) / (2 * eps)
        analytic = (g * v).sum()
        assert analytic.item() == pytest.approx(fd.item(), rel=1e-5, abs=1e-8)


@pytest.fixture(scope="module")
def encoder64():
    return VGG19Encoder(load_caffe_weights(), ["relu1_1", "relu2_1", "relu3_1", "relu4_2"]).double()


def test_gradients_match_finite_differences(encoder64):
    gen = torch.Generator().manual_seed(1)
    content = torch.rand(1, 3, 16, 16, generator=gen, dtype=torch.float64) * 255
    style = torch.rand(1, 3, 16, 16, generator=gen, dtype=torch.float64) * 255
    with torch.no_grad():
        ct = encoder64(content, ["relu4_2"])
        sf = encoder64(style, ["relu1_1", "relu2_1", "relu3_1"])
    terms = {
        "content": ContentLoss(ct, 5.0),
        "style": StyleLoss({k: gram(v) for k, v in sf.items()}, 100.0, [1.0, 2.0, 0.5]),
        "tv": TVLoss(1e-3),
    }
    x0 = torch.rand(1, 3, 16, 16, generator=gen, dtype=torch.float64) * 255
    for name, term in terms.items():
        crit = Criterion(encoder64, {name: term})
        _directional_check(lambda x, c=crit: c(x)[0], x0)
    full = Criterion(encoder64, terms)
    _directional_check(lambda x: full(x)[0], x0)
    total, parts = full(x0)
    assert torch.allclose(total, sum(parts.values()))


def test_zero_weight_terms_are_dropped(encoder64):
    crit = Criterion(encoder64, {"tv": TVLoss(0.0), "content": ContentLoss({"relu4_2": torch.zeros(1)}, 0.0)})
    assert len(crit.terms) == 0 and crit.layers == ()
