"""SGD → momentum → RMSprop → Adam → AdamW on numpy float32 arrays, each checked against torch.optim.

    python -m labs.lab04_dl.optim           # 1,000 steps of each vs torch.optim; textbook vs exact Adam

    SGD        θ ← θ − η g                       (L2 weight decay: g ← g + λθ)
    momentum   u ← μ u + g;  θ ← θ − η u         (torch's form: no (1 − μ) on g; u₁ = g₁)
    RMSprop    s ← α s + (1 − α) g²;  θ ← θ − η g / (√s + ε)
    Adam       m ← β₁ m + (1 − β₁) g;  v ← β₂ v + (1 − β₂) g²
               m̂ = m / (1 − β₁ᵗ);  v̂ = v / (1 − β₂ᵗ);  θ ← θ − η m̂ / (√v̂ + ε)
    AdamW      θ ← θ − η λ θ, then the Adam step: the decay is decoupled from the gradient statistics

Every formula is computed in float32 as torch computes it. Written as above ("textbook"), Adam
drifts from torch.optim.Adam by about 1e-7..1e-6 in a few hundred steps: float32 rounding differs
with the order of operations. The `exact` variants reproduce torch's single-tensor kernels: m is
updated with lerp (one fused multiply-add: m + w·(g − m)), v with addcmul (v·β₂ + ((1 − β₂)·g)·g,
fused), the bias corrections fold into a step size η/(1 − β₁ᵗ) and a divisor √(1 − β₂ᵗ) applied to
√v, and θ moves by addcdiv. The square root itself must be torch's: its CPU kernel (MKL vector
math) is off by one ulp from the correctly rounded √ for about 1% of float32 inputs. A fused multiply-add rounds once; here it is computed in float64 and
rounded to float32, which is the same number except in astronomically rare double-rounding cases.
That makes them bit-exact over 1,000 steps on this machine's CPU (see tests/lab04/test_optim.py).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from labs.lab04_dl import backprop
from shared.plots import png

f32 = np.float32
OPTIMIZERS = ("sgd", "momentum", "rmsprop", "adam", "adamw")


def torch_sqrt(x: np.ndarray) -> np.ndarray:
    """√x through torch's CPU kernel, which calls MKL's vector math: faithfully rounded, not always
    correctly rounded, so numpy's (correctly rounded) sqrt differs in the last bit for ~1% of elements."""
    return torch.from_numpy(np.ascontiguousarray(x)).sqrt().numpy()


def fma(a: np.ndarray, b: np.ndarray | float, c: np.ndarray) -> np.ndarray:
    """a·b + c rounded once to float32, as a CPU fused multiply-add does."""
    return (np.asarray(a, np.float64) * np.asarray(b, np.float64) + np.asarray(c, np.float64)).astype(f32)


class Optimizer:
    """Holds per-parameter state; `step(params, grads)` updates the float32 params in place."""

    def __init__(self, lr: float, weight_decay: float = 0.0):
        self.lr = lr
        self.weight_decay = weight_decay
        self.t = 0
        self.state: dict[int, dict[str, np.ndarray]] = {}

    def step(self, params: list[np.ndarray], grads: list[np.ndarray]) -> None:
        self.t += 1
        for i, (p, g) in enumerate(zip(params, grads, strict=True)):
            p[...] = self.update(p, g.astype(f32), self.state.setdefault(i, {}))

    def update(self, p: np.ndarray, g: np.ndarray, s: dict[str, np.ndarray]) -> np.ndarray:
        raise NotImplementedError


class SGD(Optimizer):
    def update(self, p, g, s):
        if self.weight_decay:
            g = fma(p, f32(self.weight_decay), g)
        return fma(g, f32(-self.lr), p)


class Momentum(Optimizer):
    def __init__(self, lr: float, momentum: float = 0.9, weight_decay: float = 0.0):
        super().__init__(lr, weight_decay)
        self.mu = momentum

    def update(self, p, g, s):
        if self.weight_decay:
            g = fma(p, f32(self.weight_decay), g)
        s["u"] = g.copy() if "u" not in s else s["u"] * f32(self.mu) + g
        return fma(s["u"], f32(-self.lr), p)


class RMSprop(Optimizer):
    def __init__(self, lr: float, alpha: float = 0.99, eps: float = 1e-8, weight_decay: float = 0.0):
        super().__init__(lr, weight_decay)
        self.alpha, self.eps = alpha, eps

    def update(self, p, g, s):
        if self.weight_decay:
            g = fma(p, f32(self.weight_decay), g)
        sq = s.get("s", np.zeros_like(p))
        s["s"] = fma(f32(1 - self.alpha) * g, g, sq * f32(self.alpha))
        return p + f32(-self.lr) * g / (torch_sqrt(s["s"]) + f32(self.eps))


