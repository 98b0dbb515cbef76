"""Streaming over server-sent events: token deltas, then one final event with usage and cost.

    curl -sN localhost:8005/chat/stream -H 'content-type: application/json' \
      -d '{"messages": [{"role": "user", "content": "Summarize: streams cut perceived latency. Users see words sooner."}]}'

Wire format (one event per delta, then `done`):

    event: delta
    data: {"text": "Streams"}

    event: done
    data: {"usage": {...}, "cost_usd": ..., "time_to_first_token_s": ...}

Cancel-safe: before forwarding each delta the generator asks whether the client is still there;
when it has gone, it stops pulling from the provider and closes the upstream stream (so the
provider stops generating tokens nobody will read), and the `finally` block always runs.
`on_close` gets what happened (deltas, cancelled, the usage and cost when the final event arrived,
the text streamed so far), so the caller can still bill a stream the client abandoned.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import asdict
from typing import Any


def sse(event: str, data: dict[str, Any]) -> str:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n"


async def sse_events(upstream: AsyncIterator[Any], disconnected: Callable[[], Awaitable[bool]],
                     on_close: Callable[[dict[str, Any]], None] | None = None) -> AsyncIterator[str]:
    """Turn shared.llm.astream events into SSE text; stop and close upstream when the client leaves."""
    state: dict[str, Any] = {"deltas": 0, "cancelled": False, "tokens": 0, "cost_usd": 0.0, "text": ""}
    try:
        async for event in upstream:
            if await disconnected():
                state["cancelled"] = True
                break
            if event.done:
                c = event.completion
                state["tokens"], state["cost_usd"] = c.usage.total_tokens, c.cost_usd
                yield sse("done", {"usage": asdict(c.usage), "cost_usd": c.cost_usd, "model": c.model,
                                   "finish_reason": c.finish_reason, "deltas": state["deltas"],
                                   "time_to_first_token_s": event.time_to_first_chunk_s})
            else:
                state["deltas"] += 1
                state["text"] += event.delta
                yield sse("delta", {"text": event.delta})
    except Exception as exc:  # a provider failure mid-stream becomes an error event, not a cut connection
        yield sse("error", {"type": type(exc).__name__, "message": str(exc)[:300]})
    finally:
        aclose = getattr(upstream, "aclose", None)
        if aclose is not None:
            await aclose()
        if on_close is not None:
            on_close(state)
