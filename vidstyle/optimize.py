"""Minimising a per-image objective: L-BFGS (Ruder's settings) or Adam, with early stopping.

The images of a batch are independent problems that share forward and backward passes;
each gets its own L-BFGS history. Nothing in the loop reads values back to the host except
the early-stop check, once every ``tolerance_window`` iterations; progress goes to a callback.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor

from .errors import VidstyleError

Objective = Callable[[Tensor], tuple[Tensor, dict[str, Tensor]]]
"""image (N, 3, H, W) → (total loss (N,), named parts each (N,))."""

OPTIMIZERS: tuple[str, ...] = ("lbfgs", "adam")
DEFAULT_LEARNING_RATE: dict[str, float] = {"lbfgs": 1.0, "adam": 10.0}


@dataclass
class Iterate:
    """What the optimiser reports after evaluating the objective at one iterate."""

    iteration: int  # 1-based, within this call
    iterations: int  # the budget of this call
    loss: Tensor  # (N,), detached
    parts: dict[str, Tensor]  # each (N,), detached
    elapsed: float  # seconds since this call started
    image: Tensor  # the iterate that was evaluated; read-only
    context: dict[str, object] = field(default_factory=dict)  # e.g. scale index, frame

    def losses(self) -> dict[str, float]:
        """Batch-summed losses as floats (reads them back from the device)."""
        out = {k: float(v.sum()) for k, v in self.parts.items()}
        out["total"] = float(self.loss.sum())
        return out


Callback = Callable[[Iterate], None]


class LBFGS:
    """Limited-memory BFGS with a fixed step and no line search, one history per image.

    Matches the optimiser of Ruder et al. / neural-style: the first step is scaled by
    min(1, 1/‖g‖₁); later steps use the learning rate. Pairs with too little curvature
    (yᵀs ≤ 1e-10) get zero weight instead of a host-side branch.
    """

    def __init__(self, history: int = 100, lr: float = 1.0) -> None:
        if history < 1:
            raise ValueError("history must be at least 1")
        self.lr = lr
        self.pairs: deque[tuple[Tensor, Tensor, Tensor]] = deque(maxlen=history)
        self.h_diag: Tensor | None = None
        self.prev_grad: Tensor | None = None
        self.prev_step: Tensor | None = None

    def step(self, grad: Tensor) -> Tensor:
        """The displacement to add to the iterate whose gradient is ``grad``."""
        n = grad.shape[0]
        g = grad.reshape(n, -1)
        if self.prev_grad is None:
            d = -g
            t = (self.lr / g.abs().sum(1, keepdim=True).clamp_min(1e-30)).clamp(max=self.lr)
            self.h_diag = torch.ones(n, 1, dtype=g.dtype, device=g.device)
        else:
            y = g - self.prev_grad
            s = self.prev_step
            ys = (y * s).sum(1, keepdim=True)
            yy = (y * y).sum(1, keepdim=True)
            ok = ys > 1e-10
            rho = torch.where(ok, 1.0 / ys, torch.zeros_like(ys))
            self.h_diag = torch.where(ok, ys / yy.clamp_min(1e-30), self.h_diag)
            self.pairs.append((s, y, rho))
            d = self._two_loop(g)
            t = torch.full_like(ys, self.lr)
        step = d * t
        self.prev_grad = g.clone()
        self.prev_step = step
        return step.view_as(grad)

    def _two_loop(self, g: Tensor) -> Tensor:
        q = -g
        alphas = []
        for s, y, rho in reversed(self.pairs):
            a = rho * (s * q).sum(1, keepdim=True)
            q.addcmul_(y, a, value=-1.0)
            alphas.append(a)
        r = q * self.h_diag
        for (s, y, rho), a in zip(self.pairs, reversed(alphas)):
            b = rho * (y * r).sum(1, keepdim=True)
            r.addcmul_(s, a - b)
        return r


def _converged(history: list[Tensor], window: int, tolerance: float) -> bool:
    """Relative decrease of every image's loss over the last ``window`` steps below ``tolerance``."""
    old, new = history[-window - 1], history[-1]
    rel = (old - new) / new.abs().clamp_min(1e-12)
    return bool((rel < tolerance).all())


def minimize(
    x0: Tensor,
    objective: Objective,
    *,
    iterations: int,
    optimizer: str = "lbfgs",
    learning_rate: float | None = None,
    history: int = 100,
    tolerance: float = 1e-4,
    tolerance_window: int = 50,
    callback: Callback | None = None,
    context: dict[str, object] | None = None,
) -> Tensor:
    """Minimise ``objective`` from ``x0``; returns the final iterate (detached).

    Stops after ``iterations`` evaluations, or earlier when every image's loss fell by less
    than ``tolerance`` (relative) over the last ``tolerance_window`` iterations (0 disables).
    """
    if optimizer not in OPTIMIZERS:
        raise VidstyleError(f"unknown optimizer {optimizer!r} (expected lbfgs or adam)")
    lr = DEFAULT_LEARNING_RATE[optimizer] if learning_rate is None else learning_rate
    x = x0.detach().clone().requires_grad_(True)
    lbfgs = LBFGS(history, lr) if optimizer == "lbfgs" else None
    adam = torch.optim.Adam([x], lr=lr) if optimizer == "adam" else None
    losses: list[Tensor] = []
    start = time.perf_counter()
    for it in range(1, iterations + 1):
        loss, parts = objective(x)
        (grad,) = torch.autograd.grad(loss.sum(), x)
        loss = loss.detach()
        losses.append(loss)
        if callback is not None:
            callback(
                Iterate(
                    iteration=it,
                    iterations=iterations,
                    loss=loss,
                    parts={k: v.detach() for k, v in parts.items()},
                    elapsed=time.perf_counter() - start,
                    image=x.detach(),
                    context=dict(context or {}),
                )
            )
        if tolerance_window and it > tolerance_window and it % tolerance_window == 0:
            if not bool(torch.isfinite(loss).all()):
                raise VidstyleError("the loss became non-finite; lower the learning rate or the weights")
            if _converged(losses, tolerance_window, tolerance):
                break
        if len(losses) > tolerance_window + 1:
            losses.pop(0)
        if it == iterations:
            break
        with torch.no_grad():
            if lbfgs is not None:
                x.add_(lbfgs.step(grad))
            else:
                assert adam is not None
                x.grad = grad
                adam.step()
    return x.detach()

