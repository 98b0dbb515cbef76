"""Learning-rate schedules: linear warmup then cosine decay, from the formula and from torch's schedulers.

    python -m labs.lab04_dl.schedules       # prints the schedule and its largest gap to torch's

    t < W:   η(t) = η_max · (s + (1 − s) · t / W)                      (linear warmup from s·η_max)
    t ≥ W:   η(t) = η_min + ½ (η_max − η_min) (1 + cos(π (t − W) / (T − W)))

torch composes the same thing as SequentialLR(LinearLR(start_factor=s, total_iters=W),
CosineAnnealingLR(T_max=T − W, eta_min=η_min), milestones=[W]). torch's cosine scheduler updates
η recursively from the previous value, so it agrees with the closed form to float64 rounding
(~1e-16 relative), not bit for bit.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import torch

from shared.plots import png


@dataclass(frozen=True)
class WarmupCosine:
    peak: float
    warmup: int
    total: int
    minimum: float = 0.0
    start_factor: float = 0.01

    def __post_init__(self):
        if not (0 < self.warmup < self.total):
            raise ValueError("need 0 < warmup < total")
        if not (0 < self.start_factor <= 1) or self.peak <= 0 or not (0 <= self.minimum <= self.peak):
            raise ValueError("need 0 < start_factor <= 1, peak > 0 and 0 <= minimum <= peak")

    def __call__(self, t: int) -> float:
        if t < self.warmup:
            return self.peak * (self.start_factor + (1 - self.start_factor) * t / self.warmup)
        progress = min(t - self.warmup, self.total - self.warmup) / (self.total - self.warmup)
        return self.minimum + 0.5 * (self.peak - self.minimum) * (1 + math.cos(math.pi * progress))

    def values(self) -> list[float]:
        return [self(t) for t in range(self.total)]


def torch_values(s: WarmupCosine) -> list[float]:
    """The same schedule from torch.optim.lr_scheduler, read off one step at a time."""
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=s.peak)
    sched = torch.optim.lr_scheduler.SequentialLR(opt, [
        torch.optim.lr_scheduler.LinearLR(opt, start_factor=s.start_factor, end_factor=1.0, total_iters=s.warmup),
        torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=s.total - s.warmup, eta_min=s.minimum),
    ], milestones=[s.warmup])
    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "scheduler.step() before optimizer.step()": no training here
        for _ in range(s.total):
            out.append(opt.param_groups[0]["lr"])
            sched.step()
    return out


def max_relative_gap(s: WarmupCosine) -> float:
    return max(abs(a - b) / max(abs(b), 1e-300) for a, b in zip(s.values(), torch_values(s), strict=True))


def plot(schedules: dict[str, WarmupCosine]) -> bytes:

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 3.5))
    for name, s in schedules.items():
        ax.plot(s.values(), label=name)
    ax.set_xlabel("step")
    ax.set_ylabel("learning rate")
    ax.set_title("Linear warmup + cosine decay")
    ax.legend(fontsize=8)
    return png(fig, dpi=110)


if __name__ == "__main__":
    s = WarmupCosine(peak=3e-4, warmup=200, total=2000, minimum=3e-5)
    v = s.values()
    for t in (0, 100, 199, 200, 1100, 1999):
        print(f"step {t:5d}  lr {v[t]:.3e}")
    print(f"largest relative gap to torch's SequentialLR(LinearLR, CosineAnnealingLR): {max_relative_gap(s):.1e}")
