"""The annotated training loop: `python -m labs.lab02_pytorch train --steps 300 --amp bf16`.

One optimizer step, in order, and why:
  1. model.train()                 dropout on, LayerNorm has no batch statistics (BatchNorm would)
  2. autocast(bf16 | fp16)         matmuls in half precision; losses and norms stay float32
  3. zero_grad(set_to_none=True)   gradients accumulate by default; None skips a memset
  4. scaler.scale(loss).backward() fp16 only: multiply the loss by S so small gradients do not
                                   underflow to 0 in fp16 (bf16 has float32's exponent: no scaler)
  5. scaler.unscale_(opt)          divide by S before clipping, so the clip sees true gradients
  6. clip_grad_norm_(θ, c)         g ← g · min(1, c / ||g||)
  7. scaler.step(opt)              skips the step if any gradient is inf/nan (then S halves)
  8. scheduler.step()              warmup → cosine, once per optimizer step
Evaluation runs under model.eval() and torch.no_grad(): no dropout, no graph kept.

Everything a step depends on is state that `checkpoint.save` writes: parameters, AdamW moments,
scheduler position, GradScaler scale, the torch / numpy / python RNGs and the sampler's epoch
generator; the position within the epoch follows from the step count (drop_last=True).

The RNGs are the trainer's own. In a service, other threads draw from the process-wide ones while
a job trains (OpenTelemetry makes span ids with python's `random`; building a model for another
request draws from torch's), and a run whose numbers depend on request traffic cannot resume
bit-exactly. So python and numpy draws come from private generators, and the torch state that
dropout reads is swapped into the global generator for the length of a step, under a lock that
every other user of torch's global RNG in this lab takes too (`GLOBAL_RNG_LOCK`).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from labs.lab02_pytorch import schedule
from labs.lab02_pytorch.data import GlobalRngSampler, ResumableSampler, digits
from labs.lab02_pytorch.model import MLP, param_groups

AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass
class TrainConfig:
    steps: int = 200
    batch_size: int = 32
    lr: float = 3e-3
    weight_decay: float = 0.05
    optimizer: Literal["adamw", "sgd"] = "adamw"
    warmup_steps: int = 20
    min_lr_ratio: float = 0.1
    clip_norm: float = 1.0
    amp: Literal["off", "bf16", "fp16"] = "off"
    hidden: int = 64
    depth: int = 2
    dropout: float = 0.1
    grad_checkpoint: bool = False
    augment: bool = True
    sampler: Literal["resumable", "global"] = "resumable"
    seed: int = 0
    threads: int = 1
    compile: bool = False
    eval_every: int = 50

    def check(self) -> None:
        """Refuse a config before any work starts (the service turns these into 422s)."""
        problems = []
        if self.steps < 1:
            problems.append("steps must be at least 1")
        if self.batch_size < 1:
            problems.append("batch_size must be at least 1")
        if not self.lr > 0:
            problems.append("lr must be positive")
        if self.weight_decay < 0:
            problems.append("weight_decay must be >= 0")
        if self.optimizer not in ("adamw", "sgd"):
            problems.append(f"unknown optimizer {self.optimizer!r} (adamw, sgd)")
        if self.amp not in ("off", "bf16", "fp16"):
            problems.append(f"unknown amp mode {self.amp!r} (off, bf16, fp16)")
        if not 0 <= self.warmup_steps <= self.steps:
            problems.append("warmup_steps must be between 0 and steps")
        if not 0 <= self.dropout < 1:
            problems.append("dropout must be in [0, 1)")
        if self.batch_size > len(digits("train")):
            problems.append(f"batch_size is larger than the {len(digits('train'))} training examples")
        if problems:
            raise ValueError("; ".join(problems))


GLOBAL_RNG_LOCK = threading.RLock()


@contextmanager
def own_torch_rng(owner: Any) -> Iterator[None]:
    """Run with `owner.torch_rng_state` as torch's global RNG; keep what it drew; put the outer state back."""
    with GLOBAL_RNG_LOCK:
        outer = torch.get_rng_state()
        torch.set_rng_state(owner.torch_rng_state)
        try:
            yield
        finally:
            owner.torch_rng_state = torch.get_rng_state()
            torch.set_rng_state(outer)


