"""Breaker, bulkhead, retry and backoff; backoff and pass^k checked against references on random inputs."""

from __future__ import annotations

import itertools
import random
import threading
import time

import pytest
import tenacity
from hypothesis import given, settings
from hypothesis import strategies as st

from labs.lab07_agents.resilience import (
    BreakerOpen,
    Bulkhead,
    BulkheadFull,
    CircuitBreaker,
    Deadline,
    backoff_s,
    retry,
    retry_by_hand,
)
from labs.lab07_agents.suite import pass_hat_k


class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def _fail():
    raise RuntimeError("down")


def test_breaker_opens_fails_fast_half_opens_and_recovers():
    clock = Clock()
    b = CircuitBreaker("tool:pay", threshold=3, cooldown_s=10, clock=clock)
    for _ in range(3):
        with pytest.raises(RuntimeError):
            b.call(_fail)
    assert b.state == "open"
    with pytest.raises(BreakerOpen):
        b.call(lambda: "never runs")
    clock.t = 10.5
    assert b.call(lambda: "probe ok") == "probe ok"
    assert b.state == "closed"
    assert b.transitions == [("closed", "open"), ("open", "half_open"), ("half_open", "closed")]


def test_half_open_failure_reopens_and_allows_one_probe_at_a_time():
    clock = Clock()
    b = CircuitBreaker("m", threshold=1, cooldown_s=1, clock=clock)
    with pytest.raises(RuntimeError):
        b.call(_fail)
    clock.t = 2
    b.before()  # the probe is out
    with pytest.raises(BreakerOpen):
        b.before()  # a second caller must not pile on
    b.failure()
    assert b.state == "open" and b.snapshot()["opened"] == 2


def test_success_resets_the_consecutive_count():
    b = CircuitBreaker("m", threshold=2)
    with pytest.raises(RuntimeError):
        b.call(_fail)
    b.call(lambda: None)
    with pytest.raises(RuntimeError):
        b.call(_fail)
    assert b.state == "closed"


def test_bulkhead_limits_concurrency():
    bulkhead, release = Bulkhead("search", limit=2), threading.Event()
    threads = [threading.Thread(target=bulkhead.run, args=(release.wait, 1)) for _ in range(2)]
    for t in threads:
        t.start()
    with pytest.raises(BulkheadFull):
        bulkhead.run(lambda: None, wait_s=0.05)
    release.set()
    for t in threads:
        t.join()
    assert bulkhead.run(lambda: "free again", wait_s=0.05) == "free again"


@pytest.mark.parametrize("retry_fn", [retry, retry_by_hand], ids=["tenacity", "by_hand"])
def test_retry_only_retryable_and_within_deadline(retry_fn):
    calls, retried = [], []

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise TimeoutError("transient")
        return "ok"

    assert retry_fn(flaky, retryable=lambda e: True, deadline=Deadline(5), attempts=4, base_s=0.001,
                    on_retry=lambda n, e: retried.append(n)) == "ok"
    assert retried == [1, 2], "on_retry hears about each retry, numbered"
    calls.clear()
    with pytest.raises(TimeoutError):
        retry_fn(flaky, retryable=lambda e: False, deadline=Deadline(5), attempts=4, base_s=0.001)
    assert len(calls) == 1
    calls.clear()
    with pytest.raises(TimeoutError):
        retry_fn(flaky, retryable=lambda e: True, deadline=Deadline(0.0), attempts=4, base_s=0.001)
    assert len(calls) == 1, "no retry sleeps past the deadline"
    calls.clear()
    with pytest.raises(TimeoutError):
        retry_fn(lambda: calls.append(1) or _fail_timeout(), retryable=lambda e: True, deadline=Deadline(5),
                 attempts=3, base_s=0.001)
    assert len(calls) == 3, "attempts caps the calls"


def _fail_timeout():
    raise TimeoutError("still down")


@pytest.mark.parametrize("retry_fn", [retry, retry_by_hand], ids=["tenacity", "by_hand"])
def test_retry_waits_at_least_what_an_open_breaker_asks(retry_fn):
    clock = Clock()
    b = CircuitBreaker("tool:x", threshold=1, cooldown_s=0.15)
    with pytest.raises(RuntimeError):
        b.call(_fail)
    start = time.monotonic()
    assert retry_fn(lambda: b.call(lambda: "probe ok"), retryable=lambda e: isinstance(e, BreakerOpen),
                    deadline=Deadline(5), attempts=3, base_s=0.001) == "probe ok"
    assert time.monotonic() - start >= 0.1 and b.state == "closed"
    with pytest.raises(BreakerOpen):  # the breaker's wait does not fit in the deadline: fail now, not late
        b2 = CircuitBreaker("tool:y", threshold=1, cooldown_s=10, clock=clock)
        with pytest.raises(RuntimeError):
            b2.call(_fail)
        retry_fn(lambda: b2.call(lambda: "never"), retryable=lambda e: True, deadline=Deadline(1), attempts=3)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), attempt=st.integers(0, 12), base=st.floats(0.001, 2), cap=st.floats(0.01, 30))
def test_full_jitter_matches_tenacity(seed, attempt, base, cap):
    """tenacity's wait_random_exponential is full jitter too: U(0, min(max, multiplier * 2^(n-1)))."""
    wait = tenacity.wait_random_exponential(multiplier=base, max=cap)
    state = tenacity.RetryCallState(tenacity.Retrying(), fn=None, args=(), kwargs={})
    state.attempt_number = attempt + 1
    random.seed(seed)
    reference = wait(state)
    ours = backoff_s(attempt, base, cap, random.Random(seed))
    assert ours == pytest.approx(reference, rel=1e-9, abs=1e-12)


@settings(max_examples=60, deadline=None)
@given(outcomes=st.lists(st.booleans(), min_size=1, max_size=9), data=st.data())
def test_pass_hat_k_equals_the_mean_over_all_k_subsets(outcomes, data):
    k = data.draw(st.integers(1, len(outcomes)))
    subsets = list(itertools.combinations(outcomes, k))
    brute = sum(all(s) for s in subsets) / len(subsets)
    assert pass_hat_k(len(outcomes), sum(outcomes), k) == pytest.approx(brute)


def test_pass_hat_k_rejects_impossible_counts():
    with pytest.raises(ValueError):
        pass_hat_k(3, 4, 1)
