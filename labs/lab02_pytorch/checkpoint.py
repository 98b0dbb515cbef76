"""Checkpoints that resume bit-exactly: `python -m labs.lab02_pytorch ablation`.

A checkpoint is the trainer's state (model, AdamW moments, scheduler, GradScaler, sampler and
DataLoader generators, step, loss history) plus every RNG the next step draws from:
torch CPU (dropout), CUDA (when present), numpy (augmentation noise) and python `random`
(augmentation shift); the trainer owns each of them (train.py says why). Resuming from it reproduces the uninterrupted run's parameters exactly:
`torch.equal`, not `allclose` (tests/lab02/test_checkpoint.py, every AMP mode).

It is written to a temporary file and renamed into place, so a process killed mid-write
(SIGKILL) leaves the previous checkpoint intact, never a torn one.

Pitfall measured in `numpy_legacy_state_rejected`: `torch.load` defaults to weights_only=True,
which refuses numpy arrays, so `np.random.get_state()` (a tuple holding an ndarray) cannot be
loaded back; the numpy Generator's `bit_generator.state` (a dict of ints) can.
"""

from __future__ import annotations

import copy
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

from labs.lab02_pytorch.train import TrainConfig, Trainer

_NAME = re.compile(r"^ckpt-(\d{6})\.pt$")
PIECES = ("model", "optimizer", "scheduler", "scaler", "sampler", "rng_torch", "rng_numpy", "rng_python")


def capture_rng(trainer: Trainer) -> dict[str, Any]:
    return {"torch": trainer.torch_rng_state.clone(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "numpy": trainer.np_rng.bit_generator.state,
            "python": trainer.py_rng.getstate()}


def restore_rng(trainer: Trainer, rng: dict[str, Any], skip: frozenset[str] = frozenset()) -> None:
    if "rng_torch" not in skip:
        trainer.torch_rng_state = rng["torch"].clone()
        if rng["cuda"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(rng["cuda"])
    if "rng_numpy" not in skip:
        trainer.np_rng.bit_generator.state = rng["numpy"]
    if "rng_python" not in skip:
        trainer.py_rng.setstate(rng["python"])


def state(trainer: Trainer) -> dict[str, Any]:
    """The trainer's state as live references (model.state_dict() shares storage with the parameters)."""
    return {**trainer.state_dict(), "rng": capture_rng(trainer)}


def snapshot(trainer: Trainer) -> dict[str, Any]:
    """An in-memory checkpoint: a deep copy, so training on does not change it."""
    return copy.deepcopy(state(trainer))


def save(trainer: Trainer, folder: Path, keep: int = 3) -> Path:
    """Write ckpt-<step>.pt atomically; keep the newest `keep` files."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"ckpt-{trainer.step:06d}.pt"
    tmp = path.with_suffix(".tmp")
    torch.save(state(trainer), tmp)
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)
    for old in list_checkpoints(folder)[:-keep]:
        old["path"].unlink(missing_ok=True)
    return path


def list_checkpoints(folder: Path) -> list[dict[str, Any]]:
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _NAME.match(p.name))]
    return [{"step": s, "path": p, "bytes": p.stat().st_size} for s, p in sorted(found)]


def load(path: Path) -> dict[str, Any]:
    # weights_only=True (the default) unpickles tensors and plain containers only: no code runs
    return torch.load(path, weights_only=True)


def restore(trainer: Trainer, saved: dict[str, Any], skip: frozenset[str] = frozenset()) -> Trainer:
    trainer.load_state_dict(saved, skip=skip)
    restore_rng(trainer, saved["rng"], skip)
    return trainer


def resume(folder: Path, cfg: TrainConfig | None = None) -> Trainer:
    """A fresh Trainer continued from the newest checkpoint in `folder` (its own config unless given)."""
    ckpts = list_checkpoints(folder)
    if not ckpts:
        raise FileNotFoundError(f"no checkpoint in {folder}")
    saved = load(ckpts[-1]["path"])
    return restore(Trainer(cfg or config_from(saved)), saved)


def config_from(saved: dict[str, Any]) -> TrainConfig:
    return TrainConfig(**saved["config"])


def max_drift(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    return max((a[k].float() - b[k].float()).abs().max().item() for k in a)


def ablation(cfg: TrainConfig, split: int, extra: int = 10) -> dict[str, float]:
    """Resume at `split` leaving out one piece of state at a time; max |Δθ| after `extra` more steps.

    The left-out piece keeps the value a freshly started process would have (a fresh model,
    optimizer or scheduler; RNGs seeded from cfg.seed), which is what forgetting to save it costs.
    """
    straight = Trainer(cfg)
    straight.run(until=split)
    saved = snapshot(straight)
    straight.run(until=split + extra)
    reference = straight.parameters()
    out = {}
    for piece in ("nothing", *PIECES):
        if piece == "scaler" and cfg.amp != "fp16":
            continue
        resumed = restore(Trainer(cfg), saved, skip=frozenset({piece}))
        resumed.run(until=split + extra)
        out[piece] = max_drift(reference, resumed.parameters())
    return out


def numpy_legacy_state_rejected(folder: Path) -> dict[str, Any]:
    """Save np.random.get_state() and the Generator's state; try to load each with the default torch.load."""
    out = {}
    for name, value in (("np.random.get_state()", np.random.get_state()),
                        ("Generator.bit_generator.state", np.random.default_rng(0).bit_generator.state)):
        path = folder / f"rng-{len(out)}.pt"
        torch.save({"numpy": value}, path)
        try:
            torch.load(path)
            out[name] = "loads"
        except Exception as exc:  # the UnpicklingError names the refused global
            out[name] = f"refused: {type(exc).__name__}"
    return out
