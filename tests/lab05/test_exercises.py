"""The worked exercises give the answers the chapter derives."""

from __future__ import annotations

import pytest

from labs.lab05_patterns import exercises


def test_prompt_cache_savings(model):
    out = exercises.prompt_cache_savings(model)["answer"]
    savings = [row["savings"] for row in out["by_rate"]]
    assert savings == sorted(savings) and savings[0] < 0 < savings[-1], "rare traffic loses money on writes"
    assert out["break_even_hit_rate"] == pytest.approx(0.2174, abs=1e-4)
    assert out["mock_measured_savings"] == pytest.approx(out["mock_predicted_savings"], abs=0.02)


def test_tool_loop_with_retry(model):
    for _ in range(2):  # a second run in the same process meets the transient faults again
        out = exercises.pydantic_tool_loop_with_retry(model)["answer"]
        assert out["turns"] == 3 and len(out["rejected_calls"]) == 2 and "Paris" in out["final"]
        assert out["attempts_per_model_call"] == [3, 3, 3]
        assert out["from_scratch_slept_s"] == out["shared_retry_slept_s"]
        for delays in out["from_scratch_slept_s"]:
            assert len(delays) == 2 and all(0 <= d <= min(0.4, 0.05 * 2 ** n) for n, d in enumerate(delays))


def test_sequential_to_parallel(model):
    """Behaviour, not speed: the sequential calls never overlap, the gathered ones are all in flight at
    once (from each call's recorded start and end). The speed-up is measured in bench/bench_lab05_parallel.py."""
    out = exercises.sequential_to_async_parallel(model)["answer"]
    seq, par = out["sequential_calls_s"], out["parallel_calls_s"]
    assert len(seq) == len(par) == 8
    assert all(later[0] >= earlier[1] for earlier, later in zip(seq, seq[1:], strict=False))
    assert max(start for start, _ in par) < min(end for _, end in par)
    assert out["sequential_max_in_flight"] == 1 and out["parallel_max_in_flight"] == 8


def test_circuit_breaker_trace():
    trace = exercises.circuit_breaker()["answer"]["trace"]
    assert [t["outcome"] for t in trace] == ["failed", "failed", "failed", "rejected (open)", "rejected (open)",
                                             "ok", "ok"]


def test_tokenization_and_pricing():
    out = exercises.tokenization_and_pricing()["answer"]
    assert out["tokens"] == len(out["pieces"])
    monthly = out["monthly_usd"]
    assert monthly["openai/gpt-4o-mini"] < monthly["anthropic/claude-3-5-haiku"] < monthly["anthropic/claude-sonnet-4"]


def test_self_consistency_beats_one_sample(model):
    out = exercises.self_consistency(model, n=20)["answer"]
    assert out["majority_vote_accuracy"] > out["single_sample_accuracy"]
