"""The harness side: bias measurement, each mitigation's effect, calibration κ."""

from __future__ import annotations

import asyncio

import pytest

from labs.lab08_eval import judge


def bias_rows(**options):
    return {r["bias"]: r for r in asyncio.run(judge.measure_biases(judge.llm_call(), options, limit=20)).rows}


def test_an_unbiased_judge_shows_no_symptoms():
    rows = bias_rows()
    assert all(r["before"] <= 0.15 and r["after"] <= 0.15 for r in rows.values()), rows


def test_each_mitigation_removes_its_bias():
    rows = bias_rows(position_bias=0.8, length_bias=1.0, self_preference=0.4)
    assert rows["position"]["before"] >= 0.6 and rows["position"]["after"] <= 0.1
    assert rows["length"]["before"] >= 0.2 and rows["length"]["after"] <= 0.05
    assert rows["self_preference"]["before"] >= 0.9 and rows["self_preference"]["after"] <= 0.1
    assert rows["verbosity"]["before"] >= 0.9 and rows["verbosity"]["after"] <= 0.1


def test_calibration_clears_the_bar_unbiased_and_drops_with_length_bias():
    fair = asyncio.run(judge.calibrate(judge.llm_call(), {}))
    assert fair["clears_0.6"] and fair["kappa_pass_fail"] >= 0.8
    assert fair["landis_koch"]["kappa_pass_fail"] == "almost perfect"
    biased = asyncio.run(judge.calibrate(judge.llm_call(), {"length_bias": 1.5}))
    assert biased["kappa_pass_fail"] < fair["kappa_pass_fail"] - 0.2
    assert biased["mean_judge_score_by_kind"]["wrong-fluent"] > fair["mean_judge_score_by_kind"]["wrong-fluent"]


def test_order_swap_counts_only_consistent_wins():
    async def always_first(prompt, mock):
        return '{"winner": "A"}'

    assert asyncio.run(judge.compare_pair(always_first, "q", "x", "y", None, {}, swap=False)) == "A"
    assert asyncio.run(judge.compare_pair(always_first, "q", "x", "y", None, {}, swap=True)) == "tie"


def test_length_control_and_style_control_transforms():
    assert judge.equal_length("a b c d", "x y") == ("a b", "x y")
    assert judge.strip_style("Lima.\n\n**Answer:** Lima") == judge.strip_style("Lima.\n\nAnswer: Lima")


def test_parse_reply_tolerates_prose_and_rejects_no_json():
    assert judge.parse_reply('Sure! ```json\n{"score": 4}\n```') == {"score": 4}
    with pytest.raises(ValueError):
        judge.parse_reply("I think it is good.")


def test_verbosity_pairs_say_the_same_thing_at_greater_length():
    for pair in judge.bias_pairs()["verbosity"][:10]:
        assert pair.better == "tie" and len(pair.b.split()) > 2 * len(pair.a.split())
        assert judge.strip_redundancy(pair.b) == pair.a  # nothing but repetition was added


def test_redundancy_control_keeps_every_sentence_that_adds_a_fact():
    text = "Paris is the capital. In other words, Paris. It has two million people. So, the capital is Paris."
    assert judge.strip_redundancy(text) == "Paris is the capital. It has two million people."
