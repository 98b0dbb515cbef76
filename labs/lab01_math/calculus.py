"""Derivatives, the chain rule, gradient descent, and the two gradients every training loop uses.

    curl -s localhost:8001/calculus/derivations          # MSE and softmax + cross-entropy, derived by sympy
    curl -s localhost:8001/calculus/gradient -H 'content-type: application/json' -d '{"expression": "x**2 * y", "point": {"x": 3, "y": 2}}'

    chain rule      d/dx f(g(x)) = f'(g(x)) · g'(x);  for vectors J_{f∘g}(x) = J_f(g(x)) · J_g(x)
    Taylor          f(x + Δ) ≈ f(x) + ∇f(x)·Δ   ⇒ with Δ = −η∇f:  f drops by ≈ η|∇f|²  (gradient descent)
    MSE             L = (y − ŷ)², ŷ = w x + b          ∂L/∂w = −2x(y − ŷ),  ∂L/∂b = −2(y − ŷ)
                    batch: L = (1/N)|y − Xw|²          ∇_w L = −(2/N) Xᵀ(y − Xw)
    softmax + CE    s = softmax(z), L = −Σₖ yₖ log sₖ  ∂L/∂z = s − y   (when Σₖ yₖ = 1)
    sigmoid + MSE   ŷ = σ(wx + b), L = (y − ŷ)²        ∂L/∂w = −2(y − ŷ) ŷ(1 − ŷ) x
    softmax Jacobian  ∂sᵢ/∂zⱼ = sᵢ(δᵢⱼ − sⱼ),  J = diag(s) − s sᵀ

Each derivation is done by sympy on symbols and compared to the formula above by simplifying the
difference to 0; each formula is then compared with torch autograd on random numbers.
"""

from __future__ import annotations

import math
from functools import cache

import sympy as sp
import torch
from torch.func import jacrev

from labs.lab01_math.expressions import Expression, ExpressionError, parse
from labs.lab01_math.numerics import best_step


def _finite(value: sp.Expr, what: str) -> float:
    c = complex(value.evalf())
    if abs(c.imag) > 1e-12 * max(1.0, abs(c.real)) or not math.isfinite(c.real):
        raise ExpressionError(f"{what} is not a finite real number at this point")
    return c.real


def gradient(expr: Expression, point: dict[str, float]) -> dict:
    """Each partial derivative three ways: sympy's symbolic one evaluated, autograd, central differences."""
    missing = [v for v in expr.variables if v not in point]
    if missing:
        raise ExpressionError(f"the point gives no value for {', '.join(missing)}")
    f = expr.to_sympy()
    subs = {sp.Symbol(k, real=True): sp.Float(point[k]) for k in expr.variables}
    value = _finite(f.subs(subs), "the expression")
    leaves = {k: torch.tensor(float(point[k]), dtype=torch.float64, requires_grad=True) for k in expr.variables}
    out = expr.evaluate(leaves)
    grads = torch.autograd.grad(out, list(leaves.values()), allow_unused=True) if leaves else []
    partials = {}
    for (k, leaf), g in zip(leaves.items(), grads, strict=True):
        d = sp.diff(f, sp.Symbol(k, real=True))
        symbolic = _finite(d.subs(subs), f"∂/∂{k}")
        auto = float(g) if g is not None else 0.0
        h = best_step(torch.float64, point[k])

        def along(t: torch.Tensor, k: str = k) -> torch.Tensor:
            return expr.evaluate({**{n: torch.tensor(float(point[n]), dtype=torch.float64) for n in leaves}, k: t})

        x = leaf.detach()
        fd = float((along(x + h) - along(x - h)) / (2 * h))
        partials[k] = {"symbolic": str(d), "value": symbolic, "autograd": auto, "finite_difference": fd, "h": h,
                       "autograd_error": abs(auto - symbolic), "fd_error": abs(fd - symbolic)}
    worst = max((p["autograd_error"] for p in partials.values()), default=0.0)
    return {"expression": str(f), "value": value, "partials": partials, "max_autograd_error": worst}


