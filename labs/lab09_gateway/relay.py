"""The stream relay: an upstream SSE stream passed to the client chunk by chunk, never buffered.

    curl -sN localhost:8009/v1/chat/completions -H 'authorization: Bearer sk-lab09-acme' \
      -H 'content-type: application/json' -d '{"model": "assistant", "stream": true, "messages": [{"role": "user", "content": "Summarize: chunks"}]}'

A streamed call is one ASGI response. The upstream opens first and the status is chosen then: an
upstream error before the first chunk is still a proper JSON error with its status (429, 502, 504).
After the first chunk the response is committed (200): a later upstream failure ends the stream
with an `error` event and no `[DONE]`. Everything runs in the request's task, so the GenAI span is a
child of the SERVER span and ends at the last chunk; a client that goes away cancels the relay,
which closes the upstream. A client that goes away after `[DONE]` (many close as soon as they read
it) has the whole answer: the call is recorded as complete, not as a disconnect.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable

from starlette.responses import Response

from labs.lab09_gateway.gateway import ClientDisconnected, Outcome, UpstreamError
from labs.lab09_gateway.sse import DONE
from shared.service import error_body

SendStart = Callable[[], Awaitable[None]]
SendChunk = Callable[[str], Awaitable[None]]
# run(send_start, send_chunk, disconnected) -> the outcome (raises UpstreamError when every attempt failed)
Run = Callable[[SendStart, SendChunk, asyncio.Event], Awaitable[Outcome]]
# settle(outcome, error, status, capture): charge, record and meter the call once it has ended
Settle = Callable[[Outcome, UpstreamError | None, int, bool], None]


class StreamRelay(Response):
    def __init__(self, run: Run, settle: Settle):
        super().__init__(status_code=200)
        self.run, self.settle = run, settle

    async def __call__(self, scope, receive, send) -> None:
        disconnected = asyncio.Event()
        sent_start = False
        # [DONE] has gone out: the client holds the whole stream, so its going away now (many clients close
        # as soon as they read [DONE]) cuts nothing short, and the call is recorded as complete
        finished = False
        request_id = scope.get("state", {}).get("request_id") or ""

        async def send_start() -> None:
            nonlocal sent_start
            sent_start = True
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache"),
                                    (b"x-request-id", request_id.encode())]})

        async def send_chunk(text: str) -> None:
            nonlocal finished
            await send({"type": "http.response.body", "body": text.encode(), "more_body": True})
            finished = text.endswith(DONE)

        relay = asyncio.ensure_future(self.run(send_start, send_chunk, disconnected))

        async def watch() -> None:
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    if not finished:
                        disconnected.set()
                        relay.cancel()
                    return

        watcher = asyncio.ensure_future(watch())
        error: UpstreamError | None = None
        try:
            out = await relay
        except UpstreamError as exc:
            error, out = exc, exc.outcome
        except (asyncio.CancelledError, ClientDisconnected):
            out = Outcome(disconnected=True)
        finally:
            watcher.cancel()
        if error is not None and not sent_start:
            err = error.to_service_error()
            self.settle(out, error, err.status, False)
            payload = json.dumps(error_body(err.status, err.message, request_id, err.type, **err.extra)).encode()
            headers = [(b"content-type", b"application/json"), (b"x-request-id", request_id.encode())]
            headers += [(k.encode(), v.encode()) for k, v in err.headers.items()]
            await send({"type": "http.response.start", "status": err.status, "headers": headers})
            await send({"type": "http.response.body", "body": payload})
            return
        self.settle(out, error, 200 if error is None else 502, not out.disconnected)
        if out.disconnected:
            return
        if not sent_start:
            await send_start()
        if error is not None:
            err = error.to_service_error()
            await send_chunk(f"data: {json.dumps(error_body(err.status, err.message, request_id, err.type))}\n\n")
        await send({"type": "http.response.body", "body": b"", "more_body": False})
