"""The chapter's six worked exercises, computed: `python -m labs.lab04_dl.exercises` (`--json` for one object).

1. the cross-entropy gradient ∂L/∂z = softmax(z) − onehot(y), checked three ways
2. Adam in about 20 lines, equal to torch.optim.Adam
3. He init std for a (512, 2048) ReLU layer
4. four NaNs diagnosed
5. LayerNorm backward, by hand, against torch and gradcheck
6. an LR recipe for a 24-layer transformer
"""

from __future__ import annotations

import argparse
import json
import math
from typing import Any

import numpy as np
import torch

from labs.lab04_dl import autograd, init, nan_doctor, normalization, schedules


def ce_gradient(seed: int = 0) -> dict[str, Any]:
    """L = −log softmax(z)_y. ∂L/∂z_i = s_i − [i = y]: analytic vs our autograd vs torch vs finite differences."""
    rng = np.random.default_rng(seed)
    z, y = rng.normal(size=5), 2
    s = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
    analytic = s - np.eye(5)[y]
    zt = autograd.Tensor(z[None, :], requires_grad=True)
    autograd.cross_entropy(zt, np.array([y])).backward()
    tz = torch.tensor(z, requires_grad=True)
    torch.nn.functional.cross_entropy(tz[None], torch.tensor([y])).backward()

    def loss(v):
        return -(v[y] - v.max() - np.log(np.exp(v - v.max()).sum()))
    h = 1e-6
    numeric = np.array([(loss(z + h * e) - loss(z - h * e)) / (2 * h) for e in np.eye(5)])
    return {"z": np.round(z, 4).tolist(), "y": y, "answer": np.round(analytic, 6).tolist(),
            "sums_to_zero": abs(float(analytic.sum())) < 1e-12,
            "max_diff_autograd": float(np.abs(zt.grad[0] - analytic).max()),
            "max_diff_torch": float(np.abs(tz.grad.numpy() - analytic).max()),
            "max_diff_finite_differences": float(np.abs(numeric - analytic).max())}


def adam(theta: np.ndarray, grad, steps: int, lr: float = 1e-2, beta1: float = 0.9, beta2: float = 0.999,
         eps: float = 1e-8) -> np.ndarray:
    """Adam in about 20 lines (float64): the two moving averages, their bias correction, the step."""
    theta = theta.copy()
    m = np.zeros_like(theta)
    v = np.zeros_like(theta)
    for t in range(1, steps + 1):
        g = grad(theta)
        m = beta1 * m + (1 - beta1) * g              # first moment: a momentum of the gradient
        v = beta2 * v + (1 - beta2) * g * g          # second moment: per-coordinate scale
        m_hat = m / (1 - beta1**t)                   # both start at 0: undo that bias early on
        v_hat = v / (1 - beta2**t)
        theta = theta - lr * m_hat / (np.sqrt(v_hat) + eps)
    return theta


def adam_matches_torch(steps: int = 500, seed: int = 0) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(10, 10))
    Q = A @ A.T / 10 + np.eye(10)  # a well-posed quadratic ½θᵀQθ − bᵀθ
    b = rng.normal(size=10)
    theta0 = rng.normal(size=10)
    ours = adam(theta0, lambda th: Q @ th - b, steps)
    tt = torch.tensor(theta0, requires_grad=True)
    opt = torch.optim.Adam([tt], lr=1e-2)
    Qt, bt = torch.tensor(Q), torch.tensor(b)
    for _ in range(steps):
        opt.zero_grad()
        (0.5 * tt @ Qt @ tt - bt @ tt).backward()
        opt.step()
    return {"problem": "½θᵀQθ − bᵀθ, 10 dims, float64", "steps": steps, "lr": 1e-2,
            "answer_max_abs_diff": float(np.abs(ours - tt.detach().numpy()).max()),
            "distance_to_optimum": float(np.linalg.norm(ours - np.linalg.solve(Q, b)))}


def he_std_512_2048(seed: int = 0) -> dict[str, Any]:
    """W of shape (512, 2048) as nn.Linear stores it (out = 512, in = 2048): fan_in = 2048."""
    shape = (512, 2048)
    std = init.he_std(shape)
    rng = np.random.default_rng(seed)
    W = rng.normal(0, std, shape)
    x = rng.normal(size=(256, 2048))
    y = np.maximum(x @ W.T, 0)
    return {"shape": list(shape), "fan_in": 2048, "answer_std": std, "formula": "√(2 / fan_in) = √(2/2048) = 1/32",
            "sampled_std": float(W.std()), "relu_output_mean_square": float((y**2).mean()),
            "note": "E[ReLU(y)²] = ½·fan_in·σ²·E[x²] = 1 keeps the signal's scale; read (512, 2048) as "
                    "(in, out) instead and fan_in = 512, σ = √(2/512) = 0.0625"}


def nan_diagnoses() -> dict[str, Any]:
    out = {}
    for name in nan_doctor.SCENARIOS:
        f = nan_doctor.run_scenario(name)["finding"]
        out[name] = {"step": f["step"], "op": f"aten.{f['op']}", "layer": f["layer"], "dtype": f["dtype"],
                     "kind": f["kind"], "cause": f["cause"]}
    return {"scenarios": list(nan_doctor.SCENARIOS), "answer": out}


