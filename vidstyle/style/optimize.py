"""Minimising a per-image objective: L-BFGS (Ruder's settings) or Adam, with early stopping.

The images of a batch are independent problems that share forward and backward passes;
each gets its own L-BFGS history, stacked in one tensor. Nothing in the loop reads values
back to the host except the early-stop check (one read every ``tolerance_window``
iterations); progress goes to a callback.
"""

from __future__ import annotations

import time
import typing
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor

from vidstyle.errors import VidstyleError
from vidstyle.settings.models import DEFAULT_LEARNING_RATES, Optimizer, OptimSettings

Objective = Callable[[Tensor], tuple[Tensor, dict[str, Tensor]]]
"""image (N, 3, H, W) → (total loss (N,), named parts each (N,))."""

_OPTIM = OptimSettings.model_fields  # the one source of the optimiser's defaults


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

    The history is one stacked tensor, a ring buffer of (s, y) pairs, shape (N, capacity, 2, D)
    (capacity grows by doubling up to ``history``), and the direction comes from the compact
    representation of Byrd, Nocedal & Schnabel (1994) instead of the two-loop recursion:

        H g = γ g + S p − γ Y u,   u = R⁻¹ Sᵀg,   p = R⁻ᵀ ((D + γ YᵀY) u − γ Yᵀg)

    with R the upper triangle of SᵀY in time order, D its diagonal and γ = sᵀy / yᵀy of the
    newest pair (the two-loop's initial scaling). It is the same matrix as the two-loop's, so
    the same iterates to rounding; but a step is one batched product for all the dot products
    (Sᵀg, Yᵀg and the new pair against the history, which keeps SᵀY and YᵀY up to date), two
    small triangular solves and one batched product for the direction: about twenty
    operations whatever the history length, instead of four per stored pair. Nothing is read
    back to the host.
    """

    def __init__(self, history: int = _OPTIM["history"].default, lr: float = DEFAULT_LEARNING_RATES["lbfgs"]) -> None:
        if history < 1:
            raise ValueError("history must be at least 1")
        self.history = history
        self.lr = lr
        self.h_diag: Tensor | None = None  # γ, (N, 1)
        self.prev_grad: Tensor | None = None  # (N, D)
        self.prev_step: Tensor | None = None  # (N, D)
        self.count = 0  # pairs stored (host-side bookkeeping: no device reads)
        self.head = 0  # slot of the next pair; once full, also the oldest pair's
        self._pairs: Tensor | None = None  # (N, capacity, 2, D): [:, k, 0] = s_k, [:, k, 1] = y_k
        self._sy: Tensor | None = None  # (N, capacity, capacity): s_i · y_j
        self._yy: Tensor | None = None  # (N, capacity, capacity): y_i · y_j
        self._valid: Tensor | None = None  # (N, capacity): 1 where yᵀs > 1e-10, else the pair is zeroed

    @property
    def capacity(self) -> int:
        return 0 if self._pairs is None else self._pairs.shape[1]

    @property
    def pairs(self) -> list[tuple[Tensor, Tensor, Tensor]]:
        """The stored (s, y, ρ) pairs, oldest first, each (N, D), (N, D), (N, 1); for inspection.
        A pair without curvature is stored as zeros with ρ = 0."""
        if self._pairs is None:
            return []
        out = []
        for k in self._order_list():
            s, y = self._pairs[:, k, 0], self._pairs[:, k, 1]
            ys = self._sy[:, k, k, None]  # type: ignore[index]
            rho = torch.where(ys > 0, 1.0 / ys.clamp_min(1e-30), torch.zeros_like(ys))
            out.append((s, y, rho))
        return out

    def _order_list(self) -> list[int]:
        """Slots in time order, oldest first."""
        start = self.head if self.count == self.capacity else 0
        return [(start + i) % self.capacity for i in range(self.count)]

    def _grow(self, n: int, d: int, like: Tensor) -> None:
        """Make room for one more pair: double the capacity (up to ``history``), keeping the pairs."""
        cap = self.capacity
        new = min(self.history, max(1, 2 * cap))
        pairs = like.new_zeros(n, new, 2, d)
        sy, yy = like.new_zeros(n, new, new), like.new_zeros(n, new, new)
        valid = like.new_zeros(n, new)
        if cap:  # not wrapped yet: the pairs sit in slots 0..cap-1, in time order
            assert self._pairs is not None and self._sy is not None and self._yy is not None and self._valid is not None
            pairs[:, :cap] = self._pairs
            sy[:, :cap, :cap] = self._sy
            yy[:, :cap, :cap] = self._yy
            valid[:, :cap] = self._valid
        self._pairs, self._sy, self._yy, self._valid = pairs, sy, yy, valid

    def step(self, grad: Tensor) -> Tensor:
        """The displacement to add to the iterate whose gradient is ``grad`` (N, ...)."""
        n = grad.shape[0]
        g = grad.reshape(n, -1)
        t: Tensor | float
        if self.prev_grad is None:
            d = -g
            t = (self.lr / g.abs().sum(1, keepdim=True).clamp_min(1e-30)).clamp(max=self.lr)
            self.h_diag = torch.ones(n, 1, dtype=g.dtype, device=g.device)
        else:
            d = self._direction(g)
            t = self.lr
        step = d * t
        self.prev_grad = g.clone()
        self.prev_step = step
        return step.view_as(grad)

    def _direction(self, g: Tensor) -> Tensor:
        """−H g after adding the pair (s, y) from the last step to the history."""
        assert self.prev_grad is not None and self.prev_step is not None and self.h_diag is not None
        n, dim = g.shape
        y = g - self.prev_grad
        s = self.prev_step
        ys = (y * s).sum(1, keepdim=True)
        yy = (y * y).sum(1, keepdim=True)
        ok = ys > 1e-10
        self.h_diag = torch.where(ok, ys / yy.clamp_min(1e-30), self.h_diag)
        okf = ok.to(g.dtype)
        s, y = s * okf, y * okf  # a pair without curvature is stored as zeros: it drops out

        if self.count == self.capacity and self.capacity < self.history:
            self._grow(n, dim, g)
        assert self._pairs is not None and self._sy is not None and self._yy is not None and self._valid is not None
        slot = self.head
        self._pairs[:, slot, 0] = s
        self._pairs[:, slot, 1] = y
        self._valid[:, slot] = okf[:, 0]
        self.count = min(self.count + 1, self.history)
        self.head = (slot + 1) % self.history if self.capacity == self.history else slot + 1
        cap = self.capacity

        # Every dot product of this step in one pass over the history: rows s_k, y_k against g, s, y.
        # (N, 2cap, 3); the (N, 3, D) right side transposed is MKL's fast layout (3x faster than (N, D, 3)).
        dots = torch.bmm(self._pairs.view(n, 2 * cap, dim), torch.stack((g, s, y), 1).mT)
        sg, yg = dots[:, 0::2, 0], dots[:, 1::2, 0]
        self._sy[:, :, slot] = dots[:, 0::2, 2]  # s_k · y_new
        self._sy[:, slot, :] = dots[:, 1::2, 1]  # s_new · y_k
        self._yy[:, :, slot] = dots[:, 1::2, 2]
        self._yy[:, slot, :] = dots[:, 1::2, 2]

        k = self.count
        start = self.head if k == cap else 0
        idx = (torch.arange(k, device=g.device) + start) % cap  # slots in time order (no host data)
        sy = self._sy.index_select(1, idx).index_select(2, idx)
        yyt = self._yy.index_select(1, idx).index_select(2, idx)
        valid = self._valid.index_select(1, idx)
        gamma = self.h_diag[:, :, None]  # (N, 1, 1)
        # R: upper triangle of SᵀY; a zeroed pair gets R_kk = 1 so it decouples (its rows are zero).
        r = sy.triu() + torch.diag_embed(1.0 - valid)
        a = sg.index_select(1, idx)[:, :, None]
        b = yg.index_select(1, idx)[:, :, None]
        u = torch.linalg.solve_triangular(r, a, upper=True)
        w = sy.diagonal(dim1=1, dim2=2)[:, :, None] * u + gamma * torch.bmm(yyt, u) - gamma * b
        p = torch.linalg.solve_triangular(r.mT, w, upper=False)
        # −H g = −γ g − S p + γ Y u: coefficients of the stored rows, back in slot order.
        coef = g.new_zeros(n, cap, 2)
        coef[:, :, 0].index_copy_(1, idx, -p[:, :, 0])
        coef[:, :, 1].index_copy_(1, idx, (gamma * u)[:, :, 0])
        return torch.bmm(coef.view(n, 1, 2 * cap), self._pairs.view(n, 2 * cap, dim))[:, 0] - self.h_diag * g


def _check(old: Tensor, new: Tensor, tolerance: float) -> tuple[bool, bool]:
    """(some loss is non-finite, every image's loss fell by less than ``tolerance`` relative
    from ``old`` to ``new``), both (N,), in one read from the device."""
    rel = (old - new) / new.abs().clamp_min(1e-12)
    flags = torch.stack((~torch.isfinite(new).all(), (rel < tolerance).all()))
    non_finite, converged = flags.tolist()
    return bool(non_finite), bool(converged)


def minimize(
    x0: Tensor,
    objective: Objective,
    *,
    iterations: int,
    optimizer: str = _OPTIM["optimizer"].default,
    learning_rate: float | None = None,
    history: int = _OPTIM["history"].default,
    tolerance: float = _OPTIM["tolerance"].default,
    tolerance_window: int = _OPTIM["tolerance_window"].default,
    callback: Callback | None = None,
    context: dict[str, object] | None = None,
) -> Tensor:
    """Minimise ``objective`` from ``x0``; returns the final iterate (detached).

    Stops after ``iterations`` evaluations, or earlier when every image's loss fell by less
    than ``tolerance`` (relative) over the last ``tolerance_window`` iterations (0 disables).
    """
    if optimizer not in typing.get_args(Optimizer):
        raise VidstyleError(
            f"optim.optimizer: unknown optimizer {optimizer!r} (expected {' or '.join(typing.get_args(Optimizer))})"
        )
    lr = DEFAULT_LEARNING_RATES[optimizer] if learning_rate is None else learning_rate
    x = x0.detach().clone().requires_grad_(True)
    lbfgs = LBFGS(history, lr) if optimizer == "lbfgs" else None
    adam = torch.optim.Adam([x], lr=lr) if optimizer == "adam" else None
    losses: deque[Tensor] = deque(maxlen=tolerance_window + 1)  # device tensors, never read per iteration
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
            non_finite, converged = _check(losses[0], loss, tolerance)  # the loop's one host read
            if non_finite:
                raise VidstyleError("the loss became non-finite; lower the learning rate or the weights")
            if converged:
                break
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
