"""Resilience from scratch: retries with exponential backoff and full jitter, retry-after, a circuit breaker.

    python -m labs.lab05_patterns.exercises     # the circuit-breaker trace and the retry delays, side by side

Full jitter (the delay before retry n, n = 0, 1, ...):

    delay_n = U(0, min(cap, base * 2^n))          and, when the server sends retry-after r:
    delay_n = max(delay_n, min(r, max_retry_after))

Randomising over the whole interval spreads a thundering herd of clients evenly; honouring
retry-after stops a client from hammering a provider that has told it when to come back.

These are the chapter's teaching versions, written out so every step is visible. The service
(`gateway.py`) and `mvp.py` use the production ones in `shared/resilience.py` (on tenacity), and
tests/lab05/test_resilience.py checks the two agree on the same inputs: the same transient /
permanent verdict for every error (LiteLLM's exception classes included), the same delays from the
same random stream, the same breaker states for random success/failure sequences.

A circuit breaker per provider stops calling a provider that keeps failing:

    closed --(threshold failures in a row, within window_s)--> open --(reset_timeout_s)--> half_open
    half_open --(the one probe succeeds)--> closed        half_open --(the probe fails)--> open
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

# 408 timeout, 409 a conflict a retry resolves, 429 rate limit, 5xx, and Anthropic's 529 overloaded.
# A 400 (context too long, bad schema), 401, 403 or 404 fails the same way every time: never retried.
RETRYABLE_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504, 529})
# errors that carry no status: the connection dropped or timed out (LiteLLM, OpenAI SDK and httpx names)
RETRYABLE_NAMES = frozenset({"APIConnectionError", "APITimeoutError", "Timeout", "TimeoutError", "ConnectionError",
                             "ConnectError", "ReadTimeout", "ConnectTimeout", "RemoteProtocolError",
                             "ServiceUnavailableError", "InternalServerError", "RateLimitError"})


def status_of(exc: BaseException) -> int | None:
    """The HTTP status an error carries: `status_code` (LiteLLM, OpenAI), `status`, or its response's."""
    for value in (getattr(exc, "status_code", None), getattr(exc, "status", None),
                  getattr(getattr(exc, "response", None), "status_code", None)):
        try:
            if value is not None:
                return int(value)
        except (TypeError, ValueError):
            continue
    return None


def is_retryable(exc: BaseException) -> bool:
    """Transient: rate limits, timeouts, 5xx, dropped connections, an open breaker. A 400 is not."""
    if getattr(exc, "retry_in_s", None) is not None:  # an open breaker: it lets a probe through soon
        return True
    status = status_of(exc)
    if status is not None:
        return status in RETRYABLE_STATUS
    if isinstance(exc, TimeoutError | ConnectionError):
        return True
    return any(cls.__name__ in RETRYABLE_NAMES for cls in type(exc).__mro__)


def retry_after_s(exc: BaseException) -> float | None:
    """How long the server (retry-after header) or an open breaker (retry_in_s) asked us to wait."""
    told = getattr(exc, "retry_in_s", None)
    if isinstance(told, int | float):
        return float(told)
    headers = getattr(exc, "litellm_response_headers", None) or getattr(exc, "headers", None)
    response = getattr(exc, "response", None)
    if not headers and response is not None:
        headers = getattr(response, "headers", None)
    if not headers:
        return None
    try:
        value = headers.get("retry-after") or headers.get("Retry-After")
        return float(value) if value is not None else None
    except (AttributeError, TypeError, ValueError):
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


class CircuitOpen(Exception):
    """Raised instead of calling a provider whose breaker is open."""

    status_code = 503  # to any classifier an open circuit is what it means: unavailable for now, transient

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
