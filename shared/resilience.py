"""The production resilience toolkit every lab uses: transient errors, full-jitter retries, breakers, deadlines.

    python -c "from shared.resilience import full_jitter; import random; print(full_jitter(3, 0.5, 8, random.Random(0)))"

One definition of each, so "which errors are worth retrying" means the same thing in the agent
runtime, the eval runner, the gateway and the MVP service. lab-05 keeps the chapter's from-scratch
versions (`labs/lab05_patterns/resilience.py`) and its tests check they behave exactly like these.

- `is_transient(exc)`: rate limits (429), timeouts (408), conflicts a retry resolves (409), server
  errors (500, 502, 503, 504) and Anthropic's overloaded (529); dropped connections and timeouts
  that carry no status. A 400 (context too long, bad schema), 401, 403 or 404 is never retried: the
  same request fails the same way.
- `full_jitter(n)`: the delay before retry n is U(0, min(cap, base * 2^n)); a server's retry-after
  is a floor. `retry`/`aretry` run that policy on tenacity, never past a `Deadline`.
- `CircuitBreaker`: closed -> open after `threshold` consecutive failures; open fails fast for
  `cooldown_s`; half-open lets one probe through: success closes, failure re-opens.
- `Deadline`: one absolute end per request or run; every call gets `remaining()` as its timeout.
- `Bulkhead`: at most `limit` concurrent calls per dependency.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import tenacity

T = TypeVar("T")

TRANSIENT_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504, 529})
_TRANSIENT_NAMES = frozenset({"APIConnectionError", "APITimeoutError", "Timeout", "TimeoutError",
                              "ConnectionError", "ConnectError", "ReadTimeout", "ConnectTimeout",
                              "RemoteProtocolError", "ServiceUnavailableError", "InternalServerError",
                              "RateLimitError"})


def status_of(exc: BaseException) -> int | None:
    """The HTTP status an exception carries (LiteLLM/OpenAI `status_code`, httpx `response.status_code`)."""
    for value in (getattr(exc, "status_code", None), getattr(exc, "status", None),
                  getattr(getattr(exc, "response", None), "status_code", None)):
        try:
            if value is not None:
                return int(value)
        except (TypeError, ValueError):
            continue
    return None


def is_transient(exc: BaseException) -> bool:
    """True when the same request may succeed if sent again later."""
    if isinstance(exc, BreakerOpen):
        return True
    status = status_of(exc)
    if status is not None:
        return status in TRANSIENT_STATUS
    if isinstance(exc, TimeoutError | ConnectionError):
        return True
    return any(cls.__name__ in _TRANSIENT_NAMES for cls in type(exc).__mro__)


def retry_after_s(exc: BaseException | None) -> float | None:
    """The wait a server or an open breaker asked for, in seconds (retry-after header, or retry_in_s)."""
    if exc is None:
        return None
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
    """U(0, min(cap, base * 2^n)): the delay before retry n (n = 0 for the first retry)."""
    return rng.uniform(0, min(cap, base * 2 ** n))


class Deadline:
    """One absolute end time; `remaining()` is the timeout to give the next call."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic):
        self.clock = clock
        self.end = clock() + seconds

    def remaining(self) -> float:
        return max(0.0, self.end - self.clock())

    @property
    def expired(self) -> bool:
        return self.remaining() <= 0


class BreakerOpen(Exception):
    """Raised instead of calling a dependency whose breaker is open."""

    def __init__(self, name: str, retry_in_s: float):
        super().__init__(f"circuit {name} is open; retry in {retry_in_s:.2f}s")
        self.name, self.retry_in_s = name, retry_in_s


@dataclass
class CircuitBreaker:
    name: str
    threshold: int = 5
    cooldown_s: float = 5.0
    clock: Callable[[], float] = time.monotonic
    state: str = "closed"
    failures: int = 0
    opened_at: float = 0.0
    transitions: list[tuple[str, str]] = field(default_factory=list)
    _probe: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def _move(self, to: str) -> None:
        if to != self.state:
            self.transitions.append((self.state, to))
            self.state = to

    def before(self) -> None:
        """Admit a call or raise BreakerOpen; in half-open only one probe is admitted at a time."""
        with self._lock:
            if self.state == "open":
                waited = self.clock() - self.opened_at
                if waited < self.cooldown_s:
                    raise BreakerOpen(self.name, self.cooldown_s - waited)
                self._move("half_open")
            if self.state == "half_open":
                if self._probe:
                    raise BreakerOpen(self.name, self.cooldown_s)
                self._probe = True

    def success(self) -> None:
        with self._lock:
            self.failures, self._probe = 0, False
            self._move("closed")

    def failure(self) -> None:
        with self._lock:
            self._probe = False
            self.failures += 1
            if self.state == "half_open" or self.failures >= self.threshold:
                self.opened_at = self.clock()
                self._move("open")

    def call(self, fn: Callable[[], T], counts: Callable[[BaseException], bool] = lambda exc: True) -> T:
        """Run fn through the breaker; an error for which `counts` is False does not trip it."""
        self.before()
        try:
            value = fn()
        except Exception as exc:
            if counts(exc):
                self.failure()
            else:
                self.success()
            raise
        self.success()
        return value

    def snapshot(self) -> dict[str, Any]:
        return {"name": self.name, "state": self.state, "failures": self.failures, "threshold": self.threshold,
                "cooldown_s": self.cooldown_s, "opened": sum(1 for _, to in self.transitions if to == "open"),
                "closed_again": sum(1 for a, to in self.transitions if to == "closed" and a == "half_open")}


