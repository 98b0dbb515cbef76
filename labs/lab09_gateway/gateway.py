"""The gateway: route a call to its upstream, retry and fall back, trace it, meter it, price it.

    curl -s localhost:8009/v1/chat/completions -H 'authorization: Bearer sk-lab09-acme' \
      -H 'content-type: application/json' -d '{"model": "assistant", "messages": [{"role": "user", "content": "6 * 7?"}]}'

Two upstream paths (the README says which a request takes):
- pass-through: a target with `upstream: http` (or an `openai/...` model when LLM_API_BASE or
  OPENAI_API_KEY is set) is forwarded by one shared httpx.AsyncClient, the body as the client sent
  it, the SSE events of each upstream read relayed together as they arrive (sse.py). LiteLLM's
  client path costs ~10 ms (non-streaming) and ~30 ms (streaming) more here, which is most of a
  gateway's latency budget.
- LiteLLM (`litellm.acompletion`): every other target, including the in-process `mock/...` default.

Retries and fallbacks: a target is retried on a transient failure (`shared.resilience.is_transient`:
429, 408, 409, 5xx, 529, timeouts) up to the route's `retries`, waiting full jitter
U(0, min(1 s, 25 ms * 2^n)) with a provider's retry-after as the floor (capped at 1 s); then the next
target is the fallback. A stream is retried only until its first chunk has gone to the client.

Each upstream attempt is a GenAI CLIENT span (`chat {model}`), a child of the request's SERVER span,
which is a child of the caller's trace when a `traceparent` header comes in. Failed attempts carry
`error.type`; the request span carries `gateway.attempts` and `gateway.fallback`. A streamed call's
span ends with the last chunk and carries `gen_ai.response.time_to_first_chunk`.

Latency breakdown (ms):  total = queue + ttft + decode, where queue is the wait for an upstream
slot (a semaphore per upstream), ttft runs from sending to the first chunk, decode from the first
chunk to the last. Time per output chunk = decode / (chunks - 1).
"""

from __future__ import annotations

import asyncio
import functools
import json
import math
import os
import threading
import time
import weakref
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml
from opentelemetry import metrics, trace
from opentelemetry.metrics import CallbackOptions, Observation

from labs.lab09_gateway.pool import use_linear_pools
from labs.lab09_gateway.sse import DONE, SSELines
from shared.config import FIXTURES, Settings
from shared.llm import Model, litellm_module
from shared.mockllm.engine import BEHAVIOURS
from shared.mockllm.tokens import count
from shared.pricing import Usage, cost, usage_from
from shared.resilience import aretry, is_transient
from shared.service import ServiceError
from shared.telemetry import GenAIResult, genai_span, setup_telemetry

ROUTES_FILE = FIXTURES / "lab09" / "routes.yaml"
BACKOFF_BASE_S = 0.025  # full jitter: retry n waits U(0, min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2^n))
BACKOFF_CAP_S = 1.0  # also the most a provider's retry-after may hold one call back


@dataclass
class Target:
    model: str
    upstream: str = "litellm"  # litellm | http
    mock: dict[str, Any] = field(default_factory=dict)
    price_as: str | None = None

    @property
    def provider(self) -> str:
        return self.model.split("/", 1)[0] if "/" in self.model else "openai"

    @property
    def wire_model(self) -> str:
        """The name the upstream knows: `openai/gpt-4o-mini` -> `gpt-4o-mini` over HTTP."""
        return self.model.split("/", 1)[1] if self.upstream == "http" and "/" in self.model else self.model


@dataclass
class Route:
    name: str
    targets: list[Target]
    retries: int = 0


