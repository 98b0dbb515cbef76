"""`noisy`: right only with probability p, so that voting over samples measurably helps.

    python -c "from shared import llm; print([llm.complete('What is 17 * 23?', model='mock/noisy', \
temperature=0.8, seed=s, mock={'p': 0.6}).text for s in range(5)])"

Each sample answers the question correctly with probability p (option `p`, default 0.6) and
otherwise gives one of several *different* wrong answers (off by a little, off by ten, a digit
slip), as a sampled chain of thought does. Wrong answers scatter while right ones agree, so a
majority vote over k samples (self-consistency) is right far more often than one sample:

    P(vote right) ~= sum over j > k/2 of C(k, j) p^j (1-p)^(k-j)   (more, since wrong votes split)

At temperature 0 every sample is the greedy one: voting then gains nothing, which the chapter
predicts. Questions it cannot solve go to the plain assistant.
"""

from __future__ import annotations

import random

import shared.mockllm.behaviours.structured as structured
from shared.mockllm.behaviours.assistant import FACTS, arithmetic, fact, format_number, respond
from shared.mockllm.request import MockRequest, Reply, behaviour


def wrong_answer(correct: str, rng: random.Random) -> str:
    """A plausible mistake: numbers slip by a small amount, facts swap for another fact's answer."""
    try:
        value = float(correct)
    except ValueError:
        others = sorted({a for a in FACTS.values() if a != correct})
        return rng.choice(others)
    slip = rng.choice([-10, -2, -1, 1, 2, 10, value * 0.1 or 3])
    return format_number(value + slip)


@behaviour("noisy", "Reasoning that is right only with probability p (option p, default 0.6); wrong answers "
                    "scatter, so self-consistency voting lifts accuracy")
def noisy(req: MockRequest) -> Reply:
    question = structured.task_text(req)
    correct = arithmetic(question) or fact(question)
    if correct is None or req.tools or req.response_format:
        return respond(req, {})
    rng = req.rng("sample:noisy")
    answer = correct if rng.random() < float(req.opt("p", 0.6)) else wrong_answer(correct, rng)
    return Reply(content=f"Let me think step by step. Working it through carefully, I get {answer}. "
                         f"The answer is {answer}.")
