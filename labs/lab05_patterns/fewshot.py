"""Few-shot prompting: which examples go in the prompt, and what that choice is worth.

    curl -s localhost:8005/fewshot/evaluate -H 'content-type: application/json' -d '{"k": 4, "n_test": 16}'
    .venv/bin/python bench/bench_lab05_fewshot.py      # every strategy at k = 2, 4, 8 on 80 held-out tickets

The task: label a support ticket with one of eight intents (fixtures/lab05/intents.jsonl: a pool of
examples to draw demonstrations from, a dev split, a test split). The model is the mock's `labeller`
(mock_plugin.py), which learns the label mapping from the demonstrations in its prompt and nothing
else, so the selection strategy is the only thing that changes between rows:

    zero_shot   no demonstrations; the instruction lists the label names
    fixed       the same first k pool examples for every ticket (what a hand-written prompt does)
    random      k pool examples drawn at random for each ticket
    similar     the k pool examples nearest to the ticket by embedding (kNN selection)
    diverse     maximal marginal relevance over the pool: near the ticket, far from each other

    MMR picks, one at a time, argmax_{d in R \\ S} [ lambda * sim(q, d) - (1 - lambda) * max_{s in S} sim(d, s) ]

with sim the cosine, R the pool and S the examples picked so far (the first pick is the nearest;
lambda = 1 is `similar`, lambda = 0 only spreads out). Similar examples carry the right label for the
ticket most often; diverse ones trade a little of that for covering more intents, which matters when
the nearest examples all share one wrong label.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any

import numpy as np

import labs.lab05_patterns.mock_plugin  # noqa: F401  (registers the `labeller` behaviour with the in-process mock)
from shared.config import FIXTURES
from shared.llm import Model

STRATEGIES = ("zero_shot", "fixed", "random", "similar", "diverse")
INSTRUCTION = "Label the support ticket with its intent. Labels: {labels}. Answer with the label only."


@dataclass(frozen=True)
class Example:
    text: str
    label: str


@lru_cache(maxsize=1)
def _rows() -> tuple[dict[str, Any], ...]:
    path = FIXTURES / "lab05" / "intents.jsonl"
    return tuple(json.loads(line) for line in path.read_text().splitlines() if line.strip())


def load(split: str) -> list[Example]:
    """The fixture's `pool`, `dev` or `test` split, in file order."""
    return [Example(r["text"], r["label"]) for r in _rows() if r["split"] == split]


def labels() -> list[str]:
    return sorted({r["label"] for r in _rows()})


def messages(query: str, demos: Sequence[Example], label_names: Sequence[str]) -> list[dict[str, str]]:
    """Instruction, then each demonstration as a user turn answered by an assistant turn, then the query."""
    out = [{"role": "system", "content": INSTRUCTION.format(labels=", ".join(label_names))}]
    for d in demos:
        out += [{"role": "user", "content": f"Ticket: {d.text}"}, {"role": "assistant", "content": d.label}]
    out.append({"role": "user", "content": f"Ticket: {query}"})
    return out


def normalize(vectors: Any) -> np.ndarray:
    v = np.asarray(vectors, dtype=np.float64)
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)


def mmr(q: np.ndarray, D: np.ndarray, k: int, lam: float = 0.5) -> list[int]:
    """Indices of k rows of D by maximal marginal relevance to q (cosine; the module docstring's formula)."""
    q, D = normalize(q), normalize(D)
    relevance = D @ q
    pairwise = D @ D.T
    k = min(k, len(D))
    if k <= 0:
        return []
    S = [int(np.argmax(relevance))]
    redundancy = pairwise[S[0]].copy()  # max similarity of each candidate to anything picked so far
    pending = np.ones(len(D), dtype=bool)
    pending[S[0]] = False
    while len(S) < k:
        score = np.where(pending, lam * relevance - (1 - lam) * redundancy, -np.inf)
        pick = int(np.argmax(score))
        S.append(pick)
        pending[pick] = False
        redundancy = np.maximum(redundancy, pairwise[pick])
    return S


class Selector:
    """Picks k demonstrations from a pool for a query, by one of STRATEGIES (pool embedded once)."""

    def __init__(self, pool: Sequence[Example], model: Model):
        self.pool = list(pool)
        self.model = model
        self.vectors = normalize(model.embed([e.text for e in self.pool]))

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return normalize(self.model.embed(list(texts)))

    def select(self, strategy: str, q: np.ndarray, k: int, lam: float = 0.5, seed: int = 0) -> list[int]:
        if strategy not in STRATEGIES:
            raise ValueError(f"unknown strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}")
        k = min(k, len(self.pool))
        if strategy == "zero_shot" or k == 0:
            return []
        if strategy == "fixed":
            return list(range(k))
        if strategy == "random":
            return random.Random(seed).sample(range(len(self.pool)), k)
        if strategy == "similar":
            nearest = np.argsort(-(self.vectors @ q), kind="stable")[:k]
            return [int(i) for i in nearest[::-1]]  # the nearest example goes last, next to the query
        return mmr(q, self.vectors, k, lam)[::-1]


@dataclass
class Labelled:
    label: str
    demos: list[Example]
    prompt_tokens: int
    cost_usd: float


def classify(model: Model, query: str, demos: Sequence[Example], label_names: Sequence[str]) -> Labelled:
    c = model.complete(messages(query, demos, label_names), temperature=0)
    return Labelled((c.text or "").strip(), list(demos), c.usage.input_tokens, c.cost_usd)


@dataclass
class StrategyScore:
    strategy: str
    accuracy: float
    label_shown_rate: float  # how often the ticket's true label was among the demonstrations
    accuracy_label_shown: float | None
    accuracy_label_not_shown: float | None
    intents_covered: float  # mean number of distinct labels among the demonstrations
    prompt_tokens: float  # mean per call


def evaluate(model: Model, selector: Selector, tests: Sequence[Example], strategies: Sequence[str], k: int,
             lam: float = 0.5) -> list[StrategyScore]:
    """Accuracy of each strategy on `tests`, split by whether the true label was shown."""
    label_names = labels()
    vectors = selector.embed([t.text for t in tests])
    out = []
    for strategy in strategies:
        right = shown = right_shown = tokens = covered = 0
        for i, (test, q) in enumerate(zip(tests, vectors, strict=True)):
            demos = [selector.pool[j] for j in selector.select(strategy, q, k, lam, seed=i)]
            result = classify(model, test.text, demos, label_names)
            hit = result.label == test.label
            seen = any(d.label == test.label for d in demos)
            right += hit
            shown += seen
            right_shown += hit and seen
            tokens += result.prompt_tokens
            covered += len({d.label for d in demos})
        n = len(tests)
        out.append(StrategyScore(strategy, right / n, shown / n, right_shown / shown if shown else None,
                                 (right - right_shown) / (n - shown) if n > shown else None, covered / n, tokens / n))
    return out


def report(scores: Sequence[StrategyScore]) -> list[dict[str, Any]]:
    return [{k: round(v, 4) if isinstance(v, float) else v for k, v in asdict(s).items()} for s in scores]
