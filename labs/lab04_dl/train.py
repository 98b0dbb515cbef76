"""Train an MLP from scratch on scikit-learn's digits, and the same run in torch beside it.

    python -m labs.lab04_dl.train --optimizer adamw --init he --norm layernorm --schedule warmup_cosine

Ours: numpy float32, the forward and backward of backprop.py with the normalisation layers of
normalization.py between Linear and ReLU, initialised by init.py, stepped by optim.py, with the lr
from schedules.py. Torch's twin starts from the same weights, sees the same mini-batches and uses
nn.Linear / nn.LayerNorm / nn.BatchNorm1d / nn.RMSNorm, torch.optim and LambdaLR. The two loss
curves agree to float32 rounding, which shows every piece of ours does what torch's does.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
import torch
from sklearn.datasets import load_digits

from labs.lab04_dl import backprop, init, normalization, optim, schedules
from shared.plots import OUTSIDE, png

NORMS = ("none", "batchnorm", "layernorm", "rmsnorm")
SCHEDULES = ("constant", "warmup_cosine")
f32 = np.float32


@dataclass
class Config:
    hidden: list[int] = field(default_factory=lambda: [64, 64])
    init: str = "he"
    optimizer: str = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0
    schedule: str = "warmup_cosine"
    warmup_frac: float = 0.1
    norm: str = "none"
    epochs: int = 5
    batch_size: int = 64
    seed: int = 0


@lru_cache(maxsize=1)
def digits() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """8×8 digit images scaled to [0, 1] (64 features, 10 classes): a seeded 80/20 split."""
    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(f32)
    order = np.random.default_rng(0).permutation(len(y))
    cut = int(0.8 * len(y))
    tr, te = order[:cut], order[cut:]
    return X[tr], y[tr], X[te], y[te]


def warm() -> str:
    """Load the digits once (the first load pays for scikit-learn's import and the file read)."""
    Xtr, _, Xte, _ = digits()
    return f"digits: {len(Xtr)} train / {len(Xte)} test images"


class Net:
    """Linear → [norm] → ReLU, repeated; a final Linear to the 10 logits."""

    def __init__(self, cfg: Config, n_in: int = 64, n_out: int = 10):
        rng = np.random.default_rng(cfg.seed)
        sizes = [n_in, *cfg.hidden, n_out]
        self.norm = cfg.norm
        self.layers = []
        for a, b in zip(sizes[:-1], sizes[1:], strict=True):
            W = init.sample(cfg.init, (b, a), rng).astype(f32)
            bias = (rng.uniform(-1, 1, b) * init.torch_default_bound((b, a)) if cfg.init == "torch_default"
                    else np.zeros(b)).astype(f32)
            self.layers.append((W, bias))
        self.norm_params = [(np.ones(h, f32), np.zeros(h, f32)) for h in cfg.hidden] if cfg.norm != "none" else []
        self.running = [{"mean": np.zeros(h), "var": np.ones(h)} for h in cfg.hidden]

    def params(self) -> list[np.ndarray]:
        out = [p for pair in self.layers for p in pair]
        for gamma, beta in self.norm_params:
            out += [gamma] if self.norm == "rmsnorm" else [gamma, beta]
        return out

    def _norm(self, i: int, z: np.ndarray, train: bool) -> tuple[np.ndarray, Any]:
        gamma, beta = self.norm_params[i]
        if self.norm == "layernorm":
            return normalization.layer_norm(z, gamma, beta)
        if self.norm == "rmsnorm":
            return normalization.rms_norm(z, gamma)
        if train:
            return normalization.batch_norm(z, gamma, beta, running=self.running[i])
        return normalization.batch_norm_eval(z, gamma, beta, self.running[i]), None

    def forward(self, X: np.ndarray, train: bool = True) -> tuple[np.ndarray, list[Any]]:
        h, caches = X, []
        for i, (W, b) in enumerate(self.layers):
            z = h @ W.T + b
            entry = {"x": h}
            if i < len(self.layers) - 1:
                if self.norm != "none":
                    z, entry["norm"] = self._norm(i, z, train)
                entry["a"] = z
                h = np.maximum(z, 0)
            else:
                h = z
            caches.append(entry)
        return h.astype(f32), caches

    def backward(self, delta: np.ndarray, caches: list[Any]) -> tuple[list[np.ndarray], list[float]]:
        """The triplet per Linear; the norm's own backward between; returns grads (as params()) and
        ‖∂L/∂W‖ per layer."""
        lin, nrm = [None] * len(self.layers), [None] * len(self.norm_params)
        for i in range(len(self.layers) - 1, -1, -1):
            W, _ = self.layers[i]
            lin[i] = (delta.T @ caches[i]["x"], delta.sum(axis=0))
            if i == 0:
                break
            below = caches[i - 1]
            delta = (delta @ W) * (below["a"] > 0)
            if self.norm == "layernorm":
                delta, dg, db = normalization.layer_norm_backward(delta, below["norm"])
                nrm[i - 1] = [dg, db]
            elif self.norm == "batchnorm":
                delta, dg, db = normalization.batch_norm_backward(delta, below["norm"])
                nrm[i - 1] = [dg, db]
            elif self.norm == "rmsnorm":
                delta, dg = normalization.rms_norm_backward(delta, below["norm"])
                nrm[i - 1] = [dg]
        grads = [g.astype(f32) for pair in lin for g in pair] + [g.astype(f32) for gs in nrm for g in gs]
        return grads, [float(np.linalg.norm(gW)) for gW, _ in lin]


def torch_twin(net: Net, cfg: Config) -> torch.nn.Sequential:
    mods: list[torch.nn.Module] = []
    for i, (W, b) in enumerate(net.layers):
        lin = torch.nn.Linear(W.shape[1], W.shape[0])
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(W))
            lin.bias.copy_(torch.from_numpy(b))
        mods.append(lin)
        if i < len(net.layers) - 1:
            h = W.shape[0]
            if cfg.norm == "layernorm":
                mods.append(torch.nn.LayerNorm(h))
            elif cfg.norm == "batchnorm":
                mods.append(torch.nn.BatchNorm1d(h))
            elif cfg.norm == "rmsnorm":
                mods.append(torch.nn.RMSNorm(h, eps=1e-6))
            mods.append(torch.nn.ReLU())
    return torch.nn.Sequential(*mods)


