"""Resilience: retries with exponential backoff and full jitter, retry-after, circuit breakers, fallbacks.

    curl -s localhost:8005/resilient -H 'content-type: application/json' \
      -d '{"prompt": "What is 2 + 2?", "primary_faults": {"error_status": 503}}'

Full jitter (the delay before retry n, n = 0, 1, ...):

    delay_n = U(0, min(cap, base * 2^n))          and, when the server sends retry-after r:
    delay_n = max(delay_n, r)

Randomising over the whole interval spreads a thundering herd of clients evenly; honouring
retry-after stops a client from hammering a provider that has told it when to come back.

`retry_call` is the chapter's from-scratch loop; `tenacity_retrying` builds the same policy with
tenacity (what the service uses). The test feeds both the same random stream and checks they sleep
the same delays. A circuit breaker per provider stops calling a provider that keeps failing:

    closed --(failures >= threshold within window)--> open --(reset_timeout elapsed)--> half_open
    half_open --(probe succeeds)--> closed        half_open --(probe fails)--> open
"""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")

RETRYABLE_STATUS = {408, 409, 429, 500, 502, 503, 504}


def status_of(exc: BaseException) -> int | None:
    return getattr(exc, "status_code", None) or getattr(exc, "status", None)


def is_retryable(exc: BaseException) -> bool:
    """Transient: rate limits, timeouts, 5xx, dropped connections. A 400 (e.g. context too long) is not."""
    status = status_of(exc)
    if status is None:
        name = type(exc).__name__
        return name in {"APIConnectionError", "Timeout", "APITimeoutError", "TimeoutError", "ConnectionError"}
    return int(status) in RETRYABLE_STATUS


def retry_after_s(exc: BaseException) -> float | None:
    """The server's retry-after (seconds), from the exception's response headers."""
    headers = getattr(exc, "litellm_response_headers", None) or getattr(exc, "headers", None)
    response = getattr(exc, "response", None)
    if not headers and response is not None:
        headers = getattr(response, "headers", None)
    if not headers:
        return None
    try:
        value = headers.get("retry-after") or headers.get("Retry-After")
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def full_jitter(n: int, base: float, cap: float, rng: random.Random | Any = random) -> float:
    return rng.uniform(0, min(cap, base * 2 ** n))


@dataclass
class Attempt:
    number: int
    ok: bool
    error: str | None = None
    slept_s: float = 0.0


@dataclass
class RetryOutcome:
    value: Any
    attempts: list[Attempt] = field(default_factory=list)


def retry_call(fn: Callable[[], T], *, max_attempts: int = 4, base: float = 0.5, cap: float = 8.0,
               rng: random.Random | Any = random, sleep: Callable[[float], None] = time.sleep,
               max_retry_after: float = 30.0) -> RetryOutcome:
    """The from-scratch loop: call, and on a retryable error sleep full-jitter (or retry-after) and retry."""
    attempts: list[Attempt] = []
    for n in range(max_attempts):
        try:
            value = fn()
        except Exception as exc:
            attempts.append(Attempt(n + 1, False, f"{type(exc).__name__}: {str(exc)[:160]}"))
            if not is_retryable(exc) or n + 1 == max_attempts:
                exc.attempts = attempts  # type: ignore[attr-defined]
                raise
            delay = full_jitter(n, base, cap, rng)
            told = retry_after_s(exc)
            if told is not None:
                delay = max(delay, min(told, max_retry_after))
            attempts[-1].slept_s = delay
            sleep(delay)
            continue
        attempts.append(Attempt(n + 1, True))
        return RetryOutcome(value, attempts)
    raise AssertionError("unreachable")  # pragma: no cover


def tenacity_retrying(*, max_attempts: int = 4, base: float = 0.5, cap: float = 8.0,
                      sleep: Callable[[float], None] = time.sleep, max_retry_after: float = 30.0):
    """The same policy with tenacity: stop after N, full jitter, retry-after as a floor, only transient errors."""
    import tenacity

    jitter = tenacity.wait_random_exponential(multiplier=base, max=cap)

    def wait(state: tenacity.RetryCallState) -> float:
        delay = jitter(state)
        exc = state.outcome.exception() if state.outcome else None
        told = retry_after_s(exc) if exc is not None else None
        return max(delay, min(told, max_retry_after)) if told is not None else delay

    return tenacity.Retrying(stop=tenacity.stop_after_attempt(max_attempts), wait=wait,
                             retry=tenacity.retry_if_exception(is_retryable), sleep=sleep, reraise=True)


