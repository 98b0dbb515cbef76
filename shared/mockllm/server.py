"""The HTTP front: the mock as an OpenAI-compatible API and an Anthropic-compatible /v1/messages.

    make mock        # or: python -m shared.mockllm --port 8000
    curl -s localhost:8000/v1/models
    curl -s localhost:8000/v1/chat/completions -H 'content-type: application/json' \
      -d '{"model": "assistant", "messages": [{"role": "user", "content": "What is 6 * 7?"}]}'
    curl -s localhost:8000/v1/messages -H 'content-type: application/json' \
      -d '{"model": "assistant", "max_tokens": 100, "messages": [{"role": "user", "content": "6 * 7?"}]}'

Both fronts share one engine, so one prompt cache: each front reports it in its own usage shape.

Server-wide faults come from MOCK_* environment variables (MOCK_ERROR_RATE=0.1, MOCK_LATENCY_MS=50,
...); per-request ones from x-mock-* headers or a "mock" object in the body.
"""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.middleware import Middleware

import shared.mockllm.anthropic_api as anthropic_api
from shared.config import Settings
from shared.mockllm.engine import MockEngine, MockError, MockRequest, Plan, TextDelta
from shared.service import create_service

ENV_PREFIX = "MOCK_"


def server_defaults_from_env() -> dict[str, Any]:
    skip = {"MOCK_HOST", "MOCK_PORT", "MOCK_LOAD"}
    return {k[len(ENV_PREFIX):].lower(): v for k, v in os.environ.items() if k.startswith(ENV_PREFIX) and k not in skip}


def load_plugins(specs: list[str]) -> list[str]:
    """Import modules that add skills or behaviours: "pkg.module" or "pkg.module:install" (then called).

    A lab's skill registered in the lab's own process reaches only the in-process mock; a separate
    server (`make mock`, docker-compose) loads it with `--load` or MOCK_LOAD=spec,spec.
    """
    import importlib

    loaded = []
    for spec in (s.strip() for s in specs):
        if not spec:
            continue
        module_name, _, fn_name = spec.partition(":")
        module = importlib.import_module(module_name)
        if fn_name:
            getattr(module, fn_name)()
        loaded.append(spec)
    return loaded


def openai_error(exc: MockError) -> JSONResponse:
    return JSONResponse(exc.openai_body(), status_code=exc.status, headers=exc.headers)


def anthropic_error(exc: MockError) -> JSONResponse:
    return JSONResponse(anthropic_api.error_body(exc), status_code=exc.status, headers=exc.headers)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")  # Python's json reads NaN and Infinity; JSON does not


# built once: json.loads / json.dumps with any option build a new decoder / encoder on every call
_DECODER = json.JSONDecoder(parse_constant=_no_constant)
_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def parse_body(raw: bytes) -> Any:
    """The request body as JSON (what json.loads reads from bytes: UTF-8, -16 or -32), or a 400."""
    try:
        return _DECODER.decode(raw.decode(json.detect_encoding(raw), "surrogatepass") if raw else "null")
    except (ValueError, UnicodeDecodeError) as exc:
        raise MockError(400, f"We could not parse the JSON body of your request: {exc}",
                        "invalid_request_error") from exc


async def _read_json(request: Request) -> Any:
    return parse_body(await request.body())


HANG_S = 3600.0


async def _wait(plan: Plan, request: Request) -> None:
    """Sleep the planned latency; a hang lasts until the client gives up (or an hour)."""
    if plan.hang:
        loop = asyncio.get_running_loop()
        until = loop.time() + HANG_S
        while loop.time() < until and not await request.is_disconnected():
            await asyncio.sleep(0.05)
    if plan.latency_s:
        await asyncio.sleep(plan.latency_s)


def _without_native_telemetry(app: FastAPI) -> None:
    """Turn off FastAPI's built-in OpenTelemetry (three spans per request since FastAPI 0.16x).

    The mock stands in for a provider: its callers trace their own calls, and tracing the mock's
    side too would cost it about two thirds of its throughput (590 -> 175 us per request in-app),
    while the lab-09 gateway benchmark needs it far from being the bottleneck. FastAPI only takes
    this setting at construction, which create_service does for us, hence the rebuild.
    """
    if hasattr(app, "_native_telemetry"):
        from fastapi.telemetry._asgi import NativeTelemetry

        app._telemetry.update(tracing=False, metrics=False, logs=False)
        app._native_telemetry = NativeTelemetry(app._telemetry)


