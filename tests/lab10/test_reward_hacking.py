"""The proxy reward pays for length over correctness; the penalised one does not."""

import pytest

from labs.lab10_finetune import reward_hacking as RH


def test_the_proxy_prefers_a_long_wrong_answer_and_the_fix_does_not():
    answers = ["5", "5"]
    right, babble = RH.length_biased(["5", "5555"], answers)
    assert babble > right
    right, babble = RH.length_penalised(["5", "5555"], answers)
    assert right > babble


def test_the_fix_costs_nothing_within_the_references_length():
    texts, answers = ["12", "7", "x"], ["12", "8", "3"]
    assert RH.length_penalised(texts, answers) == RH.length_biased(texts, answers)
    right, padded = RH.length_penalised(["5", "55"], ["5", "5"])
    assert right > padded


def test_scored_reports_every_reward_exact_match_and_length():
    out = RH.scored(["5", "55555"], ["5", "5"])
    assert set(out) == {"rule", "length_biased", "length_penalised", "exact", "chars"}
    assert out["exact"] == 0.5 and out["chars"] == 3.0
    assert out["rule"] == pytest.approx((1.0 + 0.1) / 2)