class CircuitOpen(Exception):
    """Raised instead of calling a provider whose breaker is open."""

    def __init__(self, name: str, retry_in_s: float):
        super().__init__(f"circuit for {name!r} is open; next probe in {retry_in_s:.1f}s")
        self.name, self.retry_in_s = name, retry_in_s


class CircuitBreaker:
    """Count failures in a sliding window; open at `threshold`; after `reset_timeout` let one probe through."""

    def __init__(self, name: str, threshold: int = 5, window_s: float = 30.0, reset_timeout_s: float = 15.0,
                 clock: Callable[[], float] = time.monotonic):
        self.name, self.threshold, self.window_s, self.reset_timeout_s = name, threshold, window_s, reset_timeout_s
        self.clock = clock
        self.failures: deque[float] = deque()
        self.state = "closed"
        self.opened_at = 0.0
        self.probing = False
        self.calls = self.rejected = 0
        self._lock = threading.Lock()

    def allow(self) -> bool:
        with self._lock:
            now = self.clock()
            if self.state == "open" and now - self.opened_at >= self.reset_timeout_s:
                self.state, self.probing = "half_open", False
            if self.state == "closed":
                return True
            if self.state == "half_open" and not self.probing:
                self.probing = True  # exactly one probe; everyone else still fails fast
                return True
            self.rejected += 1
            return False

    def record_success(self) -> None:
        with self._lock:
            self.calls += 1
            self.failures.clear()
            self.state, self.probing = "closed", False

    def record_failure(self) -> None:
        with self._lock:
            self.calls += 1
            now = self.clock()
            self.failures.append(now)
            while self.failures and now - self.failures[0] > self.window_s:
                self.failures.popleft()
            if self.state == "half_open" or len(self.failures) >= self.threshold:
                self.state, self.opened_at, self.probing = "open", now, False

    def call(self, fn: Callable[[], T]) -> T:
        if not self.allow():
            raise CircuitOpen(self.name, max(0.0, self.reset_timeout_s - (self.clock() - self.opened_at)))
        try:
            value = fn()
        except Exception:
            self.record_failure()
            raise
        self.record_success()
        return value

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {"name": self.name, "state": self.state, "recent_failures": len(self.failures),
                    "threshold": self.threshold, "calls": self.calls, "rejected": self.rejected}


class Breakers:
    """One breaker per provider (model id), created on first use."""

    def __init__(self, **defaults: Any):
        self.defaults = defaults
        self._by_name: dict[str, CircuitBreaker] = {}
        self._lock = threading.Lock()

    def get(self, name: str) -> CircuitBreaker:
        with self._lock:
            if name not in self._by_name:
                self._by_name[name] = CircuitBreaker(name, **self.defaults)
            return self._by_name[name]

    def snapshot(self) -> list[dict[str, Any]]:
        with self._lock:
            names = sorted(self._by_name)
        return [self._by_name[n].snapshot() for n in names]


@dataclass
class Hop:
    model: str
    outcome: str  # ok | failed | circuit_open
    attempts: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None


def call_with_fallback(call: Callable[[str], T], models: list[str], breakers: Breakers, *,
                       max_attempts: int = 3, base: float = 0.05, cap: float = 1.0, max_retry_after: float = 5.0,
                       sleep: Callable[[float], None] = time.sleep) -> tuple[T | None, list[Hop]]:
    """Try each model in order: retries (tenacity) inside a breaker; an open breaker is skipped at once."""
    hops: list[Hop] = []
    for model in models:
        breaker = breakers.get(model)
        if not breaker.allow():
            hops.append(Hop(model, "circuit_open"))
            continue
        attempts: list[dict[str, Any]] = []

        def once(model: str = model, attempts: list[dict[str, Any]] = attempts) -> T:
            try:
                value = call(model)
            except Exception as exc:
                attempts.append({"ok": False, "error": f"{type(exc).__name__}: {str(exc)[:120]}",
                                 "retry_after_s": retry_after_s(exc)})
                raise
            attempts.append({"ok": True})
            return value

        try:
            value = tenacity_retrying(max_attempts=max_attempts, base=base, cap=cap, sleep=sleep,
                                      max_retry_after=max_retry_after)(once)
        except Exception as exc:
            breaker.record_failure()
            hops.append(Hop(model, "failed", attempts, f"{type(exc).__name__}: {str(exc)[:160]}"))
            continue
        breaker.record_success()
        hops.append(Hop(model, "ok", attempts))
        return value, hops
    return None, hops
