"""Forgetting mitigations beyond LoRA and replay: `python bench/bench_lab10_forgetting.py`.

The lab already shows two: a low-rank update (LoRA forgets less than a full fine-tune) and replay
(old-task rows mixed into the new data). This module adds the three that cost nothing but a line:

lower learning rate   the same SFT with lr 5e-3 → 1e-3: a smaller step moves the weights less.
L2-SP                 L = L_SFT + (λ/2)·Σ_l ‖W_l − W_l⁰‖²_F, a pull towards the base weights W⁰
                      (not towards 0, as weight decay pulls). Under LoRA, W − W⁰ is the adapter's
                      ΔW = (α/r)·B·A, so the penalty needs no copy of the base.
WiSE-FT               θ(a) = (1 − a)·θ⁰ + a·θ¹, the base and fine-tuned weights interpolated after
                      training (for LoRA: the adapter merged at a fraction a of its scale);
                      a = 0 is the base, a = 1 the fine-tuned model, both exactly.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch


def lora_deltas(model) -> Iterator[tuple[str, torch.Tensor]]:
    """(name, ΔW = scaling·B·A) for every LoRA layer of a peft model, its active adapter."""
    for name, module in model.named_modules():
        if hasattr(module, "lora_A") and hasattr(module, "scaling"):
            for adapter in module.active_adapters:
                if adapter in module.lora_A:
                    A, B = module.lora_A[adapter].weight, module.lora_B[adapter].weight
                    yield f"{name}.{adapter}", module.scaling[adapter] * (B @ A)


def anchors(model) -> dict[str, torch.Tensor]:
    """W⁰: a detached copy of every trainable weight, taken before a full fine-tune starts."""
    return {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}


def deltas(model, anchor: dict[str, torch.Tensor] | None) -> Iterator[torch.Tensor]:
    """W − W⁰: from the anchors (full fine-tune) or from the LoRA factors (peft model, anchor None)."""
    if anchor is None:
        yield from (d for _, d in lora_deltas(model))
    else:
        params = dict(model.named_parameters())
        yield from (params[n] - w0 for n, w0 in anchor.items())


def l2sp_penalty(model, lam: float, anchor: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
    """(λ/2)·Σ ‖W − W⁰‖²_F, differentiable; zero at the base weights."""
    total = sum((d.pow(2).sum() for d in deltas(model, anchor)), torch.zeros(()))
    return 0.5 * lam * total


def add_l2sp(trainer, lam: float) -> None:
    """Add the L2-SP penalty to a transformers Trainer's loss (LoRA or full fine-tune). The anchors of a
    full fine-tune are copied now, before the first step; a peft model needs none."""
    model = trainer.model
    anchor = None if hasattr(model, "peft_config") else anchors(model)
    inner = trainer.compute_loss

    def compute_loss(model, inputs, return_outputs=False, **kw):
        out = inner(model, inputs, return_outputs=return_outputs, **kw)
        loss, rest = (out[0], out[1:]) if return_outputs else (out, ())
        loss = loss + l2sp_penalty(model, lam, anchor).to(loss.device)
        return (loss, *rest) if return_outputs else loss

    trainer.compute_loss = compute_loss  # the Trainer calls self.compute_loss: an instance attribute wins


def interpolate(theta0: dict[str, torch.Tensor], theta1: dict[str, torch.Tensor], a: float
                ) -> dict[str, torch.Tensor]:
    """WiSE-FT: (1 − a)·θ⁰ + a·θ¹ per tensor. Written this way (not θ⁰ + a·(θ¹ − θ⁰)) so a = 1 returns θ¹
    bit for bit; non-float tensors (buffers of ints) are taken from θ¹."""
    if set(theta0) != set(theta1):
        raise ValueError(f"state dicts differ in keys: {sorted(set(theta0) ^ set(theta1))[:4]}")
    if not 0 <= a <= 1:
        raise ValueError(f"a must lie in [0, 1], got {a}")
    return {k: (1 - a) * theta0[k] + a * theta1[k] if theta1[k].is_floating_point() else theta1[k].clone()
            for k in theta1}
