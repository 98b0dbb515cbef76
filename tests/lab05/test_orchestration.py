"""Orchestration patterns: fan-outs overlap in time, chains do not, self-consistency beats one sample.

Concurrency is checked from each call's recorded start and end, never from a speed-up: how much
faster a fan-out is depends on the machine (bench/bench_lab05_parallel.py measures that)."""

from __future__ import annotations

import json
import math

import numpy as np
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


async def test_fan_outs_are_in_flight_together(model):
    mock = {"latency_ms": 60}
    run = await run_pattern("map_reduce", [f"Summarize: item {i}. More." for i in range(4)], model=model, mock=mock)
    maps, reduce = run.calls[:4], run.calls[-1]
    assert [c.step for c in maps] == ["map 0", "map 1", "map 2", "map 3"]  # in the order they were sent
    assert reduce.step == "reduce"
    assert max(c.start_s for c in maps) < min(c.end_s for c in maps), "every map was sent before any answered"
    assert reduce.start_s >= max(c.end_s for c in maps), "the reduce waits for every map"
    assert run.max_in_flight == 4 and run.as_dict()["max_in_flight"] == 4
    branch = await run_pattern("branch_merge", ["Caches save money. They expire."], model=model, mock=mock)
    assert len(branch.calls) == 4 and branch.max_in_flight == 3


async def test_chains_never_overlap(model):
    seq = await run_pattern("sequential", ["What is 2 + 3?", "What is 4 * 5?"], model=model, mock={"latency_ms": 30})
    assert seq.answer == ["5", "20"] and seq.max_in_flight == 1
    assert seq.calls[1].start_s >= seq.calls[0].end_s
    critique = await run_pattern("self_critique", ["What is 6 * 7?"], model=model)
    assert [c.step for c in critique.calls] == ["draft", "critique", "revise"] and critique.answer == "42"
    assert critique.max_in_flight == 1


@pytest.mark.parametrize("seed", range(20))
def test_max_in_flight_matches_a_brute_force_sweep(seed):
    """The sweep over sorted start/end edges against counting, at every start, the calls open there."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 12))
    starts = np.round(rng.uniform(0, 1, n), 2)  # rounded, so ties between one's end and another's start occur
    ends = starts + np.round(rng.uniform(0.01, 0.5, n), 2)
    calls = [orchestration.Call(f"c{i}", "", "", 0.0, 0.0, float(s), float(e)) for i, (s, e) in enumerate(zip(starts, ends, strict=True))]
    brute = max(sum(1 for s, e in zip(starts, ends, strict=True) if s <= t < e) for t in starts)
    assert orchestration.max_in_flight(calls) == brute


async def test_self_consistency_lifts_accuracy_on_the_noisy_solver(model):
    noisy = model.for_behaviour("noisy")
    rows = [json.loads(line) for line in (FIXTURES / "lab05" / "questions.jsonl").read_text().splitlines()][:30]
    single = vote = 0
    for row in rows:
        run = await run_pattern("self_consistency", [row["question"]], model=noisy, mock={"p": 0.6}, k=7)
        single += run.answer["answers"][0] == row["answer"]
        vote += run.answer["vote"] == row["answer"]
    assert vote >= single + 5, (single, vote)
    assert vote / len(rows) >= majority_accuracy_bound(0.6, 7) - 0.1


async def test_greedy_samples_agree_so_voting_cannot_help(model):
    run = await run_pattern("self_consistency", ["What is 38 * 41?"], model=model.for_behaviour("noisy"), mock={"p": 0.5},
                            k=5, temperature=0)
    assert len(set(run.answer["answers"])) == 1 and run.answer["agreement"] == 1.0


async def test_unknown_pattern_and_empty_inputs(model):
    with pytest.raises(ValueError):
        await run_pattern("tree_of_thought", ["x"], model=model)
    with pytest.raises(ValueError):
        await run_pattern("sequential", [], model=model)


def test_as_dict_reports_speedup():
    run = orchestration.Run("x", 1, [orchestration.Call("a", "p", "t", 0.2, 0.0)] * 3, wall_s=0.2)
    assert run.as_dict()["speedup"] == 3.0