class Adam(Optimizer):
    """Adam (and with `decoupled=True`, AdamW); `exact=False` is the textbook order of operations."""

    def __init__(self, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, decoupled: bool = False, exact: bool = True):
        super().__init__(lr, weight_decay)
        self.beta1, self.beta2 = betas
        self.eps, self.decoupled, self.exact = eps, decoupled, exact

    def update(self, p, g, s):
        return self._exact(p, g, s) if self.exact else self._textbook(p, g, s)

    def _textbook(self, p, g, s):
        b1, b2, lr, t = f32(self.beta1), f32(self.beta2), f32(self.lr), self.t
        m = s["m"] = b1 * s.get("m", np.zeros_like(p)) + (f32(1) - b1) * g
        v = s["v"] = b2 * s.get("v", np.zeros_like(p)) + (f32(1) - b2) * g * g
        m_hat = m / (f32(1) - b1**t)
        v_hat = v / (f32(1) - b2**t)
        if self.decoupled:
            return p - lr * (m_hat / (np.sqrt(v_hat) + f32(self.eps)) + f32(self.weight_decay) * p)
        return p - lr * m_hat / (np.sqrt(v_hat) + f32(self.eps))

    def _exact(self, p, g, s):
        if self.decoupled:
            p = p * f32(1 - self.lr * self.weight_decay)
        elif self.weight_decay:
            g = fma(p, f32(self.weight_decay), g)
        m, v = s.get("m", np.zeros_like(p)), s.get("v", np.zeros_like(p))
        w = 1 - self.beta1
        # torch's lerp: small weights as m + w(g − m), large ones from the other end (both one FMA)
        s["m"] = m = fma(g - m, f32(w), m) if w < 0.5 else fma(m - g, f32(-(1 - w)) + f32(0), g)
        s["v"] = v = fma(f32(1 - self.beta2) * g, g, v * f32(self.beta2))
        step_size = self.lr / (1 - self.beta1**self.t)  # Python floats (float64), as torch does
        bc2_sqrt = math.sqrt(1 - self.beta2**self.t)
        denom = torch_sqrt(v) / f32(bc2_sqrt) + f32(self.eps)
        return p + f32(-step_size) * m / denom


def make(name: str, lr: float, weight_decay: float = 0.0, exact: bool = True) -> Optimizer:
    """Ours, by name (weight_decay is L2 for all but AdamW, where it is decoupled)."""
    if name == "sgd":
        return SGD(lr, weight_decay)
    if name == "momentum":
        return Momentum(lr, 0.9, weight_decay)
    if name == "rmsprop":
        return RMSprop(lr, weight_decay=weight_decay)
    if name in ("adam", "adamw"):
        return Adam(lr, weight_decay=weight_decay, decoupled=name == "adamw", exact=exact)
    raise ValueError(f"unknown optimizer {name!r}; choose from {', '.join(OPTIMIZERS)}")


def make_torch(name: str, params: list[torch.Tensor], lr: float, weight_decay: float = 0.0) -> torch.optim.Optimizer:
    """The torch.optim counterpart, with the same hyper-parameters."""
    return {
        "sgd": lambda: torch.optim.SGD(params, lr=lr, weight_decay=weight_decay),
        "momentum": lambda: torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=weight_decay),
        "rmsprop": lambda: torch.optim.RMSprop(params, lr=lr, weight_decay=weight_decay),
        "adam": lambda: torch.optim.Adam(params, lr=lr, weight_decay=weight_decay),
        "adamw": lambda: torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay),
    }[name]()


