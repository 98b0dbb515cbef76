"""Gradients two ways: reverse-mode autograd vs central finite differences, in cost and in accuracy.

    .venv/bin/python bench/bench_lab01_gradients.py          # ~20 s

Cost: the full gradient of f(x) = Σ tanh(Wx)² + Σ exp(x/n) for n inputs by autograd (one forward
and one backward pass) and by central differences (2n forward passes), as a ratio per n. Accuracy:
the finite-difference error-vs-step curve of `labs.lab01_math.numerics` in float32 and float64,
whose best h goes into the lab README. Writes bench/results/lab01_gradients.json + .png.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from pathlib import Path

import torch

from labs.lab01_math import numerics
from labs.lab01_math.plots import fd_error_png
from shared.plots import plt, replot, save

OUT = Path(__file__).resolve().parent / "results"
README = Path(__file__).resolve().parent.parent / "labs" / "lab01_math" / "README.md"
SIZES = [4, 16, 64, 256]
torch.set_num_threads(1)  # a fair per-pass cost on a shared machine: no thread oversubscription


def timed(fn, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def cost_rows() -> list[dict]:
    rows = []
    for n in SIZES:
        g = torch.Generator().manual_seed(n)
        W = torch.randn(n, n, generator=g, dtype=torch.float64) / n ** 0.5

        def f(x, W=W, n=n):
            return torch.tanh(W @ x).pow(2).sum() + torch.exp(x / n).sum()

        x = torch.randn(n, generator=g, dtype=torch.float64)

        def auto(x=x, f=f):
            xr = x.clone().requires_grad_(True)
            return torch.autograd.grad(f(xr), xr)[0]

        fd = numerics.fd_gradient(f, x)
        err = float((fd - auto()).abs().max() / auto().abs().max())
        t_auto, t_fd = timed(auto), timed(lambda x=x, f=f: numerics.fd_gradient(f, x), repeat=1 if n > 64 else 3)
        rows.append({"n": n, "autograd_ms": round(t_auto * 1e3, 3), "finite_difference_ms": round(t_fd * 1e3, 3),
                     "fd_over_autograd": round(t_fd / t_auto, 1), "fd_relative_error": err,
                     "forward_passes_fd": 2 * n})
    return rows


def readme_block(name: str, body: str) -> None:
    pattern = re.compile(rf"(<!-- {name}:start -->\n).*?(<!-- {name}:end -->)", re.DOTALL)
    README.write_text(pattern.sub(lambda m: m.group(1) + body + "\n" + m.group(2), README.read_text()))


def plot(result: dict, path: Path) -> None:
    """Cost of a full gradient against n, autograd vs central differences, from the JSON's "cost" rows."""
    rows = result["cost"]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.loglog([r["n"] for r in rows], [r["autograd_ms"] for r in rows], "o-", label="autograd (1 forward + 1 backward)")
    ax.loglog([r["n"] for r in rows], [r["finite_difference_ms"] for r in rows], "s-", label="central differences (2n forwards)")
    ax.set_xlabel("number of inputs n")
    ax.set_ylabel("ms per full gradient")
    ax.legend(fontsize=8)
    ax.set_title("why training uses reverse mode", fontsize=10)
    fig.tight_layout()
    save(fig, path)


def plot_fd_error(result: dict, path: Path) -> None:
    """The finite-difference error-vs-h curve (the lab's own figure, checked by shared.plots.png)."""
    c = result["curve"]
    path.write_bytes(fd_error_png({**c, "best_h": result["fd_best_h"], "x": sum(c["x_range"]) / 2}))


PLOTS = {"lab01_gradients.png": plot, "lab01_fd_error.png": plot_fd_error}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replot", action="store_true", help="re-draw the PNGs from the committed JSON; measure nothing")
    if parser.parse_args().replot:
        replot(OUT / "lab01_gradients.json", PLOTS)
        return
    curve = numerics.error_curve()
    rows = cost_rows()
    result = {"cost": rows, "fd_best_h": curve["best_h"], "float32_at_1e-8": curve["float32_at_1e-8"],
              "curve": {"function": curve["function"], "x_range": curve["x_range"], "steps": curve["steps"],
                        "relative_error": curve["relative_error"]}}
    OUT.mkdir(exist_ok=True)
    (OUT / "lab01_gradients.json").write_text(json.dumps(result, indent=2) + "\n")
    for name, draw in PLOTS.items():
        draw(result, OUT / name)
    b = curve["best_h"]
    lines = ["Measured by `bench/bench_lab01_gradients.py` (median relative error over 33 points "
             f"x ∈ [{curve['x_range'][0]:g}, {curve['x_range'][1]:g}]):", "",
             "| dtype | best h, central | error there | theory ε^(1/3) | best h, forward | theory √ε |",
             "|---|---|---|---|---|---|"]
    for d in ("float32", "float64"):
        lines.append(f"| {d} | {b[d]['central']:.1e} | {b[d]['central_error']:.1e} | {b[d]['central_theory']:.1e} | "
                     f"{b[d]['forward']:.1e} | {b[d]['forward_theory']:.1e} |")
    tiny = curve["float32_at_1e-8"]
    lines += ["", f"At h = 1e-8 in float32, x + h == x and the central difference is {tiny['central_difference']:g} "
                  f"(relative error {tiny['relative_error']:.1f}).", "",
              "Full gradient cost, central differences over autograd: "
              + ", ".join(f"n = {r['n']}: {r['fd_over_autograd']}x" for r in rows) + "."]
    readme_block("fd", "\n".join(lines))
    print(json.dumps({"cost": rows, "fd_best_h": b}, indent=2))


if __name__ == "__main__":
    main()
