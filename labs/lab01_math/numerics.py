"""Finite differences against autograd: which step h to use, and why both too big and too small fail.

    curl -s localhost:8001/numerics/fd-error            # the measured curve's best h per dtype
    curl -s localhost:8001/numerics/fd-error.png -o fd.png

    forward   f'(x) ≈ (f(x + h) − f(x)) / h              truncation error ≈ h |f''| / 2
    central   f'(x) ≈ (f(x + h) − f(x − h)) / (2h)       truncation error ≈ h² |f'''| / 6
    round-off: f is known to about ε|f| (ε the dtype's machine epsilon), and the difference divides
              that by h: error ≈ ε|f| / h

Adding the two and minimising over h gives the best step: h* ≈ √ε for forward differences and
h* ≈ ∛ε for central ones (times max(1, |x|), since x + h must change x at all). float32 has
ε ≈ 1.2e-7 (h* ≈ 5e-3 central), float64 ε ≈ 2.2e-16 (h* ≈ 6e-6 central). Left of h* round-off
wins and the error grows as h shrinks; at h = 1e-8 in float32, x + h == x for x near 1 and the
"derivative" is exactly 0. Right of h* the Taylor truncation wins. Hence the advice: check
gradients in float64 with central differences and h ≈ 1e-6 (scaled by |x|), never in float32.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch

DTYPES = {"float32": torch.float32, "float64": torch.float64}
STEPS = np.logspace(-12, 0, 49)  # four points per decade


def forward_difference(f: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, h: float) -> torch.Tensor:
    return (f(x + h) - f(x)) / h


def central_difference(f: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, h: float) -> torch.Tensor:
    return (f(x + h) - f(x - h)) / (2 * h)


def best_step(dtype: torch.dtype, x: float = 1.0, scheme: str = "central") -> float:
    """The h that balances truncation and round-off: ε^(1/3) (central) or ε^(1/2) (forward), times max(1, |x|)."""
    eps = torch.finfo(dtype).eps
    return (eps ** (1 / 3) if scheme == "central" else math.sqrt(eps)) * max(1.0, abs(x))


def autograd_derivative(f: Callable[[torch.Tensor], torch.Tensor], x: float) -> float:
    """f'(x) by reverse-mode autograd in float64: the reference every difference is measured against."""
    t = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    (g,) = torch.autograd.grad(f(t), t)
    return float(g)


def fd_gradient(f: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, h: float | None = None) -> torch.Tensor:
    """∇f(x) by central differences, one coordinate at a time: 2n evaluations of f for n inputs."""
    x = x.detach()
    h = h if h is not None else best_step(x.dtype, float(x.abs().max()) if x.numel() else 1.0)
    g = torch.empty_like(x)
    flat, gflat = x.reshape(-1), g.reshape(-1)
    for i in range(flat.numel()):
        e = torch.zeros_like(flat)
        e[i] = h
        gflat[i] = (f((flat + e).view_as(x)) - f((flat - e).view_as(x))) / (2 * h)
    return g


def f_demo(x: torch.Tensor) -> torch.Tensor:
    """The curve's test function: smooth, with f, f'' and f''' all of order 1 to 10 near x = 1."""
    return torch.sin(x) * torch.exp(x)


def error_curve(f: Callable[[torch.Tensor], torch.Tensor] = f_demo, x0: float = 1.0,
                steps: np.ndarray = STEPS, spread: int = 33) -> dict:
    """Median |difference − autograd| / |autograd| for every h, both schemes, float32 and float64.

    One x alone gives a jagged curve (round-off errors are pseudo-random, and a lucky h can land on
    an exact answer), so each h is scored by the median over `spread` points in [x0 − 0.25, x0 + 0.25].
    """
    xs = torch.linspace(x0 - 0.25, x0 + 0.25, spread, dtype=torch.float64)
    xg = xs.clone().requires_grad_(True)
    (exact,) = torch.autograd.grad(f(xg).sum(), xg)  # f acts elementwise: the gradient of the sum is f'(xᵢ)
    curves: dict[str, dict[str, list[float]]] = {}
    best: dict[str, dict[str, float]] = {}
    for name, dtype in DTYPES.items():
        x = xs.to(dtype)
        curves[name] = {}
        best[name] = {}
        for scheme, diff in (("forward", forward_difference), ("central", central_difference)):
            errs = [float(((diff(f, x, float(h)).double() - exact).abs() / exact.abs()).median()) for h in steps]
            curves[name][scheme] = errs
            i = int(np.argmin(errs))
            best[name][scheme] = float(steps[i])
            best[name][f"{scheme}_error"] = errs[i]
            best[name][f"{scheme}_theory"] = best_step(dtype, x0, scheme)
    exact = autograd_derivative(f, x0)
    x32 = torch.tensor(x0, dtype=torch.float32)
    tiny = float(central_difference(f, x32, 1e-8))
    return {"function": "sin(x)·exp(x)", "x": x0, "x_range": [x0 - 0.25, x0 + 0.25], "autograd": exact, "steps": [float(h) for h in steps],
            "relative_error": curves, "best_h": best,
            "float32_at_1e-8": {"central_difference": tiny, "relative_error": abs(tiny - exact) / abs(exact),
                                "x_plus_h_equals_x": bool((x32 + 1e-8) == x32)},
            "advice": "use float64 and central differences with h ≈ ε^(1/3)·max(1, |x|) ≈ 6e-6·max(1, |x|); "
                      "in float32 no h gets below about 1e-5 relative error"}