def _torch_params(model: torch.nn.Sequential) -> list[torch.nn.Parameter]:
    """In the order of Net.params(): every Linear (W, b), then every norm (γ[, β])."""
    lins = [p for m in model if isinstance(m, torch.nn.Linear) for p in (m.weight, m.bias)]
    norms = [p for m in model if not isinstance(m, torch.nn.Linear | torch.nn.ReLU) for p in m.parameters()]
    return lins + norms


def lr_at(cfg: Config, total_steps: int) -> Callable[[int], float]:
    if cfg.schedule == "constant":
        return lambda t: cfg.lr
    warmup = max(1, min(total_steps - 1, int(cfg.warmup_frac * total_steps)))
    return schedules.WarmupCosine(cfg.lr, warmup, total_steps, minimum=0.1 * cfg.lr)


def validate(cfg: Config) -> None:
    checks = [(cfg.init in init.SCHEMES, f"init must be one of {', '.join(init.SCHEMES)}"),
              (cfg.optimizer in optim.OPTIMIZERS, f"optimizer must be one of {', '.join(optim.OPTIMIZERS)}"),
              (cfg.norm in NORMS, f"norm must be one of {', '.join(NORMS)}"),
              (cfg.schedule in SCHEDULES, f"schedule must be one of {', '.join(SCHEDULES)}"),
              (cfg.lr > 0, "lr must be > 0"), (cfg.epochs >= 1, "epochs must be >= 1"),
              (cfg.batch_size >= 2 or cfg.norm != "batchnorm", "batchnorm needs batch_size >= 2")]
    for ok, message in checks:
        if not ok:
            raise ValueError(message)


