"""The lab-09 service: an OpenAI-compatible, traced, metered gateway and the analysis on what it stored.

    make lab-09        # serves on 127.0.0.1:8009; README.md has a curl example for every route

Point the official `openai` SDK at http://127.0.0.1:8009/v1 with a virtual key (sk-lab09-acme) and
nothing else changes. Attribution headers: x-feature, x-prompt-version, x-user-id (hashed, never a
metric label). Content capture is off unless LAB09_CAPTURE_CONTENT=1 or PUT /admin/capture.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse
from pydantic import Field

from labs.lab09_gateway import dashboard, drift, latency, sampling, slo, tracing, traffic
from labs.lab09_gateway.calls import CONVERSATIONS, CallLog, user_hash
from labs.lab09_gateway.calls import SCHEMA as CALLS_SCHEMA
from labs.lab09_gateway.gateway import Gateway
from labs.lab09_gateway.golden import golden_signals
from labs.lab09_gateway.keys import SCHEMA as KEYS_SCHEMA
from labs.lab09_gateway.keys import AdminGuard, KeyStore
from labs.lab09_gateway.metering import Metering
from labs.lab09_gateway.proxy import BodyLimit, ChatRequest, EmbeddingRequest, Proxy, body_spec, parse_body
from labs.lab09_gateway.redaction import forget, redactor
from labs.lab09_gateway.routes_insights import insights_router
from shared.config import Settings, get_settings
from shared.llm import Model
from shared.schemas import Number, StrictModel, Text
from shared.service import create_service, not_found
from shared.store import Store

SAMPLED_PATHS = ("/v1/chat/completions", "/v1/embeddings")  # the traces the tail sampler decides on
Window = Annotated[float, Query(gt=0, le=90 * 86400, description="seconds back from now")]


class Feedback(StrictModel):
    request_id: Text = Field(min_length=1, max_length=128)
    score: Number = Field(ge=0, le=1, description="graded quality in [0, 1] (the quality SLI counts >= threshold)")


class NewKey(StrictModel):
    tenant: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$")
    budget_usd: Number = Field(1.0, gt=0, le=1e6)
    rate_per_s: Number = Field(10.0, gt=0, le=1e5)
    burst: int = Field(20, ge=1, le=1_000_000)


class SamplingPolicy(StrictModel):
    p: Number = Field(ge=0, le=1, description="share of the fast, error-free traces to keep")
    slow_ms: Number = Field(1000.0, gt=0, le=1e9, description="traces at least this slow are always kept")


class Capture(StrictModel):
    enabled: bool


class ReplayRequest(StrictModel):
    model: Text | None = Field(None, min_length=1, max_length=200)
    prompt_version: Text | None = Field(None, min_length=1, max_length=64)
    system: Text | None = Field(None, max_length=20_000, description="replace the system prompt")


class Lab09:
    """Everything the routes share: keys, the call log, the gateway, metering, the front door, sampling, SLOs."""

    def __init__(self, settings: Settings, model: Model):
        folder = settings.lab_dir("lab09")
        self.store = Store(folder / "lab09.db", migrations=[KEYS_SCHEMA + CALLS_SCHEMA, CONVERSATIONS])
        self.keys = KeyStore(self.store)
        self.guard = AdminGuard(self.keys)
        self.log = CallLog(self.store, on_flush=self.keys.persist)
        self.gateway = Gateway(model)
        self.secret = _user_secret(folder / "user_hash.key")
        self.metering = Metering(self.keys, self.log, self.secret)
        capture = os.environ.get("LAB09_CAPTURE_CONTENT", "").lower() in ("1", "true", "yes")
        self.proxy = Proxy(self.gateway, self.keys, self.metering, self.log, capture)
        self.sampling = sampling.LiveSampling(sampling.policy_from_env(), on_decision=self.log.mark_kept)
        self.tail = sampling.install()
        self.slos, self.alerts = slo.load()
        self.redactor = redactor()

    def watch(self, span, scope) -> None:
        """Hand each gateway call's SERVER span to the tail sampler (its trace waits for the decision)."""
        if scope.get("type") == "http" and scope.get("path", "").startswith(SAMPLED_PATHS) and span.is_recording():
            self.tail.watch(span, self.sampling)

    async def aclose(self) -> None:
        await self.gateway.aclose()
        self.log.close()


def _user_secret(path: Path) -> bytes:
    if not path.exists():
        path.write_bytes(secrets.token_bytes(32))
    return path.read_bytes()


