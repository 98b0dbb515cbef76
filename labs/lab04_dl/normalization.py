"""BatchNorm, LayerNorm and RMSNorm, forward and backward by hand; pre-norm vs post-norm in depth.

    python -m labs.lab04_dl.normalization   # checks against torch, then gradient norms pre vs post-norm

    BatchNorm  over the batch, per feature:  x̂ = (x − μ_B) / √(σ²_B + ε),  y = γ x̂ + β
    LayerNorm  over the features, per row:   x̂ = (x − μ) / √(σ² + ε),      y = γ x̂ + β
    RMSNorm    no centring:                  y = γ x / √(mean(x²) + ε)

Backward of a normalisation over n values with σ̂ = √(σ² + ε) and g = γ ⊙ ∂L/∂y:

    ∂L/∂x = (g − mean(g) − x̂ · mean(g ⊙ x̂)) / σ̂                (LayerNorm, and BatchNorm over the batch)
    ∂L/∂x = g / r − x · mean(g ⊙ x) / r³,   r = √(mean(x²) + ε)   (RMSNorm)
    ∂L/∂γ = Σ ∂L/∂y ⊙ x̂,   ∂L/∂β = Σ ∂L/∂y                       (summed over the other axis)

The two mean terms are what the normalisation removes: the gradient has no component along the
directions that shift or scale the row, since the output cannot change along them.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

Array = np.ndarray


def _norm_forward(x: Array, axis: int, eps: float) -> tuple[Array, Array]:
    mu = x.mean(axis=axis, keepdims=True)
    sigma = np.sqrt(x.var(axis=axis, keepdims=True) + eps)  # the biased variance, as torch normalises
    return (x - mu) / sigma, sigma


def _norm_backward(dy: Array, x_hat: Array, sigma: Array, gamma: Array, axis: int) -> Array:
    g = dy * gamma
    return (g - g.mean(axis=axis, keepdims=True) - x_hat * (g * x_hat).mean(axis=axis, keepdims=True)) / sigma


def layer_norm(x: Array, gamma: Array, beta: Array, eps: float = 1e-5) -> tuple[Array, dict[str, Any]]:
    x_hat, sigma = _norm_forward(x, -1, eps)
    return gamma * x_hat + beta, {"x_hat": x_hat, "sigma": sigma, "gamma": gamma}


def layer_norm_backward(dy: Array, cache: dict[str, Any]) -> tuple[Array, Array, Array]:
    """(∂L/∂x, ∂L/∂γ, ∂L/∂β)."""
    dx = _norm_backward(dy, cache["x_hat"], cache["sigma"], cache["gamma"], -1)
    lead = tuple(range(dy.ndim - 1))
    return dx, (dy * cache["x_hat"]).sum(axis=lead), dy.sum(axis=lead)


def batch_norm(x: Array, gamma: Array, beta: Array, eps: float = 1e-5, running: dict[str, Array] | None = None,
               momentum: float = 0.1) -> tuple[Array, dict[str, Any]]:
    """Training mode: batch statistics; updates `running` mean/var (unbiased var, as torch keeps it)."""
    x_hat, sigma = _norm_forward(x, 0, eps)
    if running is not None:
        n = x.shape[0]
        running["mean"] = (1 - momentum) * running["mean"] + momentum * x.mean(axis=0)
        running["var"] = (1 - momentum) * running["var"] + momentum * x.var(axis=0) * n / (n - 1)
    return gamma * x_hat + beta, {"x_hat": x_hat, "sigma": sigma, "gamma": gamma}


def batch_norm_eval(x: Array, gamma: Array, beta: Array, running: dict[str, Array], eps: float = 1e-5) -> Array:
    return gamma * (x - running["mean"]) / np.sqrt(running["var"] + eps) + beta


def batch_norm_backward(dy: Array, cache: dict[str, Any]) -> tuple[Array, Array, Array]:
    dx = _norm_backward(dy, cache["x_hat"], cache["sigma"], cache["gamma"], 0)
    return dx, (dy * cache["x_hat"]).sum(axis=0), dy.sum(axis=0)


def rms_norm(x: Array, gamma: Array, eps: float = 1e-6) -> tuple[Array, dict[str, Any]]:
    r = np.sqrt((x * x).mean(axis=-1, keepdims=True) + eps)
    return gamma * x / r, {"x": x, "r": r, "gamma": gamma}


def rms_norm_backward(dy: Array, cache: dict[str, Any]) -> tuple[Array, Array]:
    x, r, gamma = cache["x"], cache["r"], cache["gamma"]
    g = dy * gamma
    dx = g / r - x * (g * x).mean(axis=-1, keepdims=True) / r**3
    return dx, (dy * x / r).sum(axis=tuple(range(dy.ndim - 1)))


class LayerNormFunction(torch.autograd.Function):
    """Our LayerNorm forward and backward as a torch op, so torch.autograd.gradcheck can test it."""

    @staticmethod
    def forward(ctx, x, gamma, beta, eps=1e-5):
        y, cache = layer_norm(x.detach().numpy(), gamma.detach().numpy(), beta.detach().numpy(), eps)
        ctx.cache = cache
        return torch.from_numpy(y)

    @staticmethod
    def backward(ctx, dy):
        dx, dgamma, dbeta = layer_norm_backward(dy.detach().numpy(), ctx.cache)
        return torch.from_numpy(dx), torch.from_numpy(dgamma), torch.from_numpy(dbeta), None


def residual_gradients(depth: int = 24, width: int = 64, placement: str = "pre", seed: int = 0,
                       batch: int = 16) -> list[float]:
    """‖∂L/∂(block input)‖ per block of a residual MLP stack, first block first.

    pre-norm:  h ← h + f(LN(h))          post-norm:  h ← LN(h + f(h))
    with f(u) = W₂ GELU(W₁ u), W ~ N(0, 1/width); pre-norm ends with a final LayerNorm (as GPT-2's
    ln_f), and L = Σ r ⊙ output for a fixed random readout r (½‖output‖² would not do: a LayerNorm's
    output has a fixed norm, so its gradient would vanish by construction). In pre-norm the identity
    path reaches the input untouched; in post-norm every block's LayerNorm sits on it.
    """
    if placement not in ("pre", "post"):
        raise ValueError("placement is 'pre' or 'post'")
    g = torch.Generator().manual_seed(seed)
    h = torch.randn(batch, width, generator=g, dtype=torch.float64)
    inputs = []
    ln = torch.nn.functional.layer_norm
    for _ in range(depth):
        h = h.detach().requires_grad_(True) if not inputs else h
        h.retain_grad()
        inputs.append(h)
        W1, W2 = (torch.randn(width, width, generator=g, dtype=torch.float64) / math.sqrt(width) for _ in range(2))

        def f(u, W1=W1, W2=W2):
            return torch.nn.functional.gelu(u @ W1.T) @ W2.T

        h = h + f(ln(h, (width,))) if placement == "pre" else ln(h + f(h), (width,))
    if placement == "pre":
        h = ln(h, (width,))
    (h * torch.randn(batch, width, generator=g, dtype=torch.float64)).sum().backward()
    return [float(x.grad.norm()) for x in inputs]


if __name__ == "__main__":
    rng = np.random.default_rng(0)
    x, gamma, beta = rng.normal(size=(8, 16)), rng.normal(size=16), rng.normal(size=16)
    xt = torch.tensor(x, requires_grad=True)
    ok = torch.autograd.gradcheck(LayerNormFunction.apply, (xt, torch.tensor(gamma, requires_grad=True),
                                                            torch.tensor(beta, requires_grad=True)))
    print("LayerNorm backward passes torch.autograd.gradcheck (float64):", ok)
    for placement in ("pre", "post"):
        n = residual_gradients(placement=placement)
        print(f"{placement}-norm, 24 blocks: ‖∂L/∂h‖ at block 1 {n[0]:.3g}, at block 24 {n[-1]:.3g} "
              f"(ratio {n[0] / n[-1]:.3g})")
