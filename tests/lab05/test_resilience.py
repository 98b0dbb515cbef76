"""Backoff with full jitter (from scratch == tenacity), retry-after, circuit breakers, fallback."""

from __future__ import annotations

import random

import pytest

from labs.lab05_patterns import resilience
from labs.lab05_patterns.resilience import (
    Breakers,
    CircuitBreaker,
    CircuitOpen,
    call_with_fallback,
    retry_call,
    tenacity_retrying,
)
from shared import llm


class Flaky(Exception):
    def __init__(self, status: int = 503, retry_after: str | None = None):
        super().__init__(f"status {status}")
        self.status_code = status
        self.litellm_response_headers = {"retry-after": retry_after} if retry_after else {}


def failing(times: int, status: int = 503, retry_after: str | None = None):
    calls = {"n": 0}

    def fn():
        calls["n"] += 1
        if calls["n"] <= times:
            raise Flaky(status, retry_after)
        return "ok"

    return fn, calls


@pytest.mark.parametrize("seed", range(10))
def test_from_scratch_and_tenacity_sleep_the_same_delays(seed):
    rng = random.Random(seed)
    base, cap, attempts = rng.uniform(0.05, 1), rng.uniform(0.5, 5), rng.randint(2, 7)
    fails = rng.randint(0, attempts)
    ours: list[float] = []
    theirs: list[float] = []
    fn, _ = failing(fails)
    state = random.getstate()
    random.seed(seed)
    try:
        retry_call(fn, max_attempts=attempts, base=base, cap=cap, rng=random, sleep=ours.append)
    except Flaky:
        pass
    fn, _ = failing(fails)
    random.seed(seed)  # tenacity's wait_random_exponential draws from the random module
    try:
        tenacity_retrying(max_attempts=attempts, base=base, cap=cap, sleep=theirs.append)(fn)
    except Flaky:
        pass
    random.setstate(state)
    assert ours == pytest.approx(theirs)
    assert len(ours) == min(fails, attempts - 1)


def test_full_jitter_stays_inside_the_exponential_envelope():
    rng = random.Random(1)
    for n in range(8):
        draws = [resilience.full_jitter(n, 0.5, 8.0, rng) for _ in range(2000)]
        assert 0 <= min(draws) and max(draws) <= min(8.0, 0.5 * 2 ** n)
        assert sum(draws) / len(draws) == pytest.approx(min(8.0, 0.5 * 2 ** n) / 2, rel=0.08)


def test_retry_after_is_a_floor_for_both_implementations():
    slept: list[float] = []
    fn, calls = failing(2, 429, retry_after="2")
    assert retry_call(fn, base=0.01, cap=0.02, sleep=slept.append).value == "ok"
    assert slept == [2.0, 2.0] and calls["n"] == 3
    slept.clear()
    fn, _ = failing(2, 429, retry_after="2")
    assert tenacity_retrying(base=0.01, cap=0.02, sleep=slept.append)(fn) == "ok"
    assert slept == [2.0, 2.0]


def test_non_retryable_errors_fail_at_once():
    slept: list[float] = []
    fn, calls = failing(5, 400)
    with pytest.raises(Flaky):
        retry_call(fn, sleep=slept.append)
    with pytest.raises(Flaky):
        tenacity_retrying(sleep=slept.append)(fn)
    assert calls["n"] == 2 and slept == []


def test_retry_after_is_read_from_a_real_mock_429():
    with pytest.raises(Exception) as info:
        llm.complete("hi", mock={"error_status": 429, "retry_after": 3})
    assert resilience.retry_after_s(info.value) == 3.0 and resilience.is_retryable(info.value)


def test_breaker_opens_half_opens_and_closes():
    now = [0.0]
    b = CircuitBreaker("p", threshold=3, window_s=10, reset_timeout_s=5, clock=lambda: now[0])
    fn, _ = failing(100)
    for t in range(3):
        now[0] = t
        with pytest.raises(Flaky):
            b.call(fn)
    assert b.state == "open"
    with pytest.raises(CircuitOpen):
        b.call(fn)
    now[0] = 8.0
    assert b.allow() and b.state == "half_open"
    assert not b.allow(), "only one probe while half open"
    b.record_failure()
    assert b.state == "open"
    now[0] = 14.0
    assert b.call(lambda: "ok") == "ok" and b.state == "closed"


def test_failures_outside_the_window_do_not_count():
    now = [0.0]
    b = CircuitBreaker("p", threshold=3, window_s=10, reset_timeout_s=5, clock=lambda: now[0])
    for t in (0, 11, 22, 33):
        now[0] = t
        b.record_failure()
    assert b.state == "closed"


def test_fallback_serves_when_the_primary_keeps_failing_and_the_breaker_then_skips_it():
    breakers = Breakers(threshold=2, window_s=60, reset_timeout_s=60)

    def call(model: str) -> str:
        if model == "primary":
            raise Flaky(503)
        return f"answer from {model}"

    slept: list[float] = []
    for _ in range(2):
        value, hops = call_with_fallback(call, ["primary", "secondary"], breakers, max_attempts=3,
                                         sleep=slept.append)
        assert value == "answer from secondary" and hops[0].outcome == "failed" and len(hops[0].attempts) == 3
    value, hops = call_with_fallback(call, ["primary", "secondary"], breakers, sleep=slept.append)
    assert hops[0].outcome == "circuit_open" and hops[0].attempts == [] and value == "answer from secondary"


def test_fallback_against_mock_faults():
    breakers = Breakers(threshold=5)

    def call(model: str):
        mock = {"error_status": 503} if model == "mock/assistant" else None
        return llm.complete("What is 2 + 2?", model=model, mock=mock)

    value, hops = call_with_fallback(call, ["mock/assistant", "mock/fallible"], breakers, base=0.001, cap=0.002)
    assert value.text == "4" and [h.model for h in hops] == ["mock/assistant", "mock/fallible"]
    assert all("ServiceUnavailable" in a["error"] for a in hops[0].attempts)


def test_fallback_path_waits_at_least_the_mock_retry_after():
    breakers = Breakers(threshold=5)
    slept: list[float] = []

    def call(model: str):
        mock = {"error_status": 429, "retry_after": 2} if model == "mock/assistant" else None
        return llm.complete("What is 2 + 2?", model=model, mock=mock)

    value, hops = call_with_fallback(call, ["mock/assistant", "mock/fallible"], breakers, max_attempts=3,
                                     base=0.001, cap=0.002, sleep=slept.append)
    assert value.text == "4" and slept == [2.0, 2.0]
    assert [a["retry_after_s"] for a in hops[0].attempts] == [2.0, 2.0, 2.0]
