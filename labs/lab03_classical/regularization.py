"""Regularisation as a prior: L2 = Gaussian, L1 = Laplace; and why AdamW decouples weight decay.

    python -m labs.lab03_classical.regularization  # sparsity along the L1 path, Adam+L2 vs AdamW

MAP          argmax_w p(y | X, w)·p(w) = argmin_w NLL(w) − log p(w)
L2 / ridge   prior w ~ N(0, τ²I), noise σ²:  argmin ‖y − Xw‖² + λ‖w‖²,  λ = σ²/τ²,
             w = (XᵀX + λI)⁻¹Xᵀy
L1 / lasso   prior w_j ~ Laplace(0, b):  argmin (1/2n)‖y − Xw‖² + α‖w‖₁,  α = σ²/(n·b);
             coordinate descent: w_j ← S(x_jᵀr_j / n, α) / (x_jᵀx_j / n),  S(u, α) = sign(u)·max(|u| − α, 0),
             the soft threshold that sets weights exactly to 0 (a Gaussian prior never does)
Adam + L2    g ← ∇L + λw, then Adam's m, v, w ← w − η·m̂/(√v̂ + ε): the decay is divided by √v̂ like the
             gradient, so weights with large gradients are barely decayed
AdamW        the Adam step on ∇L alone, then w ← w − η·λ·w: the same decay for every weight
             (torch's AdamW applies it first: w ← w(1 − ηλ) before the Adam step; so does this file)
Separable    on separable data the logistic likelihood keeps rising as ‖w‖ → ∞: gradient descent's
             ‖w‖ grows like log t without end; an L2 term (a prior) gives a finite optimum.

Checked against sklearn's Ridge and Lasso and torch.optim.Adam / AdamW (tests/lab03/test_regularization.py).
"""

from __future__ import annotations

import json

import numpy as np
from scipy.special import expit
from sklearn.datasets import load_diabetes


def ridge(X: np.ndarray, y: np.ndarray, lam: float) -> np.ndarray:
    """The MAP weights under a N(0, (σ²/λ)·I) prior (no intercept: centre X and y first)."""
    return np.linalg.solve(X.T @ X + lam * np.eye(X.shape[1]), X.T @ y)


def soft_threshold(u: float, alpha: float) -> float:
    return float(np.sign(u) * max(abs(u) - alpha, 0.0))


def lasso(X: np.ndarray, y: np.ndarray, alpha: float, iters: int = 10_000, tol: float = 1e-12) -> np.ndarray:
    """argmin (1/2n)‖y − Xw‖² + α‖w‖₁ by cyclic coordinate descent (sklearn Lasso's objective)."""
    n, d = X.shape
    w = np.zeros(d)
    r = y.astype(float).copy()
    col_sq = (X**2).sum(axis=0) / n
    for _ in range(iters):
        biggest = 0.0
        for j in range(d):
            if col_sq[j] == 0:
                continue
            old = w[j]
            rho = X[:, j] @ r / n + col_sq[j] * old  # x_jᵀ(residual without feature j) / n
            w[j] = soft_threshold(rho, alpha) / col_sq[j]
            if w[j] != old:
                r -= X[:, j] * (w[j] - old)
                biggest = max(biggest, abs(w[j] - old))
        if biggest < tol:
            break
    return w


def sparsity_path(alphas=(0.01, 0.1, 0.5, 1.0, 2.0, 5.0)) -> list[dict]:
    """Zero weights under L1 vs L2 at matched strength on diabetes (10 standardised features)."""
    X, y = load_diabetes(return_X_y=True)
    X = (X - X.mean(0)) / X.std(0)
    y = y - y.mean()
    n = len(y)
    rows = []
    for alpha in alphas:
        w1 = lasso(X, y, alpha)
        w2 = ridge(X, y, alpha * n)  # the same α in (1/2n)‖·‖² units: λ = n·α
        rows.append({"alpha": alpha, "l1_zero_weights": int((w1 == 0).sum()), "l2_zero_weights": int((w2 == 0).sum()),
                     "l1_norm": float(np.abs(w1).sum()), "l2_smallest_abs_weight": float(np.abs(w2).min())})
    return rows


def adam(grad, w0: np.ndarray, lr: float = 0.01, betas=(0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0.0,
         decoupled: bool = False, steps: int = 100) -> np.ndarray:
    """Adam from scratch; `decoupled=True` is AdamW. Returns the trajectory (steps + 1) × d."""
    b1, b2 = betas
    w = np.asarray(w0, dtype=float).copy()
    m = np.zeros_like(w)
    v = np.zeros_like(w)
    path = [w.copy()]
    for t in range(1, steps + 1):
        g = grad(w)
        if decoupled:
            w = w * (1 - lr * weight_decay)
        else:
            g = g + weight_decay * w
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g**2
        m_hat = m / (1 - b1**t)
        v_hat = v / (1 - b2**t)
        w = w - lr * m_hat / (np.sqrt(v_hat) + eps)
        path.append(w.copy())
    return np.array(path)


def adam_vs_adamw(lam: float = 0.1, lr: float = 0.05, steps: int = 2000) -> dict:
    """Two weights pulled towards 1 by losses of very different curvature, each optimiser with decay λ.

    L(w) = ½·(100·(w₀ − 1)² + 0.01·(w₁ − 1)²). With L2 in the loss, Adam lands on the MAP point
    w_j = c_j/(c_j + λ): the weight whose loss is flat (c₁ = 0.01) is pulled almost to 0, the steep one
    is barely touched. AdamW's decay ignores the gradient's scale: at its fixed point Adam's
    normalised step balances λ·w the same way for both weights, so both end equally decayed.
    """
    c = np.array([100.0, 0.01])

    def grad(w):
        return c * (w - 1)

    w0 = np.zeros(2)
    l2 = adam(grad, w0, lr, weight_decay=lam, steps=steps)[-1]
    decoupled = adam(grad, w0, lr, weight_decay=lam, decoupled=True, steps=steps)[-1]
    return {"curvatures": c.tolist(), "lambda": lam, "adam_l2_final": l2.tolist(), "adamw_final": decoupled.tolist(),
            "map_with_l2_prior": (c / (c + lam)).tolist()}


def separable_logistic(lam: float = 0.0, iters: int = 2000, lr: float = 1.0,
                       checkpoints=(1, 10, 100, 1000, 2000)) -> dict:
    """Gradient descent on mean BCE (+ λ/2‖w‖²) for four separable points; ‖w‖ at each checkpoint."""
    X = np.array([[1.0, 2.0], [2.0, 1.0], [-1.0, -2.0], [-2.0, -1.0]])
    y = np.array([1.0, 1.0, 0.0, 0.0])
    w = np.zeros(2)
    norms = {}
    for t in range(1, iters + 1):
        p = expit(X @ w)
        w -= lr * (X.T @ (p - y) / len(y) + lam * w)
        if t in checkpoints:
            norms[str(t)] = float(np.linalg.norm(w))
    loss = float(np.mean(np.logaddexp(0, X @ w) - y * (X @ w)))
    return {"lambda": lam, "norm_w_at_iteration": norms, "final_w": w.tolist(), "final_bce": loss}


if __name__ == "__main__":
    print(json.dumps({"sparsity": sparsity_path(), "adam_vs_adamw": adam_vs_adamw(),
                      "separable": [separable_logistic(0.0), separable_logistic(0.01)]}, indent=2))
