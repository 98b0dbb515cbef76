"""The lab-05 service: every application pattern of the chapter behind a route.

    make lab-05        # serves on 127.0.0.1:8005; README.md has a curl example for every route

Routes parse, call a domain module and return: the chat call path lives in gateway.py, the rest in
the module each router's docstring names.
"""

from __future__ import annotations

import threading
from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Header, Path, Request
from fastapi.responses import StreamingResponse

from labs.lab05_patterns import cost, production, routes_prompting, sampling, sdks, structured
from labs.lab05_patterns.gateway import Gateway, check_model, provider_error
from labs.lab05_patterns.orchestration import PATTERNS, run_pattern
from labs.lab05_patterns.protocols import side_by_side
from labs.lab05_patterns.schemas import (
    CacheRequest,
    ChatRequest,
    EstimateRequest,
    ExtractRequest,
    MeasureCacheRequest,
    OrchestrateRequest,
    ProtocolRequest,
    ResilientRequest,
    SamplingRequest,
    TokenizeRequest,
    ToolRequest,
)
from labs.lab05_patterns.tools import UnknownTool, tool_loop
from shared.config import Settings, get_settings
from shared.llm import Model
from shared.mockllm.server import create_app as create_mock_app
from shared.service import ServiceError, create_service
from shared.store import Store

TenantHeader = Annotated[str | None, Header(max_length=100)]


class Lab05:
    """The lab's state: one model handle, the gateway (tenants, idempotency keys, breakers), the mock's app."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.model = Model.from_settings(settings)
        self.store = Store(settings.lab_dir("lab05") / "lab05.db", migrations=[production.SCHEMA],
                           url=settings.database_url)  # postgresql://...: replicas share budgets and keys
        self.gateway = Gateway(self.model, self.store)
        self._mock_app: FastAPI | None = None
        self._lock = threading.Lock()

    def mock_app(self) -> FastAPI:
        """The mock's HTTP app, built on first use, for showing both wire protocols in process."""
        with self._lock:
            if self._mock_app is None:
                self._mock_app = create_mock_app(self.settings)
            return self._mock_app

    def model_for(self, model_id: str | None) -> Model:
        if model_id is None:
            return self.model
        check_model(model_id)
        return self.model.with_model(model_id)


def chat_router(lab: Lab05) -> APIRouter:
    """gateway.py: idempotency, tenants and quotas, PII masking, streaming."""
    router = APIRouter(tags=["chat"])

    @router.post("/chat")
    async def chat(body: ChatRequest, x_tenant_id: TenantHeader = None,
                   idempotency_key: Annotated[str | None, Header(max_length=200)] = None) -> dict[str, Any]:
        """One completion with sampling params, PII masking, tenant quotas and an optional idempotency key."""
        return await lab.gateway.chat(body.model_dump(), x_tenant_id, idempotency_key)

    @router.post("/chat/stream")
    async def chat_stream(body: ChatRequest, request: Request, x_tenant_id: TenantHeader = None) -> StreamingResponse:
        """The same call streamed as server-sent events: deltas, then usage and cost."""
        events = await lab.gateway.stream(body.model_dump(), x_tenant_id, request.is_disconnected)
        return StreamingResponse(events, media_type="text/event-stream", headers={"cache-control": "no-cache"})

    @router.get("/tenants/{tenant_id}/usage")
    def tenant_usage(tenant_id: Annotated[str, Path(max_length=100)]) -> dict[str, Any]:
        """Today's requests, tokens and cost for one tenant, and what is left of its budget."""
        return lab.gateway.usage(tenant_id)

    return router


