"""Reward hacking, measured: `python bench/bench_lab10_reward_hacking.py`.

The task's true reward is the rule in train.sum_reward (1 for the exact sum, 0.1 for another number).
A learned reward model often picks up a feature that merely correlated with quality in its
preference data; length is the classic one. `length_biased` is such a proxy:
    r̃(y) = ½·r(y) + w·n(y),   n(y) = characters in the completion (capped at N_CAP), w = 0.5,
so "5" for 2+3= earns 0.5 + 0.5 = 1.0 while the wrong but longer "5555" earns 0.05 + 2.0 = 2.05.
An RL loop that maximises r̃ learns to babble: r̃ rises while the true reward r falls.

Two mitigations, each measured against the same run:
  * the KL penalty: a larger β makes each token pay β·log(π/π_ref) for leaving the reference, so
    the policy stays near the one that answered with the sum (kl_optimal.py: π* ∝ π_ref·exp(r̃/β));
  * a reward fix: `length_penalised` charges w per character beyond the reference answer's length,
    a length-controlled reward (as length-controlled win rates compare against the baseline's
    length), so a longer answer stops paying.
"""

from __future__ import annotations

from typing import Any

from labs.lab10_finetune.train import sum_reward

W_LENGTH = 0.5
N_CAP = 8


def length_biased(completions: list[str], answer: list[str], **_: Any) -> list[float]:
    """The exploitable proxy: half the true reward plus w per character."""
    true = sum_reward(completions, answer)
    return [0.5 * r + W_LENGTH * min(len(c.strip()), N_CAP) for r, c in zip(true, completions, strict=True)]


def length_penalised(completions: list[str], answer: list[str], **_: Any) -> list[float]:
    """The proxy with its exploit priced out: each character beyond the reference's length costs what it earned."""
    proxy = length_biased(completions, answer)
    return [p - W_LENGTH * max(0, min(len(c.strip()), N_CAP) - len(a))
            for p, c, a in zip(proxy, completions, answer, strict=True)]


REWARDS = {"rule": sum_reward, "length_biased": length_biased, "length_penalised": length_penalised}


def scored(completions: list[str], answer: list[str]) -> dict[str, float]:
    """What a run's samples earn under each reward, and their length: the numbers the bench compares."""
    n = len(completions)
    return {**{name: round(sum(fn(completions, answer)) / n, 4) for name, fn in REWARDS.items()},
            "exact": round(sum(c.strip() == a for c, a in zip(completions, answer, strict=True)) / n, 4),
            "chars": round(sum(len(c.strip()) for c in completions) / n, 3)}
