"""The lab's pictures as PNG bytes: SVD on the unit circle, a gradient descent path, the finite-difference U.

    curl -s 'localhost:8001/matrices/svd.png?A=3,1,1,2' -o svd.png
    curl -s 'localhost:8001/calculus/descent.png?expression=x**2%2B10*y**2&x=3&y=1&lr=0.05&steps=40' -o gd.png
    curl -s localhost:8001/numerics/fd-error.png -o fd.png

matplotlib with the Agg backend (no display needed); each function draws one figure and returns PNG bytes.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # before pyplot: a server has no display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from labs.lab01_math.expressions import Expression  # noqa: E402
from shared.plots import OUTSIDE, png


def svd_png(steps: dict) -> bytes:
    """Four panels: the unit circle, after Vᵀ (rotate), after Σ (stretch), after U (rotate) = A x."""
    stages = steps["stages"]
    titles = {"circle": "x on the unit circle", "Vt x": f"Vᵀx: {steps['Vt_is']['kind']} "
              f"{steps['Vt_is']['angle_deg']:.0f}°", "Σ Vt x": "ΣVᵀx: " + steps["stretch"].replace(", ", "\n"),
              "U Σ Vt x": f"UΣVᵀx = Ax: {steps['U_is']['kind']} {steps['U_is']['angle_deg']:.0f}°"}
    lim = 1.1 * max(1.0, float(np.max(np.abs(stages["U Σ Vt x"]))), float(np.max(np.abs(stages["Σ Vt x"]))))
    fig, axes = plt.subplots(1, 4, figsize=(13, 3.6))
    marker = 0  # follow one point around, so the reader sees the rotations, not only the shapes
    for ax, (name, P) in zip(axes, stages.items(), strict=True):
        ax.plot(P[0], P[1], lw=1.5)
        ax.plot(P[0, marker], P[1, marker], "o", color="C3")
        ax.axhline(0, color="0.8", lw=0.8)
        ax.axvline(0, color="0.8", lw=0.8)
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
        ax.set_aspect("equal")
        ax.set_xlabel("first coordinate")
        ax.set_ylabel("second coordinate")
        ax.set_title(titles[name], fontsize=9)
    U, s = steps["U"], steps["S"]
    for i in range(2):  # the ellipse's axes are σᵢ uᵢ
        axes[3].annotate("", xy=(s[i] * U[0, i], s[i] * U[1, i]), xytext=(0, 0),
                         arrowprops={"arrowstyle": "->", "color": "C2"})
    fig.suptitle("SVD: A = U Σ Vᵀ is rotate, stretch, rotate", fontsize=10)
    fig.tight_layout()
    return png(fig, dpi=90)


def descent_png(expr: Expression, result: dict) -> bytes:
    """The path over f's contour lines (two variables), or f along the path (any number)."""
    path = np.asarray(result["path"], dtype=np.float64)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    if path.shape[1] == 2 and np.isfinite(path).all():
        lo, hi = path.min(axis=0), path.max(axis=0)
        pad = np.maximum(0.3 * (hi - lo), 0.5)
        gx = np.linspace(lo[0] - pad[0], hi[0] + pad[0], 120)
        gy = np.linspace(lo[1] - pad[1], hi[1] + pad[1], 120)
        XX, YY = np.meshgrid(gx, gy)
        a, b = result["variables"]
        with torch.no_grad():
            ZZ = expr.evaluate({a: torch.from_numpy(XX), b: torch.from_numpy(YY)}).numpy()
        ZZ = np.where(np.isfinite(ZZ), ZZ, np.nan)
        axes[0].contour(XX, YY, ZZ, levels=25, linewidths=0.7)
        axes[0].plot(path[:, 0], path[:, 1], "o-", color="C3", ms=3, lw=1)
        axes[0].set_xlabel(a)
        axes[0].set_ylabel(b)
        axes[0].set_title(f"x ← x − η∇f, η = {result['lr']:g}", fontsize=9)
    else:
        axes[0].text(0.5, 0.5, "contours need exactly two variables", ha="center", va="center")
        axes[0].set_axis_off()
    steps = result["steps"]
    if steps:
        k = np.arange(len(steps))
        axes[1].plot(k, [s["predicted_drop"] for s in steps], label="predicted drop η|∇f|² (Taylor)")
        axes[1].plot(k, [s["actual_drop"] for s in steps], "--", label="actual drop f(x) − f(x')")
        axes[1].set_yscale("symlog", linthresh=1e-6)
        axes[1].set_xlabel("step")
        axes[1].set_ylabel("drop in f over the step")
        axes[1].legend(fontsize=8, **OUTSIDE)  # the drops depend on the request's expression
        axes[1].set_title("first-order prediction vs reality", fontsize=9)
    fig.suptitle(f"gradient descent on f = {expr.text}", fontsize=10)
    fig.tight_layout()
    return png(fig, dpi=90)


def fd_error_png(curve: dict) -> bytes:
    """Relative error of forward and central differences vs h, float32 and float64, log-log."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    h = np.asarray(curve["steps"])
    for (name, schemes), color in zip(curve["relative_error"].items(), ("C0", "C1"), strict=True):
        for scheme, style in (("central", "-"), ("forward", ":")):
            err = np.maximum(np.asarray(schemes[scheme]), 1e-17)  # exact hits would vanish from a log axis
            ax.loglog(h, err, style, color=color, label=f"{name} {scheme}")
        best = curve["best_h"][name]["central"]
        ax.axvline(best, color=color, lw=0.6, alpha=0.6)
        ax.annotate(f"{name} best h ≈ {best:.0e}", (best, 1e-15 if name == "float64" else 1e-13), color=color,
                    fontsize=8, rotation=90, ha="right")
    ax.set_xlabel("step h")
    ax.set_ylabel("|finite difference − autograd| / |autograd|")
    ax.set_title(f"d/dx {curve['function']} at x = {curve['x']:g}: round-off (left) vs truncation (right)",
                 fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return png(fig, dpi=90)