class UpstreamError(Exception):
    """A failed upstream attempt, with what the client should see if no fallback saves the call."""

    def __init__(self, status: int, message: str, error_type: str, retry_after: str | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.error_type = error_type
        self.retry_after = retry_after
        self.outcome = Outcome(error=self)

    @property
    def retryable(self) -> bool:
        return is_transient(self)

    @property
    def headers(self) -> dict[str, str]:
        """What shared.resilience reads a server's retry-after from."""
        return {"retry-after": self.retry_after} if self.retry_after else {}

    def to_service_error(self) -> ServiceError:
        """Provider faults become 502/504 (not the gateway's own 500); a provider 429 stays a 429."""
        headers = {"retry-after": self.retry_after} if self.retry_after else {}
        if self.status == 429:
            return ServiceError(429, f"upstream rate limited: {self.message}", "upstream_rate_limited", headers)
        if self.status in (408, 504):
            return ServiceError(504, f"upstream timed out: {self.message}", "upstream_timeout")
        if 400 <= self.status < 500 and self.status not in (401, 403):
            return ServiceError(self.status, self.message, self.error_type)
        return ServiceError(502, f"upstream failed ({self.status}): {self.message}", "upstream_error",
                            upstream_status=self.status)


class Router:
    """Model name -> Route. Named routes come from routes.yaml; `mock/<behaviour>` and
    `<provider>/<model>` ids are routed directly."""

    def __init__(self, settings: Settings, path: Path = ROUTES_FILE):
        data = yaml.safe_load(path.read_text())
        self.settings = settings
        self.openai_key = os.environ.get("OPENAI_API_KEY")  # read once here, never per call
        self.routes = {name: Route(name, [Target(**t) for t in spec["targets"]], int(spec.get("retries", 0)))
                       for name, spec in data["routes"].items()}
        self.concurrency = int(data.get("concurrency_per_upstream", 256))
        self.timeout_s = float(data.get("timeout_s", 30))

    def resolve(self, model: str) -> Route:
        if model in self.routes:
            return self.routes[model]
        if model.startswith("mock/"):
            if model.removeprefix("mock/") in set(BEHAVIOURS) | {"embedding"}:
                return Route(model, [Target(model)])
        elif "/" in model and model.split("/", 1)[1]:
            upstream = "http" if model.startswith("openai/") and self.http_base(strict=True) else "litellm"
            return Route(model, [Target(model, upstream=upstream)])
        raise ServiceError(404, f"The model '{model}' does not exist on this gateway; GET /v1/models lists them",
                           "model_not_found")

    def http_base(self, strict: bool = False) -> str | None:
        """LLM_API_BASE, or OpenAI's when its key is set, or (for named http routes) the local mock."""
        if self.settings.llm_api_base:
            return self.settings.llm_api_base.rstrip("/")
        if self.openai_key:
            return "https://api.openai.com/v1"
        return None if strict else f"http://{self.settings.mock_host}:{self.settings.mock_port}/v1"

    def http_key(self) -> str:
        return self.settings.llm_api_key or self.openai_key or "mock"

    def models(self) -> list[str]:
        return list(self.routes)


# --- metrics: golden signals per model and tenant, cost by tenant / feature / prompt version -------

_instruments: dict[str, Any] = {}
_gateways: weakref.WeakSet[Gateway] = weakref.WeakSet()  # every live gateway's in-flight counts feed one gauge


def _observe_inflight(_options: CallbackOptions) -> list[Observation]:
    totals: dict[str, int] = {}
    for gateway in list(_gateways):
        for model, n in list(gateway.inflight.items()):
            totals[model] = totals.get(model, 0) + n
    return [Observation(n, {"gen_ai.request.model": model}) for model, n in totals.items()]


class Tally:
    """A counter summed here, one total per label set, and reported by an observable counter when /metrics
    is scraped. `add` has a Counter's signature; a call costs a dict update instead of the SDK's path
    (hash the labels, match the views, offer an exemplar), which the gateway paid four or five times a call."""

    def __init__(self) -> None:
        self.totals: dict[frozenset, float] = {}
        self._lock = threading.Lock()

    def add(self, amount: float, attributes: dict[str, Any]) -> None:
        key = frozenset(attributes.items())
        with self._lock:
            self.totals[key] = self.totals.get(key, 0) + amount

    def observe(self, _options: CallbackOptions) -> list[Observation]:
        with self._lock:
            totals = list(self.totals.items())
        return [Observation(total, dict(key)) for key, total in totals]


def instruments() -> dict[str, Any]:
    if not _instruments:
        setup_telemetry()
        meter = metrics.get_meter("aieng.labs.lab09")
        requests, cost, tokens = Tally(), Tally(), Tally()
        meter.create_observable_counter("gateway.requests", [requests.observe], "{request}",
                                        "Gateway calls by model, tenant, status class and error class")
        meter.create_observable_counter("gateway.cost", [cost.observe], "USD",
                                        "Spend by tenant, feature, prompt version, model")
        meter.create_observable_counter("gateway.tokens", [tokens.observe], "{token}",
                                        "Tokens by route, tenant and kind (input, cached, output)")
        _instruments.update(
            requests=requests, cost=cost, tokens=tokens,
            duration=meter.create_histogram("gateway.request.duration", "s", "Gateway call latency end to end"),
            # read from the gateways' own in-flight counts when /metrics is scraped, not added to twice a call
            inflight=meter.create_observable_up_down_counter("gateway.inflight", [_observe_inflight], "{request}",
                                                             "Calls in flight per model (saturation)"),
            ttfc=meter.create_histogram("gen_ai.client.operation.time_to_first_chunk", "s",
                                        "Time from sending a streamed request to its first chunk"),
            tpoc=meter.create_histogram("gen_ai.client.operation.time_per_output_chunk", "s",
                                        "Time between output chunks of a streamed response"),
        )
    return _instruments


# --- what an attempt returns ------------------------------------------------------------------------

@dataclass
class Outcome:
    """What the gateway learned from the call that answered (or from the last failed attempt)."""

    target: Target | None = None
    attempts: int = 0
    fallback: bool = False
    queue_s: float = 0.0
    ttft_s: float | None = None
    decode_s: float | None = None
    chunks: int = 0
    usage: Usage = field(default_factory=Usage)
    text_parts: list[str] = field(default_factory=list)
    finish_reason: str | None = None
    response_id: str | None = None
    response_model: str | None = None
    cost_usd: float = 0.0
    error: UpstreamError | None = None
    disconnected: bool = False
    committed: bool = False  # the first chunk went to the client: no retry, no fallback any more

    @property
    def text(self) -> str:
        return "".join(self.text_parts)


def price(target: Target, usage: Usage) -> float:
    try:
        return cost(target.price_as or target.model, usage).total
    except KeyError:
        return 0.0


def _record_result(result: GenAIResult, out: Outcome, target: Target) -> None:
    result.response_model = out.response_model or target.model
    result.response_id = out.response_id
    result.finish_reasons = [out.finish_reason or ("cancelled" if out.disconnected else "unknown")]
    u = out.usage
    result.input_tokens, result.output_tokens = u.input_tokens, u.output_tokens
    result.cache_read_tokens, result.reasoning_tokens = u.cached_input_tokens, u.reasoning_tokens
    result.cache_creation_tokens = u.cache_write_tokens or None
    result.cost_usd = out.cost_usd
    if out.ttft_s is not None and out.chunks:
        result.time_to_first_chunk_s = out.ttft_s


def _litellm_error(exc: Exception) -> UpstreamError:
    status = int(getattr(exc, "status_code", 0) or 0)
    name = type(exc).__name__
    if "Timeout" in name:
        status = 504
    elif status == 0:
        status = 502
    headers = getattr(getattr(exc, "response", None), "headers", None) or getattr(exc, "headers", None) or {}
    retry_after = headers.get("retry-after") if hasattr(headers, "get") else None
    if status == 429 and not retry_after:
        retry_after = "1"  # LiteLLM drops the provider's header on some paths; clients need one to back off
    message = str(getattr(exc, "message", None) or exc)[:300]
    return UpstreamError(status, message, name, retry_after)


class ClientDisconnected(Exception):
    """The caller went away mid-stream; the span closes with what was streamed so far."""

    error_type = "client_disconnect"


class Gateway:
    """Holds the model handle (settings read once), the shared httpx client, the router and one
    semaphore per upstream."""

    def __init__(self, model: Model, router: Router | None = None):
        self.model = model
        self.settings = model.settings
        self.router = router or Router(model.settings)
        self.client: httpx.AsyncClient | None = None
        self._request_parts: tuple[httpx.AsyncClient, list[tuple[bytes, bytes]], dict[str, Any]] | None = None
        self._sems: dict[str, asyncio.Semaphore] = {}
        self.inflight: dict[str, int] = {}
        _gateways.add(self)

    def http(self) -> httpx.AsyncClient:
        """The one pass-through client; its pool plans in linear time (pool.py). The upstream key is a
        default header (set once, not merged per call), and it keeps no cookies: one client serves every
        tenant, so a cookie an upstream set for one caller must not ride along on the next caller's
        request (skipping the jar also saves its per-response parsing)."""
        if self.client is None:
            limits = httpx.Limits(max_connections=512, max_keepalive_connections=256)
            self.client = use_linear_pools(_CookielessClient(
                timeout=httpx.Timeout(self.router.timeout_s, connect=5.0), limits=limits,
                headers={"authorization": f"Bearer {self.router.http_key()}"}))
        return self.client

    def _post(self, path: str, body: dict[str, Any]) -> httpx.Request:
        """The upstream request, built from parts made once per client (URL, merged headers, timeouts)
        instead of by `client.build_request`, which re-parsed the URL and re-merged the client's default
        headers and cookies on every call."""
        client = self.http()
        parts = self._request_parts
        if parts is None or parts[0] is not client:
            headers = httpx.Headers(client.headers)
            headers["content-type"] = "application/json"
            parts = self._request_parts = (client, list(headers.raw), {"timeout": client.timeout.as_dict()})
        return httpx.Request("POST", self._urls[path], headers=parts[1], content=_json_bytes(body),
                             extensions=dict(parts[2]))

    @functools.cached_property
    def _urls(self) -> dict[str, httpx.URL]:
        """The upstream endpoints, parsed once (the base is read once, like every setting)."""
        base = self.router.http_base()
        return {path: httpx.URL(f"{base}{path}") for path in ("/chat/completions", "/embeddings")}

    async def aclose(self) -> None:
        if self.client is not None:
            await self.client.aclose()
            self.client = None

    def _sem(self, target: Target) -> asyncio.Semaphore:
        key = f"{target.upstream}:{target.provider}"
        if key not in self._sems:
            self._sems[key] = asyncio.Semaphore(self.router.concurrency)
        return self._sems[key]

    # --- one attempt, per path ----------------------------------------------------------------

    def _body_for(self, target: Target, body: dict[str, Any], mock: dict[str, Any]) -> dict[str, Any]:
        out = {**body, "model": target.wire_model}
        merged = {**mock, **target.mock}
        if merged:
            out["mock"] = merged
        else:
            out.pop("mock", None)
        return out

    async def _http_json(self, path: str, target: Target, body: dict[str, Any]) -> dict[str, Any]:
        try:
            resp = await self.http().send(self._post(path, body))
        except httpx.TimeoutException as exc:
            raise UpstreamError(504, f"no answer within {self.router.timeout_s:g}s", "timeout") from exc
        except httpx.HTTPError as exc:
            raise UpstreamError(502, f"cannot reach {self.router.http_base()}: {type(exc).__name__}",
                                "connection_error") from exc
        if resp.status_code >= 400:
            raise _http_error(resp.status_code, resp.content, resp.headers)
        try:
            data = json.loads(resp.content)
        except ValueError as exc:
            raise UpstreamError(502, "upstream sent a body that is not JSON", "invalid_response") from exc
        if not isinstance(data, dict):
            raise UpstreamError(502, f"upstream sent JSON that is not an object ({type(data).__name__})",
                                "invalid_response")
        return data

    async def _litellm_json(self, target: Target, body: dict[str, Any], embeddings: bool = False) -> dict[str, Any]:
        litellm = litellm_module()
        kwargs = {k: v for k, v in body.items() if k not in ("model", "mock", "stream", "stream_options")}
        if body.get("mock"):
            kwargs["extra_body"] = {"mock": body["mock"]}
        if embeddings and "dimensions" in kwargs and target.model.startswith("mock/"):
            kwargs["extra_body"] = {**kwargs.get("extra_body", {}), "dimensions": kwargs.pop("dimensions")}
        try:
            if embeddings:
                resp = await litellm.aembedding(model=target.model, timeout=self.router.timeout_s, **kwargs)
            else:
                resp = await litellm.acompletion(model=target.model, timeout=self.router.timeout_s, num_retries=0,
                                                 **kwargs)
        except Exception as exc:  # LiteLLM maps every provider failure onto its own exception classes
            raise _litellm_error(exc) from exc
        return resp.model_dump(exclude_none=True)

    async def _chunks(self, target: Target, body: dict[str, Any]) -> AsyncIterator[list[tuple[str, dict | None]]]:
        """The stream as batches of (SSE text to relay, parsed chunk) pairs, one batch per upstream read (the
        events that had arrived together); raises UpstreamError before the first batch on failure."""
        if target.upstream == "http":
            request = self._post("/chat/completions", body)
            try:
                resp = await self.http().send(request, stream=True)
            except httpx.TimeoutException as exc:
                raise UpstreamError(504, f"no answer within {self.router.timeout_s:g}s", "timeout") from exc
            except httpx.HTTPError as exc:
                raise UpstreamError(502, f"cannot reach {self.router.http_base()}: {type(exc).__name__}",
                                    "connection_error") from exc
            try:
                if resp.status_code >= 400:
                    raise _http_error(resp.status_code, await resp.aread(), resp.headers)
                lines, done = SSELines(), False
                async for text in resp.aiter_text():
                    batch, ended = _sse_events(lines.feed(text))
                    done = done or ended
                    if batch:
                        yield batch
                batch, ended = _sse_events(lines.close())
                done = done or ended
                if batch:
                    yield batch
                if not done:
                    raise UpstreamError(502, "stream ended before [DONE]", "stream_truncated")
            except httpx.TimeoutException as exc:
                raise UpstreamError(504, "stream stalled", "timeout") from exc
            except httpx.HTTPError as exc:
                raise UpstreamError(502, f"stream broke: {type(exc).__name__}", "stream_error") from exc
            finally:
                await resp.aclose()
            return
        kwargs = {k: v for k, v in body.items() if k not in ("model", "mock", "stream", "stream_options")}
        if body.get("mock"):
            kwargs["extra_body"] = {"mock": body["mock"]}
        try:
            stream = await litellm_module().acompletion(model=target.model, stream=True, num_retries=0,
                                                        stream_options={"include_usage": True},
                                                        timeout=self.router.timeout_s, **kwargs)
            async for chunk in stream:
                parsed = chunk.model_dump(exclude_none=True)
                yield [(f"data: {json.dumps(parsed)}\n\n", parsed)]
        except UpstreamError:
            raise
        except Exception as exc:  # LiteLLM's exception classes, mapped once
            raise _litellm_error(exc) from exc
        yield [(DONE, None)]

    # --- the call: retries, fallbacks, spans ------------------------------------------------------

    async def _with_fallbacks(self, route: Route, out: Outcome, attempt) -> Any:
        """Each target in order, each retried on transient failures (shared.resilience.aretry, full
        jitter); the next target is the fallback. Raises the last UpstreamError when all failed."""
        def retryable(exc: BaseException) -> bool:
            return isinstance(exc, UpstreamError) and not out.committed and exc.retryable

        for i, target in enumerate(route.targets):
            try:
                return await aretry(functools.partial(attempt, i, target), attempts=route.retries + 1,
                                    base_s=BACKOFF_BASE_S, cap_s=BACKOFF_CAP_S, retryable=retryable,
                                    max_retry_after_s=BACKOFF_CAP_S)
            except UpstreamError as exc:
                out.error, exc.outcome = exc, out
                if not retryable(exc):
                    raise
        assert out.error is not None
        raise out.error

    async def complete(self, operation: str, route: Route, body: dict[str, Any], mock: dict[str, Any],
                       span_extra: dict[str, Any]) -> tuple[dict[str, Any], Outcome]:
        """Non-streaming chat or embeddings; raises UpstreamError when every attempt failed."""
        out = Outcome()

        async def attempt(i: int, target: Target) -> dict[str, Any]:
            out.attempts += 1
            out.fallback = i > 0
            wire = self._body_for(target, body, mock)
            extra = {**span_extra, "gateway.attempt": out.attempts, "gateway.fallback": i > 0}
            try:
                with genai_span(operation, target.model, provider=target.provider, extra=extra,
                                request=_request_attrs(body)) as (_span, result):
                    start = time.perf_counter()
                    async with self._slot(target, out):
                        if target.upstream == "http":
                            path = "/embeddings" if operation == "embeddings" else "/chat/completions"
                            data = await self._http_json(path, target, wire)
                        else:
                            data = await self._litellm_json(target, wire, embeddings=operation == "embeddings")
                    out.ttft_s = time.perf_counter() - start
                    out.target = target
                    _read_response(out, data, target)
                    _record_result(result, out, target)
                return data
            except UpstreamError as exc:
                out.error, exc.outcome = exc, out
                raise

        return await self._with_fallbacks(route, out, attempt), out

    def _slot(self, target: Target, out: Outcome) -> _Slot:
        """Wait for an upstream slot (the wait is the queue stage) and count the call in flight."""
        instruments()  # the in-flight gauge reads gateway.inflight when scraped
        return _Slot(self, target, out)

    async def stream(self, route: Route, body: dict[str, Any], mock: dict[str, Any], span_extra: dict[str, Any],
                     send_start, send_chunk, disconnected: asyncio.Event, include_usage: bool) -> Outcome:
        """Relay a stream chunk by chunk. `send_start()` runs before the first chunk goes out; until
        then a failed attempt can be retried or fall back, after it the stream is committed."""
        out = Outcome()

        async def attempt(i: int, target: Target) -> Outcome:
            out.attempts += 1
            out.fallback = i > 0
            wire = self._body_for(target, {**body, "stream": True, "stream_options": {"include_usage": True}}, mock)
            extra = {**span_extra, "gateway.attempt": out.attempts, "gateway.fallback": i > 0,
                     "gen_ai.request.stream": True}
            out.text_parts, out.chunks, out.usage, out.ttft_s = [], 0, Usage(), None
            try:
                with genai_span("chat", target.model, provider=target.provider, extra=extra,
                                request=_request_attrs(body)) as (_span, result):
                    try:
                        async with self._slot(target, out):
                            start = time.perf_counter()
                            last = start
                            async for batch in self._chunks(target, wire):
                                now = time.perf_counter()
                                if out.ttft_s is None:
                                    out.ttft_s = now - start
                                last = now
                                relay = []
                                for sse, parsed in batch:
                                    if parsed is not None and _read_chunk(out, parsed) and not include_usage:
                                        continue  # the usage-only chunk the client did not ask for
                                    relay.append(sse)
                                if not relay:
                                    continue
                                if not out.committed:
                                    await send_start()
                                    out.committed = True
                                    out.target = target
                                # one write for the events that arrived together: each write costs a pass
                                # through every middleware's send and a syscall, whatever its size
                                await send_chunk("".join(relay))
                                if disconnected.is_set():
                                    raise ClientDisconnected("client closed the stream")
                            out.decode_s = last - start - (out.ttft_s or 0.0)
                    except (ClientDisconnected, asyncio.CancelledError, OSError):
                        out.disconnected = True
                        out.target = target
                        _estimate_usage(out, body)
                        out.cost_usd = price(target, out.usage)
                        _record_result(result, out, target)
                        raise ClientDisconnected("client closed the stream") from None
                    out.cost_usd = price(target, out.usage)
                    _record_result(result, out, target)
                return out
            except UpstreamError as exc:
                out.error, exc.outcome = exc, out
                raise
            except ClientDisconnected:
                return out

        return await self._with_fallbacks(route, out, attempt)


# built once: json.dumps with any option builds a new encoder on every call (once per upstream call here)
_COMPACT_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def _json_bytes(body: dict[str, Any]) -> bytes:
    """The upstream body as httpx's json= would send it (compact, UTF-8), encoded without httpx's extra steps."""
    return _COMPACT_JSON.encode(body).encode()


class _NoCookies(httpx.Cookies):
    """A cookie store that keeps nothing and sends nothing (see Gateway.http). httpx's own store wraps every
    response and its request in urllib objects before its jar sees them, even when the jar keeps nothing."""

    def extract_cookies(self, response: httpx.Response) -> None:
        return None

    def set_cookie_header(self, request: httpx.Request) -> None:
        return None


class _CookielessClient(httpx.AsyncClient):
    """The pass-through client: its `cookies` are always the empty `_NoCookies` (one client serves every
    tenant, so an upstream's cookie for one caller must never ride along on the next caller's request)."""

    _no_cookies = _NoCookies()

    @property
    def cookies(self) -> httpx.Cookies:
        return self._no_cookies

    @cookies.setter
    def cookies(self, _cookies: Any) -> None:
        return None


class _Slot:
    """Gateway._slot's context (one class for every call: a class built per call cost more than the wait)."""

    __slots__ = ("gateway", "target", "out", "sem")

    def __init__(self, gateway: Gateway, target: Target, out: Outcome):
        self.gateway, self.target, self.out = gateway, target, out
        self.sem = gateway._sem(target)

    async def __aenter__(self) -> None:
        waited = time.perf_counter()
        await self.sem.acquire()
        self.out.queue_s += time.perf_counter() - waited
        inflight = self.gateway.inflight
        inflight[self.target.model] = inflight.get(self.target.model, 0) + 1

    async def __aexit__(self, *exc) -> None:
        self.gateway.inflight[self.target.model] -= 1
        self.sem.release()


def _request_attrs(body: dict[str, Any]) -> dict[str, Any]:
    """The request parameters a GenAI span records: finite numbers only (the request models refuse NaN
    before a call starts; this keeps a span from ever carrying one)."""
    keys = ("temperature", "top_p", "max_tokens", "seed", "frequency_penalty", "presence_penalty")
    return {k: body[k] for k in keys if isinstance(body.get(k), int | float) and not isinstance(body.get(k), bool)
            and math.isfinite(body[k])}


def _http_error(status: int, content: bytes, headers) -> UpstreamError:
    try:
        err = json.loads(content or b"{}").get("error") or {}
        message = err.get("message") or content[:200].decode(errors="replace")
        etype = err.get("code") or err.get("type") or f"http_{status}"
    except (ValueError, AttributeError):
        message, etype = content[:200].decode(errors="replace"), f"http_{status}"
    return UpstreamError(status, str(message)[:300], str(etype), headers.get("retry-after"))


# the errors a well-formed-JSON answer of the wrong shape raises when read: {"choices": ["x"]}, usage "many"
_SHAPE_ERRORS = (AttributeError, TypeError, ValueError, IndexError, KeyError)


def _unreadable(exc: Exception) -> UpstreamError:
    """An answer the gateway cannot read is the provider's failure (a 502), not the gateway's own (a 500)."""
    return UpstreamError(502, f"upstream sent a response the gateway cannot read ({type(exc).__name__}: "
                              f"{str(exc)[:200]})", "invalid_response")


def _content_text(content: Any) -> str:
    """A message's text: the string, or the text parts of a list of content parts ([{"type": "text", ...}])."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p["text"] for p in content
                       if isinstance(p, dict) and p.get("type") == "text" and isinstance(p.get("text"), str))
    return ""


def _read_response(out: Outcome, data: dict[str, Any], target: Target) -> None:
    try:
        out.usage = usage_from(data.get("usage"))
        out.response_id = data.get("id")
        out.response_model = data.get("model")
        choices = data.get("choices") or []
        if choices:
            msg = choices[0].get("message") or {}
            out.text_parts = [_content_text(msg.get("content"))]
            out.finish_reason = choices[0].get("finish_reason")
    except _SHAPE_ERRORS as exc:
        raise _unreadable(exc) from exc
    out.chunks = 1
    out.cost_usd = price(target, out.usage)


def _sse_events(lines: list[str]) -> tuple[list[tuple[str, dict | None]], bool]:
    """The data events among SSE lines as (text to relay, parsed chunk), [DONE] among them with None; and
    whether [DONE] came. A line that is not a data line holding a JSON object is dropped (a comment, a
    keep-alive, a bare number)."""
    events: list[tuple[str, dict | None]] = []
    done = False
    for line in lines:
        if not line.startswith("data:"):
            continue
        data = line[5:].strip()
        if data == "[DONE]":
            done = True
            events.append((DONE, None))
            continue
        try:
            parsed = json.loads(data)
        except ValueError:
            continue
        if isinstance(parsed, dict):
            events.append((f"data: {data}\n\n", parsed))
    return events, done


def _read_chunk(out: Outcome, chunk: dict[str, Any]) -> bool:
    """Fold one chunk into the outcome; True when it carries only usage (no choices)."""
    try:
        return _fold_chunk(out, chunk)
    except _SHAPE_ERRORS as exc:
        raise _unreadable(exc) from exc


def _fold_chunk(out: Outcome, chunk: dict[str, Any]) -> bool:
    out.response_id = out.response_id or chunk.get("id")
    out.response_model = out.response_model or chunk.get("model")
    if chunk.get("usage"):
        out.usage = usage_from(chunk["usage"])
    choices = chunk.get("choices") or []
    for choice in choices:
        delta = choice.get("delta") or {}
        if delta.get("content") and isinstance(delta["content"], str):
            out.text_parts.append(delta["content"])
        if choice.get("finish_reason"):
            out.finish_reason = choice["finish_reason"]
    if choices:
        out.chunks += 1
    return not choices and bool(chunk.get("usage"))


def _estimate_usage(out: Outcome, body: dict[str, Any]) -> None:
    """Usage so far for a stream cut short: the provider's final usage chunk never came."""
    if out.usage.output_tokens:
        return
    prompt = json.dumps(body.get("messages") or [])
    out.usage = Usage(input_tokens=count(prompt), output_tokens=count(out.text) if out.text else 0)


def current_span_set(attrs: dict[str, Any]) -> None:
    span = trace.get_current_span()
    if span.is_recording():
        span.set_attributes({k: v for k, v in attrs.items() if v is not None})
