"""Backprop written out: the MLP forward with its shapes and the backward as one triplet per layer.

    python -m labs.lab04_dl.backprop        # the 2-layer numeric example, step by step, vs torch autograd

For a layer z = W x + b (x: (n_in,), W: (n_out, n_in)) and δ = ∂L/∂z arriving from above:

    ∂L/∂W = δ xᵀ        (n_out, n_in): an outer product, the shape of W
    ∂L/∂b = δ           (n_out,)
    ∂L/∂x = Wᵀ δ        (n_in,): the δ handed to the layer below, through its activation:
    δ_below = (Wᵀ δ) ⊙ f'(z_below)

A batch keeps examples as rows (X: (N, n_in), Z = X Wᵀ + b), so the triplet becomes ∂L/∂W = Δᵀ X,
∂L/∂b = Σ_rows Δ, ∂L/∂X = Δ W. Softmax + cross-entropy give the top δ = (softmax(z) − onehot(y)) / N;
half squared error ½‖z − t‖² gives δ = z − t.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

ACTIVATIONS = ("relu", "tanh")


def act(z: np.ndarray, name: str) -> np.ndarray:
    return np.maximum(z, 0) if name == "relu" else np.tanh(z)


def act_grad(z: np.ndarray, name: str) -> np.ndarray:
    """f'(z) for the activation (ReLU's derivative at 0 is taken as 0, as torch does)."""
    return (z > 0).astype(z.dtype) if name == "relu" else 1 - np.tanh(z) ** 2


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


@dataclass
class Cache:
    """What the forward pass keeps for the backward: each layer's input and pre-activation."""

    xs: list[np.ndarray] = field(default_factory=list)
    zs: list[np.ndarray] = field(default_factory=list)

    def shapes(self) -> list[dict[str, list[int]]]:
        return [{"x": list(x.shape), "z": list(z.shape)} for x, z in zip(self.xs, self.zs, strict=True)]


def forward(params: list[tuple[np.ndarray, np.ndarray]], X: np.ndarray, activation: str = "relu"
            ) -> tuple[np.ndarray, Cache]:
    """Z_l = H_{l-1} W_lᵀ + b_l, H_l = f(Z_l); the last layer has no activation (its Z are the logits)."""
    cache = Cache()
    h = X
    for i, (W, b) in enumerate(params):
        z = h @ W.T + b
        cache.xs.append(h)
        cache.zs.append(z)
        h = z if i == len(params) - 1 else act(z, activation)
    return h, cache


