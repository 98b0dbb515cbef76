"""The lab-09 service: an OpenAI-compatible, traced, metered gateway and the analysis on what it stored.

    make lab-09        # serves on 127.0.0.1:8009; README.md has a curl example for every route

Point the official `openai` SDK at http://127.0.0.1:8009/v1 with a virtual key (sk-lab09-acme) and
nothing else changes. Attribution headers: x-feature, x-prompt-version, x-user-id (hashed, never a
metric label). Content capture is off unless LAB09_CAPTURE_CONTENT=1 or PUT /admin/capture.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from labs.lab09_gateway import dashboard, drift, latency, replay, sampling, slo
from labs.lab09_gateway.calls import SCHEMA as CALLS_SCHEMA
from labs.lab09_gateway.calls import BoundedLabel, CallLog, CallRecord, user_hash
from labs.lab09_gateway.gateway import ClientDisconnected, Gateway, Outcome, UpstreamError, current_span_set
from labs.lab09_gateway.gateway import instruments as gateway_instruments
from labs.lab09_gateway.keys import SCHEMA as KEYS_SCHEMA
from labs.lab09_gateway.keys import AdminGuard, KeyStore, VirtualKey
from labs.lab09_gateway.redaction import RedactingSpanProcessor, content_attributes, redact
from shared.config import Settings, get_settings
from shared.service import ServiceError, create_service, error_body, not_found
from shared.store import Store
from shared.telemetry import add_span_processor, span_tree

MAX_BODY_BYTES = 1_000_000
SAMPLED_PATHS = ("/v1/chat/completions", "/v1/embeddings")  # the traces the tail sampler decides on
_redactor: RedactingSpanProcessor | None = None


def redactor() -> RedactingSpanProcessor:
    """One redacting processor per process, ahead of the exporters."""
    global _redactor
    if _redactor is None:
        _redactor = RedactingSpanProcessor()
        add_span_processor(_redactor, first=True)
    return _redactor


class Message(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[dict[str, Any]] | None = None


class ChatRequest(BaseModel):
    """An OpenAI chat request; fields not named here are forwarded untouched."""

    model_config = ConfigDict(extra="allow")
    model: str = Field(min_length=1, max_length=200)
    messages: list[Message] = Field(min_length=1, max_length=4096)
    stream: bool = False
    stream_options: dict[str, Any] | None = None


class EmbeddingRequest(BaseModel):
    model_config = ConfigDict(extra="allow")
    model: str = Field(min_length=1, max_length=200)
    input: str | list[str] = Field(min_length=1)


class Feedback(BaseModel):
    request_id: str = Field(min_length=1, max_length=128)
    score: float = Field(ge=0, le=1, description="graded quality in [0, 1] (the quality SLI counts >= threshold)")


class NewKey(BaseModel):
    tenant: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$")
    budget_usd: float = Field(1.0, gt=0, le=1e6)
    rate_per_s: float = Field(10.0, gt=0, le=1e5)
    burst: int = Field(20, ge=1, le=1_000_000)


class SamplingPolicy(BaseModel):
    p: float = Field(ge=0, le=1, description="share of the fast, error-free traces to keep")
    slow_ms: float = Field(1000.0, gt=0, le=1e9, description="traces at least this slow are always kept")


class Capture(BaseModel):
    enabled: bool


class ReplayRequest(BaseModel):
    model: str | None = Field(None, min_length=1, max_length=200)
    prompt_version: str | None = Field(None, min_length=1, max_length=64)
    system: str | None = Field(None, max_length=20_000, description="replace the system prompt")


class TrafficRequest(BaseModel):
    n: int = Field(20, ge=1, le=500)
    key: str = Field("sk-lab09-acme", min_length=1, max_length=200)
    model: str = Field("assistant", min_length=1, max_length=200)
    feature: str = Field("chat", min_length=1, max_length=64)
    prompt_version: str = Field("v1", min_length=1, max_length=64)
    error_rate: float = Field(0.0, ge=0, le=1)
    stream: bool = False
    prompts: list[str] = Field(["What is 12 * 7?", "Summarize: the invoice was paid late.",
                                "Weather in Paris?", "Fix this python function error"], min_length=1, max_length=50)
    quality: float | None = Field(None, ge=0, le=1, description="grade every call with this score")


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


class Lab09:
    """Everything the routes share: keys, the call log, the gateway, labels, capture switch."""

    def __init__(self, settings: Settings):
        folder = settings.lab_dir("lab09")
        self.store = Store(folder / "lab09.db", migrations=[KEYS_SCHEMA + CALLS_SCHEMA])
        self.keys = KeyStore(self.store)
        self.guard = AdminGuard(self.keys)
        self.log = CallLog(self.store, on_flush=self.keys.persist)
        self.gateway = Gateway(settings)
        self.capture = os.environ.get("LAB09_CAPTURE_CONTENT", "").lower() in ("1", "true", "yes")
        secret_file = folder / "user_hash.key"
        if not secret_file.exists():
            secret_file.write_bytes(secrets.token_bytes(32))
        self.secret = secret_file.read_bytes()
        self.feature = BoundedLabel(20)
        self.prompt_version = BoundedLabel(20)
        self.tenant = BoundedLabel(50, self.keys.tenants)
        self.sampling = sampling.LiveSampling(
            sampling.TailSampler(p=_env_float("LAB09_SAMPLE_RATE", 0.1, 0, 1),
                                 slow_ms=_env_float("LAB09_SLOW_MS", 1000, 1e-3, 1e9)),
            on_decision=self.log.mark_kept)
        self.tail = sampling.install()
        self.slos, self.alerts = slo.load()
        self.redactor = redactor()


def _env_float(name: str, default: float, lo: float, hi: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a number") from None
    if not lo <= value <= hi:
        raise ValueError(f"{name}={raw} is outside [{lo:g}, {hi:g}]")
    return value


def _mock_options(request: Request, body: dict[str, Any]) -> dict[str, Any]:
    opts = {k[7:].replace("-", "_"): v for k, v in request.headers.items() if k.startswith("x-mock-")}
    if isinstance(body.get("mock"), dict):
        opts.update(body["mock"])
    return opts


def _error_class(status: int, upstream: bool) -> str | None:
    """Tri-class errors: the caller's (4xx), the provider's (upstream), the gateway's own (5xx)."""
    if status < 400:
        return None
    if upstream:
        return "provider"
    return "client" if status < 500 else "gateway"


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    app = create_service("lab-09 LLM observability", lab="lab09", settings=settings, instrument=False,
                         description="A traced OpenAI-compatible LLM gateway with cost attribution and SLOs.")
    lab = Lab09(settings)

    def watch_gateway_trace(span, scope) -> None:
        if scope.get("type") == "http" and scope.get("path", "").startswith(SAMPLED_PATHS) and span.is_recording():
            lab.tail.watch(span, lab.sampling)

    _server_spans(app, watch_gateway_trace)
    app.state.lab09 = lab
    app.state.readiness["store"] = lab.store.ping
    app.state.readiness["routes"] = lambda: f"{len(lab.gateway.router.routes)} routes"
    app.state.fuzz_skip = {"POST /traffic"}
    app.add_middleware(BodyLimit)

    async def _close() -> None:
        await lab.gateway.aclose()
        lab.log.close()

    app.router.on_shutdown.append(_close)

    async def _warm() -> None:
        """Import LiteLLM before the first call, not during it (seconds that would land in one TTFT)."""
        from shared.llm import litellm_module

        await asyncio.to_thread(litellm_module)

    app.router.on_startup.append(_warm)

    def attribution(request: Request, key: VirtualKey, route: str, model: str, provider: str, path: str,
                    operation: str, stream: bool) -> CallRecord:
        h = request.headers
        return CallRecord(
            request_id=request.state.request_id, tenant=lab.tenant(key.tenant), key_id=key.key_id,
            feature=lab.feature(h.get("x-feature", "")[:64]), prompt_version=lab.prompt_version(h.get("x-prompt-version", "")[:64]),
            user_hash=user_hash(h.get("x-user-id"), lab.secret), route=route, model=model, provider=provider,
            path=path, operation=operation, stream=stream, trace_id=_trace_id())

    def finish(record: CallRecord, out: Outcome, started: float, status: int, error: UpstreamError | None,
               content: tuple[str, str | None] | None) -> None:
        record.latency_ms = (time.perf_counter() - started) * 1000
        record.status = status
        record.attempts, record.fallback = out.attempts, out.fallback
        record.queue_ms = out.queue_s * 1000
        record.ttft_ms = out.ttft_s * 1000 if out.ttft_s is not None else None
        record.decode_ms = out.decode_s * 1000 if out.decode_s is not None else None
        record.chunks = out.chunks
        u = out.usage
        record.input_tokens, record.output_tokens = u.input_tokens, u.output_tokens
        record.cached_tokens, record.reasoning_tokens = u.cached_input_tokens, u.reasoning_tokens
        record.cost_usd = out.cost_usd
        record.disconnected = out.disconnected
        if out.target is not None:
            record.model, record.provider = out.target.model, out.target.provider
        if error is not None:
            record.error_type = error.error_type
        elif out.disconnected:
            record.error_type = "client_disconnect"
        record.error_class = _error_class(status, error is not None)
        current_span_set({"gateway.tenant": record.tenant, "gateway.key_id": record.key_id,
                          "gateway.feature": record.feature, "gateway.prompt_version": record.prompt_version,
                          "gateway.route": record.route, "gateway.attempts": record.attempts,
                          "gateway.fallback": record.fallback, "gateway.cost_usd": record.cost_usd,
                          "gateway.user.hash": record.user_hash, "error.type": record.error_type})
        inst = gateway_instruments()
        labels = {"gen_ai.request.model": record.route, "tenant": record.tenant}
        inst["requests"].add(1, {**labels, "status_class": f"{status // 100}xx",
                                 "error_class": record.error_class or "none"})
        inst["duration"].record(record.latency_ms / 1000, labels)
        if record.cost_usd:
            inst["cost"].add(record.cost_usd, {**labels, "feature": record.feature,
                                               "prompt_version": record.prompt_version})
        if record.stream and record.ttft_ms is not None and record.chunks:
            inst["ttfc"].record(record.ttft_ms / 1000, {"gen_ai.request.model": record.route})
            if record.chunks > 1 and record.decode_ms is not None:
                inst["tpoc"].record(record.decode_ms / 1000 / (record.chunks - 1), {"gen_ai.request.model": record.route})
        lab.log.add(record, content)

    def authorize(request: Request) -> VirtualKey:
        try:
            return lab.keys.authorize(request.headers.get("authorization"), request.headers.get("x-api-key"))
        except ServiceError as exc:
            gateway_instruments()["requests"].add(1, {"gen_ai.request.model": "unknown", "tenant": "unknown",
                                                      "status_class": f"{exc.status // 100}xx",
                                                      "error_class": "client"})
            raise

    def require_admin(request: Request) -> None:
        """The admin key (LAB09_ADMIN_KEY; `sk-lab09-admin` in the local lab): 401 without it, 403 for a tenant key."""
        lab.guard.caller(request.headers.get("authorization"), request.headers.get("x-api-key"))

    def tenant_or_admin(request: Request) -> str | None:
        """None for the admin (sees every tenant); a tenant's own key sees only that tenant's calls."""
        return lab.guard.caller(request.headers.get("authorization"), request.headers.get("x-api-key"),
                                tenants_allowed=True)

    admin_only = [Depends(require_admin)]
    v1 = APIRouter(prefix="/v1", tags=["openai"])

    @v1.post("/chat/completions")
    async def chat_completions(request: Request, req: ChatRequest):
        """OpenAI chat completions through the gateway, streaming (chunk by chunk) or not."""
        key = authorize(request)
        route = lab.gateway.router.resolve(req.model)
        body = req.model_dump(exclude_none=True)
        mock = _mock_options(request, body)
        body.pop("mock", None)
        first = route.targets[0]
        record = attribution(request, key, route.name, first.model, first.provider, first.upstream, "chat", req.stream)
        record.topic = drift.topic_of(" ".join(m.content for m in req.messages if isinstance(m.content, str)))
        span_extra = {"gateway.tenant": record.tenant, "gateway.feature": record.feature,
                      "gateway.prompt_version": record.prompt_version, "gateway.route": route.name,
                      "gateway.path": first.upstream}
        started = time.perf_counter()
        if req.stream:
            include_usage = bool((req.stream_options or {}).get("include_usage"))
            return StreamRelay(lab, key, route, body, mock, span_extra, record, started, include_usage, finish,
                               _content_of if lab.capture else None)
        try:
            data, out = await lab.gateway.complete("chat", route, body, mock, span_extra)
        except UpstreamError as exc:
            finish(record, exc.outcome, started, exc.to_service_error().status, exc, None)
            raise exc.to_service_error() from None
        lab.keys.charge(key, out.cost_usd)
        content = _content_of(body, out.text) if lab.capture else None
        if content is not None:
            _content_on_span(body, out.text)
        finish(record, out, started, 200, None, content)
        return JSONResponse(data, headers={"x-gateway-cost-usd": f"{out.cost_usd:.8f}",
                                           "x-gateway-attempts": str(out.attempts)})

    @v1.post("/embeddings")
    async def embeddings(request: Request, req: EmbeddingRequest):
        """OpenAI embeddings through the gateway."""
        key = authorize(request)
        route = lab.gateway.router.resolve(req.model)
        body = req.model_dump(exclude_none=True)
        mock = _mock_options(request, body)
        body.pop("mock", None)
        first = route.targets[0]
        record = attribution(request, key, route.name, first.model, first.provider, first.upstream, "embeddings",
                             False)
        started = time.perf_counter()
        try:
            data, out = await lab.gateway.complete("embeddings", route, body, mock,
                                                   {"gateway.tenant": record.tenant, "gateway.route": route.name})
        except UpstreamError as exc:
            finish(record, exc.outcome, started, exc.to_service_error().status, exc, None)
            raise exc.to_service_error() from None
        lab.keys.charge(key, out.cost_usd)
        finish(record, out, started, 200, None, None)
        return data

    @v1.get("/models")
    def list_models() -> dict[str, Any]:
        """The named routes (and any `mock/<behaviour>` or `<provider>/<model>` id is routed directly)."""
        return {"object": "list", "data": [{"id": name, "object": "model", "owned_by": "lab09-gateway",
                                            "targets": [t.model for t in r.targets], "retries": r.retries}
                                           for name, r in lab.gateway.router.routes.items()]}

    @v1.post("/feedback")
    def feedback(body: Feedback, tenant: str | None = Depends(tenant_or_admin)) -> dict[str, Any]:
        """Grade a call (0..1) with the key of the tenant that made it, or the admin key: the quality SLI counts it."""
        if lab.log.get(body.request_id, tenant) is None or not lab.log.grade(body.request_id, body.score):
            raise not_found("call", body.request_id)
        return {"request_id": body.request_id, "score": body.score}

    admin = APIRouter(prefix="/admin", tags=["admin"], dependencies=admin_only)

    @admin.get("/keys")
    def list_keys() -> list[dict[str, Any]]:
        """Virtual keys: tenant, budget, spend, rate limit (never the key itself)."""
        lab.log.flush()
        return [k.public() for k in lab.keys.list()]

    @admin.post("/keys", status_code=201)
    def create_key(body: NewKey) -> dict[str, Any]:
        """A new virtual key for a tenant; the raw key is shown only in this answer."""
        raw, key = lab.keys.create(body.tenant, body.budget_usd, body.rate_per_s, body.burst)
        return {"key": raw, **key.public()}

    @admin.get("/capture")
    def get_capture() -> dict[str, Any]:
        """Whether message content is captured (redacted) into spans and the content store."""
        return {"enabled": lab.capture, "redacted_spans": lab.redactor.redacted_spans}

    @admin.put("/sampling")
    def set_sampling(body: SamplingPolicy) -> dict[str, Any]:
        """Change the tail-sampling policy (the live counts start again)."""
        lab.sampling.set_policy(sampling.TailSampler(body.p, body.slow_ms))
        return lab.sampling.stats()

    @admin.put("/capture")
    def set_capture(body: Capture) -> dict[str, Any]:
        """Turn content capture on or off."""
        lab.capture = body.enabled
        return {"enabled": lab.capture}

    users = APIRouter(prefix="/users", tags=["privacy"], dependencies=admin_only)

    @users.delete("/{user_id}/content")
    def forget(user_id: Annotated[str, PathParam(min_length=1, max_length=200)]) -> dict[str, Any]:
        """Right to deletion: remove a user's stored content (call log and span attributes)."""
        uhash = user_hash(user_id, lab.secret)
        removed = lab.log.forget_user(uhash)
        spans = _forget_span_content(uhash)
        return {"user_hash": uhash, "contents_removed": removed, "spans_scrubbed": spans}

    calls = APIRouter(prefix="/calls", tags=["calls"])

    @calls.get("")
    def list_calls(tenant: str | None = Depends(tenant_or_admin),
                   limit: Annotated[int, Query(ge=1, le=1000)] = 20) -> list[dict[str, Any]]:
        """The most recent calls, newest first: all of them for the admin key, a tenant's own for its key."""
        return lab.log.recent(limit, tenant=tenant)

    @calls.get("/{request_id}")
    def get_call(request_id: str, tenant: str | None = Depends(tenant_or_admin)) -> dict[str, Any]:
        """One call, with its captured content when capture was on (another tenant's call is a 404)."""
        row = lab.log.get(request_id, tenant)
        if row is None:
            raise not_found("call", request_id)
        return {**row, "content": lab.log.content(request_id)}

    @app.post("/replay/{request_id}", tags=["analysis"], dependencies=admin_only)
    async def replay_call(request_id: str, body: ReplayRequest) -> dict[str, Any]:
        """Re-issue a stored request (needs captured content) and diff the answers."""
        stored = lab.log.content(request_id)
        call = lab.log.get(request_id)
        if call is None:
            raise not_found("call", request_id)
        if stored is None:
            raise ServiceError(409, "no content stored for this call: turn capture on (PUT /admin/capture) "
                               "before the call you want to replay", "no_content")
        req = dict(stored["request"])
        if body.model:
            req["model"] = body.model
        if body.system is not None:
            req["messages"] = [{"role": "system", "content": body.system},
                               *[m for m in req["messages"] if m.get("role") != "system"]]
        route = lab.gateway.router.resolve(req["model"])
        try:
            data, out = await lab.gateway.complete("chat", route, {**req, "stream": False}, {},
                                                   {"gateway.replay_of": request_id,
                                                    "gateway.prompt_version": body.prompt_version or call["prompt_version"]})
        except UpstreamError as exc:
            raise exc.to_service_error() from None
        new = redact(out.text)
        return {"request_id": request_id, "model": req["model"],
                "prompt_version": body.prompt_version or call["prompt_version"],
                "stored": stored["response"], "replayed": new, **replay.diff(stored["response"] or "", new)}

    analysis = APIRouter(prefix="/analysis", tags=["analysis"])

    def window(seconds_back: float) -> list[dict]:
        return lab.log.query("SELECT * FROM calls WHERE ts >= ? ORDER BY ts", [time.time() - seconds_back])

    @analysis.get("/latency")
    def latency_breakdown(window_s: Annotated[float, Query(gt=0, le=90 * 86400)] = 3600) -> dict[str, Any]:
        """Latency percentiles per model and the median queue / TTFT / decode split."""
        return {"window_s": window_s, "models": latency.breakdown(window(window_s))}

    @analysis.get("/cost")
    def cost_attribution(by: Literal["tenant", "key_id", "feature", "prompt_version", "route", "model"] = "tenant",
                         window_s: Annotated[float, Query(gt=0, le=90 * 86400)] = 86400) -> dict[str, Any]:
        """Spend, calls and tokens grouped by one attribution dimension."""
        rows = lab.log.query(
            f"SELECT {by} AS name, COUNT(*) AS calls, SUM(cost_usd) AS cost_usd, SUM(input_tokens) AS input_tokens, "
            f"SUM(output_tokens) AS output_tokens FROM calls WHERE ts >= ? GROUP BY {by} ORDER BY cost_usd DESC",
            [time.time() - window_s])
        for row in rows:
            row["cost_usd"] = round(row["cost_usd"] or 0.0, 8)
        return {"by": by, "window_s": window_s, "groups": rows,
                "total_usd": round(sum(r["cost_usd"] for r in rows), 8)}

    @analysis.get("/golden")
    def golden(window_s: Annotated[float, Query(gt=0, le=90 * 86400)] = 3600) -> dict[str, Any]:
        """The four golden signals per model and tenant: traffic, errors (tri-class), latency, saturation."""
        return {"window_s": window_s, **golden_signals(window(window_s), window_s, lab)}

    @analysis.get("/sampling")
    def tail_sampling(p: Annotated[float | None, Query(ge=0, le=1)] = None,
                      slow_ms: Annotated[float | None, Query(gt=0, le=1e9)] = None,
                      window_s: Annotated[float, Query(gt=0, le=90 * 86400)] = 86400) -> dict[str, Any]:
        """`live`: what the tail sampler kept of the gateway's traces, and why. `what_if`: the same policy
        (or p / slow_ms given here) applied to the stored call log."""
        live = lab.sampling.stats()
        policy = sampling.TailSampler(live["policy"]["p"] if p is None else p,
                                      live["policy"]["slow_ms"] if slow_ms is None else slow_ms)
        return {"live": live, "what_if": sampling.kept_fraction(window(window_s), policy)}

    @analysis.get("/drift")
    def prompt_drift(reference_s: Annotated[float, Query(gt=0, le=90 * 86400)] = 86400,
                     current_s: Annotated[float, Query(gt=0, le=90 * 86400)] = 300,
                     threshold: Annotated[float, Query(gt=0, le=100)] = 0.1) -> dict[str, Any]:
        """KL divergence of prompt length and topic: the current window against the reference before it."""
        now = time.time()
        rows = window(reference_s + current_s)
        ok = [r for r in rows if r["status"] < 400 and r["operation"] == "chat"]
        ref = [r for r in ok if r["ts"] < now - current_s]
        cur = [r for r in ok if r["ts"] >= now - current_s]
        return drift.drift(ref, cur, threshold)

    @app.get("/slo", tags=["analysis"])
    def slo_status() -> dict[str, Any]:
        """Error budgets, burn rates per window and firing alerts for the SLOs in slo.yaml."""
        rows = window(max(s.window_days for s in lab.slos) * 86400)
        return slo.evaluate(rows, lab.slos, lab.alerts)

    traces = APIRouter(prefix="/traces", tags=["traces"])

    @traces.get("")
    def recent_traces(limit: Annotated[int, Query(ge=1, le=200)] = 20) -> list[dict[str, Any]]:
        """Recent gateway calls kept by tail sampling, with their trace ids."""
        return recent_trace_rows(lab, limit)

    @traces.get("/{trace_id}")
    def get_trace(request: Request,
                  trace_id: Annotated[str, PathParam(pattern=r"^[0-9a-f]{32}$")]) -> list[dict[str, Any]]:
        """The span tree of one trace (captured message content only with the admin key)."""
        tree = span_tree(trace_id)
        if not lab.guard.is_admin(request.headers.get("authorization"), request.headers.get("x-api-key")):
            tree = _without_content(tree)
        if not tree:
            dropped = lab.log.query("SELECT 1 FROM calls WHERE trace_id = ? AND kept = 0 LIMIT 1", [trace_id])
            if dropped:
                policy = lab.sampling.sampler
                raise ServiceError(404, f"trace {trace_id} was dropped by tail sampling (fast, no error, outside "
                                   f"p={policy.p:g}); PUT /admin/sampling keeps more", "trace_not_sampled")
            raise not_found("trace", trace_id)
        return tree

    @app.get("/dashboard", tags=["dashboard"], response_class=HTMLResponse)
    def dashboard_page() -> HTMLResponse:
        """One HTML page: golden signals, cost, percentiles, burn rates, recent traces."""
        return HTMLResponse(dashboard.PAGE)

    @app.get("/dashboard/data", tags=["dashboard"])
    def dashboard_data(window_s: Annotated[float, Query(gt=0, le=90 * 86400)] = 3600) -> dict[str, Any]:
        """Everything the dashboard draws, in one JSON."""
        rows = window(window_s)
        by_tenant = cost_attribution("tenant", window_s)
        by_version = cost_attribution("prompt_version", window_s)
        return {"window_s": window_s, "golden": golden_signals(rows, window_s, lab),
                "cost": {"tenant": by_tenant["groups"], "prompt_version": by_version["groups"],
                         "total_usd": by_tenant["total_usd"]},
                "latency": latency.breakdown(rows), "slo": slo_status(), "sampling": lab.sampling.stats(),
                "traces": [{**t, "tree": _without_content(span_tree(t["trace_id"])) if t["trace_id"] else []}
                           for t in recent_trace_rows(lab, 5)]}

    @app.post("/traffic", tags=["analysis"])
    async def traffic(body: TrafficRequest) -> dict[str, Any]:
        """Send n calls through this gateway (for the dashboard and the SLO examples)."""
        return await send_traffic(app, body)

    for router in (v1, admin, users, calls, analysis, traces):
        app.include_router(router)
    return app


