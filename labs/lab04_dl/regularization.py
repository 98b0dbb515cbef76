"""Regularisers, each equal to torch's: dropout, DropPath, weight decay, label smoothing, clip-by-norm.

    python -m labs.lab04_dl.regularization  # each one vs its torch counterpart on random inputs

    inverted dropout   y = x ⊙ m / (1 − p),  m ~ Bernoulli(1 − p): E[y] = x, so eval needs no rescale
    DropPath           the same mask per example (a whole residual branch kept or dropped)
    L2 weight decay    g ← g + λθ       (coupled: Adam then divides it by √v̂; AdamW does not, optim.py)
    label smoothing    q = (1 − ε) onehot(y) + ε / K;  L = −Σ q log softmax(z)
    clip-by-norm       ‖g‖ = √Σ_params ‖g_p‖²;  g ← g · min(1, c / (‖g‖ + 1e-6))

Random masks come from torch's generator, drawn the way torch's dropout draws them, so a seeded
run of ours and of torch's picks the same units and the outputs are bit-identical.
"""

from __future__ import annotations

import numpy as np
import torch


def dropout_mask(shape: tuple[int, ...], p: float, generator: torch.Generator | None = None) -> np.ndarray:
    """Bernoulli(1 − p) keep-mask, scaled by 1/(1 − p), in float32 (torch's dropout noise)."""
    m = torch.empty(shape).bernoulli_(1 - p, generator=generator)
    return m.div_(1 - p).numpy()


def dropout(x: np.ndarray, p: float, training: bool = True, generator: torch.Generator | None = None) -> np.ndarray:
    if not 0 <= p < 1:
        raise ValueError("dropout p must be in [0, 1)")
    if not training or p == 0:
        return x
    return x * dropout_mask(x.shape, p, generator)


def drop_path(x: np.ndarray, p: float, training: bool = True, generator: torch.Generator | None = None) -> np.ndarray:
    """Stochastic depth: one keep/drop per example (first axis), broadcast over the rest."""
    if not training or p == 0:
        return x
    return x * dropout_mask((x.shape[0],) + (1,) * (x.ndim - 1), p, generator)


def l2_decay(g: np.ndarray, theta: np.ndarray, lam: float) -> np.ndarray:
    """The coupled (L2) form: the penalty ½λ‖θ‖² adds λθ to the gradient."""
    return g + lam * theta


def label_smoothing_ce(z: np.ndarray, y: np.ndarray, eps: float) -> float:
    """Mean cross-entropy against the smoothed target (1 − ε)·onehot + ε/K."""
    K = z.shape[1]
    log_p = z - z.max(axis=1, keepdims=True)
    log_p = log_p - np.log(np.exp(log_p).sum(axis=1, keepdims=True))
    q = np.full(z.shape, eps / K)
    q[np.arange(len(y)), y] += 1 - eps
    return float(-(q * log_p).sum(axis=1).mean())


def clip_by_norm(grads: list[np.ndarray], max_norm: float) -> tuple[list[np.ndarray], float]:
    """Scale every gradient by one factor so the global norm is at most max_norm; returns the norm."""
    total = float(np.sqrt(sum(float((g.astype(np.float64) ** 2).sum()) for g in grads)))
    coef = min(1.0, max_norm / (total + 1e-6))
    return [g * coef for g in grads], total


if __name__ == "__main__":
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 6)).astype(np.float32)
    ours = dropout(x, 0.3, generator=torch.Generator().manual_seed(1))
    torch.manual_seed(1)
    ref = torch.nn.functional.dropout(torch.from_numpy(x), 0.3).numpy()
    torch.manual_seed(1)
    ours_global = dropout(x, 0.3)
    print("dropout equal to F.dropout (same seed):", np.array_equal(ours_global, ref),
          f"(kept {float((ours != 0).mean()):.2f} of units)")
    z, y = rng.normal(size=(8, 5)), rng.integers(0, 5, 8)
    ref_ls = float(torch.nn.functional.cross_entropy(torch.tensor(z), torch.tensor(y), label_smoothing=0.1))
    print(f"label smoothing 0.1: ours {label_smoothing_ce(z, y, 0.1):.10f}  torch {ref_ls:.10f}")
    gs = [rng.normal(size=(3, 3)), rng.normal(size=3)]
    clipped, total = clip_by_norm(gs, 1.0)
    print(f"clip-by-norm: global norm {total:.4f} → {np.sqrt(sum((g ** 2).sum() for g in clipped)):.4f}")