def layernorm_backward(seed: int = 0) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    x, gamma, beta, dy = rng.normal(size=(4, 6)), rng.normal(size=6), rng.normal(size=6), rng.normal(size=(4, 6))
    _, cache = normalization.layer_norm(x, gamma, beta)
    dx, dgamma, dbeta = normalization.layer_norm_backward(dy, cache)
    t = [torch.tensor(a, requires_grad=True) for a in (x, gamma, beta)]
    torch.nn.functional.layer_norm(t[0], (6,), t[1], t[2], eps=1e-5).backward(torch.tensor(dy))
    ok = torch.autograd.gradcheck(normalization.LayerNormFunction.apply,
                                  tuple(torch.tensor(a, requires_grad=True) for a in (x, gamma, beta)))
    return {"shape": [4, 6], "formula": "∂L/∂x = (g − mean(g) − x̂·mean(g⊙x̂)) / √(σ²+ε), g = γ⊙∂L/∂y",
            "answer_dx_row0": np.round(dx[0], 6).tolist(),
            "max_diff_torch": max(float(np.abs(a - b.grad.numpy()).max()) for a, b in zip((dx, dgamma, dbeta), t, strict=True)),
            "gradcheck_float64": bool(ok), "rows_of_dx_sum_to_zero": bool(np.allclose(dx.sum(1), 0))}


GPT3_PEAK_LR = {125e6: 6e-4, 350e6: 3e-4, 760e6: 2.5e-4, 1.3e9: 2e-4}  # GPT-3 paper, Table 2.1


def lr_recipe(layers: int = 24, d_model: int = 1024, vocab: int = 50257, tokens: float = 10e9,
              batch_tokens: float = 0.5e6) -> dict[str, Any]:
    """Warmup length, peak lr and decay for a 24-layer transformer, each from a stated rule."""
    params = 12 * layers * d_model**2 + vocab * d_model  # 4d² attention + 8d² MLP per layer, + embeddings
    sizes = sorted(GPT3_PEAK_LR)
    logp = math.log(params)
    lo = max([s for s in sizes if s <= params], default=sizes[0])
    hi = min([s for s in sizes if s >= params], default=sizes[-1])
    frac = 0 if hi == lo else (logp - math.log(lo)) / (math.log(hi) - math.log(lo))
    peak = math.exp(math.log(GPT3_PEAK_LR[lo]) + frac * (math.log(GPT3_PEAK_LR[hi]) - math.log(GPT3_PEAK_LR[lo])))
    peak = float(f"{peak:.2g}")  # a recipe states a round number
    steps = int(tokens / batch_tokens)
    warmup = max(1000, round(0.02 * steps))
    s = schedules.WarmupCosine(peak=peak, warmup=warmup, total=steps, minimum=0.1 * peak)
    return {"layers": layers, "d_model": d_model, "tokens": tokens, "batch_tokens": batch_tokens,
            "params": params, "total_steps": steps,
            "answer": {"optimizer": "AdamW β=(0.9, 0.95), ε=1e-8, weight decay 0.1 (not on biases/norms)",
                       "peak_lr": round(peak, 6), "warmup_steps": warmup, "decay": "cosine to 10% of peak",
                       "min_lr": round(0.1 * peak, 7), "grad_clip_norm": 1.0,
                       "residual_proj_init_std": round(init.gpt2_std(layers), 6),
                       "lr_at": {str(t): round(s(t), 7) for t in (0, warmup // 2, warmup, steps // 2, steps - 1)}},
            "reasoning": [f"{params / 1e6:.0f}M parameters: peak lr interpolated (log-log) between GPT-3's "
                          f"{lo / 1e6:.0f}M and {hi / 1e6:.0f}M models; bigger models need smaller steps",
                          f"warmup: 2% of {steps} steps, and never under 1000: Adam's early steps are ~lr in every "
                          "coordinate whatever the gradient scale, and post-init activations are fragile",
                          "cosine to 10%: most progress at high lr, a long low-lr tail to settle; decay ends "
                          "exactly at the token budget",
                          "β2 = 0.95 rather than 0.999: v tracks the gradient scale within ~20 steps, so a loss "
                          "spike does not leave v stale", f"0.02/√(2·{layers}) on residual projections keeps the "
                          "residual stream's variance from growing with depth (init.py)"]}


def solve() -> dict[str, dict[str, Any]]:
    return {"ce_gradient": ce_gradient(), "adam_in_20_lines": adam_matches_torch(),
            "he_init_std_512x2048": he_std_512_2048(), "nan_diagnoses": nan_diagnoses(),
            "layernorm_backward": layernorm_backward(), "lr_recipe_24_layers": lr_recipe()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    out = solve()
    if args.json:
        print(json.dumps(out, ensure_ascii=False))
        return 0
    for name, r in out.items():
        print(f"== {name}")
        for k, v in r.items():
            if isinstance(v, dict):
                print(f"  {k}:")
                for kk, vv in v.items():
                    print(f"    {kk}: {vv}")
            elif isinstance(v, list) and v and isinstance(v[0], str) and len(v[0]) > 40:
                print(f"  {k}:")
                for line in v:
                    print(f"    - {line}")
            else:
                print(f"  {k}: {v}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
