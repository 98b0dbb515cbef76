"""The DSPy paradigm in miniature: a prompt is a program with parameters (its demonstrations), and an
optimizer searches them against a metric on a dev set; the result is measured on a held-out set.

    curl -s localhost:8005/fewshot/optimize -H 'content-type: application/json' -d '{"candidates": 3, "n_dev": 16, "n_test": 16}'
    .venv/bin/python bench/bench_lab05_fewshot.py      # the optimizer at full size, beside the selection strategies

What DSPy's BootstrapFewShotWithRandomSearch does, written out for the labelling task of fewshot.py:

    1. bootstrap   run a teacher (the program with a few labelled demonstrations) over the training
                   pool; keep each example whose prediction passes the metric: a demonstration the
                   model itself has been seen to get right (DSPy keeps the teacher's whole trace)
    2. search      candidate programs: zero-shot, k labelled examples at random, and `candidates`
                   draws of k bootstrapped demonstrations; score each on the dev set with the metric
    3. select      keep the candidate with the best dev score (ties: the earlier candidate)
    4. measure     the chosen program, the zero-shot one and a random-demonstration one on the test
                   set, which the search never saw; the dev score of the winner is optimistic (it
                   was the maximum of several noisy scores), the test score is the honest number

    metric(example, prediction) = 1 if prediction == example.label else 0;  score = mean over the set

The demonstrations are fixed once chosen (one prompt for every input, unlike fewshot.py's per-query
selection), which is what makes the result a shippable artefact: a prompt, versioned and evaluated.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from labs.lab05_patterns.fewshot import Example, classify, labels
from shared.llm import Model

Metric = Callable[[Example, str], float]


def exact_match(example: Example, prediction: str) -> float:
    return float(prediction == example.label)


@dataclass
class Program:
    """A labelling prompt: the instruction (fixed here) and its demonstrations (what is optimized)."""

    name: str
    demos: list[Example] = field(default_factory=list)

    def __call__(self, model: Model, text: str) -> str:
        return classify(model, text, self.demos, labels()).label


def score(program: Program, model: Model, data: Sequence[Example], metric: Metric = exact_match) -> float:
    return sum(metric(e, program(model, e.text)) for e in data) / max(len(data), 1)


def bootstrap(model: Model, train: Sequence[Example], teacher_demos: int, max_bootstrapped: int,
              metric: Metric, rng: random.Random) -> list[Example]:
    """Step 1: examples of the pool the teacher gets right (the teacher never sees the one it labels)."""
    kept: list[Example] = []
    order = rng.sample(range(len(train)), len(train))
    for i in order:
        others = [train[j] for j in order if j != i]
        teacher = Program("teacher", rng.sample(others, min(teacher_demos, len(others))))
        prediction = teacher(model, train[i].text)
        if metric(train[i], prediction):
            kept.append(Example(train[i].text, prediction))
        if len(kept) >= max_bootstrapped:
            break
    return kept


@dataclass
class Candidate:
    program: Program
    dev_score: float


@dataclass
class Optimized:
    best: Program
    candidates: list[Candidate]
    bootstrapped: int
    test: dict[str, float]  # held-out score of the zero-shot, random-demos and optimized programs

    def as_dict(self) -> dict[str, Any]:
        return {"bootstrapped": self.bootstrapped,
                "candidates": [{"name": c.program.name, "dev_score": round(c.dev_score, 4),
                                "labels_shown": len({d.label for d in c.program.demos})} for c in self.candidates],
                "best": {"name": self.best.name, "dev_score": round(max(c.dev_score for c in self.candidates), 4),
                         "demos": [{"text": d.text, "label": d.label} for d in self.best.demos]},
                "test": {k: round(v, 4) for k, v in self.test.items()}}


def optimize(model: Model, train: Sequence[Example], dev: Sequence[Example], test: Sequence[Example], *,
             k: int = 8, candidates: int = 8, teacher_demos: int = 8, max_bootstrapped: int = 32, seed: int = 0,
             metric: Metric = exact_match) -> Optimized:
    """Bootstrapped few-shot with random search (steps 1-4 of the module docstring)."""
    rng = random.Random(seed)
    pool = bootstrap(model, train, teacher_demos, max_bootstrapped, metric, rng)
    programs = [Program("zero_shot"), Program("labelled_random", rng.sample(list(train), min(k, len(train))))]
    programs += [Program(f"bootstrapped_{c}", rng.sample(pool, min(k, len(pool)))) for c in range(candidates)]
    scored = [Candidate(p, score(p, model, dev, metric)) for p in programs]
    best = max(scored, key=lambda c: c.dev_score).program  # max keeps the first of equal scores
    baseline = {"zero_shot": programs[0], "labelled_random": programs[1]}
    test_scores = {name: score(p, model, test, metric) for name, p in baseline.items()}
    test_scores["optimized"] = score(best, model, test, metric)
    return Optimized(best, scored, len(pool), test_scores)
