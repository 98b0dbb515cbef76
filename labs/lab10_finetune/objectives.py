"""The chapter's objectives written from their derivations: `python -m labs.lab10_finetune.exercises`.

DPO. The KL-constrained optimum  π*(y|x) = π_ref(y|x)·exp(r(x,y)/β) / Z(x)  inverts to
r(x,y) = β·log(π*(y|x)/π_ref(y|x)) + β·log Z(x). Put into Bradley-Terry,
P(y_w ≻ y_l) = σ(r_w − r_l), Z cancels and the loss is
    L_DPO = −E[ log σ( β·[(log π_θ(y_w) − log π_ref(y_w)) − (log π_θ(y_l) − log π_ref(y_l))] ) ].
Implicit rewards: r̂_w = β·(log π_θ(y_w) − log π_ref(y_w)), likewise r̂_l; margin = r̂_w − r̂_l;
accuracy = share with margin > 0.

Bradley-Terry reward model:  L_RM = −E[ log σ(r_φ(x, y_w) − r_φ(x, y_l)) ].

GRPO advantages, per group of G completions of one prompt:  A_i = (r_i − mean(r)) / (std(r) + ε).
Two conventions, and they differ by the factor √(G/(G−1)) (1.155 at G = 4):
  chapter  std over the group as a population, Σ(r_i − mean)² / G, ε = 0 (a group with one reward
           value has no signal: its advantages are 0)
  trl      GRPOTrainer's `nanstd`, the sample std Σ(r_i − mean)² / (G − 1), plus ε = 1e-4
The worked exercise uses the chapter's; the trainer (and its advantage check) uses trl's.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def sequence_logps(logits: torch.Tensor, input_ids: torch.Tensor, completion_mask: torch.Tensor) -> torch.Tensor:
    """Σ_t log π(y_t | y_<t) over completion tokens: logits at t predict the token at t+1."""
    logp = torch.log_softmax(logits[:, :-1].float(), dim=-1)
    token = logp.gather(-1, input_ids[:, 1:].unsqueeze(-1)).squeeze(-1)
    return (token * completion_mask[:, 1:]).sum(dim=1)


def dpo_loss(pi_w: torch.Tensor, pi_l: torch.Tensor, ref_w: torch.Tensor, ref_l: torch.Tensor,
             beta: float) -> dict[str, torch.Tensor]:
    """The DPO loss and implicit rewards from sequence log-probs of policy and reference."""
    r_w = beta * (pi_w - ref_w)
    r_l = beta * (pi_l - ref_l)
    return {"loss": -F.logsigmoid(r_w - r_l).mean(), "rewards/chosen": r_w.mean(), "rewards/rejected": r_l.mean(),
            "rewards/margins": (r_w - r_l).mean(), "rewards/accuracies": (r_w > r_l).float().mean()}


def bradley_terry_loss(r_w: torch.Tensor, r_l: torch.Tensor) -> torch.Tensor:
    return -F.logsigmoid(r_w - r_l).mean()


GRPO_CONVENTIONS = {"trl": {"ddof": 1, "eps": 1e-4, "label": "trl GRPOTrainer: sample std (G − 1) + ε 1e-4"},
                    "chapter": {"ddof": 0, "eps": 0.0, "label": "the chapter: population std (G), no ε"}}


def grpo_advantages(rewards: list[float], convention: str = "trl") -> list[float]:
    """Group-normalised advantages for one prompt's completions, in the named convention."""
    ddof, eps = GRPO_CONVENTIONS[convention]["ddof"], GRPO_CONVENTIONS[convention]["eps"]
    G = len(rewards)
    mean = sum(rewards) / G
    std = math.sqrt(sum((r - mean) ** 2 for r in rewards) / (G - ddof))
    if std + eps == 0:  # every completion scored the same: nothing to prefer
        return [0.0] * G
    return [(r - mean) / (std + eps) for r in rewards]


def dpo_worked_batch(beta: float = 0.1) -> dict[str, float]:
    """The exercise's batch: two pairs of (policy, reference) log-probs for chosen and rejected."""
    pi_w, pi_l = torch.tensor([-4.0, -6.0]), torch.tensor([-7.0, -6.5])
    ref_w, ref_l = torch.tensor([-5.0, -6.0]), torch.tensor([-6.0, -6.0])
    out = dpo_loss(pi_w, pi_l, ref_w, ref_l, beta)
    return {k: round(float(v), 6) for k, v in out.items()}