def _content_of(body: dict[str, Any], text: str | None) -> tuple[str, str | None]:
    """Redacted before it is stored: the first of the three redaction layers."""
    req = {"model": body.get("model"), "messages": body.get("messages")}
    return redact(json.dumps(req, ensure_ascii=False)), redact(text) if text is not None else None


def _content_on_span(body: dict[str, Any], text: str | None) -> None:
    current_span_set(content_attributes(body.get("messages") or [], text))


CONTENT_ATTRIBUTES = ("gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.system_instructions")


def _without_content(tree: list[dict]) -> list[dict]:
    """Span trees for the open read-only views: captured content (redacted or not) stays behind the admin key."""
    return [{**node, "attributes": {k: v for k, v in node["attributes"].items() if k not in CONTENT_ATTRIBUTES},
             "children": _without_content(node["children"])} for node in tree]


def _trace_id() -> str | None:
    from opentelemetry import trace

    ctx = trace.get_current_span().get_span_context()
    return f"{ctx.trace_id:032x}" if ctx.is_valid else None


def _forget_span_content(uhash: str) -> int:
    from shared.telemetry import flush, span_store

    flush()
    with span_store().tx() as db:
        return db.execute(
            "UPDATE spans SET attributes = json_remove(attributes, '$.\"gen_ai.input.messages\"', "
            "'$.\"gen_ai.output.messages\"') WHERE json_extract(attributes, '$.\"gateway.user.hash\"') = ? "
            "AND json_extract(attributes, '$.\"gen_ai.input.messages\"') IS NOT NULL", [uhash]).rowcount


