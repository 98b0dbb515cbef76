"""Multi-turn pairwise: the swap rule, win rates with ties as halves and a bootstrap CI over conversations,
fake judges with known behaviour, and the mock judge's position bias removed by swapping."""

from __future__ import annotations

import asyncio
import json

import numpy as np
import pytest

from labs.lab08_eval import judge, stats
from labs.lab08_eval import pairwise as p


def test_a_verdict_that_flips_with_the_order_is_a_tie():
    assert p.combine("a", "a") == "a" and p.combine("b", "b") == "b"
    assert p.combine("a", "b") == "tie" and p.combine("a", "tie") == "tie"


def test_win_rate_counts_ties_as_halves_and_resamples_conversations():
    rows = [{"id": "c1", "v": "a"}, {"id": "c1", "v": "tie"}, {"id": "c2", "v": "b"}, {"id": "c2", "v": "b"},
            {"id": "c3", "v": "a"}, {"id": "c3", "v": "a"}]
    out = p.win_rate(rows, "v", B=500)
    assert out["win_rate_a"] == pytest.approx((1 + 0.5 + 0 + 0 + 1 + 1) / 6, abs=1e-4)
    assert (out["wins_a"], out["wins_b"], out["ties"], out["conversations"]) == (3, 2, 1, 3)
    _, low, high = stats.bootstrap_ci([0.75, 0.0, 1.0], B=500, seed=0)  # per-conversation means
    assert (out["low"], out["high"]) == (round(low, 4), round(high, 4))


@pytest.mark.parametrize("seed", range(3))
def test_the_interval_narrows_with_more_conversations(seed):
    rng = np.random.default_rng(seed)
    verdicts = rng.choice(["a", "b", "tie"], size=400, p=[0.5, 0.3, 0.2])
    rows = [{"id": f"c{i // 2}", "v": v} for i, v in enumerate(verdicts)]
    small, big = p.win_rate(rows[:40], "v", B=500), p.win_rate(rows, "v", B=500)
    assert small["high"] - small["low"] > big["high"] - big["low"]
    assert big["low"] <= big["win_rate_a"] <= big["high"]


def fake(prefer: str):
    """A judge that always names `prefer` ('A' = whatever is shown first), or candidate a's reply (a tie if
    both candidates gave the same one)."""
    async def call(prompt: str, mock: dict) -> str:
        if prefer == "A":
            return json.dumps({"winner": "A"})
        first, second = (x.strip() for x in prompt.split("## Response A", 1)[1].split("## Response B", 1))
        return json.dumps({"winner": "tie" if first == second else "A" if first in a_replies else "B"})
    return call


a_replies = {r for c in p.load() for r in c["candidates"]["a"]}


def test_a_judge_that_always_picks_the_first_shown_is_all_ties_once_swapped():
    out = asyncio.run(p.evaluate(fake("A"), limit=4, B=200))
    assert out["position_consistency"] == 0.0 and out["swapped"]["ties"] == out["n_judgements"] == 8
    assert out["swapped"]["win_rate_a"] == 0.5 and out["a_first_only"]["win_rate_a"] == 1.0


def test_a_consistent_preference_survives_the_swap():
    out = asyncio.run(p.evaluate(fake("a's reply"), limit=4, B=200))
    assert out["position_consistency"] == 1.0 and out["swapped"] == out["a_first_only"]
    assert (out["swapped"]["wins_a"], out["swapped"]["wins_b"], out["swapped"]["ties"]) == (6, 0, 2)  # 2 identical


def test_the_mock_judges_position_bias_shows_in_consistency_not_in_the_swapped_win_rate():
    fair = asyncio.run(p.evaluate(judge.llm_call(), {}, B=200))
    biased = asyncio.run(p.evaluate(judge.llm_call(), {"position_bias": 0.9}, B=200))
    assert biased["position_consistency"] < fair["position_consistency"]
    assert biased["a_first_only"]["win_rate_a"] > fair["a_first_only"]["win_rate_a"]
    assert biased["swapped"]["wins_b"] <= fair["swapped"]["wins_b"] + 1
    assert fair["by_turn"]["2"]["win_rate_a"] > fair["by_turn"]["1"]["win_rate_a"]  # b loses the thread
