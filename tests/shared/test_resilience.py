"""shared.resilience: breaker, bulkhead, retry within a deadline, full jitter (checked against tenacity), transient errors."""

from __future__ import annotations

import asyncio
import random
import threading
import time

import pytest
import tenacity
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.resilience import (
    TRANSIENT_STATUS,
    BreakerOpen,
    Breakers,
    Bulkhead,
    BulkheadFull,
    CircuitBreaker,
    Deadline,
    aretry,
    full_jitter,
    is_transient,
    retry,
    retry_after_s,
)


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


def test_retry_only_retryable_and_within_deadline():
    retry_fn = retry
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


def test_retry_waits_at_least_what_an_open_breaker_asks():
    retry_fn = retry
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
    ours = full_jitter(attempt, base, cap, random.Random(seed))
    assert ours == pytest.approx(reference, rel=1e-9, abs=1e-12)


class _Status(Exception):
    def __init__(self, status_code: int, headers: dict | None = None):
        super().__init__(f"status {status_code}")
        self.status_code, self.headers = status_code, headers or {}


@pytest.mark.parametrize("status", sorted(TRANSIENT_STATUS))
def test_transient_statuses_are_retried(status):
    assert is_transient(_Status(status))


@pytest.mark.parametrize("status", [400, 401, 403, 404, 413, 422])
def test_client_errors_are_not_retried(status):
    assert not is_transient(_Status(status))


def test_litellm_exceptions_are_classified_by_what_they_mean():
    import litellm

    assert is_transient(litellm.RateLimitError("slow down", "openai", "m"))
    assert is_transient(litellm.Timeout("took too long", "m", "openai"))
    assert is_transient(litellm.APIConnectionError("reset", "openai", "m"))
    assert is_transient(litellm.ServiceUnavailableError("down", "openai", "m"))
    assert not is_transient(litellm.BadRequestError("context too long", "m", "openai"))
    assert not is_transient(litellm.AuthenticationError("bad key", "openai", "m"))
    assert is_transient(TimeoutError()) and is_transient(ConnectionResetError())
    assert not is_transient(ValueError("a bug is not transient"))
    assert is_transient(BreakerOpen("m", 1.0))


def test_retry_after_is_read_from_headers_and_breakers():
    assert retry_after_s(_Status(429, {"retry-after": "2.5"})) == 2.5
    assert retry_after_s(_Status(429, {"retry-after": "soon"})) is None
    assert retry_after_s(BreakerOpen("m", 0.75)) == 0.75
    assert retry_after_s(ValueError()) is None


def test_default_retry_retries_transient_only():
    seen: list[int] = []

    def fail(status):
        seen.append(status)
        raise _Status(status)

    with pytest.raises(_Status):
        retry(lambda: fail(503), attempts=3, base_s=0.0, sleep=lambda s: None)
    assert seen == [503, 503, 503]
    seen.clear()
    with pytest.raises(_Status):
        retry(lambda: fail(400), attempts=3, base_s=0.0, sleep=lambda s: None)
    assert seen == [400]


def test_aretry_is_the_same_policy_awaited():
    calls = []

    async def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise _Status(502)
        return "ok"

    assert asyncio.run(aretry(flaky, attempts=4, base_s=0.001)) == "ok" and len(calls) == 3


def test_breakers_make_one_breaker_and_bulkhead_per_name():
    reg = Breakers(threshold=2, cooldown_s=1.0, bulkhead=3)
    assert reg.breaker("tool:a") is reg.breaker("tool:a") and reg.breaker("tool:b") is not reg.breaker("tool:a")
    assert reg.bulkhead("a").limit == 3
    assert [b["name"] for b in reg.snapshot()] == ["tool:a", "tool:b"]


def test_breaker_call_can_ignore_errors_that_say_nothing_about_health():
    b = CircuitBreaker("m", threshold=1)
    with pytest.raises(_Status):
        b.call(lambda: (_ for _ in ()).throw(_Status(400)), counts=is_transient)
    assert b.state == "closed", "a 400 is the caller's fault, not the dependency's"
