"""Warmup then cosine decay of the learning rate: `curl -s localhost:8002/schedule.png -o lr.png`.

    lr(t) = lr_max · (t + 1) / W                                          for t < W
    lr(t) = lr_max · (r + (1 - r) · ½ · (1 + cos(π · (t - W) / (T - W))))  for W <= t < T

with W warmup steps, T total steps and r = lr_min / lr_max. Warmup keeps the first updates small
while Adam's second-moment estimate is still noisy; the cosine tail anneals toward lr_min. The
`(t + 1)` makes step 0 train at lr_max / W rather than at 0 (a wasted step). `multiplier` is the
factor `torch.optim.lr_scheduler.LambdaLR` wants; the tests check it against torch's own
`SequentialLR(LinearLR, CosineAnnealingLR)`.
"""

from __future__ import annotations

import math

from shared.plots import OUTSIDE, png


def multiplier(t: int, W: int, T: int, r: float = 0.1) -> float:
    if t < W:
        return (t + 1) / W
    if T <= W:
        return 1.0
    progress = min(1.0, (t - W) / (T - W))
    return r + (1 - r) * 0.5 * (1 + math.cos(math.pi * progress))


def lr_curve(lr_max: float, W: int, T: int, r: float = 0.1) -> list[float]:
    return [lr_max * multiplier(t, W, T, r) for t in range(T)]


def plot(lr_max: float, W: int, T: int, r: float = 0.1) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.2))
    ax.plot(range(T), lr_curve(lr_max, W, T, r))
    ax.axvline(W, color="grey", linestyle=":", label=f"end of warmup (W={W})")
    ax.set(xlabel="optimizer step t", ylabel="learning rate", title=f"warmup → cosine, lr_max={lr_max:g}, r={r:g}")
    ax.legend(**OUTSIDE)  # a high floor r keeps the curve near the top, where a legend inside would sit
    return png(fig)
