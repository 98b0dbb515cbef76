"""The from-scratch resilience mechanisms behave exactly like shared/resilience.py on the same inputs.

resilience.py is the chapter's teaching code; the service uses shared/resilience.py. For each
mechanism, the same inputs go to both: errors to classify (LiteLLM's own exception classes among
them), failure patterns and random streams for the retry delays, random call/success/failure
sequences with a random clock for the breakers.
"""

from __future__ import annotations

import inspect
import math
import random

import httpx
import litellm.exceptions
import pytest

from labs.lab05_patterns import resilience
from labs.lab05_patterns.resilience import CircuitBreaker, CircuitOpen, retry_call
from shared import resilience as shared
from shared.llm import Model


class Flaky(Exception):
    def __init__(self, status: int | str | None = 503, retry_after: str | None = None):
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


# -- which errors are transient ------------------------------------------------------------------

def _litellm_errors() -> list[BaseException]:
    """One instance of every LiteLLM exception class that can be built from the usual arguments;
    the classes that take a status are built once per status."""
    request = httpx.Request("POST", "http://provider/v1/chat/completions")
    out: list[BaseException] = []
    for cls in vars(litellm.exceptions).values():
        if not (inspect.isclass(cls) and issubclass(cls, Exception) and cls.__module__.startswith("litellm")):
            continue
        params = inspect.signature(cls.__init__).parameters
        statuses = (400, 404, 408, 429, 500, 503, 529) if "status_code" in params else (None,)
        for status in statuses:
            kwargs = {}
            for name, p in list(params.items())[1:]:
                if name == "message":
                    kwargs[name] = "boom"
                elif name in ("llm_provider", "custom_llm_provider"):
                    kwargs[name] = "openai"
                elif name == "model":
                    kwargs[name] = "gpt-4o-mini"
                elif name == "status_code" and status is not None:
                    kwargs[name] = status
                elif name == "response" and p.default is inspect.Parameter.empty:
                    kwargs[name] = httpx.Response(status or 403, request=request)
                elif p.default is inspect.Parameter.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                    break  # a class that needs something else (a budget, a guardrail): not a provider error
            else:
                try:
                    out.append(cls(**kwargs))
                except Exception:  # noqa: S112  (a constructor that needs more than its signature says)
                    continue
    return out


def _other_errors() -> list[BaseException]:
    request = httpx.Request("GET", "http://provider/")
    out: list[BaseException] = [Flaky(s) for s in (400, 401, 403, 404, 408, 409, 413, 422, 429, 500, 501,
                                                    502, 503, 504, 529)]
    out += [Flaky("503"), Flaky("not a number"), Flaky(None)]
    out += [TimeoutError(), ConnectionError(), ConnectionResetError(), BrokenPipeError(), ValueError("x"),
            KeyError("x"), RuntimeError("503")]
    out += [httpx.ConnectError("refused"), httpx.ReadTimeout("slow"), httpx.ConnectTimeout("slow"),
            httpx.RemoteProtocolError("cut"), httpx.DecodingError("bad")]
    for status in (404, 429, 503):
        response = httpx.Response(status, request=request)
        out.append(httpx.HTTPStatusError("status", request=request, response=response))
    out += [shared.BreakerOpen("p", 1.5), CircuitOpen("p", 1.5)]
    return out


def _mock_errors(model: Model) -> list[BaseException]:
    out = []
    for mock in ({"error_status": 429, "retry_after": 2}, {"error_status": 500}, {"error_status": 502},
                 {"error_status": 503}, {"context_window": 5}):
        with pytest.raises(Exception) as info:
            model.complete("a long enough prompt", mock=mock)
        out.append(info.value)
    return out


def test_transient_means_the_same_in_both(model):
    errors = _litellm_errors() + _other_errors() + _mock_errors(model)
    assert len(_litellm_errors()) >= 30, "most of LiteLLM's exception classes were built"
    verdicts = {(type(e).__name__, resilience.status_of(e)): resilience.is_retryable(e) for e in errors}
    differ = [(type(e).__name__, resilience.status_of(e)) for e in errors
              if resilience.is_retryable(e) != shared.is_transient(e)]
    assert not differ, differ
    assert resilience.status_of(errors[0]) == shared.status_of(errors[0])
    assert all(resilience.status_of(e) == shared.status_of(e) for e in errors)
    assert all(resilience.retry_after_s(e) == shared.retry_after_s(e) for e in errors)
    # both sides of the line are present, so the comparison above could have failed
    assert verdicts[("RateLimitError", 429)] and not verdicts[("ContextWindowExceededError", 400)]
    assert verdicts[("Timeout", 408)] and not verdicts[("AuthenticationError", 401)]


def test_teaching_statuses_are_the_shared_ones():
    assert resilience.RETRYABLE_STATUS == shared.TRANSIENT_STATUS


# -- full jitter and retry-after -----------------------------------------------------------------