def regression_problem(seed: int = 0, n: int = 64, d: int = 8, hidden: int = 16
                       ) -> tuple[list[np.ndarray], Callable[[list[np.ndarray]], tuple[float, list[np.ndarray]]]]:
    """A small tanh network on random regression data: initial float32 params and a function
    params -> (loss, grads), the gradients by this lab's backprop (deterministic, so two runs whose
    params are bit-identical get bit-identical gradients)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)).astype(f32)
    y = rng.normal(size=(n, 1)).astype(f32)
    params = [rng.normal(0, 1 / math.sqrt(d), (hidden, d)).astype(f32), np.zeros(hidden, f32),
              rng.normal(0, 1 / math.sqrt(hidden), (1, hidden)).astype(f32), np.zeros(1, f32)]

    def loss_and_grads(ps: list[np.ndarray]) -> tuple[float, list[np.ndarray]]:
        layers = [(ps[0], ps[1]), (ps[2], ps[3])]
        out, cache = backprop.forward(layers, X, "tanh")
        grads = backprop.backward(layers, cache, f32(2 / n) * (out - y), "tanh")
        return float(((out - y) ** 2).mean()), [g for pair in grads for g in pair]

    return params, loss_and_grads


def compare(name: str, steps: int = 1000, lr: float | None = None, weight_decay: float = 0.0,
            seed: int = 0, checkpoints: tuple[int, ...] = (1, 10, 100, 200, 1000)) -> dict[str, Any]:
    """Run ours (exact and, for Adam/AdamW, textbook) and torch.optim side by side on one problem.

    Returns the largest |θ_ours − θ_torch| at each checkpoint and whether the runs are bit-identical.
    """
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; choose from {', '.join(OPTIMIZERS)}")
    lr = lr if lr is not None else (0.05 if name in ("sgd", "momentum") else 1e-3)
    init, loss_and_grads = regression_problem(seed)
    ref = [torch.from_numpy(p.copy()).requires_grad_(True) for p in init]
    opt_ref = make_torch(name, ref, lr, weight_decay)
    runs = {"exact": (make(name, lr, weight_decay), [p.copy() for p in init])}
    if name in ("adam", "adamw"):
        runs["textbook"] = (make(name, lr, weight_decay, exact=False), [p.copy() for p in init])
    gaps: dict[str, dict[int, float]] = {k: {} for k in runs}
    losses = []
    for t in range(1, steps + 1):
        value, grads = loss_and_grads([r.detach().numpy() for r in ref])
        for r, g in zip(ref, grads, strict=True):
            r.grad = torch.from_numpy(np.ascontiguousarray(g))
        opt_ref.step()
        losses.append(value)
        for key, (opt, ps) in runs.items():
            opt.step(ps, loss_and_grads(ps)[1])
            if t in checkpoints or t == steps:
                gaps[key][t] = max(float(np.abs(p - r.detach().numpy()).max()) for p, r in zip(ps, ref, strict=True))
    out = {"optimizer": name, "steps": steps, "lr": lr, "weight_decay": weight_decay, "seed": seed,
           "loss_first": losses[0], "loss_last": losses[-1]}
    for key in runs:
        out[key] = {"max_abs_diff": {str(k): v for k, v in gaps[key].items()},
                    "bit_exact": gaps[key][steps] == 0.0}
    return out


def rosenbrock(xy: np.ndarray) -> tuple[float, np.ndarray]:
    """f(x, y) = (1 − x)² + 100 (y − x²)²: a curved valley with its minimum at (1, 1)."""
    x, y = float(xy[0]), float(xy[1])
    return (1 - x) ** 2 + 100 * (y - x * x) ** 2, np.array([-2 * (1 - x) - 400 * x * (y - x * x), 200 * (y - x * x)])


PATH_LR = {"sgd": 1e-3, "momentum": 1e-3, "rmsprop": 1e-2, "adam": 5e-2, "adamw": 5e-2}


def path(name: str, steps: int = 500, start: tuple[float, float] = (-1.5, 2.0)) -> np.ndarray:
    """The (x, y) positions an optimizer visits on the Rosenbrock valley."""
    opt = make(name, PATH_LR[name], weight_decay=0.01 if name == "adamw" else 0.0)
    p = [np.array(start, f32)]
    trail = [p[0].copy()]
    for _ in range(steps):
        opt.step(p, [rosenbrock(p[0])[1].astype(f32)])
        trail.append(p[0].copy())
    return np.array(trail)


def plot_paths(steps: int = 500) -> bytes:

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    xs, ys = np.meshgrid(np.linspace(-2, 2, 200), np.linspace(-1, 3, 200))
    fig, ax = plt.subplots(figsize=(6.5, 5))
    ax.contour(xs, ys, np.log1p((1 - xs) ** 2 + 100 * (ys - xs**2) ** 2), levels=25, cmap="Greys", linewidths=0.5)
    for name in OPTIMIZERS:
        trail = path(name, steps)
        ax.plot(trail[:, 0], trail[:, 1], label=f"{name} (lr {PATH_LR[name]:g})", linewidth=1.2)
    ax.plot([1], [1], "k*", markersize=12)
    ax.set_xlim(-2, 2)
    ax.set_ylim(-1, 3)
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.set_title(f"{steps} steps on the Rosenbrock valley from (-1.5, 2); minimum at ★")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1))  # beside the paths, never over them
    return png(fig, dpi=100)


if __name__ == "__main__":
    for name in OPTIMIZERS:
        r = compare(name)
        line = f"{name:<9} loss {r['loss_first']:.4f} → {r['loss_last']:.4f}   exact: bit-exact={r['exact']['bit_exact']}"
        if "textbook" in r:
            d = r["textbook"]["max_abs_diff"]
            line += f"   textbook gap: {d['200']:.1e} at 200 steps, {d['1000']:.1e} at 1,000"
        print(line)