def cross_entropy(logits: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean cross-entropy and its gradient wrt the logits, (softmax − onehot) / N."""
    n = len(y)
    p = softmax(logits)
    loss = float(-np.log(p[np.arange(n), y]).mean())
    delta = p.copy()
    delta[np.arange(n), y] -= 1
    return loss, delta / n


def backward(params: list[tuple[np.ndarray, np.ndarray]], cache: Cache, delta: np.ndarray,
             activation: str = "relu") -> list[tuple[np.ndarray, np.ndarray]]:
    """Walk the layers top-down applying the triplet; returns (∂L/∂W, ∂L/∂b) per layer."""
    grads: list[tuple[np.ndarray, np.ndarray]] = []
    for i in range(len(params) - 1, -1, -1):
        W, _ = params[i]
        grads.append((delta.T @ cache.xs[i], delta.sum(axis=0)))
        if i > 0:
            delta = (delta @ W) * act_grad(cache.zs[i - 1], activation)
    return grads[::-1]


def _vec(a: np.ndarray) -> list:
    return np.round(a, 6).tolist()


def worked(W1: np.ndarray, b1: np.ndarray, W2: np.ndarray, b2: np.ndarray, x: np.ndarray,
           target: np.ndarray | int, loss: str = "mse", activation: str = "relu") -> dict[str, Any]:
    """One example through a 2-layer net, every intermediate named as the chapter names it.

    loss "mse": L = ½‖z2 − t‖² with t a vector; loss "ce": L = −log softmax(z2)[t] with t a class.
    """
    z1 = W1 @ x + b1
    h1 = act(z1, activation)
    z2 = W2 @ h1 + b2
    if loss == "mse":
        t = np.asarray(target, dtype=float)
        L = 0.5 * float(((z2 - t) ** 2).sum())
        delta2 = z2 - t
    else:
        p = softmax(z2)
        L = float(-np.log(p[int(target)]))
        delta2 = p - np.eye(len(z2))[int(target)]
    dW2, db2 = np.outer(delta2, h1), delta2
    dh1 = W2.T @ delta2
    delta1 = dh1 * act_grad(z1, activation)
    dW1, db1, dx = np.outer(delta1, x), delta1, W1.T @ delta1
    steps = [
        ("z1 = W1 x + b1", z1), (f"h1 = {activation}(z1)", h1), ("z2 = W2 h1 + b2", z2), ("L", L),
        ("δ2 = ∂L/∂z2" + (" = z2 − t" if loss == "mse" else " = softmax(z2) − onehot(t)"), delta2),
        ("∂L/∂W2 = δ2 h1ᵀ", dW2), ("∂L/∂b2 = δ2", db2), ("∂L/∂h1 = W2ᵀ δ2", dh1),
        (f"δ1 = ∂L/∂h1 ⊙ {activation}'(z1)", delta1), ("∂L/∂W1 = δ1 xᵀ", dW1), ("∂L/∂b1 = δ1", db1),
        ("∂L/∂x = W1ᵀ δ1", dx),
    ]
    ref = torch_grads(W1, b1, W2, b2, x, target, loss, activation)
    ours = {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2, "x": dx}
    gap = max(float(np.abs(ours[k] - ref[k]).max()) for k in ours)
    return {"loss": loss, "activation": activation,
            "steps": [{"name": n, "value": round(v, 6) if isinstance(v, float) else _vec(v)} for n, v in steps],
            "torch_autograd_max_abs_diff": gap}


def torch_grads(W1, b1, W2, b2, x, target, loss: str = "mse", activation: str = "relu") -> dict[str, np.ndarray]:
    """The same gradients from torch autograd, in float64."""
    t = {k: torch.tensor(np.asarray(v, dtype=float), requires_grad=True)
         for k, v in {"W1": W1, "b1": b1, "W2": W2, "b2": b2, "x": x}.items()}
    f = torch.relu if activation == "relu" else torch.tanh
    z2 = t["W2"] @ f(t["W1"] @ t["x"] + t["b1"]) + t["b2"]
    if loss == "mse":
        L = 0.5 * ((z2 - torch.tensor(np.asarray(target, dtype=float))) ** 2).sum()
    else:
        L = -torch.log_softmax(z2, 0)[int(target)]
    L.backward()
    return {k: v.grad.numpy() for k, v in t.items()}


def worked_from_lists(W1: list, b1: list, W2: list, b2: list, x: list, target: list | int, loss: str = "mse",
                      activation: str = "relu") -> dict[str, Any]:
    """`worked` for JSON input: checks that the shapes chain (W1: (h, n), b1: (h,), W2: (m, h) ...)."""
    arrays = {}
    for name, value, ndim in (("W1", W1, 2), ("b1", b1, 1), ("W2", W2, 2), ("b2", b2, 1), ("x", x, 1)):
        if ndim == 2 and (not value or len({len(row) for row in value}) != 1 or not value[0]):
            raise ValueError(f"{name} must be a non-empty matrix with rows of equal length")
        arrays[name] = np.asarray(value, dtype=float).reshape(-1, len(value[0])) if ndim == 2 else np.asarray(value, float)
    (h, n), (m, h2) = arrays["W1"].shape, arrays["W2"].shape
    for ok, message in ((len(x) == n, f"x has {len(x)} entries but W1 has {n} columns"),
                        (len(b1) == h, f"b1 has {len(b1)} entries but W1 has {h} rows"),
                        (h2 == h, f"W2 has {h2} columns but the hidden layer has {h} units"),
                        (len(b2) == m, f"b2 has {len(b2)} entries but W2 has {m} rows")):
        if not ok:
            raise ValueError(message)
    if loss == "mse":
        if isinstance(target, int) or len(target) != m:
            raise ValueError(f"loss mse needs target as a vector of {m} numbers")
    elif not isinstance(target, int) or not 0 <= target < m:
        raise ValueError(f"loss ce needs target as a class index in [0, {m - 1}]")
    return worked(arrays["W1"], arrays["b1"], arrays["W2"], arrays["b2"], arrays["x"],
                  np.asarray(target, float) if loss == "mse" else target, loss, activation)


EXAMPLE = {  # the 2-layer numeric example: 2 inputs, 2 hidden ReLUs, 2 outputs, squared error
    "W1": [[0.1, 0.2], [0.3, 0.4]], "b1": [0.1, 0.1], "W2": [[0.5, 0.6], [0.7, 0.8]], "b2": [0.1, 0.1],
    "x": [1.0, 2.0], "target": [1.0, 0.0],
}


def worked_example() -> dict[str, Any]:
    e = {k: np.asarray(v, dtype=float) for k, v in EXAMPLE.items()}
    return worked(e["W1"], e["b1"], e["W2"], e["b2"], e["x"], e["target"])


if __name__ == "__main__":
    out = worked_example()
    print("2-layer example: x =", EXAMPLE["x"], " t =", EXAMPLE["target"], " L = ½‖z2 − t‖²")
    for s in out["steps"]:
        print(f"  {s['name']:<32} {s['value']}")
    print(f"largest |ours − torch autograd| over every gradient: {out['torch_autograd_max_abs_diff']:.2e}")