def chain_rule(outer: str, inner: str, x: float) -> dict:
    """d/dx f(g(x)) computed as one derivative of the composition and as f'(g(x))·g'(x); both must agree."""
    f, g = parse(outer), parse(inner)
    if set(f.variables) - {"u"} or set(g.variables) - {"x"}:
        raise ExpressionError("write the outer function in u and the inner one in x, e.g. outer sin(u), inner x**2")
    X, U = sp.Symbol("x", real=True), sp.Symbol("u", real=True)
    fs, gs = f.to_sympy(), g.to_sympy()
    whole = sp.diff(fs.subs(U, gs), X)
    product = sp.diff(fs, U).subs(U, gs) * sp.diff(gs, X)
    at = {X: sp.Float(x)}
    t = torch.tensor(float(x), dtype=torch.float64, requires_grad=True)
    out = f.evaluate({"u": g.evaluate({"x": t})})
    # a constant f or g leaves out without a graph back to x: its derivative is 0, not an error
    auto = torch.autograd.grad(out, t)[0] if out.requires_grad else torch.zeros(())
    a, b = _finite(whole.subs(at), "d/dx f(g(x))"), _finite(product.subs(at), "f'(g(x))·g'(x)")
    return {"composition": str(fs.subs(U, gs)), "derivative": str(whole), "f_prime_of_g_times_g_prime": str(product),
            "value": a, "chain_rule_value": b, "autograd": float(auto), "difference": abs(a - b)}


def gradient_descent(expr: Expression, start: dict[str, float], lr: float, steps: int) -> dict:
    """x ← x − η∇f(x), with the first-order Taylor prediction of each step's drop, η|∇f|², beside the real one."""
    names = list(expr.variables)
    if not names:
        raise ExpressionError("the expression has no variable to descend on")
    missing = [v for v in names if v not in start]
    if missing:
        raise ExpressionError(f"start gives no value for {', '.join(missing)}")
    x = torch.tensor([float(start[n]) for n in names], dtype=torch.float64)

    def f(v: torch.Tensor) -> torch.Tensor:
        return expr.evaluate({n: v[i] for i, n in enumerate(names)})

    path, history = [x.tolist()], []
    status = "ran all steps"
    for _ in range(steps):
        v = x.clone().requires_grad_(True)
        fx = f(v)
        (g,) = torch.autograd.grad(fx, v)
        fx = fx.detach()
        if not (torch.isfinite(fx) and torch.isfinite(g).all()):
            status = "stopped: f or its gradient is not finite here"
            break
        x_new = x - lr * g
        f_new = f(x_new)
        history.append({"f": float(fx), "grad_norm": float(g.norm()), "predicted_drop": float(lr * g.dot(g)),
                        "actual_drop": float(fx - f_new)})
        x = x_new
        path.append(x.tolist())
        if not torch.isfinite(x).all() or abs(float(f_new)) > 1e12:
            status = "diverged: the step is too large for this curvature"
            break
    final = float(f(x)) if torch.isfinite(x).all() else math.nan
    return {"variables": names, "lr": lr, "path": path, "steps": history, "final_point": path[-1],
            "final_value": final if math.isfinite(final) else None, "status": status}