@pytest.mark.parametrize("seed", range(10))
def test_full_jitter_draws_the_same_delays_from_the_same_stream(seed):
    rng = random.Random(seed)
    cases = [(rng.randint(0, 12), rng.uniform(0.001, 2), rng.uniform(0.01, 30)) for _ in range(50)]
    ours, theirs = random.Random(seed + 100), random.Random(seed + 100)
    assert [resilience.full_jitter(n, b, c, ours) for n, b, c in cases] == \
        [shared.full_jitter(n, b, c, theirs) for n, b, c in cases]


@pytest.mark.parametrize("seed", range(10))
def test_from_scratch_and_shared_retry_sleep_the_same_delays(seed):
    rng = random.Random(seed)
    base, cap, attempts = rng.uniform(0.05, 1), rng.uniform(0.5, 5), rng.randint(2, 7)
    fails = rng.randint(0, attempts)
    status = rng.choice([429, 500, 503, 529])
    retry_after = rng.choice([None, None, "0.3", "4"])
    ours: list[float] = []
    theirs: list[float] = []
    state = random.getstate()
    random.seed(seed)
    fn, ours_calls = failing(fails, status, retry_after)
    try:
        retry_call(fn, max_attempts=attempts, base=base, cap=cap, rng=random, sleep=ours.append)
    except Flaky:
        pass
    random.seed(seed)  # tenacity, under shared.retry, draws from the random module
    fn, theirs_calls = failing(fails, status, retry_after)
    try:
        shared.retry(fn, attempts=attempts, base_s=base, cap_s=cap, sleep=theirs.append)
    except Flaky:
        pass
    random.setstate(state)
    assert ours == pytest.approx(theirs) and ours_calls == theirs_calls
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
    assert shared.retry(fn, base_s=0.01, cap_s=0.02, sleep=slept.append) == "ok"
    assert slept == [2.0, 2.0]


def test_non_retryable_errors_fail_at_once():
    slept: list[float] = []
    fn, calls = failing(5, 400)
    with pytest.raises(Flaky):
        retry_call(fn, sleep=slept.append)
    with pytest.raises(Flaky):
        shared.retry(fn, sleep=slept.append)
    assert calls["n"] == 2 and slept == []


def test_retry_after_is_read_from_a_real_mock_429(model):
    with pytest.raises(Exception) as info:
        model.complete("hi", mock={"error_status": 429, "retry_after": 3})
    assert resilience.retry_after_s(info.value) == 3.0 and resilience.is_retryable(info.value)


# -- circuit breakers ----------------------------------------------------------------------------

def _run_breakers(seed: int) -> tuple[list[tuple], list[tuple]]:
    """Drive both breakers through one random sequence: calls arrive (admitted or refused), calls in
    flight end in success or failure (possibly late, after the breaker moved), the clock jumps."""
    rng = random.Random(seed)
    threshold, cooldown = rng.randint(1, 4), rng.uniform(1, 10)
    now = [0.0]
    ours = CircuitBreaker("p", threshold=threshold, window_s=math.inf, reset_timeout_s=cooldown, clock=lambda: now[0])
    theirs = shared.CircuitBreaker("p", threshold=threshold, cooldown_s=cooldown, clock=lambda: now[0])
    pending: list[bool] = []
    ours_trace, theirs_trace = [], []
    for _ in range(200):
        now[0] += rng.choice([0.0, rng.uniform(0, cooldown * 0.6), rng.uniform(cooldown, 2 * cooldown)])
        if pending and rng.random() < 0.5:
            pending.pop(rng.randrange(len(pending)))
            ok = rng.random() < 0.4
            (ours.record_success if ok else ours.record_failure)()
            (theirs.success if ok else theirs.failure)()
            ours_trace.append(("end", ok, ours.state))
            theirs_trace.append(("end", ok, theirs.state))
            continue
        admitted = ours.allow()
        try:
            theirs.before()
            shared_admitted = True
        except shared.BreakerOpen:
            shared_admitted = False
        if admitted:
            pending.append(True)
        ours_trace.append(("call", admitted, ours.state))
        theirs_trace.append(("call", shared_admitted, theirs.state))
    return ours_trace, theirs_trace


@pytest.mark.parametrize("seed", range(25))
def test_breakers_go_through_the_same_states(seed):
    ours, theirs = _run_breakers(seed)
    assert ours == theirs
    states = {s for _, _, s in ours}
    if seed == 0:
        assert states == {"closed", "open", "half_open"}, "the sequences reach every state"


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
    """The teaching breaker's one extra: a window that forgets old failures (math.inf: the shared rule)."""
    now = [0.0]
    b = CircuitBreaker("p", threshold=3, window_s=10, reset_timeout_s=5, clock=lambda: now[0])
    for t in (0, 11, 22, 33):
        now[0] = t
        b.record_failure()
    assert b.state == "closed"