def create_app(settings: Settings | None = None, engine: MockEngine | None = None) -> FastAPI:
    app = create_service("mock LLM provider", lab="mockllm", settings=settings, instrument=False, strict_query=False,
                         description="An offline, deterministic, scriptable model with an OpenAI-compatible API.")
    _without_native_telemetry(app)
    engine = engine or MockEngine(defaults=server_defaults_from_env())
    app.state.engine = engine
    app.state.readiness["behaviours"] = lambda: f"{len(engine.models())} behaviours loaded"

    @app.exception_handler(MockError)
    async def _mock_error(request: Request, exc: MockError):
        return openai_error(exc)

    @app.get("/v1/models", tags=["openai"])
    def list_models() -> dict[str, Any]:
        """The behaviours, as models."""
        return {"object": "list", "data": engine.models()}

    @app.get("/v1/models/{model_id}", tags=["openai"])
    def get_model(model_id: str) -> dict[str, Any]:
        """One behaviour, as a model."""
        for model in engine.models():
            if model["id"] == model_id:
                return model
        raise MockError(404, f"The model '{model_id}' does not exist", "invalid_request_error", "model_not_found")

    @app.post("/v1/chat/completions", tags=["openai"])
    async def chat_completions(request: Request):
        """OpenAI chat completions, streaming or not (with stream_options.include_usage)."""
        body = await _read_json(request)
        req = MockRequest.from_openai(body, dict(request.headers), engine.defaults)
        plan = engine.plan(req)
        await _wait(plan, request)
        if plan.error:
            return openai_error(plan.error)
        if not req.stream:
            return JSONResponse(plan.body)
        return StreamingResponse(_sse(plan), media_type="text/event-stream",
                                 headers={"cache-control": "no-cache"})

    @app.post("/v1/messages", tags=["anthropic"])
    async def messages(request: Request):
        """Anthropic messages, streaming or not: content blocks, tool_use / tool_result, cache usage."""
        try:
            req = anthropic_api.request(await _read_json(request), dict(request.headers), engine.defaults)
            plan = engine.plan(req)
        except MockError as exc:
            return anthropic_error(exc)
        await _wait(plan, request)
        if plan.error:
            return anthropic_error(plan.error)
        if not req.stream:
            return JSONResponse(plan.body)
        return StreamingResponse(_anthropic_sse(plan), media_type="text/event-stream",
                                 headers={"cache-control": "no-cache"})

    @app.post("/v1/messages/count_tokens", tags=["anthropic"])
    async def count_tokens(request: Request):
        """Anthropic token counting: the prompt's input tokens, without a completion."""
        try:
            return anthropic_api.count_tokens(await _read_json(request))
        except MockError as exc:
            return anthropic_error(exc)

    @app.post("/v1/embeddings", tags=["openai"])
    async def embeddings(request: Request):
        """Deterministic embeddings (float or base64) of strings or token-id arrays."""
        body = await _read_json(request)
        if not isinstance(body, dict) or "input" not in body:
            raise MockError(400, "'input' is required", "invalid_request_error")
        if body.get("encoding_format", "float") not in ("float", "base64"):
            raise MockError(400, "'encoding_format' must be 'float' or 'base64'", "invalid_request_error")
        result = engine.embed(str(body.get("model") or "embedding"), body["input"], body.get("dimensions"))
        if body.get("encoding_format") == "base64":
            import base64

            import numpy as np

            for item in result["data"]:
                item["embedding"] = base64.b64encode(np.asarray(item["embedding"], dtype="<f4").tobytes()).decode()
        return result

    # innermost middleware: request ids, metrics and the 500 envelope (outer ones) still apply to it
    chat_route = next(r for r in app.routes if getattr(r, "path", None) == "/v1/chat/completions")
    app.user_middleware.append(Middleware(ChatFastPath, engine=engine, route=chat_route))
    return app


