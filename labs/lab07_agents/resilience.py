"""Distributed-systems defenses, applied to an agent's model and tool calls.

    curl -s localhost:8007/breakers          # every breaker's state; python -m labs.lab07_agents.exercises

- Deadline: one absolute end time per run; every call gets `remaining()` as its timeout, so a slow
  step cannot spend time the run does not have (cascading timeouts).
- Retry with full jitter: attempt n sleeps U(0, min(cap, base * 2^n)); only calls that are safe to
  repeat (read-only, or carrying an idempotency key), only for retryable errors, never past the deadline.
  `retry_by_hand` is the loop written out; `retry`, which the runtime uses, is the same policy on
  tenacity (the tests run both through the same cases, and check the jitter against tenacity's).
- Circuit breaker: closed -> open after `threshold` consecutive failures; open fails fast for
  `cooldown_s`; then half-open lets one probe through: success closes it, failure re-opens it.
- Bulkhead: at most `limit` concurrent calls per tool, so one slow tool cannot take every worker.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import tenacity

T = TypeVar("T")


class Deadline:
    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic):
        self.clock = clock
        self.end = clock() + seconds

    def remaining(self) -> float:
        return max(0.0, self.end - self.clock())

    @property
    def expired(self) -> bool:
        return self.remaining() <= 0


class BreakerOpen(Exception):
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
        """Raise BreakerOpen unless a call may go out now (one probe at a time when half-open)."""
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
            self._probe, self.failures = False, 0
            self._move("closed")

    def failure(self) -> None:
        with self._lock:
            self._probe = False
            self.failures += 1
            if self.state == "half_open" or self.failures >= self.threshold:
                self.opened_at = self.clock()
                self._move("open")

    def call(self, fn: Callable[[], T]) -> T:
        self.before()
        try:
            out = fn()
        except Exception:
            self.failure()
            raise
        self.success()
        return out

    def snapshot(self) -> dict[str, Any]:
        return {"name": self.name, "state": self.state, "failures": self.failures, "threshold": self.threshold,
                "cooldown_s": self.cooldown_s, "opened": sum(1 for _, to in self.transitions if to == "open"),
                "closed_again": sum(1 for a, to in self.transitions if to == "closed" and a == "half_open")}


class BulkheadFull(Exception):
    pass


class Bulkhead:
    def __init__(self, name: str, limit: int = 4):
        self.name, self.limit = name, limit
        self._sem = threading.BoundedSemaphore(limit)

    def run(self, fn: Callable[[], T], wait_s: float) -> T:
        if not self._sem.acquire(timeout=max(0.0, wait_s)):
            raise BulkheadFull(f"{self.name}: {self.limit} calls already in flight")
        try:
            return fn()
        finally:
            self._sem.release()


class Registry:
    """One breaker and one bulkhead per name (a tool, or a model), shared by every run of a process."""

    def __init__(self, threshold: int = 5, cooldown_s: float = 5.0, bulkhead: int = 4):
        self.threshold, self.cooldown_s, self.bulkhead_limit = threshold, cooldown_s, bulkhead
        self.breakers: dict[str, CircuitBreaker] = {}
        self.bulkheads: dict[str, Bulkhead] = {}
        self._lock = threading.Lock()

    def breaker(self, name: str) -> CircuitBreaker:
        with self._lock:
            if name not in self.breakers:
                self.breakers[name] = CircuitBreaker(name, self.threshold, self.cooldown_s)
            return self.breakers[name]

    def bulkhead(self, name: str) -> Bulkhead:
        with self._lock:
            return self.bulkheads.setdefault(name, Bulkhead(name, self.bulkhead_limit))

    def snapshot(self) -> list[dict[str, Any]]:
        return [b.snapshot() for b in sorted(self.breakers.values(), key=lambda b: b.name)]


def backoff_s(attempt: int, base_s: float, cap_s: float, rng: random.Random) -> float:
    """Full jitter: U(0, min(cap, base * 2^attempt))."""
    return rng.uniform(0, min(cap_s, base_s * 2 ** attempt))


def retry_by_hand(fn: Callable[[], T], *, retryable: Callable[[Exception], bool], deadline: Deadline,
                  attempts: int = 3, base_s: float = 0.02, cap_s: float = 0.5, rng: random.Random | None = None,
                  on_retry: Callable[[int, Exception], None] | None = None) -> T:
    """The retry loop spelled out: on a retryable error sleep a jittered backoff (at least what the
    error asks for, e.g. an open breaker's retry_in_s) and try again, within attempts and deadline."""
    rng = rng or random.Random()
    for attempt in range(attempts):
        try:
            return fn()
        except Exception as exc:
            pause = max(backoff_s(attempt, base_s, cap_s, rng), getattr(exc, "retry_in_s", 0.0))
            if attempt + 1 >= attempts or not retryable(exc) or pause >= deadline.remaining():
                raise
            if on_retry:
                on_retry(attempt + 1, exc)
            time.sleep(pause)
    raise AssertionError("unreachable")


def retry(fn: Callable[[], T], *, retryable: Callable[[Exception], bool], deadline: Deadline, attempts: int = 3,
          base_s: float = 0.02, cap_s: float = 0.5,
          on_retry: Callable[[int, Exception], None] | None = None) -> T:
    """What the runtime uses: the same policy as `retry_by_hand`, run by tenacity.

    tenacity computes the wait before it asks the stop condition, so `stop_before_delay` refuses a
    sleep that would end past the deadline, exactly as the hand-written loop does.
    """
    jitter = tenacity.wait_random_exponential(multiplier=base_s, max=cap_s)  # U(0, min(cap, base * 2^n))

    def wait(rs: tenacity.RetryCallState) -> float:
        return max(jitter(rs), getattr(rs.outcome.exception(), "retry_in_s", 0.0))

    return tenacity.Retrying(
        stop=tenacity.stop_after_attempt(attempts) | tenacity.stop_before_delay(deadline.remaining()),
        wait=wait, retry=tenacity.retry_if_exception(retryable), reraise=True,
        before_sleep=(lambda rs: on_retry(rs.attempt_number, rs.outcome.exception())) if on_retry else None,
    )(fn)
