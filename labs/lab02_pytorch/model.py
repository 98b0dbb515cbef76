"""The model and its optimizer groups: `curl -s localhost:8002/param-groups`.

A residual MLP over the 64 digit pixels: `h = h + Dropout(GELU(Linear(LayerNorm(h))))` per block,
then LayerNorm and a linear head. Each block can be wrapped in `torch.utils.checkpoint` (gradient
checkpointing): its activations are recomputed in backward instead of kept, trading compute for
memory (`activation_bytes` measures what autograd keeps).

AdamW parameter groups: weight decay shrinks weights toward 0 each step (θ ← θ - lr·λ·θ, decoupled
from the gradient). That is a prior on matrices; on a LayerNorm gain (which should stay near 1)
or a bias it only fights the model, so those tensors go in a group with weight_decay = 0.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from labs.lab02_pytorch.data import N_CLASSES, N_FEATURES


class Block(nn.Module):
    def __init__(self, d: int, dropout: float):
        super().__init__()
        self.norm = nn.LayerNorm(d)
        self.fc = nn.Linear(d, d)
        self.drop = nn.Dropout(dropout)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return h + self.drop(nn.functional.gelu(self.fc(self.norm(h))))


class MLP(nn.Module):
    def __init__(self, hidden: int = 64, depth: int = 2, dropout: float = 0.1, grad_checkpoint: bool = False):
        super().__init__()
        self.embed = nn.Linear(N_FEATURES, hidden)
        self.blocks = nn.ModuleList(Block(hidden, dropout) for _ in range(depth))
        self.norm = nn.LayerNorm(hidden)
        self.head = nn.Linear(hidden, N_CLASSES)
        self.grad_checkpoint = grad_checkpoint

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.embed(x)
        for block in self.blocks:
            if self.grad_checkpoint and self.training and torch.is_grad_enabled():
                # use_reentrant=False is the supported path; RNG state is stashed so dropout
                # draws the same mask when the block is recomputed in backward
                h = checkpoint(block, h, use_reentrant=False)
            else:
                h = block(h)
        return self.head(self.norm(h))


def param_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Two AdamW groups: matrices decay; biases and norm parameters (1-D tensors) do not."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (no_decay if p.ndim < 2 else decay).append((name, p))
    return [{"params": [p for _, p in decay], "names": [n for n, _ in decay], "weight_decay": weight_decay},
            {"params": [p for _, p in no_decay], "names": [n for n, _ in no_decay], "weight_decay": 0.0}]


def describe_groups(groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"weight_decay": g["weight_decay"], "tensors": g["names"],
             "n_params": sum(p.numel() for p in g["params"])} for g in groups]


def activation_bytes(model: nn.Module, x: torch.Tensor) -> int:
    """Bytes of tensors autograd saves for backward during one forward (a saved-tensors hook counts them).

    Parameters are saved too, but they exist anyway: they are left out by storage identity.
    """
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    seen: set[int] = set()
    total = 0

    def pack(t: torch.Tensor) -> torch.Tensor:
        nonlocal total
        ptr = t.untyped_storage().data_ptr()
        if ptr not in params and ptr not in seen:
            seen.add(ptr)
            total += t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(x).sum()
    return total