def _server_spans(app: FastAPI, on_request) -> None:
    """One SERVER span per request from the OpenTelemetry FastAPI instrumentor (it reads `traceparent`),
    without its per-message `http send` / `http receive` spans: a stream of 200 chunks would otherwise
    add 200 spans, and a gateway is judged on its own overhead. `on_request(span, scope)` runs as each
    server span starts (the tail sampler uses it to watch the gateway's traces)."""
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
    from opentelemetry.metrics import NoOpMeterProvider

    # HTTP metrics come from shared.service's middleware (/metrics): the instrumentor's own would double them
    FastAPIInstrumentor.instrument_app(app, excluded_urls="healthz,readyz,metrics,dashboard/data",
                                       exclude_spans=["receive", "send"], server_request_hook=on_request,
                                       meter_provider=NoOpMeterProvider())


def golden_signals(rows: list[dict], window_s: float, lab: Lab09) -> dict[str, Any]:
    """Traffic (calls/s, tokens/s), errors by class, latency p50/p99, saturation (in flight, provider 429s)."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for row in rows:
        groups.setdefault((row["route"], row["tenant"]), []).append(row)
    out = []
    for (model, tenant), items in sorted(groups.items()):
        lat = [r["latency_ms"] for r in items if r["status"] < 400]
        errors = {"client": 0, "provider": 0, "gateway": 0}
        for r in items:
            if r["error_class"] in errors:
                errors[r["error_class"]] += 1
        out.append({"model": model, "tenant": tenant, "calls": len(items),
                    "calls_per_s": round(len(items) / window_s, 6),
                    "output_tokens_per_s": round(sum(r["output_tokens"] for r in items) / window_s, 6),
                    "errors": errors, "error_rate": round(sum(errors.values()) / len(items), 4),
                    "p50_ms": _r(latency.percentile(lat, 0.5)), "p99_ms": _r(latency.percentile(lat, 0.99)),
                    "provider_429": sum(1 for r in items if r["status"] == 429 and r["error_class"] == "provider"),
                    "cost_usd": round(sum(r["cost_usd"] for r in items), 8)})
    return {"rows": out, "inflight": dict(lab.gateway.inflight), "calls": len(rows)}


def _r(v: float | None) -> float | None:
    return None if v is None else round(v, 3)


def recent_trace_rows(lab: Lab09, limit: int) -> list[dict[str, Any]]:
    rows = lab.log.query("SELECT request_id, trace_id, ts, route, tenant, status, error_type, latency_ms, "
                         "cost_usd, attempts, fallback FROM calls WHERE kept = 1 ORDER BY ts DESC LIMIT ?", [limit])
    return rows


async def send_traffic(app: FastAPI, body: TrafficRequest) -> dict[str, Any]:
    import random

    import httpx
    from opentelemetry import context as otel_context

    rng = random.Random(7)
    statuses: dict[str, int] = {}
    ids = []
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://lab09") as client:
        for i in range(body.n):
            headers = {"authorization": f"Bearer {body.key}", "x-feature": body.feature,
                       "x-prompt-version": body.prompt_version}
            if rng.random() < body.error_rate:
                headers["x-mock-error-status"] = "500"
            payload = {"model": body.model, "stream": body.stream,
                       "messages": [{"role": "user", "content": body.prompts[i % len(body.prompts)]}]}
            token = otel_context.attach(otel_context.Context())  # each call its own trace, as from real clients
            try:
                resp = await client.post("/v1/chat/completions", json=payload, headers=headers)
            finally:
                otel_context.detach(token)
            statuses[str(resp.status_code)] = statuses.get(str(resp.status_code), 0) + 1
            rid = resp.headers.get("x-request-id")
            ids.append(rid)
            if body.quality is not None and resp.status_code == 200:
                app.state.lab09.log.grade(rid, body.quality)
            await asyncio.sleep(0)
    return {"sent": body.n, "statuses": statuses, "request_ids": ids[:5]}


class StreamRelay(Response):
    """A streamed call as one ASGI response: the upstream opens, the status is chosen (an upstream
    error before the first chunk is still a proper JSON error), then chunks are relayed as they
    come. Everything runs in the request's task, so the GenAI span is a child of the SERVER span and
    ends at the last chunk; a client that goes away cancels the relay and closes the upstream."""

    def __init__(self, lab: Lab09, key: VirtualKey, route, body, mock, span_extra, record, started, include_usage,
                 finish, capture):
        super().__init__(status_code=200)
        self.lab, self.key, self.route, self.body, self.mock = lab, key, route, body, mock
        self.span_extra, self.record, self.started = span_extra, record, started
        self.include_usage, self.finish, self.capture = include_usage, finish, capture

    async def __call__(self, scope, receive, send) -> None:
        disconnected = asyncio.Event()
        sent_start = False
        request_id = scope.get("state", {}).get("request_id")

        async def send_start():
            nonlocal sent_start
            sent_start = True
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache"),
                                    (b"x-request-id", (request_id or "").encode())]})

        async def send_chunk(text: str):
            await send({"type": "http.response.body", "body": text.encode(), "more_body": True})

        relay = asyncio.ensure_future(self.lab.gateway.stream(
            self.route, self.body, self.mock, self.span_extra, send_start, send_chunk, disconnected,
            self.include_usage))

        async def watch():
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    disconnected.set()
                    relay.cancel()
                    return

        watcher = asyncio.ensure_future(watch())
        error: UpstreamError | None = None
        out = Outcome()
        try:
            out = await relay
        except UpstreamError as exc:
            error = exc
            out = exc.outcome
        except (asyncio.CancelledError, ClientDisconnected):
            out.disconnected = True
        finally:
            watcher.cancel()
        self.lab.keys.charge(self.key, out.cost_usd)
        if error is not None and not sent_start:
            err = error.to_service_error()
            self.finish(self.record, error.outcome, self.started, err.status, error, None)
            payload = json.dumps(error_body(err.status, err.message, request_id, err.type, **err.extra)).encode()
            headers = [(b"content-type", b"application/json"), (b"x-request-id", (request_id or "").encode())]
            headers += [(k.encode(), v.encode()) for k, v in err.headers.items()]
            await send({"type": "http.response.start", "status": err.status, "headers": headers})
            await send({"type": "http.response.body", "body": payload})
            return
        content = self.capture(self.body, out.text) if self.capture and not out.disconnected else None
        if content is not None:
            _content_on_span(self.body, out.text)
        status = 200 if error is None else 502
        self.finish(self.record, out, self.started, status, error, content)
        if not out.disconnected:
            if not sent_start:
                await send_start()
            if error is not None:
                err = error.to_service_error()
                await send_chunk(f"data: {json.dumps(error_body(err.status, err.message, request_id, err.type))}\n\n")
            await send({"type": "http.response.body", "body": b"", "more_body": False})
