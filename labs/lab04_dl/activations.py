"""Activations, the softmax Jacobian, and gradients through depth with and without residuals.

    python -m labs.lab04_dl.activations     # gradient norm per layer, plain vs residual stacks

    ReLU(x) = max(0, x)                      GELU(x) = x Φ(x)   (exact, with the normal CDF Φ)
    GELU_tanh(x) = ½x(1 + tanh(√(2/π)(x + 0.044715x³)))
    SiLU(x) = x σ(x)                         SwiGLU(x) = SiLU(x W) ⊙ (x V)
    softmax(z)ᵢ = e^{zᵢ} / Σⱼ e^{zⱼ}         ∂s/∂z = diag(s) − s sᵀ

Through a stack of L layers the gradient is a product of L Jacobians, so its norm grows or shrinks
geometrically with depth. A residual block h ← h + f(h) has Jacobian I + ∂f/∂h: the identity
path carries the gradient down unchanged, and the layer norms stay within a small factor.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from scipy.special import erf

from shared.plots import OUTSIDE, png

SQRT_2_OVER_PI = math.sqrt(2 / math.pi)


def relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0)


def gelu(x: np.ndarray) -> np.ndarray:
    """x Φ(x) with Φ(x) = ½(1 + erf(x/√2))."""
    return 0.5 * x * (1 + erf(x / math.sqrt(2)))


def gelu_tanh(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1 + np.tanh(SQRT_2_OVER_PI * (x + 0.044715 * x**3)))


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1 + np.tanh(0.5 * x))  # = 1/(1+e^{-x}) without overflow for large negative x


def silu(x: np.ndarray) -> np.ndarray:
    return x * sigmoid(x)


def swiglu(x: np.ndarray, W: np.ndarray, V: np.ndarray) -> np.ndarray:
    """The gated unit of LLaMA-style MLPs: SiLU(xW) ⊙ (xV); x: (N, d), W and V: (d, f)."""
    return silu(x @ W) * (x @ V)


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=-1, keepdims=True))  # shifting by the max changes nothing but overflow
    return e / e.sum(axis=-1, keepdims=True)


def softmax_jacobian(z: np.ndarray) -> np.ndarray:
    """∂softmax(z)/∂z = diag(s) − s sᵀ for one vector z."""
    s = softmax(z)
    return np.diag(s) - np.outer(s, s)


def gradient_norms(depth: int = 50, width: int = 64, residual: bool = False, activation: str = "tanh",
                   gain: float = 1.0, seed: int = 0, batch: int = 32) -> list[float]:
    """‖∂L/∂h_l‖ for each layer l of a stack h_l = h_{l-1} (+) f(W_l h_{l-1}), first layer first.

    Weights are N(0, gain²/width); L = ½‖h_L‖². Measured with torch autograd (float64).
    """
    g = torch.Generator().manual_seed(seed)
    f = {"tanh": torch.tanh, "relu": torch.relu, "gelu": torch.nn.functional.gelu}[activation]
    h = torch.randn(batch, width, generator=g, dtype=torch.float64)
    hs = []
    for _ in range(depth):
        h = h.detach().requires_grad_(True) if not hs else h
        hs.append(h)
        h.retain_grad()
        W = torch.randn(width, width, generator=g, dtype=torch.float64) * (gain / math.sqrt(width))
        out = f(h @ W.T)
        # scale residual branches by 1/√depth so the forward signal stays bounded (as GPT-2's init does)
        h = h + out / math.sqrt(depth) if residual else out
    (0.5 * (h**2).sum()).backward()
    return [float(x.grad.norm()) for x in hs]


def depth_study(depth: int = 50, width: int = 64, seed: int = 0) -> dict[str, Any]:
    """Gradient norm per layer, plain vs residual: tanh at gain 0.5 (vanishing), ReLU at gain 2 (exploding)."""
    out = {}
    for act, gain in (("tanh", 0.5), ("relu", 2.0)):
        for residual in (False, True):
            norms = gradient_norms(depth, width, residual, act, gain, seed)
            out[f"{act} gain={gain} {'residual' if residual else 'plain'}"] = {
                "norms": norms, "first_over_last": norms[0] / norms[-1]}
    return out


def plot_depth(study: dict[str, Any]) -> bytes:

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for name, r in study.items():
        ax.semilogy(range(1, len(r["norms"]) + 1), r["norms"], label=name,
                    linestyle="-" if "residual" in name else "--")
    ax.set_xlabel("layer (1 = nearest the input)")
    ax.set_ylabel("‖∂L/∂h‖")
    ax.set_title("Gradient norm per layer: plain (dashed) vs residual (solid)")
    ax.legend(fontsize=7, **OUTSIDE)  # the request's depth decides where the curves run
    return png(fig, dpi=110)


if __name__ == "__main__":
    for name, r in depth_study().items():
        n = r["norms"]
        print(f"{name:<28} layer 1: {n[0]:.3e}   layer {len(n)}: {n[-1]:.3e}   ratio {r['first_over_last']:.2e}")
