"""DDPM on digits: the forward process in closed form, the epsilon loss, ancestral sampling, guidance.

    python -m labs.lab11_multimodal.diffusion     # trains the noise predictor, samples, guidance sweep
    curl -s localhost:8011/diffusion/walk -d '{"T": 3, "x0": [1.0, -0.5]}'

    beta_t  linear from beta_1 to beta_T;   alpha_t = 1 - beta_t;   abar_t = prod_{s<=t} alpha_s
    q(x_t | x_0) = N( sqrt(abar_t) x_0,  (1 - abar_t) I )        so  x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps
    L = E || eps - eps_theta(x_t, t) ||^2
    reverse: x_{t-1} = 1/sqrt(alpha_t) (x_t - beta_t / sqrt(1 - abar_t) eps_theta) + sigma_t z,
             sigma_t^2 = beta~_t = (1 - abar_{t-1}) / (1 - abar_t) beta_t
    classifier-free guidance: eps = eps(x_t, t, none) + w (eps(x_t, t, c) - eps(x_t, t, none))

The model sees the 64 pixels of a digit scaled to [-1, 1] and predicts the noise with an MLP; the
class (or "none", 10% of the time in training) is an extra embedding, which is all CFG needs.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from labs.lab11_multimodal import data


@dataclass(frozen=True)
class Schedule:
    beta: np.ndarray

    @classmethod
    def linear(cls, T: int, beta_1: float = 1e-4, beta_T: float = 0.02) -> Schedule:
        if T <= 0:
            raise ValueError("T must be at least 1")
        # DDPM's 1e-4..0.02 was set for T = 1000; scaling by 1000/T keeps abar_T near 0 for short chains
        scale = 1000 / T
        return cls(np.linspace(beta_1 * scale, min(beta_T * scale, 0.999), T))

    @property
    def T(self) -> int:
        return len(self.beta)

    @property
    def alpha(self) -> np.ndarray:
        return 1 - self.beta

    @property
    def abar(self) -> np.ndarray:
        return np.cumprod(self.alpha)

    @property
    def posterior_var(self) -> np.ndarray:
        """beta~_t; t = 1 has abar_0 = 1, so beta~_1 = 0 (the last step adds no noise)."""
        abar_prev = np.concatenate([[1.0], self.abar[:-1]])
        return (1 - abar_prev) / (1 - self.abar) * self.beta


def q_sample(x0: np.ndarray, t: int, eps: np.ndarray, sched: Schedule) -> np.ndarray:
    """x_t from x_0 in one step (t counts from 1)."""
    abar = sched.abar[t - 1]
    return math.sqrt(abar) * x0 + math.sqrt(1 - abar) * eps


def q_step(x_prev: np.ndarray, t: int, eps: np.ndarray, sched: Schedule) -> np.ndarray:
    """One Markov step x_{t-1} -> x_t; iterating it gives the same distribution as q_sample."""
    b = sched.beta[t - 1]
    return math.sqrt(1 - b) * x_prev + math.sqrt(b) * eps


def walk(x0: list[float], beta: list[float], eps: list[list[float]], eps_hat: list[list[float]]) -> dict:
    """The worked walk: every coefficient, every x_t, the loss at each t and one reverse step per t."""
    sched = Schedule(np.asarray(beta, dtype=np.float64))
    x0_ = np.asarray(x0, dtype=np.float64)
    steps = []
    for t in range(1, sched.T + 1):
        e, e_hat = np.asarray(eps[t - 1]), np.asarray(eps_hat[t - 1])
        x_t = q_sample(x0_, t, e, sched)
        a, ab = sched.alpha[t - 1], sched.abar[t - 1]
        mean = (x_t - sched.beta[t - 1] / math.sqrt(1 - ab) * e_hat) / math.sqrt(a)
        x0_hat = (x_t - math.sqrt(1 - ab) * e_hat) / math.sqrt(ab)
        steps.append({"t": t, "beta": _r(sched.beta[t - 1]), "alpha": _r(a), "abar": _r(ab),
                      "sqrt_abar": _r(math.sqrt(ab)), "sqrt_one_minus_abar": _r(math.sqrt(1 - ab)),
                      "eps": _r(e), "x_t": _r(x_t), "eps_hat": _r(e_hat),
                      "loss": _r(float(np.mean((e - e_hat) ** 2))),
                      "reverse_mean": _r(mean), "posterior_var": _r(sched.posterior_var[t - 1]),
                      "x0_hat": _r(x0_hat)})
    return {"T": sched.T, "x0": _r(x0_), "steps": steps,
            "signal_left": _r(math.sqrt(sched.abar[-1])), "noise_std": _r(math.sqrt(1 - sched.abar[-1]))}


def _r(v):
    return [round(float(x), 6) for x in v] if isinstance(v, np.ndarray) else round(float(v), 6)


# --- the noise predictor --------------------------------------------------------------------------

@dataclass
class Config:
    T: int = 200
    hidden: int = 256
    steps: int = 3000
    batch_size: int = 128
    lr: float = 2e-3
    p_uncond: float = 0.1
    seed: int = 0


def time_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal features of the step, as a transformer encodes positions."""
    half = dim // 2
    freqs = torch.exp(-math.log(10_000) * torch.arange(half) / half)
    angles = t.float()[:, None] * freqs[None]
    return torch.cat([angles.sin(), angles.cos()], dim=-1)


