"""Orchestration with asyncio: sequential, map-reduce, branch-merge, self-consistency, self-critique.

    curl -s localhost:8005/orchestrate/map_reduce -H 'content-type: application/json' \
      -d '{"inputs": ["Summarize: the cache saves money.", "Summarize: retries need jitter."]}'

Independent calls run concurrently with asyncio.gather, so a fan-out of n calls costs about the
slowest call instead of the sum:

    wall_sequential = sum_i t_i        wall_parallel ~= max_i t_i        speedup = sum / wall

Self-consistency samples k answers at temperature > 0 and returns the majority vote. If each sample
is right with probability p > 1/2 and wrong answers scatter, the vote is right with probability

    P(majority right) >= sum_{j > k/2} C(k, j) p^j (1-p)^(k-j)

(the bound treats every wrong answer as the same one; scattered wrong answers only help the vote).
Every pattern returns the answer, each intermediate call, and wall time against the sequential sum.
"""

from __future__ import annotations

import asyncio
import math
import re
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from shared.llm import Model

PATTERNS = ("sequential", "map_reduce", "branch_merge", "self_consistency", "self_critique")


@dataclass
class Call:
    step: str
    prompt: str
    text: str | None
    latency_s: float
    cost_usd: float
    start_s: float = 0.0  # when the call was sent and answered, in seconds since its Caller was made
    end_s: float = 0.0


@dataclass
class Run:
    pattern: str
    answer: Any
    calls: list[Call] = field(default_factory=list)
    wall_s: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def sequential_sum_s(self) -> float:
        return sum(c.latency_s for c in self.calls)

    @property
    def max_in_flight(self) -> int:
        return max_in_flight(self.calls)

    def as_dict(self) -> dict[str, Any]:
        seq = self.sequential_sum_s
        return {"pattern": self.pattern, "answer": self.answer, "calls": [asdict(c) for c in self.calls],
                "wall_s": round(self.wall_s, 4), "sequential_sum_s": round(seq, 4),
                "speedup": round(seq / self.wall_s, 2) if self.wall_s > 0 else None,
                "max_in_flight": self.max_in_flight,
                "cost_usd": sum(c.cost_usd for c in self.calls), **self.extra}


def max_in_flight(calls: list[Call]) -> int:
    """The most calls that were waiting on the model at the same moment, from their start and end times.

    Concurrency shown by behaviour, not by a speed-up that a busy machine can erase: a fan-out whose
    calls all overlap reaches len(calls); a sequential run never exceeds 1.
    """
    # at equal times an end (-1) sorts before a start (+1): a call that begins as another ends is not overlap
    edges = sorted([(c.start_s, 1) for c in calls] + [(c.end_s, -1) for c in calls])
    most = now = 0
    for _, step in edges:
        now += step
        most = max(most, now)
    return most


class Caller:
    """One place that makes a call and records it (model and mock options fixed for a run)."""

    def __init__(self, model: Model, mock: dict[str, Any] | None = None):
        self.model, self.mock = model, mock
        self.calls: list[Call] = []
        self.origin = time.perf_counter()

    async def __call__(self, step: str, prompt: str, **kwargs: Any) -> str:
        start = time.perf_counter() - self.origin
        slot = len(self.calls)  # calls are listed in the order they were sent; start/end give the timing
        self.calls.append(Call(step, prompt, None, 0.0, 0.0, round(start, 4), round(start, 4)))
        c = await self.model.acomplete(prompt, mock=self.mock, **kwargs)
        end = time.perf_counter() - self.origin
        self.calls[slot] = Call(step, prompt, c.text, round(c.latency_s, 4), c.cost_usd, round(start, 4), round(end, 4))
        return c.text or ""


async def sequential(inputs: list[str], call: Caller) -> Any:
    """One call after another: each waits for the previous (the baseline the others are measured against)."""
    return [await call(f"item {i}", text) for i, text in enumerate(inputs)]


async def map_reduce(inputs: list[str], call: Caller) -> Any:
    """Map every input concurrently, then one reduce call over the partial results."""
    parts = await asyncio.gather(*(call(f"map {i}", text) for i, text in enumerate(inputs)))
    joined = " ".join(p.strip() for p in parts)
    return await call("reduce", f"Summarize: {joined}")


async def branch_merge(inputs: list[str], call: Caller) -> Any:
    """Several views of the same input in parallel (one per instruction), then a merge call."""
    text = inputs[0]
    views = ("Summarize", "List the key facts in", "Give the main risk in")
    branches = await asyncio.gather(*(call(view, f"{view}: {text}") for view in views))
    return await call("merge", "Summarize: " + " ".join(b.strip() for b in branches))


_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def final_answer(text: str | None) -> str | None:
    """The last number in a reasoning reply (what a vote compares)."""
    found = _NUMBER.findall((text or "").replace(",", ""))
    return found[-1] if found else None


def majority(answers: list[str | None]) -> tuple[str | None, float]:
    """The most common non-empty answer (ties: the one seen first) and its share of the votes."""
    votes = Counter(a for a in answers if a is not None)
    if not votes:
        return None, 0.0
    best = max(votes.items(), key=lambda kv: (kv[1], -answers.index(kv[0])))
    return best[0], best[1] / len(answers)


def majority_accuracy_bound(p: float, k: int) -> float:
    """P(more than half of k independent samples are right) when each is right with probability p."""
    return sum(math.comb(k, j) * p ** j * (1 - p) ** (k - j) for j in range(k // 2 + 1, k + 1))


async def self_consistency(inputs: list[str], call: Caller, k: int = 5, temperature: float = 0.8) -> Any:
    """k samples of the same question at temperature > 0, each with its own seed; majority vote."""
    question = inputs[0]
    texts = await asyncio.gather(*(call(f"sample {i}", question, temperature=temperature, seed=i)
                                   for i in range(k)))
    answers = [final_answer(t) for t in texts]
    winner, share = majority(answers)
    return {"vote": winner, "agreement": share, "answers": answers}


async def self_critique(inputs: list[str], call: Caller) -> Any:
    """Draft, critique, revise: inherently sequential (each step reads the previous)."""
    question = inputs[0]
    draft = await call("draft", question)
    critique = await call("critique", f"Critique this answer to '{question}': {draft}")
    return await call("revise", f"{question}\nA previous answer was: {draft}\nA reviewer said: {critique}\n"
                                f"Give the corrected final answer.")


async def run_pattern(pattern: str, inputs: list[str], *, model: Model,
                      mock: dict[str, Any] | None = None, k: int = 5, temperature: float = 0.8) -> Run:
    if pattern not in PATTERNS:
        raise ValueError(f"unknown pattern {pattern!r}; choose one of {', '.join(PATTERNS)}")
    if not inputs:
        raise ValueError("inputs must hold at least one text")
    call = Caller(model, mock)
    start = time.perf_counter()
    if pattern == "self_consistency":
        answer = await self_consistency(inputs, call, k=k, temperature=temperature)
    else:
        answer = await globals()[pattern](inputs, call)
    return Run(pattern, answer, call.calls, time.perf_counter() - start)
