"""The chapter's worked exercises, computed against the mock.

    python -m labs.lab05_patterns.exercises          # readable
    python -m labs.lab05_patterns.exercises --json   # one JSON object {exercise: {inputs..., answer...}}
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import json
import random
import secrets
import time
from typing import Any

from labs.lab05_patterns import cost, orchestration, resilience
from labs.lab05_patterns.tools import tool_loop
from shared import resilience as shared_resilience
from shared.config import FIXTURES, get_settings
from shared.llm import Completion, Model


def prompt_cache_savings(model: Model) -> dict[str, Any]:
    """4,000-token system prompt, 200 fresh tokens, 1,000 requests: savings by arrival rate (TTL 5 min)."""
    priced = "anthropic/claude-sonnet-4"
    rows = []
    for rate in (0.0005, 0.002, 0.01, 1.0):
        plan = cost.cache_savings(priced, 4000, 200, 1000, rate_per_s=rate, ttl_s=300)
        rows.append({"requests_per_s": rate, "hit_rate": round(plan.hit_rate, 4), "savings": round(plan.savings, 4)})
    measured = cost.measure_cache(model.for_behaviour("assistant"), requests=6, prefix_tokens=2000)
    return {"inputs": {"model": priced, "prefix_tokens": 4000, "suffix_tokens": 200, "requests": 1000,
                       "ttl_s": 300},
            "answer": {"by_rate": rows,
                       "break_even_hit_rate": round(cost.cache_savings(priced, 4000, 200, 1).break_even_hit_rate, 4),
                       "mock_measured_savings": round(measured["measured_savings"], 4),
                       "mock_predicted_savings": round(measured["predicted_savings"], 4)}}


class _Transient(Exception):
    """A stand-in 503 for replaying the failure pattern through shared.resilience.retry."""

    status_code = 503


def pydantic_tool_loop_with_retry(model: Model) -> dict[str, Any]:
    """Two kinds of retry in one tool loop. Every first tool call is malformed (fail_rate_tools=1):
    Pydantic rejects it and the model retries with the error. Every model request also fails twice with
    a 503 (fail_first=2): the from-scratch `retry_call` sleeps a full-jitter delay and sends it again,
    and the production `shared.resilience.retry`, replayed on the same failures and seeds, sleeps exactly
    the same delays."""
    question = "What is the weather in Paris and the exchange rate from EUR to USD?"
    base, cap = 0.05, 0.4
    fallible = model.for_behaviour("fallible")
    # fail_first counts identical requests engine-wide, so every run needs requests of its own
    mock = {"fail_rate_tools": 1.0, "fail_first": 2, "error_status": 503, "seed": secrets.randbelow(2**31)}
    retries: list[dict[str, Any]] = []

    async def complete(messages: list[dict[str, Any]], **kwargs: Any) -> Completion:
        rng = random.Random(len(retries))  # one seeded jitter stream per model call

        def once() -> Completion:
            return fallible.complete(list(messages), **kwargs)

        outcome = await asyncio.to_thread(resilience.retry_call, once, max_attempts=4, base=base, cap=cap,
                                          rng=rng)
        retries.append({"attempts": len(outcome.attempts),
                        "slept_s": [round(a.slept_s, 4) for a in outcome.attempts if not a.ok]})
        return outcome.value

    out = asyncio.run(tool_loop(question, model=fallible, mock=mock, complete=complete))
    shared_slept = []
    for i, call in enumerate(retries):
        fails = {"left": call["attempts"] - 1}

        def replay(fails: dict[str, int] = fails) -> str:
            if fails["left"]:
                fails["left"] -= 1
                raise _Transient("503")
            return "ok"

        slept: list[float] = []
        state = random.getstate()
        random.seed(i)  # tenacity, under shared.resilience.retry, draws its jitter from the random module
        shared_resilience.retry(replay, attempts=4, base_s=base, cap_s=cap, sleep=slept.append)
        random.setstate(state)
        shared_slept.append([round(d, 4) for d in slept])
    errors = [c["result"]["error"]["message"] for s in out["steps"] for c in s["calls"] if "error" in c["result"]]
    return {"inputs": {"question": question, "fail_rate_tools": 1.0, "fail_first": 2, "base_s": base, "cap_s": cap},
            "answer": {"turns": out["turns"], "rejected_calls": errors, "final": out["answer"],
                       "attempts_per_model_call": [c["attempts"] for c in retries],
                       "from_scratch_slept_s": [c["slept_s"] for c in retries],
                       "shared_retry_slept_s": shared_slept}}


def sequential_to_async_parallel(model: Model) -> dict[str, Any]:
    """Eight questions, 100 ms of model latency each: one after another, then with asyncio.gather.
    The speed-up depends on how busy the machine is (bench/bench_lab05_parallel.py measures it); what
    does not is the shape: sequential calls never overlap, gathered ones are all in flight at once."""
    questions = [f"What is {i} * 7?" for i in range(2, 10)]
    mock = {"latency_ms": 100}

    async def both() -> tuple[orchestration.Run, orchestration.Caller, float]:
        seq = await orchestration.run_pattern("sequential", questions, model=model, mock=mock)
        caller = orchestration.Caller(model, mock)
        start = time.perf_counter()
        await asyncio.gather(*(caller(f"q{i}", q) for i, q in enumerate(questions)))
        return seq, caller, time.perf_counter() - start

    seq, parallel, parallel_s = asyncio.run(both())
    return {"inputs": {"questions": len(questions), "latency_ms": 100},
            "answer": {"sequential_s": round(seq.wall_s, 3), "parallel_s": round(parallel_s, 3),
                       "speedup": round(seq.wall_s / parallel_s, 2),
                       "sequential_max_in_flight": seq.max_in_flight,
                       "parallel_max_in_flight": orchestration.max_in_flight(parallel.calls),
                       "sequential_calls_s": [[c.start_s, c.end_s] for c in seq.calls],
                       "parallel_calls_s": [[c.start_s, c.end_s] for c in parallel.calls]}}


def circuit_breaker() -> dict[str, Any]:
    """threshold 3 in 30 s, reset 10 s: five failures, a wait, a good probe."""
    now = [0.0]
    breaker = resilience.CircuitBreaker("provider-a", threshold=3, window_s=30, reset_timeout_s=10,
                                        clock=lambda: now[0])
    trace = []

    def fail() -> None:
        raise RuntimeError("503")

    for t, fn in [(0, fail), (1, fail), (2, fail), (3, fail), (4, fail), (13, lambda: "ok"), (14, lambda: "ok")]:
        now[0] = float(t)
        try:
            breaker.call(fn)
            outcome = "ok"
        except resilience.CircuitOpen:
            outcome = "rejected (open)"
        except RuntimeError:
            outcome = "failed"
        trace.append({"t": t, "outcome": outcome, "state_after": breaker.state})
    return {"inputs": {"threshold": 3, "window_s": 30, "reset_timeout_s": 10}, "answer": {"trace": trace}}


def tokenization_and_pricing() -> dict[str, Any]:
    """One support prompt: its tokens, and a month of 1M such calls (300 output tokens) per model."""
    text = "Summarize the customer's refund request in two sentences and flag anything urgent."
    toks = cost.tokenize(text)
    monthly = {}
    for model in ("openai/gpt-4o-mini", "openai/gpt-4o", "anthropic/claude-3-5-haiku", "anthropic/claude-sonnet-4"):
        one = cost.estimate(text, model, output_tokens=300)
        monthly[model] = round(one["cost_usd"]["total"] * 1_000_000, 2)
    return {"inputs": {"text": text, "calls": 1_000_000, "output_tokens": 300},
            "answer": {"tokens": toks["tokens"], "pieces": toks["pieces"], "monthly_usd": monthly}}


def self_consistency(model: Model, k: int = 5, p: float = 0.6, n: int = 30) -> dict[str, Any]:
    """The noisy solver (right with p = 0.6): one sample vs a k = 5 majority vote over fixture questions."""
    rows = [json.loads(line) for line in (FIXTURES / "lab05" / "questions.jsonl").read_text().splitlines()][:n]

    async def run() -> tuple[int, int]:
        single = vote = 0
        for row in rows:
            out = await orchestration.run_pattern("self_consistency", [row["question"]],
                                                  model=model.for_behaviour("noisy"), mock={"p": p}, k=k)
            single += out.answer["answers"][0] == row["answer"]
            vote += out.answer["vote"] == row["answer"]
        return single, vote

    single, vote = asyncio.run(run())
    return {"inputs": {"questions": len(rows), "k": k, "p": p},
            "answer": {"single_sample_accuracy": round(single / len(rows), 3),
                       "majority_vote_accuracy": round(vote / len(rows), 3),
                       "binomial_lower_bound": round(orchestration.majority_accuracy_bound(p, k), 3)}}


EXERCISES = {
    "prompt_cache_savings": prompt_cache_savings,
    "pydantic_tool_loop_with_retry": pydantic_tool_loop_with_retry,
    "sequential_to_async_parallel": sequential_to_async_parallel,
    "circuit_breaker": circuit_breaker,
    "tokenization_and_pricing": tokenization_and_pricing,
    "self_consistency": self_consistency,
}


def run_all(model: Model) -> dict[str, Any]:
    random.seed(0)
    return {name: fn(model) if "model" in inspect.signature(fn).parameters else fn()
            for name, fn in EXERCISES.items()}


def _print(results: dict[str, Any]) -> None:
    for name, result in results.items():
        print(f"== {name.replace('_', ' ')}: {EXERCISES[name].__doc__}")
        for key, value in result["inputs"].items():
            print(f"   given {key} = {value}")
        for key, value in result["answer"].items():
            if isinstance(value, list | dict) and len(json.dumps(value)) > 90:
                print(f"   {key}:")
                for item in value.items() if isinstance(value, dict) else enumerate(value):
                    print(f"      {item[0]}: {item[1]}" if isinstance(value, dict) else f"      {item[1]!r}")
            else:
                print(f"   {key} = {value}")
        print()


def main() -> None:
    parser = argparse.ArgumentParser(description="lab-05 worked exercises")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    results = run_all(Model.from_settings(get_settings()))
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        _print(results)


if __name__ == "__main__":
    main()
