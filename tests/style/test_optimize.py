"""The optimiser: our L-BFGS against PyTorch's, batching, early stop, callbacks."""

from __future__ import annotations

import pytest
import torch

from vidstyle.errors import VidstyleError
from vidstyle.style.optimize import LBFGS, minimize


def rosenbrock(x: torch.Tensor) -> torch.Tensor:
    """Per-image Rosenbrock sum over the flattened pixels (a hard, curved objective)."""
    v = x.reshape(x.shape[0], -1)
    return (100 * (v[:, 1:] - v[:, :-1] ** 2) ** 2 + (1 - v[:, :-1]) ** 2).sum(1) * 1e-3


def objective(x):
    loss = rosenbrock(x)
    return loss, {"rosenbrock": loss}


def test_lbfgs_follows_pytorch_lbfgs_without_line_search():
    gen = torch.Generator().manual_seed(0)
    x0 = torch.rand(1, 3, 4, 4, generator=gen, dtype=torch.float64) * 0.5
    ours = minimize(x0, objective, iterations=40, history=5, tolerance_window=0)

    x = x0.clone().requires_grad_(True)
    ref = torch.optim.LBFGS(
        [x], lr=1.0, max_iter=1, history_size=5, tolerance_grad=-1, tolerance_change=-1, line_search_fn=None
    )

    def closure():
        ref.zero_grad()
        loss = rosenbrock(x).sum()
        loss.backward()
        return loss

    for _ in range(39):  # 40 evaluations = 39 steps
        ref.step(closure)
    assert torch.allclose(ours, x.detach(), rtol=1e-9, atol=1e-9)


def test_batched_images_are_independent_problems():
    gen = torch.Generator().manual_seed(3)
    a = torch.rand(1, 3, 4, 4, generator=gen, dtype=torch.float64)
    b = torch.rand(1, 3, 4, 4, generator=gen, dtype=torch.float64) * 2
    both = minimize(torch.cat([a, b]), objective, iterations=30, tolerance_window=0)
    alone_a = minimize(a, objective, iterations=30, tolerance_window=0)
    alone_b = minimize(b, objective, iterations=30, tolerance_window=0)
    assert torch.allclose(both[:1], alone_a, atol=1e-10) and torch.allclose(both[1:], alone_b, atol=1e-10)


def test_lbfgs_skips_pairs_without_curvature():
    opt = LBFGS(history=3)
    g = torch.ones(1, 4)
    opt.step(g)
    step = opt.step(g.clone())  # y = 0: no curvature, the pair must not poison the history
    assert torch.isfinite(step).all() and float(opt.pairs[0][2]) == 0.0


@pytest.mark.parametrize("method", ["lbfgs", "adam"])
def test_both_methods_lower_the_loss(method):
    x0 = torch.full((1, 3, 4, 4), -0.5, dtype=torch.float64)
    lr = 0.01 if method == "adam" else None
    x = minimize(x0, objective, iterations=100, optimizer=method, learning_rate=lr, tolerance_window=0)
    assert rosenbrock(x).item() < 0.5 * rosenbrock(x0).item()


def test_early_stop_and_callback_reports():
    seen = []
    quadratic = lambda x: ((x - 3.0) ** 2).flatten(1).sum(1)  # noqa: E731
    x = minimize(
        torch.zeros(1, 3, 2, 2),
        lambda x: (quadratic(x), {"q": quadratic(x)}),
        iterations=500,
        tolerance=1e-4,
        tolerance_window=10,
        callback=seen.append,
        context={"frame": 7},
    )
    assert torch.allclose(x, torch.full_like(x, 3.0), atol=1e-3)
    assert len(seen) < 500, "should stop early once converged"
    assert [it.iteration for it in seen] == list(range(1, len(seen) + 1))
    first = seen[0]
    assert first.context == {"frame": 7} and set(first.losses()) == {"q", "total"}
    assert first.losses()["total"] == pytest.approx(12 * 9.0)  # 12 pixels, each (0 - 3)²


def test_unknown_optimizer_is_a_user_error():
    with pytest.raises(VidstyleError, match="sgd"):
        minimize(torch.zeros(1, 3, 2, 2), objective, iterations=1, optimizer="sgd")


def reference_two_loop(grads: list[torch.Tensor], history: int) -> list[torch.Tensor]:
    """The textbook two-loop recursion, pair by pair (the optimiser before issue 12): the
    directions the stacked, compact-form L-BFGS must reproduce."""
    pairs: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []
    h_diag, prev_g, prev_step, out = None, None, None, []
    for g in grads:
        if prev_g is None:
            d = -g
            t = (1.0 / g.abs().sum(1, keepdim=True)).clamp(max=1.0)
            h_diag = torch.ones(g.shape[0], 1, dtype=g.dtype)
        else:
            y, s = g - prev_g, prev_step
            ys, yy = (y * s).sum(1, keepdim=True), (y * y).sum(1, keepdim=True)
            ok = ys > 1e-10
            rho = torch.where(ok, 1.0 / ys, torch.zeros_like(ys))
            h_diag = torch.where(ok, ys / yy, h_diag)
            pairs = ([*pairs, (s, y, rho)])[-history:]
            q, alphas = -g, []
            for s_, y_, rho_ in reversed(pairs):
                a = rho_ * (s_ * q).sum(1, keepdim=True)
                q = q - a * y_
                alphas.append(a)
            r = q * h_diag
            for (s_, y_, rho_), a in zip(pairs, reversed(alphas)):
                r = r + s_ * (a - rho_ * (y_ * r).sum(1, keepdim=True))
            d, t = r, torch.ones_like(ys)
        step = d * t
        prev_g, prev_step = g, step
        out.append(step)
    return out


@pytest.mark.parametrize("history", [1, 3, 7])
def test_stacked_history_matches_the_two_loop_with_wraparound_and_skipped_pairs(history):
    gen = torch.Generator().manual_seed(history)
    a = torch.rand(2, 30, generator=gen, dtype=torch.float64) + 0.5  # two diagonal quadratics, one per image
    x = torch.rand(2, 30, generator=gen, dtype=torch.float64)
    grads = []
    for k in range(20):
        g = a * x
        if k in (5, 6):
            g = g.clone()
            g[1] = grads[-1][1] if k == 6 else g[1]  # image 1: the same gradient twice, y = 0
        grads.append(g)
        x = x - 0.3 * g + 0.01 * torch.rand(2, 30, generator=gen, dtype=torch.float64)
    opt = LBFGS(history=history)
    ours = [opt.step(g) for g in grads]
    for k, (mine, ref) in enumerate(zip(ours, reference_two_loop(grads, history))):
        assert torch.allclose(mine, ref, rtol=1e-9, atol=1e-12), f"step {k}"
    assert len(opt.pairs) == history and opt.capacity == history
