"""SSE framing and cancel safety: a client that leaves stops the upstream stream."""

from __future__ import annotations

from labs.lab05_patterns.streaming import sse_events
from shared import llm


class Upstream:
    def __init__(self, n: int):
        self.n, self.pulled, self.closed = n, 0, False

    def __aiter__(self):
        return self

    async def __anext__(self):
        if self.pulled >= self.n:
            raise StopAsyncIteration
        self.pulled += 1
        return llm.StreamEvent(delta=f"t{self.pulled} ")

    async def aclose(self):
        self.closed = True


async def test_disconnect_stops_pulling_and_closes_upstream():
    upstream, checks, closed_state = Upstream(100), {"n": 0}, {}

    async def disconnected() -> bool:
        checks["n"] += 1
        return checks["n"] > 3

    events = [e async for e in sse_events(upstream, disconnected, on_close=closed_state.update)]
    assert len(events) == 3 and all(e.startswith("event: delta\n") for e in events)
    assert upstream.pulled == 4 and upstream.closed
    assert closed_state == {"deltas": 3, "cancelled": True, "tokens": 0, "cost_usd": 0.0, "text": "t1 t2 t3 "}


async def test_full_stream_ends_with_usage_and_cost(model):
    async def never() -> bool:
        return False

    events = [e async for e in sse_events(model.astream("What is the capital of Japan?"), never)]
    assert events[-1].startswith("event: done\n") and '"cost_usd"' in events[-1]
    text = "".join(e.split('"text": "')[1].split('"}')[0] for e in events if e.startswith("event: delta"))
    assert text == "Tokyo"


async def test_a_provider_failure_mid_stream_becomes_an_error_event(model):
    async def never() -> bool:
        return False

    events = [e async for e in sse_events(model.astream("hi", mock={"error_status": 503}), never)]
    assert events[-1].startswith("event: error\n")


async def test_disconnect_closes_a_real_provider_stream_early(model):
    """The mock streams one token every 30 ms; the client leaves after two deltas."""
    prompt = "Summarize: streams cut perceived latency. Users see words sooner. Long answers feel faster."
    upstream = model.astream(prompt, mock={"tpot_ms": 30})
    checks, state = {"n": 0}, {}

    async def disconnected() -> bool:
        checks["n"] += 1
        return checks["n"] > 2

    events = [e async for e in sse_events(upstream, disconnected, on_close=state.update)]
    full = [e async for e in sse_events(model.astream(prompt), _false)]
    assert len(full) > 6 and full[-1].startswith("event: done")
    assert len(events) == 2 and state["deltas"] == 2 and state["cancelled"] and state["tokens"] == 0
    assert state["text"] == "".join(e.split('"text": "')[1].split('"}')[0] for e in events)
    assert upstream.ag_frame is None, "the provider's generator was closed, not left suspended"


async def _false() -> bool:
    return False