class ChatFastPath:
    """POST /v1/chat/completions answered at the ASGI level, the same bytes the FastAPI route sends.

    The mock's hot path is what the lab-09 gateway and the eval benchmarks load. Through FastAPI each
    request also paid for routing, dependency solving and StreamingResponse's task group (about half
    the server's CPU per streamed request, bench/bench_mock.py); the route stays registered for /docs
    and answers everything else (GET -> 405 ...)."""

    def __init__(self, app, engine: MockEngine, route: Any):
        self.app, self.engine, self.route = app, engine, route

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != "/v1/chat/completions":
            return await self.app(scope, receive, send)
        scope["route"] = self.route  # the metrics label, as routing would have set it
        chunks = []
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        # the request reads only its x-mock-* headers (options_from)
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"] if k.startswith(b"x-mock-")}
        try:
            body = parse_body(b"".join(chunks))
            req = MockRequest.from_openai(body, headers, self.engine.defaults)
            plan = self.engine.plan(req)
        except MockError as exc:
            return await _send_json(send, exc.openai_body(), exc.status, exc.headers)
        if plan.hang and await _hang_until_disconnect(receive):
            return
        if plan.latency_s:
            await asyncio.sleep(plan.latency_s)
        if plan.error:
            return await _send_json(send, plan.error.openai_body(), plan.error.status, plan.error.headers)
        if not req.stream:
            return await _send_json(send, plan.body, 200)
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"cache-control", b"no-cache"), (b"content-type", b"text/event-stream; charset=utf-8")]})
        try:
            async for text in _sse(plan):
                await send({"type": "http.response.body", "body": text.encode(), "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except OSError:  # the client went away mid-stream: nothing left to tell it
            return


async def _send_json(send, content: Any, status: int, headers: dict[str, str] | None = None) -> None:
    """What JSONResponse sends, without building one."""
    body = _ENCODER.encode(content).encode()
    raw = [(b"content-length", str(len(body)).encode()), (b"content-type", b"application/json")]
    raw += [(k.lower().encode("latin-1"), str(v).encode("latin-1")) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


async def _hang_until_disconnect(receive) -> bool:
    """A planned hang: wait until the client gives up (True) or an hour passes."""
    loop = asyncio.get_running_loop()
    until = loop.time() + HANG_S
    while loop.time() < until:
        try:
            message = await asyncio.wait_for(receive(), 0.05)
        except TimeoutError:
            continue
        if message["type"] == "http.disconnect":
            return True
    return False


async def _paced(plan: Plan, events: list[str]):
    """Send SSE events at the planned pace: TTFT before the first, TPOT between the rest. With no
    TPOT nothing separates them, so they go out in one write (a client still parses them one by one;
    the socket and the server's per-write work are spared)."""
    if not events:
        return
    if plan.ttft_s:
        await asyncio.sleep(plan.ttft_s)
    if not plan.tpot_s:
        yield "".join(events)
        return
    yield events[0]
    for event in events[1:]:
        await asyncio.sleep(plan.tpot_s)
        yield event


_json_string = json.encoder.encode_basestring_ascii  # what json.dumps(str) writes, without its per-call set-up
_PIECE = "\x1fpiece\x1f"  # a sentinel no reply holds: json.dumps writes it as "\u001fpiece\u001f"


def _sse_data(chunks: list[dict[str, Any]]) -> list[str]:
    """Each chunk as `data: {json.dumps(chunk)}`. The text pieces of one choice (engine.TextDelta) differ
    only in their piece, so one chunk's JSON is cut once into prefix + piece + suffix and only the piece
    is encoded per chunk; every other chunk (role, tool calls, finish, usage) is dumped whole."""
    out, templates = [], {}
    for chunk in chunks:
        if type(chunk) is TextDelta:
            parts = templates.get(chunk.shape)
            if parts is None:
                shape = json.dumps({**chunk, "choices": [{**chunk["choices"][0], "delta": {"content": _PIECE}}]})
                parts = templates[chunk.shape] = shape.split(json.dumps(_PIECE))
            if len(parts) == 2:
                out.append(f"data: {parts[0]}{_json_string(chunk.piece)}{parts[1]}\n\n")
                continue
        out.append(f"data: {json.dumps(chunk)}\n\n")
    return out


def _sse(plan: Plan):
    events = _sse_data(plan.chunks)
    return _paced(plan, events if plan.truncated else [*events, "data: [DONE]\n\n"])


def _anthropic_sse(plan: Plan):
    return _paced(plan, [f"event: {e['type']}\ndata: {json.dumps(e)}\n\n" for e in plan.chunks])