def openai_router(lab: Lab09) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["openai"])

    @router.post("/chat/completions", openapi_extra=body_spec(ChatRequest))
    async def chat_completions(request: Request):
        """OpenAI chat completions through the gateway, streaming (chunk by chunk) or not."""
        body = parse_body(await request.body(), ChatRequest)
        return await lab.proxy.chat(request.headers, request.state.request_id, body)

    @router.post("/embeddings")
    async def embeddings(request: Request, req: EmbeddingRequest) -> dict[str, Any]:
        """OpenAI embeddings through the gateway."""
        return await lab.proxy.embeddings(request.headers, request.state.request_id,
                                          req.model_dump(exclude_none=True))

    @router.get("/models")
    def list_models() -> dict[str, Any]:
        """The named routes (and any `mock/<behaviour>` or `<provider>/<model>` id is routed directly)."""
        return {"object": "list", "data": [{"id": name, "object": "model", "owned_by": "lab09-gateway",
                                            "targets": [t.model for t in r.targets], "retries": r.retries}
                                           for name, r in lab.gateway.router.routes.items()]}

    @router.post("/feedback")
    def feedback(body: Feedback, tenant: str | None = Depends(lab.guard.tenant_or_admin)) -> dict[str, Any]:
        """Grade a call (0..1) with the key of the tenant that made it, or the admin key: the quality SLI counts it."""
        if lab.log.get(body.request_id, tenant) is None or not lab.log.grade(body.request_id, body.score):
            raise not_found("call", body.request_id)
        return {"request_id": body.request_id, "score": body.score}

    return router


def operator_router(lab: Lab09, app: FastAPI) -> APIRouter:
    """The admin key's routes: keys, capture, sampling, right to deletion, replay, synthetic traffic."""
    router = APIRouter(dependencies=[Depends(lab.guard.require_admin)])

    @router.get("/admin/keys", tags=["admin"])
    def list_keys() -> list[dict[str, Any]]:
        """Virtual keys: tenant, budget, spend, rate limit (never the key itself)."""
        lab.log.flush()
        return [k.public() for k in lab.keys.list()]

    @router.post("/admin/keys", tags=["admin"], status_code=201)
    def create_key(body: NewKey) -> dict[str, Any]:
        """A new virtual key for a tenant; the raw key is shown only in this answer."""
        raw, key = lab.keys.create(body.tenant, body.budget_usd, body.rate_per_s, body.burst)
        return {"key": raw, **key.public()}

    @router.get("/admin/capture", tags=["admin"])
    def get_capture() -> dict[str, Any]:
        """Whether message content is captured (redacted) into spans and the content store."""
        return {"enabled": lab.proxy.capture, "redacted_spans": lab.redactor.redacted_spans}

    @router.put("/admin/capture", tags=["admin"])
    def set_capture(body: Capture) -> dict[str, Any]:
        """Turn content capture on or off."""
        lab.proxy.capture = body.enabled
        return {"enabled": lab.proxy.capture}

    @router.put("/admin/sampling", tags=["admin"])
    def set_sampling(body: SamplingPolicy) -> dict[str, Any]:
        """Change the tail-sampling policy (the live counts start again)."""
        lab.sampling.set_policy(sampling.TailSampler(body.p, body.slow_ms))
        return lab.sampling.stats()

    @router.delete("/users/{user_id}/content", tags=["privacy"])
    def forget_user(user_id: Annotated[Text, PathParam(min_length=1, max_length=200)]) -> dict[str, Any]:
        """Right to deletion: remove a user's stored content (call log and span attributes)."""
        return forget(lab.log, user_hash(user_id, lab.secret))

    @router.post("/replay/{request_id}", tags=["analysis"])
    async def replay_call(request_id: Annotated[Text, PathParam(max_length=128)], body: ReplayRequest) -> dict[str, Any]:
        """Re-issue a stored request (needs captured content) and diff the answers."""
        return await lab.proxy.replay(request_id, body.model, body.prompt_version, body.system)

    @router.post("/traffic", tags=["analysis"])
    async def send_traffic(body: traffic.TrafficRequest) -> dict[str, Any]:
        """Send n calls through this gateway, billed to the key named (for the dashboard and SLO examples)."""
        return await traffic.send(app, body, lab.log.grade)

    return router


def calls_router(lab: Lab09) -> APIRouter:
    router = APIRouter(prefix="/calls", tags=["calls"])

    @router.get("")
    def list_calls(tenant: str | None = Depends(lab.guard.tenant_or_admin),
                   limit: Annotated[int, Query(ge=1, le=1000)] = 20) -> list[dict[str, Any]]:
        """The most recent calls, newest first: all of them for the admin key, a tenant's own for its key."""
        return lab.log.recent(limit, tenant=tenant)

    @router.get("/{request_id}")
    def get_call(request_id: str, tenant: str | None = Depends(lab.guard.tenant_or_admin)) -> dict[str, Any]:
        """One call, with its captured content when capture was on (another tenant's call is a 404)."""
        row = lab.log.get(request_id, tenant)
        if row is None:
            raise not_found("call", request_id)
        return {**row, "content": lab.log.content(request_id)}

    return router