class Trainer:
    """Owns the model, optimizer, scheduler, scaler, sampler and RNGs of one run."""

    def __init__(self, cfg: TrainConfig):
        cfg.check()
        self.cfg = cfg
        torch.set_num_threads(cfg.threads)  # results depend on the reduction order, so on the thread count
        self.torch_rng_state = torch.Generator().manual_seed(cfg.seed).get_state()
        self.py_rng = random.Random(cfg.seed)
        with own_torch_rng(self):  # initial weights
            self.model = MLP(cfg.hidden, cfg.depth, cfg.dropout, cfg.grad_checkpoint)
        self.forward = torch.compile(self.model) if cfg.compile else self.model
        self.groups = param_groups(self.model, cfg.weight_decay)
        groups = [{k: v for k, v in g.items() if k != "names"} for g in self.groups]
        if cfg.optimizer == "adamw":
            self.opt = torch.optim.AdamW(groups, lr=cfg.lr, betas=(0.9, 0.95))
        else:
            self.opt = torch.optim.SGD(groups, lr=cfg.lr, momentum=0.9)
        W, T, r = max(cfg.warmup_steps, 1), cfg.steps, cfg.min_lr_ratio
        self.sched = torch.optim.lr_scheduler.LambdaLR(self.opt, lambda t: schedule.multiplier(t, W, T, r))
        self.scaler = torch.amp.GradScaler("cpu", enabled=cfg.amp == "fp16")
        self.train_set, self.val_set = digits("train"), digits("val")
        sampler_cls = ResumableSampler if cfg.sampler == "resumable" else GlobalRngSampler
        self.sampler = sampler_cls(len(self.train_set), cfg.seed)
        # Every iter(loader) draws a worker base seed from the loader's generator, or from the GLOBAL
        # torch RNG when it has none: a resumed run makes one iterator more than the straight run,
        # which would shift every later dropout mask. A private generator keeps the global RNG clean.
        self.loader_generator = torch.Generator().manual_seed(cfg.seed)
        self.loader = DataLoader(self.train_set, batch_size=cfg.batch_size, sampler=self.sampler, drop_last=True,
                                 generator=self.loader_generator)
        self._loader_state = self.loader_generator.get_state()
        self.batches_per_epoch = len(self.train_set) // cfg.batch_size
        self.np_rng = np.random.default_rng(cfg.seed)  # augmentation noise; its state is checkpointed
        self.step = 0
        self.history: list[dict[str, float]] = []
        self._it = None

    def _next_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self._it is not None:
            batch = next(self._it, None)
            if batch is not None:
                return batch
        self._loader_state = self.loader_generator.get_state()
        self._it = iter(self.loader)
        return next(self._it)

    def _augment(self, x: torch.Tensor) -> torch.Tensor:
        """Shift the 8x8 image by a pixel (python RNG picks which way) and add pixel noise (numpy RNG)."""
        if not self.cfg.augment:
            return x
        shift = self.py_rng.choice((-1, 0, 1))
        x = torch.roll(x.view(-1, 8, 8), shifts=shift, dims=2).reshape(-1, 64)
        return x + torch.from_numpy(self.np_rng.normal(0, 0.05, size=x.shape).astype(np.float32))

    def train_step(self) -> dict[str, float]:
        with own_torch_rng(self):
            return self._train_step()

    def _train_step(self) -> dict[str, float]:
        x, y = self._next_batch()
        x = self._augment(x)
        self.model.train()
        amp = self.cfg.amp
        with torch.autocast("cpu", dtype=AMP_DTYPES.get(amp, torch.bfloat16), enabled=amp != "off"):
            logits = self.forward(x)
            loss = F.cross_entropy(logits.float(), y)
        self.opt.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.unscale_(self.opt)
        grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.clip_norm)
        self.scaler.step(self.opt)
        self.scaler.update()
        lr = self.sched.get_last_lr()[0]
        self.sched.step()
        self.step += 1
        row = {"step": self.step, "loss": round(loss.item(), 6), "grad_norm": round(float(grad_norm), 6),
               "lr": lr}
        if self.cfg.eval_every and (self.step % self.cfg.eval_every == 0 or self.step == self.cfg.steps):
            row.update(evaluate(self.model, self.val_set))
        self.history.append(row)
        return row

    def run(self, until: int | None = None, on_step: Callable[[dict[str, float]], None] | None = None,
            throttle_s: float = 0.0) -> None:
        until = self.cfg.steps if until is None else min(until, self.cfg.steps)
        while self.step < until:
            row = self.train_step()
            if on_step is not None:
                on_step(row)
            if throttle_s:
                time.sleep(throttle_s)

    def state_dict(self) -> dict[str, Any]:
        """Everything the next step depends on (see checkpoint.py for the RNG part and the file)."""
        return {"step": self.step, "model": self.model.state_dict(), "optimizer": self.opt.state_dict(),
                "scheduler": self.sched.state_dict(), "scaler": self.scaler.state_dict(),
                "sampler": self.sampler.state_dict(),
                "loader_generator": (self.loader_generator.get_state() if self.step % self.batches_per_epoch == 0
                                     else self._loader_state),
                "history": list(self.history), "config": asdict(self.cfg)}

    def load_state_dict(self, state: dict[str, Any], skip: frozenset[str] = frozenset()) -> None:
        """Restore a run; `skip` leaves pieces at their fresh values (the ablation in checkpoint.py)."""
        self.step = state["step"]
        self.history = list(state["history"])
        if "model" not in skip:
            self.model.load_state_dict(state["model"])
        if "optimizer" not in skip:
            self.opt.load_state_dict(state["optimizer"])
        if "scheduler" not in skip:
            self.sched.load_state_dict(state["scheduler"])
        if "scaler" not in skip:
            self.scaler.load_state_dict(state["scaler"])
        if "sampler" not in skip:
            self.loader_generator.set_state(state["loader_generator"])
            self.sampler.load_state_dict(state["sampler"], start=(self.step % self.batches_per_epoch)
                                         * self.cfg.batch_size)
        self._it = None

    def parameters(self) -> dict[str, torch.Tensor]:
        return {k: v.detach().clone() for k, v in self.model.state_dict().items()}


@torch.no_grad()
def evaluate(model: torch.nn.Module, data) -> dict[str, float]:
    was_training = model.training
    model.eval()
    x, y = data.tensors
    logits = model(x)
    out = {"val_loss": round(F.cross_entropy(logits, y).item(), 6),
           "val_acc": round((logits.argmax(1) == y).float().mean().item(), 6)}
    model.train(was_training)
    return out
