"""The gateway's front door: one OpenAI-compatible call from key to call-log row.

    curl -s localhost:8009/v1/chat/completions -H 'authorization: Bearer sk-lab09-acme' -H 'x-feature: faq' \
      -H 'content-type: application/json' -d '{"model": "assistant", "messages": [{"role": "user", "content": "6 * 7?"}]}'

For every call, in this order: the virtual key (401 / 403 budget / 429 rate), the route for the model
name (404), the call's attribution record, the upstream call with its retries and fallbacks
(gateway.py), the charge to the key, the captured content when capture is on (redacted first),
and the record's finish (span attributes, metrics, one call-log row). A body over 1 MB is a 413
before any of it (`BodyLimit`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ConfigDict, Field, ValidationError

from labs.lab09_gateway import drift, replay
from labs.lab09_gateway.calls import CallLog
from labs.lab09_gateway.gateway import Gateway, Outcome, UpstreamError, current_span_set
from labs.lab09_gateway.keys import KeyStore
from labs.lab09_gateway.metering import Metering
from labs.lab09_gateway.redaction import content_attributes, redact, stored_content
from labs.lab09_gateway.relay import StreamRelay
from shared.schemas import Number, StrictModel, Text
from shared.service import ServiceError, error_body, not_found

MAX_BODY_BYTES = 1_000_000


class OpenAIBody(StrictModel):
    """An OpenAI-compatible body. Unlike other request bodies, fields not named here are forwarded
    untouched (a gateway must not refuse a parameter the provider added last month; the provider judges
    its own fields and its 400 is relayed). Every value is still checked before anything is recorded:
    NaN / Infinity and lone surrogates are 422s. Size is bounded by the 1 MB body limit (`BodyLimit`),
    not by StrictModel's per-string cap: long-context prompts are what a gateway carries."""

    model_config = ConfigDict(extra="allow")
    max_text = MAX_BODY_BYTES  # the body limit bounds these, not StrictModel's per-string cap
    max_items = MAX_BODY_BYTES


class Message(OpenAIBody):
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: Text | list[dict[str, Any]] | None = None


class ChatRequest(OpenAIBody):
    """An OpenAI chat request; the sampling parameters a span records are range-checked here."""

    model: Text = Field(min_length=1, max_length=200)
    messages: list[Message] = Field(min_length=1, max_length=4096)
    stream: bool = False
    stream_options: dict[str, Any] | None = None
    temperature: Number | None = Field(None, ge=0, le=2)
    top_p: Number | None = Field(None, ge=0, le=1)
    max_tokens: int | None = Field(None, ge=1, le=10_000_000)
    seed: int | None = None
    frequency_penalty: Number | None = Field(None, ge=-2, le=2)
    presence_penalty: Number | None = Field(None, ge=-2, le=2)


class EmbeddingRequest(OpenAIBody):
    model: Text = Field(min_length=1, max_length=200)
    input: Text | Annotated[list[Text], Field(max_length=2048)] = Field(min_length=1)


def inline_schema(model: type[StrictModel]) -> dict[str, Any]:
    """The model's JSON schema with its `$defs` written in place, for a route that declares its body in
    `openapi_extra` (a `#/$defs/...` reference would not resolve from inside an OpenAPI document)."""
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})

    def expand(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if ref.startswith("#/$defs/"):
                return expand(defs[ref.removeprefix("#/$defs/")])
            return {k: expand(v) for k, v in node.items()}
        if isinstance(node, list):
            return [expand(v) for v in node]
        return node

    return expand(schema)


def body_spec(model: type[StrictModel]) -> dict[str, Any]:
    """`openapi_extra` for a route that parses its own body with `parse_body` (so /docs and the contract
    fuzzer still see the model)."""
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": inline_schema(model)}}}}


def parse_body(raw: bytes, model: type[StrictModel]) -> dict[str, Any]:
    """The body checked by `model` and dumped without its unset optional fields: FastAPI's answers (400 for
    bad JSON, 422 naming the field) without FastAPI's per-request dependency solving, which cost more than
    the check itself on the gateway's hottest route."""
    if not raw:
        raise RequestValidationError([{"loc": ("body",), "msg": "Field required", "type": "missing"}])
    try:
        data = json.loads(raw)
    except ValueError as exc:  # UnicodeDecodeError included
        raise RequestValidationError([{"loc": ("body", 0), "msg": f"JSON decode error: {exc}",
                                       "type": "json_invalid"}]) from None
    try:
        return model.model_validate(data).model_dump(exclude_none=True)
    except ValidationError as exc:
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])}
                                      for e in exc.errors(include_url=False, include_context=False)]) from None


def mock_options(headers: Mapping[str, str], body: dict[str, Any]) -> dict[str, Any]:
    """Mock faults for the upstream: `x-mock-*` headers and a `mock` body field (removed from the body)."""
    opts = {k[7:].replace("-", "_"): v for k, v in headers.items() if k.startswith("x-mock-")}
    mock = body.pop("mock", None)
    if isinstance(mock, dict):
        opts.update(mock)
    return opts