class NoisePredictor(nn.Module):
    """eps_theta(x_t, t, c): an MLP on [x_t, time features, class embedding]; class 10 means "none"."""

    def __init__(self, cfg: Config):
        super().__init__()
        self.cfg = cfg
        self.classes = nn.Embedding(11, 32)
        h = cfg.hidden
        self.net = nn.Sequential(nn.Linear(64 + 32 + 32, h), nn.SiLU(), nn.Linear(h, h), nn.SiLU(),
                                 nn.Linear(h, h), nn.SiLU(), nn.Linear(h, 64))

    def forward(self, x: torch.Tensor, t: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([x, time_embedding(t, 32), self.classes(c)], dim=-1))


def to_model_space(images: np.ndarray) -> torch.Tensor:
    return torch.as_tensor(images.reshape(len(images), 64) * 2 - 1, dtype=torch.float32)


def to_images(x: torch.Tensor) -> np.ndarray:
    return ((x.clamp(-1, 1) + 1) / 2).reshape(-1, 8, 8).numpy()


Progress = Callable[[int, int, dict], None]


def train(cfg: Config, progress: Progress | None = None, every: int = 100) -> tuple[NoisePredictor, list[dict]]:
    torch.manual_seed(cfg.seed)
    d = data.digits()
    x_all = to_model_space(d.images[d.train])
    c_all = torch.as_tensor(d.labels[d.train])
    sched = Schedule.linear(cfg.T)
    sqrt_abar = torch.tensor(np.sqrt(sched.abar), dtype=torch.float32)
    sqrt_1m = torch.tensor(np.sqrt(1 - sched.abar), dtype=torch.float32)
    model = NoisePredictor(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr)
    lr_at = torch.optim.lr_scheduler.CosineAnnealingLR(opt, cfg.steps)
    history, window = [], []
    for step in range(1, cfg.steps + 1):
        idx = torch.randint(0, len(x_all), (cfg.batch_size,))
        x0, c = x_all[idx], c_all[idx].clone()
        c[torch.rand(len(c)) < cfg.p_uncond] = 10              # drop the label: learn eps(x_t, t, none) too
        t = torch.randint(1, cfg.T + 1, (cfg.batch_size,))
        eps = torch.randn_like(x0)
        x_t = sqrt_abar[t - 1, None] * x0 + sqrt_1m[t - 1, None] * eps
        loss = F.mse_loss(model(x_t, t, c), eps)
        opt.zero_grad()
        loss.backward()
        opt.step()
        lr_at.step()
        window.append(loss.item())
        if step % every == 0 or step == cfg.steps:
            row = {"step": step, "loss": round(float(np.mean(window)), 4)}
            history.append(row)
            window = []
            if progress:
                progress(step, cfg.steps, row)
    model.eval()
    return model, history


@torch.no_grad()
def sample(model: NoisePredictor, labels: np.ndarray, guidance: float = 1.0, seed: int = 0) -> np.ndarray:
    """Ancestral sampling from x_T ~ N(0, I); w = 1 is the plain conditional model, w = 0 ignores the class."""
    gen = torch.Generator().manual_seed(seed)
    sched = Schedule.linear(model.cfg.T)
    n = len(labels)
    c = torch.as_tensor(labels, dtype=torch.long)
    none = torch.full_like(c, 10)
    x = torch.randn(n, 64, generator=gen)
    for t in range(sched.T, 0, -1):
        tt = torch.full((n,), t)
        if guidance == 1.0:
            eps = model(x, tt, c)
        else:
            out = model(torch.cat([x, x]), torch.cat([tt, tt]), torch.cat([c, none]))
            eps_c, eps_u = out[:n], out[n:]
            eps = eps_u + guidance * (eps_c - eps_u)
        a, ab = sched.alpha[t - 1], sched.abar[t - 1]
        x = (x - (1 - a) / math.sqrt(1 - ab) * eps) / math.sqrt(a)
        if t > 1:
            x = x + math.sqrt(sched.posterior_var[t - 1]) * torch.randn(n, 64, generator=gen)
    return to_images(x)


def save(model: NoisePredictor, path) -> None:
    torch.save({"config": asdict(model.cfg), "state": model.state_dict()}, path)


def load(path) -> NoisePredictor:
    blob = torch.load(path, weights_only=True)
    model = NoisePredictor(Config(**blob["config"]))
    model.load_state_dict(blob["state"])
    return model.eval()


if __name__ == "__main__":
    torch.set_num_threads(1)
    steps = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
    t0 = time.perf_counter()
    m, hist = train(Config(steps=steps), lambda s, n, r: print(r) if s % 500 == 0 else None)
    t1 = time.perf_counter()
    sample(m, np.arange(1000) % 10)
    print(f"trained {steps} steps in {t1 - t0:.1f} s; 1000 samples in {time.perf_counter() - t1:.1f} s")
