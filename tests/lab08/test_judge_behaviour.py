"""The mock `judge`: it parses the harness's prompt format, its quality signal is real, its biases are dials."""

from __future__ import annotations

import json

import pytest

from labs.lab08_eval.judge import pairwise_prompt, single_prompt
from shared import llm

Q, REF = "What is the capital of Peru?", "The capital of Peru is Lima."


def ask(prompt: str, **mock) -> dict:
    return json.loads(llm.complete(prompt, model="mock/judge", temperature=0, mock={"seed": 1, **mock}).text)


def test_single_grade_follows_the_reference():
    right = ask(single_prompt(Q, "It is Lima.", REF))
    wrong = ask(single_prompt(Q, "It is Quito.", REF))
    assert right["score"] == 5 and wrong["score"] == 1
    assert set(right["criteria"]) == {"correctness", "relevance"}


def test_rubric_keywords_are_scored_per_criterion():
    prompt = single_prompt("Describe the outage.", "The database ran out of disk and we rolled back.", None,
                           [("root_cause", ["disk"], "names the root cause"),
                            ("follow_up", ["alert", "runbook"], "names a follow-up")])
    reply = ask(prompt)
    assert reply["criteria"]["root_cause"] == 5 and reply["criteria"]["follow_up"] == 1


def test_pairwise_picks_the_better_answer_in_either_order():
    assert ask(pairwise_prompt(Q, "Lima.", "Quito.", REF))["winner"] == "A"
    assert ask(pairwise_prompt(Q, "Quito.", "Lima.", REF))["winner"] == "B"


def test_same_request_and_seed_gives_the_same_verdict():
    prompt = pairwise_prompt(Q, REF, REF, REF)
    verdicts = {json.dumps(ask(prompt, position_bias=0.5)) for _ in range(3)}
    assert len(verdicts) == 1


@pytest.mark.parametrize("bias", [0.0, 1.0])
def test_position_bias_prefers_the_first_of_identical_answers(bias):
    wins = [ask(pairwise_prompt(Q, REF, REF, REF), position_bias=bias, seed=s)["winner"] for s in range(20)]
    share = wins.count("A") / len(wins)
    assert share > 0.9 if bias else share < 0.3


def test_length_bias_lifts_long_answers():
    long = "It is Lima. " + "This is a thorough and complete answer with many careful words. " * 8
    plain = [ask(single_prompt(Q, long, REF), seed=s)["score"] for s in range(5)]
    biased = [ask(single_prompt(Q, "It is Quito. " + long[12:], REF), length_bias=1.0, seed=s)["score"]
              for s in range(5)]
    assert min(plain) == 5 and min(biased) >= 3  # a wrong answer graded as passable because it is long


def test_self_preference_favours_the_house_style():
    own, plain = f"{REF}\n\n**Answer:** Lima", f"{REF}\n\nAnswer: Lima"
    assert ask(pairwise_prompt(Q, plain, own, REF), self_preference=0.5)["winner"] == "B"


def test_a_prompt_without_a_response_is_answered_as_the_assistant():
    assert llm.complete("What is 6 * 7?", model="mock/judge").text.strip().endswith("42")