class Proxy:
    """Key -> route -> record -> upstream -> charge -> content -> finish, for chat, embeddings and replays."""

    def __init__(self, gateway: Gateway, keys: KeyStore, metering: Metering, log: CallLog, capture: bool):
        self.gateway, self.keys, self.metering, self.log = gateway, keys, metering, log
        self.capture = capture

    async def chat(self, headers: Mapping[str, str], request_id: str, body: dict[str, Any]):
        """A chat completion: a JSON answer, or a StreamRelay when the body asks for a stream."""
        key = self.metering.authorize(headers)
        route = self.gateway.router.resolve(body["model"])
        mock = mock_options(headers, body)
        stream = bool(body.get("stream"))
        record = self.metering.open(headers, request_id, key, route, "chat", stream)
        record.topic = drift.topic_of(" ".join(m["content"] for m in body["messages"]
                                               if isinstance(m.get("content"), str)))
        span_extra = {"gateway.tenant": record.tenant, "gateway.feature": record.feature,
                      "gateway.prompt_version": record.prompt_version, "gateway.route": route.name,
                      "gateway.path": route.targets[0].upstream}
        started = time.perf_counter()

        def settle(out: Outcome, error: UpstreamError | None, status: int, capture: bool) -> None:
            self.keys.charge(key, out.cost_usd)
            content = self._content(body, out.text) if capture else None
            self.metering.finish(record, out, started, status, error, content)

        if stream:
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            return StreamRelay(lambda start, chunk, gone: self.gateway.stream(
                route, body, mock, span_extra, start, chunk, gone, include_usage), settle)
        try:
            data, out = await self.gateway.complete("chat", route, body, mock, span_extra)
        except UpstreamError as exc:
            err = exc.to_service_error()
            self.metering.finish(record, exc.outcome, started, err.status, exc, None)
            raise err from None
        settle(out, None, 200, True)
        return JSONResponse(data, headers={"x-gateway-cost-usd": f"{out.cost_usd:.8f}",
                                           "x-gateway-attempts": str(out.attempts)})

    async def embeddings(self, headers: Mapping[str, str], request_id: str, body: dict[str, Any]) -> dict[str, Any]:
        key = self.metering.authorize(headers)
        route = self.gateway.router.resolve(body["model"])
        mock = mock_options(headers, body)
        record = self.metering.open(headers, request_id, key, route, "embeddings", False)
        started = time.perf_counter()
        try:
            data, out = await self.gateway.complete("embeddings", route, body, mock,
                                                    {"gateway.tenant": record.tenant, "gateway.route": route.name})
        except UpstreamError as exc:
            err = exc.to_service_error()
            self.metering.finish(record, exc.outcome, started, err.status, exc, None)
            raise err from None
        self.keys.charge(key, out.cost_usd)
        self.metering.finish(record, out, started, 200, None, None)
        return data

    def _content(self, body: dict[str, Any], text: str | None) -> tuple[str, str | None] | None:
        """Captured content (when capture is on): redacted into the content store and onto the span."""
        if not self.capture:
            return None
        current_span_set(content_attributes(body.get("messages") or [], text))
        return stored_content(body, text)

    async def replay(self, request_id: str, model: str | None, prompt_version: str | None,
                     system: str | None) -> dict[str, Any]:
        """Re-issue a stored request (captured content needed) and diff the new answer against the stored one."""
        call = self.log.get(request_id)
        if call is None:
            raise not_found("call", request_id)
        stored = self.log.content(request_id)
        if stored is None:
            raise ServiceError(409, "no content stored for this call: turn capture on (PUT /admin/capture) "
                               "before the call you want to replay", "no_content")
        req = dict(stored["request"])
        if model:
            req["model"] = model
        if system is not None:
            req["messages"] = [{"role": "system", "content": system},
                               *[m for m in req["messages"] if m.get("role") != "system"]]
        version = prompt_version or call["prompt_version"]
        route = self.gateway.router.resolve(req["model"])
        try:
            _data, out = await self.gateway.complete("chat", route, {**req, "stream": False}, {},
                                                     {"gateway.replay_of": request_id,
                                                      "gateway.prompt_version": version})
        except UpstreamError as exc:
            raise exc.to_service_error() from None
        new = redact(out.text)
        return {"request_id": request_id, "model": req["model"], "prompt_version": version,
                "stored": stored["response"], "replayed": new, **replay.diff(stored["response"] or "", new)}


class BodyLimit:
    """413 for bodies over the limit, whether announced by content-length or streamed in chunks."""

    def __init__(self, app, limit: int = MAX_BODY_BYTES):
        self.app = app
        self.limit = limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.limit:
            return await self._reject(scope, send)
        seen = 0

        async def counted():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise _TooLarge()
            return message

        try:
            await self.app(scope, counted, send)
        except _TooLarge:
            await self._reject(scope, send)

    async def _reject(self, scope, send):
        rid = scope.get("state", {}).get("request_id")
        body = json.dumps(error_body(413, f"request body over {self.limit} bytes", rid, "payload_too_large")).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


class _TooLarge(Exception):
    pass