def train(cfg: Config, progress: Callable[[int, int, dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Both runs, epoch by epoch; `progress(epoch, epochs, metrics)` after each epoch."""
    validate(cfg)
    Xtr, ytr, Xte, yte = digits()
    net = Net(cfg)
    model = torch_twin(net, cfg)
    steps_per_epoch = -(-len(ytr) // cfg.batch_size)
    total = cfg.epochs * steps_per_epoch
    schedule = lr_at(cfg, total)
    ours = optim.make(cfg.optimizer, schedule(0), cfg.weight_decay)
    tparams = _torch_params(model)
    topt = optim.make_torch(cfg.optimizer, tparams, cfg.lr, cfg.weight_decay)
    tsched = torch.optim.lr_scheduler.LambdaLR(topt, lambda t: schedule(t) / cfg.lr)
    rng = np.random.default_rng(cfg.seed + 1)
    history, t = [], 0
    for epoch in range(1, cfg.epochs + 1):
        order = rng.permutation(len(ytr))
        sums = {"loss": 0.0, "torch_loss": 0.0, "gap": 0.0}
        layer_norms = np.zeros(len(net.layers))
        for start in range(0, len(order), cfg.batch_size):
            idx = order[start:start + cfg.batch_size]
            if cfg.norm == "batchnorm" and len(idx) < 2:
                continue  # a 1-example batch has no batch variance
            logits, caches = net.forward(Xtr[idx])
            loss, delta = backprop.cross_entropy(logits.astype(np.float64), ytr[idx])
            grads, gnorms = net.backward(delta.astype(f32), caches)
            ours.lr = schedule(t)
            ours.step(net.params(), grads)
            model.train()
            topt.zero_grad()
            tloss = torch.nn.functional.cross_entropy(model(torch.from_numpy(Xtr[idx])), torch.from_numpy(ytr[idx]))
            tloss.backward()
            topt.step()
            tsched.step()
            sums["loss"] += loss
            sums["torch_loss"] += float(tloss.detach())
            sums["gap"] = max(sums["gap"], abs(loss - float(tloss.detach())))
            layer_norms += gnorms
            t += 1
        model.eval()
        with torch.no_grad():
            tacc = float((model(torch.from_numpy(Xte)).argmax(1).numpy() == yte).mean())
        row = {"epoch": epoch, "loss": sums["loss"] / steps_per_epoch, "torch_loss": sums["torch_loss"] / steps_per_epoch,
               "max_step_loss_gap": sums["gap"], "test_acc": float((net.forward(Xte, train=False)[0].argmax(1) == yte).mean()),
               "torch_test_acc": tacc, "grad_norm_per_layer": (layer_norms / steps_per_epoch).tolist(),
               "lr": schedule(t - 1)}
        history.append(row)
        if progress:
            progress(epoch, cfg.epochs, {"history": history})
    return {"config": asdict(cfg), "steps": t, "history": history, "final": history[-1]}


def plot(history: list[dict[str, Any]], title: str = "") -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [r["epoch"] for r in history]
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.5))
    a.plot(epochs, [r["loss"] for r in history], marker="o", label="ours (numpy)")
    a.plot(epochs, [r["torch_loss"] for r in history], marker="x", linestyle="--", label="torch")
    a.set_xlabel("epoch")
    a.set_ylabel("mean train loss")
    a.legend(fontsize=8, loc="lower left", bbox_to_anchor=(0, 1.02), ncols=2)  # above: a job's curves go anywhere
    grads = np.array([r["grad_norm_per_layer"] for r in history])
    for i in range(grads.shape[1]):
        b.semilogy(epochs, grads[:, i], marker=".", label=f"layer {i + 1}")
    b.set_xlabel("epoch")
    b.set_ylabel("mean ‖∂L/∂W‖")
    b.legend(fontsize=8, **OUTSIDE)
    fig.suptitle(title or "digits MLP: ours vs torch")
    return png(fig, dpi=100)


def main(argv: list[str] | None = None) -> int:
    from tqdm import tqdm

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--optimizer", default="adam", choices=optim.OPTIMIZERS)
    p.add_argument("--init", default="he", choices=init.SCHEMES)
    p.add_argument("--norm", default="none", choices=NORMS)
    p.add_argument("--schedule", default="warmup_cosine", choices=SCHEDULES)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--hidden", type=int, nargs="+", default=[64, 64])
    args = p.parse_args(argv)
    cfg = Config(hidden=args.hidden, init=args.init, optimizer=args.optimizer, lr=args.lr,
                 schedule=args.schedule, norm=args.norm, epochs=args.epochs)
    bar = tqdm(total=cfg.epochs, unit="epoch")
    result = train(cfg, lambda e, n, m: bar.update(1))
    bar.close()
    for r in result["history"]:
        print(f"epoch {r['epoch']}: loss {r['loss']:.4f} (torch {r['torch_loss']:.4f})  test acc "
              f"{r['test_acc']:.3f} (torch {r['torch_test_acc']:.3f})  ‖∂L/∂W‖ per layer "
              + " ".join(f"{g:.3f}" for g in r["grad_norm_per_layer"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