def analysis_router(lab: Lab09) -> APIRouter:
    """The read-only views over the call log and the span store (no key; no captured content)."""
    router = APIRouter(tags=["analysis"])

    @router.get("/analysis/latency")
    def latency_breakdown(window_s: Window = 3600) -> dict[str, Any]:
        """Latency percentiles per model and the median queue / TTFT / decode split."""
        return {"window_s": window_s, "models": latency.breakdown(lab.log.window(window_s))}

    @router.get("/analysis/cost")
    def cost_attribution(by: Literal["tenant", "key_id", "feature", "prompt_version", "route", "model"] = "tenant",
                         window_s: Window = 86400) -> dict[str, Any]:
        """Spend, calls and tokens grouped by one attribution dimension."""
        groups = lab.log.cost_by(by, window_s)
        return {"by": by, "window_s": window_s, "groups": groups,
                "total_usd": round(sum(g["cost_usd"] for g in groups), 8)}

    @router.get("/analysis/golden")
    def golden(window_s: Window = 3600) -> dict[str, Any]:
        """The four golden signals per model and tenant: traffic, errors (tri-class), latency, saturation."""
        return {"window_s": window_s, **golden_signals(lab.log.window(window_s), window_s, lab.gateway.inflight)}

    @router.get("/analysis/sampling")
    def tail_sampling(p: Annotated[float | None, Query(ge=0, le=1)] = None,
                      slow_ms: Annotated[float | None, Query(gt=0, le=1e9)] = None,
                      window_s: Window = 86400) -> dict[str, Any]:
        """`live`: what the tail sampler kept of the gateway's traces, and why. `what_if`: the same policy
        (or p / slow_ms given here) applied to the stored call log."""
        live = lab.sampling.stats()
        policy = sampling.TailSampler(live["policy"]["p"] if p is None else p,
                                      live["policy"]["slow_ms"] if slow_ms is None else slow_ms)
        return {"live": live, "what_if": sampling.kept_fraction(lab.log.window(window_s), policy)}

    @router.get("/analysis/drift")
    def prompt_drift(reference_s: Window = 86400, current_s: Window = 300,
                     threshold: Annotated[float, Query(gt=0, le=100)] = 0.1) -> dict[str, Any]:
        """KL divergence of prompt length and topic: the current window against the reference before it."""
        return drift.windows(lab.log.window(reference_s + current_s), current_s, threshold)

    @router.get("/slo")
    def slo_status() -> dict[str, Any]:
        """Error budgets, burn rates per window and firing alerts for the SLOs in slo.yaml."""
        return slo.status(lab.log, lab.slos, lab.alerts)

    @router.get("/traces", tags=["traces"])
    def recent_traces(limit: Annotated[int, Query(ge=1, le=200)] = 20) -> list[dict[str, Any]]:
        """Recent gateway calls kept by tail sampling, with their trace ids."""
        return tracing.recent(lab.log, limit)

    @router.get("/traces/{trace_id}", tags=["traces"])
    def get_trace(request: Request,
                  trace_id: Annotated[str, PathParam(pattern=r"^[0-9a-f]{32}$")]) -> list[dict[str, Any]]:
        """The span tree of one trace (captured message content only with the admin key)."""
        return tracing.tree(trace_id, lab.log, lab.sampling.sampler, with_content=lab.guard.admin_request(request))

    @router.get("/dashboard", tags=["dashboard"], response_class=HTMLResponse)
    def dashboard_page() -> HTMLResponse:
        """One HTML page: golden signals, cost, percentiles, burn rates, recent traces."""
        return HTMLResponse(dashboard.PAGE)

    @router.get("/dashboard/data", tags=["dashboard"])
    def dashboard_data(window_s: Window = 3600) -> dict[str, Any]:
        """Everything the dashboard draws, in one JSON."""
        return dashboard.data(lab.log, window_s, lab.gateway.inflight, lab.slos, lab.alerts, lab.sampling)

    return router


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    model = Model.from_settings(settings)
    lab = Lab09(settings, model)
    app = create_service("lab-09 LLM observability", lab="lab09", settings=settings, instrument=False,
                         description="A traced OpenAI-compatible LLM gateway with cost attribution and SLOs.",
                         readiness={"store": lab.store.ping,
                                    "routes": lambda: f"{len(lab.gateway.router.routes)} routes"},
                         warmup={"litellm": model.warm})  # LiteLLM's import, paid before the first call's TTFT
    for router in (openai_router(lab), operator_router(lab, app), calls_router(lab), analysis_router(lab)):
        app.include_router(router)
    app.include_router(insights_router(lab.log, lab.slos))
    app.add_middleware(BodyLimit)
    tracing.server_spans(app, lab.watch)  # added last: outermost, so a 413 from BodyLimit is traced too
    app.state.lab09 = lab
    app.router.on_shutdown.append(lab.aclose)
    return app
