"""The bootstrapped few-shot optimizer: what it keeps, what it picks, and that it is measured held out."""

from __future__ import annotations

import random

import pytest

from labs.lab05_patterns import fewshot, optimizer


@pytest.fixture(scope="module")
def labeller(request):
    from shared.config import get_settings
    from shared.llm import Model

    return Model.from_settings(get_settings()).for_behaviour("labeller")


def test_bootstrap_keeps_only_examples_the_teacher_got_right(labeller):
    train = fewshot.load("pool")[:30]
    kept = optimizer.bootstrap(labeller, train, 4, 8, optimizer.exact_match, random.Random(0))
    gold = {e.text: e.label for e in train}
    assert kept and all(gold[e.text] == e.label for e in kept) and len(kept) <= 8


def test_the_optimizer_picks_the_best_dev_score_and_reports_held_out_scores(labeller):
    dev, test = fewshot.load("dev")[:8], fewshot.load("test")[:8]
    args = (labeller, fewshot.load("pool")[:32], dev, test)
    result = optimizer.optimize(*args, k=4, candidates=2, teacher_demos=4, max_bootstrapped=6, seed=3)
    best = max(c.dev_score for c in result.candidates)
    assert optimizer.score(result.best, labeller, dev) == best
    assert [c.program.name for c in result.candidates][:2] == ["zero_shot", "labelled_random"]
    assert set(result.test) == {"zero_shot", "labelled_random", "optimized"}
    assert result.test["optimized"] == optimizer.score(result.best, labeller, test)
    again = optimizer.optimize(*args, k=4, candidates=2, teacher_demos=4, max_bootstrapped=6, seed=3)
    assert again.best.demos == result.best.demos  # seeded: the same search, the same prompt