def patterns_router(lab: Lab05) -> APIRouter:
    """sampling.py, structured.py, tools.py, protocols.py, orchestration.py."""
    router = APIRouter(tags=["patterns"])

    @router.post("/sampling")
    def sample_distribution(body: SamplingRequest) -> dict[str, Any]:
        """The next-token distribution after penalties, temperature, top-k and top-p."""
        if body.counts is not None and len(body.counts) != len(body.logits):
            raise ServiceError(422, "counts must have one entry per logit", "validation_error")
        params = sampling.SamplingParams(body.temperature, body.top_k, body.top_p, body.frequency_penalty,
                                         body.presence_penalty)
        try:
            probs = sampling.distribution(body.logits, params, body.counts)
        except sampling.SamplingError as exc:
            raise ServiceError(422, str(exc), "validation_error") from exc
        return {"probs": [round(float(p), 6) for p in probs], "kept": int((probs > 0).sum()),
                "argmax": int(probs.argmax()), "entropy_bits": round(sampling.entropy_bits(probs), 6)}

    @router.post("/extract")
    def extract(body: ExtractRequest) -> dict[str, Any]:
        """A Person record at one reliability level: value, attempts and every validation error."""
        if body.level not in structured.LEVELS:
            raise ServiceError(422, f"unknown level {body.level!r}; choose one of {', '.join(structured.LEVELS)}",
                               "unknown_level")
        try:
            return structured.extract(body.text, body.level, model=lab.model, max_retries=body.max_retries,
                                      mock=body.mock.options()).as_dict()
        except Exception as exc:
            raise provider_error(exc) from exc

    @router.post("/tools/run")
    async def tools_run(body: ToolRequest) -> dict[str, Any]:
        """The multi-tool loop: parallel calls, structured tool errors, the final answer."""
        try:
            out = await tool_loop(body.question, model=lab.model, tools=body.tools, max_steps=body.max_steps)
        except UnknownTool as exc:
            raise ServiceError(422, str(exc), "unknown_tool") from exc
        except Exception as exc:
            raise provider_error(exc) from exc
        out.pop("messages")
        return out

    @router.post("/tools/protocols")
    async def tools_protocols(body: ProtocolRequest) -> dict[str, Any]:
        """The same tool conversation on the OpenAI and the Anthropic wire, exchange by exchange."""
        try:
            return await side_by_side(body.question, lab.mock_app())
        except RuntimeError as exc:
            raise ServiceError(400, str(exc), "upstream_rejected") from exc

    @router.post("/orchestrate/{pattern}")
    async def orchestrate(pattern: Annotated[str, Path(max_length=40)], body: OrchestrateRequest) -> dict[str, Any]:
        """Run one orchestration pattern: answer, every call, wall time vs the sequential sum."""
        if pattern not in PATTERNS:
            raise ServiceError(404, f"unknown pattern {pattern!r}; choose one of {', '.join(PATTERNS)}",
                               "unknown_pattern")
        model = lab.model_for(body.model)
        try:
            run = await run_pattern(pattern, body.inputs, model=model, mock=body.mock.options(), k=body.k,
                                    temperature=body.temperature)
        except Exception as exc:
            raise provider_error(exc) from exc
        return run.as_dict()

    return router


def cost_router(lab: Lab05) -> APIRouter:
    """cost.py: tokens, prices, prompt-caching savings (predicted and measured)."""
    router = APIRouter(prefix="/cost", tags=["cost"])

    @router.post("/tokenize")
    def tokenize(body: TokenizeRequest) -> dict[str, Any]:
        """Token ids and pieces (o200k_base)."""
        return cost.tokenize(body.text)

    @router.post("/estimate")
    def estimate(body: EstimateRequest) -> dict[str, Any]:
        """The cost of one call from the price map."""
        check_model(body.model)
        return cost.estimate(body.text, body.model, body.output_tokens, body.cached_tokens)

    @router.post("/cache")
    def cache(body: CacheRequest) -> dict[str, Any]:
        """Prompt-caching savings from write/read prices, hit rate (or arrival rate and TTL)."""
        check_model(body.model)
        return asdict(cost.cache_savings(body.model, body.prefix_tokens, body.suffix_tokens, body.requests,
                                         body.hit_rate, body.rate_per_s, body.ttl_s))

    @router.post("/cache/measure")
    def cache_measure(body: MeasureCacheRequest) -> dict[str, Any]:
        """The same savings measured on real calls to the mock's simulated prompt cache."""
        return cost.measure_cache(lab.model.for_behaviour("assistant"), body.requests, body.prefix_tokens)

    return router


def resilience_router(lab: Lab05) -> APIRouter:
    """gateway.py's fallback over shared/resilience.py (resilience.py has the from-scratch versions)."""
    router = APIRouter(tags=["resilience"])

    @router.post("/resilient")
    def resilient(body: ResilientRequest) -> dict[str, Any]:
        """Retries with full jitter and retry-after, a breaker per model, fallback down the list."""
        return lab.gateway.fallback(body.prompt, body.models, body.primary_faults.options(),
                                    max_attempts=body.max_attempts, base_s=body.base_delay_s, cap_s=body.cap_s)

    @router.get("/breakers")
    def breakers() -> list[dict[str, Any]]:
        """The circuit breaker of every model called so far."""
        return lab.gateway.breaker_states()

    return router


def create_app(settings: Settings | None = None) -> FastAPI:
    lab = Lab05(settings or get_settings())
    tenants = lab.gateway.tenants
    app = create_service("lab-05 LLM application patterns", lab="lab05", settings=lab.settings,
                         readiness={"store": lab.store.ping, "tenants": lambda: f"{len(tenants.tenants)} tenants"},
                         warmup={"model": lab.model.warm, "sdks": sdks.warm})
    for router in (chat_router(lab), patterns_router(lab), cost_router(lab), resilience_router(lab)):
        app.include_router(router)
    routes_prompting.include(app, lab.model, lab.mock_app)
    app.state.lab05 = lab
    return app
