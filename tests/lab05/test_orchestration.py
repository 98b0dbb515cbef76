"""Orchestration patterns: concurrency pays, self-consistency beats one sample on the noisy solver."""

from __future__ import annotations

import json
import math

import pytest
from scipy.stats import binom

from labs.lab05_patterns import orchestration
from labs.lab05_patterns.orchestration import final_answer, majority, majority_accuracy_bound, run_pattern
from shared.config import FIXTURES


@pytest.mark.parametrize("p, k", [(0.6, 1), (0.6, 5), (0.55, 9), (0.8, 4), (0.3, 7)])
def test_majority_bound_is_the_binomial_tail(p, k):
    assert majority_accuracy_bound(p, k) == pytest.approx(binom.sf(math.floor(k / 2), k, p))


def test_vote_and_answer_extraction():
    assert final_answer("Working it out, 17 * 23 = 391. The answer is 391.") == "391"
    assert final_answer("no number") is None
    assert majority(["5", "4", "5", None, "3"]) == ("5", 0.4)
    assert majority([None, None]) == (None, 0.0)


async def test_parallel_patterns_beat_their_sequential_sum():
    mock = {"latency_ms": 60}
    run = await run_pattern("map_reduce", [f"Summarize: item {i}. More." for i in range(4)], mock=mock)
    assert sorted(c.step for c in run.calls[:4]) == ["map 0", "map 1", "map 2", "map 3"]  # in finishing order
    assert run.calls[-1].step == "reduce"
    assert run.wall_s < 0.75 * run.sequential_sum_s
    branch = await run_pattern("branch_merge", ["Caches save money. They expire."], mock=mock)
    assert len(branch.calls) == 4 and branch.wall_s < 0.8 * branch.sequential_sum_s


async def test_sequential_and_self_critique_cost_their_sum():
    seq = await run_pattern("sequential", ["What is 2 + 3?", "What is 4 * 5?"], mock={"latency_ms": 30})
    assert seq.answer == ["5", "20"] and seq.wall_s >= 0.95 * seq.sequential_sum_s
    critique = await run_pattern("self_critique", ["What is 6 * 7?"])
    assert [c.step for c in critique.calls] == ["draft", "critique", "revise"] and critique.answer == "42"


async def test_self_consistency_lifts_accuracy_on_the_noisy_solver():
    rows = [json.loads(line) for line in (FIXTURES / "lab05" / "questions.jsonl").read_text().splitlines()][:30]
    single = vote = 0
    for row in rows:
        run = await run_pattern("self_consistency", [row["question"]], model="mock/noisy", mock={"p": 0.6}, k=7)
        single += run.answer["answers"][0] == row["answer"]
        vote += run.answer["vote"] == row["answer"]
    assert vote >= single + 5, (single, vote)
    assert vote / len(rows) >= majority_accuracy_bound(0.6, 7) - 0.1


async def test_greedy_samples_agree_so_voting_cannot_help():
    run = await run_pattern("self_consistency", ["What is 38 * 41?"], model="mock/noisy", mock={"p": 0.5},
                            k=5, temperature=0)
    assert len(set(run.answer["answers"])) == 1 and run.answer["agreement"] == 1.0


async def test_unknown_pattern_and_empty_inputs():
    with pytest.raises(ValueError):
        await run_pattern("tree_of_thought", ["x"])
    with pytest.raises(ValueError):
        await run_pattern("sequential", [])


def test_as_dict_reports_speedup():
    run = orchestration.Run("x", 1, [orchestration.Call("a", "p", "t", 0.2, 0.0)] * 3, wall_s=0.2)
    assert run.as_dict()["speedup"] == 3.0