def mse_gradient(X: torch.Tensor, y: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """∇_w (1/N)|y − Xw|² = −(2/N) Xᵀ(y − Xw)."""
    return -2.0 / X.shape[0] * X.T @ (y - X @ w)


def softmax_ce_gradient(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """∂/∂z of the mean over rows of −Σₖ yₖ log softmax(z)ₖ: (softmax(z) − y) / N (rows of y sum to 1)."""
    return (torch.softmax(z, dim=-1) - y) / z.shape[0]


def sigmoid_mse_gradient(x: torch.Tensor, y: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> tuple:
    """For L = (1/N) Σ (y − σ(xw + b))²: ∂L/∂w = −(2/N) Σ (y − ŷ) ŷ(1 − ŷ) x, ∂L/∂b the same without x."""
    yhat = torch.sigmoid(x * w + b)
    r = (y - yhat) * yhat * (1 - yhat)
    return -2.0 * (r * x).mean(), -2.0 * r.mean()


def softmax_jacobian(z: torch.Tensor) -> torch.Tensor:
    """J = diag(s) − s sᵀ: raising zⱼ raises sⱼ by sⱼ(1 − sⱼ) and lowers every other sᵢ by sᵢsⱼ."""
    s = torch.softmax(z, dim=-1)
    return torch.diag(s) - torch.outer(s, s)


def jacobian_check(z: torch.Tensor) -> dict:
    """The softmax Jacobian by formula and by torch.func.jacrev, and the chain rule as a Jacobian product."""
    J = softmax_jacobian(z)
    J_auto = jacrev(lambda t: torch.softmax(t, -1))(z)
    W = torch.linspace(-1, 1, z.numel() ** 2, dtype=z.dtype).reshape(z.numel(), z.numel())
    # softmax(W z): J = J_softmax(W z) · W, the chain rule for vector functions
    J_chain = softmax_jacobian(W @ z) @ W
    J_chain_auto = jacrev(lambda t: torch.softmax(W @ t, -1))(z)
    return {"s": torch.softmax(z, -1).tolist(), "jacobian": J.tolist(),
            "rows_sum_to_zero": float(J.sum(dim=1).abs().max()),
            "error_vs_jacrev": float((J - J_auto).abs().max()),
            "chain_rule_error_vs_jacrev": float((J_chain - J_chain_auto).abs().max())}


def softmax_ce_report(z: list[float], y: list[float] | None = None) -> dict:
    """One example: the gradient by formula and by autograd (y defaults to class 0), and the Jacobian."""
    zt = torch.tensor(z, dtype=torch.float64)
    yt = torch.tensor(y if y is not None else [1.0] + [0.0] * (len(z) - 1), dtype=torch.float64)
    if yt.shape != zt.shape:
        raise ValueError(f"y has {yt.numel()} entries, z has {zt.numel()}")
    if abs(float(yt.sum()) - 1) > 1e-6:
        raise ValueError(f"y must sum to 1 (it sums to {float(yt.sum()):.6g})")
    zl = zt.clone().requires_grad_(True)
    (auto,) = torch.autograd.grad(torch.nn.functional.cross_entropy(zl[None], yt[None]), zl)
    ours = softmax_ce_gradient(zt[None], yt[None])[0]
    jac = jacobian_check(zt)
    return {"softmax": jac["s"], "gradient": ours.tolist(), "autograd": auto.tolist(), "jacobian": jac["jacobian"],
            "jacobian_error_vs_jacrev": jac["error_vs_jacrev"],
            "error": max(float((ours - auto).abs().max()), jac["error_vs_jacrev"])}


def _zero(expr: sp.Expr) -> bool:
    """Is expr identically 0? These are rational functions of exp(·) and the symbols, which `cancel`
    decides exactly and fast; `simplify` (slow, heuristic) is only the fallback."""
    return sp.cancel(sp.expand(expr)) == 0 or sp.simplify(expr) == 0


@cache
def derivations() -> dict:
    """The chapter's gradients derived by sympy, each compared symbolically with its textbook form."""
    x, y, w, b = sp.symbols("x y w b", real=True)
    yhat = w * x + b
    L = (y - yhat) ** 2
    dw, db = sp.diff(L, w), sp.diff(L, b)
    mse = {"loss": str(L), "dL/dw": str(sp.factor(dw)), "dL/db": str(sp.factor(db)),
           "textbook": "dL/dw = -2x(y - ŷ), dL/db = -2(y - ŷ)",
           "matches": _zero(dw - (-2 * x * (y - yhat))) and _zero(db - (-2 * (y - yhat)))}

    K = 3
    z = sp.symbols(f"z0:{K}", real=True)
    t = sp.symbols(f"y0:{K}", real=True)
    lse = sp.log(sum(sp.exp(zk) for zk in z))
    s = [sp.exp(zk) / sum(sp.exp(zj) for zj in z) for zk in z]
    ce = -sum(tk * (zk - lse) for tk, zk in zip(t, z, strict=True))  # log softmax(z)_k = z_k − logsumexp(z)
    on_simplex = {t[-1]: 1 - sum(t[:-1])}  # the targets are a distribution: Σ yₖ = 1
    grads = [sp.diff(ce, zk) for zk in z]
    softmax_ce = {"loss": str(ce), "dL/dz0 (as derived)": str(grads[0]),
                  "textbook": "dL/dz = softmax(z) - y, given sum(y) = 1",
                  "matches": all(_zero((g - (sk - tk)).subs(on_simplex)) for g, sk, tk in zip(grads, s, t, strict=True)),
                  "without_sum_to_one": "dL/dz_k = softmax(z)_k·Σy - y_k: the clean form needs Σy = 1"}

    sig = 1 / (1 + sp.exp(-(w * x + b)))
    L2 = (y - sig) ** 2
    dw2 = sp.diff(L2, w)
    sigmoid_mse = {"loss": "(y - sigmoid(w*x + b))**2", "dL/dw (as derived)": str(dw2),
                   "textbook": "dL/dw = -2(y - ŷ)·ŷ(1 - ŷ)·x",
                   "matches": _zero(dw2 - (-2 * (y - sig) * sig * (1 - sig) * x))}

    jac = [[sp.diff(si, zj) for zj in z] for si in s]
    softmax_jac = {"textbook": "ds_i/dz_j = s_i(δ_ij - s_j)",
                   "matches": all(_zero(jac[i][j] - s[i] * ((1 if i == j else 0) - s[j]))
                                  for i in range(K) for j in range(K))}
    return {"mse": mse, "softmax_cross_entropy": softmax_ce, "sigmoid_mse": sigmoid_mse,
            "softmax_jacobian": softmax_jac}


def autograd_checks(seed: int = 0) -> dict[str, float]:
    """Each gradient formula against torch autograd on random float64 inputs: the largest |difference|."""
    g = torch.Generator().manual_seed(seed)
    X, y, w = (torch.randn(16, 4, generator=g, dtype=torch.float64), torch.randn(16, generator=g, dtype=torch.float64),
               torch.randn(4, generator=g, dtype=torch.float64).requires_grad_(True))
    (auto,) = torch.autograd.grad(((y - X @ w) ** 2).mean(), w)
    out = {"mse": float((mse_gradient(X, y, w.detach()) - auto).abs().max())}
    z = torch.randn(8, 5, generator=g, dtype=torch.float64, requires_grad=True)
    target = torch.softmax(torch.randn(8, 5, generator=g, dtype=torch.float64), -1)
    (auto,) = torch.autograd.grad(torch.nn.functional.cross_entropy(z, target), z)
    out["softmax_cross_entropy"] = float((softmax_ce_gradient(z.detach(), target) - auto).abs().max())
    x1, y1 = torch.randn(10, generator=g, dtype=torch.float64), torch.rand(10, generator=g, dtype=torch.float64)
    w1, b1 = (torch.randn((), generator=g, dtype=torch.float64).requires_grad_(True),
              torch.randn((), generator=g, dtype=torch.float64).requires_grad_(True))
    aw, ab = torch.autograd.grad(((y1 - torch.sigmoid(x1 * w1 + b1)) ** 2).mean(), [w1, b1])
    mw, mb = sigmoid_mse_gradient(x1, y1, w1.detach(), b1.detach())
    out["sigmoid_mse"] = max(float((mw - aw).abs()), float((mb - ab).abs()))
    zz = torch.randn(6, generator=g, dtype=torch.float64)
    out["softmax_jacobian"] = jacobian_check(zz)["error_vs_jacrev"]
    return out


@cache
def self_check() -> str:
    """Readiness: every derivation matches its textbook form and every formula matches autograd."""
    bad = [name for name, d in derivations().items() if not d["matches"]]
    errors = autograd_checks()
    bad += [name for name, e in errors.items() if e > 1e-10]
    if bad:
        raise RuntimeError(f"identities that failed: {', '.join(bad)}")
    return f"{len(derivations())} derivations hold; formulas match autograd to {max(errors.values()):.1e}"