class BulkheadFull(Exception):
    """Every slot of a bulkhead stayed busy for the whole wait."""


class Bulkhead:
    """At most `limit` concurrent calls, so one slow dependency cannot take every worker."""

    def __init__(self, name: str, limit: int = 4):
        self.name, self.limit = name, limit
        self._slots = threading.BoundedSemaphore(limit)

    def run(self, fn: Callable[[], T], wait_s: float) -> T:
        if not self._slots.acquire(timeout=max(0.0, wait_s)):
            raise BulkheadFull(f"bulkhead {self.name} is full ({self.limit} in flight)")
        try:
            return fn()
        finally:
            self._slots.release()


class Breakers:
    """One breaker (and bulkhead) per dependency name, made on first use with the same settings."""

    def __init__(self, threshold: int = 5, cooldown_s: float = 5.0, bulkhead: int = 4,
                 clock: Callable[[], float] = time.monotonic):
        self.threshold, self.cooldown_s, self.bulkhead_limit, self.clock = threshold, cooldown_s, bulkhead, clock
        self.breakers: dict[str, CircuitBreaker] = {}
        self.bulkheads: dict[str, Bulkhead] = {}
        self._lock = threading.Lock()

    def breaker(self, name: str) -> CircuitBreaker:
        with self._lock:
            if name not in self.breakers:
                self.breakers[name] = CircuitBreaker(name, self.threshold, self.cooldown_s, self.clock)
            return self.breakers[name]

    def bulkhead(self, name: str) -> Bulkhead:
        with self._lock:
            return self.bulkheads.setdefault(name, Bulkhead(name, self.bulkhead_limit))

    def snapshot(self) -> list[dict[str, Any]]:
        return [b.snapshot() for b in sorted(self.breakers.values(), key=lambda b: b.name)]


def _policy(attempts: int, base_s: float, cap_s: float, deadline: Deadline | None,
            retryable: Callable[[BaseException], bool], max_retry_after_s: float,
            on_retry: Callable[[int, BaseException], None] | None) -> dict[str, Any]:
    jitter = tenacity.wait_random_exponential(multiplier=base_s, max=cap_s)  # U(0, min(cap, base * 2^n))

    def wait(rs: tenacity.RetryCallState) -> float:
        told = retry_after_s(rs.outcome.exception() if rs.outcome else None)
        delay = jitter(rs)
        return max(delay, min(told, max_retry_after_s)) if told is not None else delay

    stop = tenacity.stop_after_attempt(attempts)
    if deadline is not None:
        # tenacity computes the wait before asking stop, so this refuses a sleep that would end past
        # the deadline rather than sleeping into it.
        stop = stop | tenacity.stop_before_delay(deadline.remaining())
    return {"stop": stop, "wait": wait, "retry": tenacity.retry_if_exception(retryable), "reraise": True,
            "before_sleep": (lambda rs: on_retry(rs.attempt_number, rs.outcome.exception())) if on_retry else None}


def retry(fn: Callable[[], T], *, attempts: int = 3, base_s: float = 0.5, cap_s: float = 8.0,
          deadline: Deadline | None = None, retryable: Callable[[BaseException], bool] = is_transient,
          max_retry_after_s: float = 30.0, on_retry: Callable[[int, BaseException], None] | None = None,
          sleep: Callable[[float], None] = time.sleep) -> T:
    """Call fn; on a transient error wait full jitter (retry-after as a floor) and try again."""
    try:  # the first try on its own: most calls succeed, and tenacity's set-up costs ~30 us a call
        return fn()
    except Exception as exc:
        if attempts <= 1 or not retryable(exc):
            raise
        first = exc
    policy = _policy(attempts, base_s, cap_s, deadline, retryable, max_retry_after_s, on_retry)
    replay = [first]

    def again() -> T:  # tenacity's attempt 1 is the failure already seen, so waits and counts are unchanged
        if replay:
            raise replay.pop()
        return fn()

    return tenacity.Retrying(sleep=sleep, **policy)(again)


async def aretry(fn: Callable[[], Awaitable[T]], *, attempts: int = 3, base_s: float = 0.5, cap_s: float = 8.0,
                 deadline: Deadline | None = None, retryable: Callable[[BaseException], bool] = is_transient,
                 max_retry_after_s: float = 30.0,
                 on_retry: Callable[[int, BaseException], None] | None = None) -> T:
    """The async twin of `retry` (the eval runner and the gateway await their calls)."""
    try:  # as in `retry`: tenacity only once a first try has failed with a retryable error
        return await fn()
    except Exception as exc:
        if attempts <= 1 or not retryable(exc):
            raise
        first = exc
    policy = _policy(attempts, base_s, cap_s, deadline, retryable, max_retry_after_s, on_retry)
    replay = [first]
    async for attempt in tenacity.AsyncRetrying(**policy):
        with attempt:
            if replay:
                raise replay.pop()
            return await fn()
    raise AssertionError("unreachable")  # pragma: no cover
