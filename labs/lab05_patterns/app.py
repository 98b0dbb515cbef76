"""The lab-05 service: every application pattern of the chapter behind a route.

    make lab-05        # serves on 127.0.0.1:8005; README.md has a curl example for every route
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from typing import Annotated, Any, Literal

from fastapi import APIRouter, FastAPI, Header, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from labs.lab05_patterns import cost as cost_mod
from labs.lab05_patterns import production, resilience, sampling, structured
from labs.lab05_patterns.orchestration import PATTERNS, run_pattern
from labs.lab05_patterns.protocols import side_by_side
from labs.lab05_patterns.streaming import sse_events
from labs.lab05_patterns.tools import TOOLS, tool_loop
from shared import llm
from shared.config import Settings, get_settings
from shared.mockllm import tokens
from shared.pricing import UnknownModelPrice, Usage, cost, price_for
from shared.service import ServiceError, create_service
from shared.store import Store

MAX_CONTENT = 400_000  # characters per message; the token check below is the real limit


class Message(BaseModel):
    role: Literal["system", "user", "assistant"]
    content: str = Field(min_length=1, max_length=MAX_CONTENT)


class ChatRequest(BaseModel):
    messages: list[Message] = Field(min_length=1, max_length=64)
    model: str | None = Field(None, max_length=100, description="default: LLM_MODEL")
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    frequency_penalty: float | None = Field(None, ge=-2, le=2)
    presence_penalty: float | None = Field(None, ge=-2, le=2)
    max_tokens: int | None = Field(None, ge=1, le=4096)
    seed: int | None = Field(None, ge=0, le=2**31)
    mask_pii: bool = True


class SamplingRequest(BaseModel):
    logits: list[float] = Field(min_length=1, max_length=4096)
    counts: list[Annotated[int, Field(ge=0, le=10**9)]] | None = Field(
        None, description="times each token was already generated")
    temperature: float = Field(1.0, ge=0, le=100)
    top_k: int | None = Field(None, ge=1)
    top_p: float = Field(1.0, gt=0, le=1)
    frequency_penalty: float = Field(0.0, ge=-2, le=2)
    presence_penalty: float = Field(0.0, ge=-2, le=2)


class Faults(BaseModel):
    """The mock's fault and weakness controls this lab lets a caller set (bounded so demos stay fast)."""

    error_rate: float | None = Field(None, ge=0, le=1)
    error_status: Literal[429, 500, 502, 503] | None = None
    retry_after: int | None = Field(None, ge=0, le=3)
    latency_ms: float | None = Field(None, ge=0, le=100)
    malformed_rate: float | None = Field(None, ge=0, le=1)
    fail_rate_prompt: float | None = Field(None, ge=0, le=1)
    fail_rate_json_mode: float | None = Field(None, ge=0, le=1)
    fail_rate_tools: float | None = Field(None, ge=0, le=1)
    fail_rate_json_schema: float | None = Field(None, ge=0, le=1, description="json_schema without strict")
    fail_rate_strict: float | None = Field(None, ge=0, le=1)
    p: float | None = Field(None, ge=0, le=1, description="noisy solver: probability an answer is right")
    seed: int | None = Field(None, ge=0, le=2**31)

    def options(self) -> dict[str, Any] | None:
        return self.model_dump(exclude_none=True) or None


class ExtractRequest(BaseModel):
    text: str = Field(min_length=1, max_length=4000)
    level: str = Field("tools", description=" | ".join(structured.LEVELS))
    max_retries: int = Field(2, ge=0, le=5)
    mock: Faults = Faults()


class ToolRequest(BaseModel):
    question: str = Field(min_length=1, max_length=2000)
    tools: list[str] | None = Field(None, description=" | ".join(TOOLS))
    max_steps: int = Field(4, ge=1, le=8)


class ProtocolRequest(BaseModel):
    question: str = Field(min_length=1, max_length=2000)


class TokenizeRequest(BaseModel):
    text: str = Field(max_length=100_000)


class EstimateRequest(BaseModel):
    text: str = Field(max_length=400_000)
    model: str = Field("openai/gpt-4o-mini", max_length=100)
    output_tokens: int = Field(0, ge=0, le=1_000_000)
    cached_tokens: int = Field(0, ge=0, le=10_000_000)


class CacheRequest(BaseModel):
    model: str = Field("anthropic/claude-sonnet-4", max_length=100)
    prefix_tokens: int = Field(ge=0, le=10_000_000)
    suffix_tokens: int = Field(0, ge=0, le=10_000_000)
    requests: int = Field(1000, ge=1, le=10**9)
    hit_rate: float | None = Field(None, ge=0, le=1)
    rate_per_s: float | None = Field(None, ge=0, le=10_000)
    ttl_s: float = Field(300.0, gt=0, le=86_400)


class MeasureCacheRequest(BaseModel):
    requests: int = Field(5, ge=2, le=50)
    prefix_tokens: int = Field(2000, ge=0, le=20_000)


class ResilientRequest(BaseModel):
    prompt: str = Field(min_length=1, max_length=4000)
    models: list[str] = Field(["mock/assistant", "mock/assistant?fallback=1"], min_length=1, max_length=4)
    primary_faults: Faults = Faults()
    max_attempts: int = Field(3, ge=1, le=6)
    base_delay_s: float = Field(0.05, ge=0, le=1)
    cap_s: float = Field(0.5, ge=0, le=2)


class OrchestrateRequest(BaseModel):
    inputs: list[Annotated[str, Field(min_length=1, max_length=4000)]] = Field(min_length=1, max_length=16)
    model: str | None = Field(None, max_length=100)
    k: int = Field(5, ge=1, le=15, description="self_consistency: samples")
    temperature: float = Field(0.8, ge=0, le=2, description="self_consistency: sampling temperature (0: greedy)")
    mock: Faults = Faults()


def _provider_error(exc: Exception) -> ServiceError:
    """Map LiteLLM's provider exceptions to clear statuses for our caller."""
    status = resilience.status_of(exc)
    name = type(exc).__name__
    text = str(exc)
    if name == "ContextWindowExceededError" or "context length" in text or "context_length" in text:
        return ServiceError(413, "the prompt is longer than the model's context window",
                            "context_length_exceeded")
    if status == 429:
        after = resilience.retry_after_s(exc)
        return ServiceError(429, "the model provider is rate limiting; retry later", "upstream_rate_limited",
                            headers={"retry-after": str(int(after or 1))})
    if status is not None and 400 <= int(status) < 500:
        return ServiceError(400, f"the model provider rejected the request: {text[:200]}", "upstream_rejected")
    return ServiceError(502, f"the model provider failed: {name}", "upstream_error")


def _check_model(model: str) -> None:
    try:
        price_for(model)
    except UnknownModelPrice as exc:
        raise ServiceError(400, f"unknown model {model!r}: it has no entry in the price map",
                           "unknown_model") from exc


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    store = Store(settings.lab_dir("lab05") / "lab05.db", migrations=[production.SCHEMA])
    tenants = production.Tenants(store)
    idempotency = production.IdempotencyStore(store)
    breakers = resilience.Breakers(threshold=3, window_s=30.0, reset_timeout_s=10.0)

    def model_layer() -> str:
        """Ready means LiteLLM is loaded: importing it takes seconds, which the first chat should not pay."""
        llm.litellm_module()
        return settings.llm_model

    app = create_service("lab-05 LLM application patterns", lab="lab05", settings=settings,
                         readiness={"store": store.ping, "tenants": lambda: f"{len(tenants.tenants)} tenants",
                                    "model": model_layer})
    app.state.breakers = breakers
    app.state.tenants = tenants
    mock_apps: list[FastAPI] = []

    def mock_app() -> FastAPI:
        """The mock's HTTP app, built once, for showing both wire protocols in process."""
        if not mock_apps:
            from shared.mockllm.server import create_app as create_mock_app

            mock_apps.append(create_mock_app(settings))
        return mock_apps[0]
    # these make real (slow, on purpose) retries and calls; the contract test still sends them bad JSON
    app.state.fuzz_skip = {"POST /resilient", "POST /cost/cache/measure"}

    def tenant_of(x_tenant_id: str | None, model: str) -> production.Tenant:
        tenant = tenants.get(x_tenant_id)
        if tenant is None:
            raise ServiceError(403, f"unknown tenant {x_tenant_id!r}", "unknown_tenant")
        if "*" not in tenant.models and model not in tenant.models:
            raise ServiceError(403, f"tenant {tenant.id!r} may not use model {model!r}", "model_not_allowed",
                               allowed=tenant.models)
        return tenant

    def admit(tenant: production.Tenant, messages: list[dict[str, Any]],
              params: dict[str, Any]) -> production.Reservation:
        """Rate bucket + budget hold; the call is then sent with the hold's output cap as max_tokens."""
        try:
            r = tenants.admit(tenant, tokens.count_messages(messages), params.get("max_tokens"))
        except production.QuotaExceeded as exc:
            raise ServiceError(429, str(exc), "quota_exceeded",
                               headers={"retry-after": str(max(1, round(exc.retry_after_s)))}) from exc
        params["max_tokens"] = r.max_output
        return r

    def prepare(body: ChatRequest) -> tuple[str, list[dict[str, Any]], production.Masked, dict[str, Any]]:
        model = body.model or settings.llm_model
        _check_model(model)
        messages = [m.model_dump() for m in body.messages]
        used = tokens.count_messages(messages)
        window = price_for(model).context_window
        if used > window:
            raise ServiceError(413, f"the prompt is {used} tokens; {model} takes at most {window}",
                               "context_length_exceeded", tokens=used, context_window=window)
        masked = production.Masked("", {})
        if body.mask_pii:
            messages, masked = production.mask_messages(messages)
        params = body.model_dump(include={"temperature", "top_p", "frequency_penalty", "presence_penalty",
                                          "max_tokens", "seed"}, exclude_none=True)
        return model, messages, masked, params

    chat = APIRouter(tags=["chat"])

    @chat.post("/chat")
    async def chat_once(body: ChatRequest, idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
                        x_tenant_id: Annotated[str | None, Header(max_length=100)] = None) -> dict[str, Any]:
        """One completion with sampling params, PII masking, tenant quotas and an optional idempotency key."""
        model, messages, masked, params = prepare(body)
        tenant = tenant_of(x_tenant_id, model)
        request_body = body.model_dump()
        if idempotency_key:
            try:
                stored = idempotency.begin(tenant.id, idempotency_key, request_body)
            except production.Conflict as exc:
                raise ServiceError(exc.status, str(exc), "idempotency_conflict") from exc
            if stored is not None:
                return {**stored, "replayed": True}
        try:
            hold = admit(tenant, messages, params)
            try:
                c = await llm.acomplete(messages, model=model, settings=settings, **params)
            except Exception as exc:
                tenants.release(hold)
                raise _provider_error(exc) from exc
            except BaseException:  # cancelled while waiting: nothing was answered, nothing is billed
                tenants.release(hold)
                raise
        except BaseException:
            if idempotency_key:
                idempotency.abandon(tenant.id, idempotency_key)
            raise
        tenants.settle(hold, c.usage.total_tokens, c.cost_usd)
        out = {"text": masked.unmask(c.text), "model": c.model, "finish_reason": c.finish_reason,
               "usage": asdict(c.usage), "cost_usd": c.cost_usd, "tenant": tenant.id,
               "max_tokens": params["max_tokens"], "pii_masked": masked.counts(), "sent": messages,
               "replayed": False}
        if idempotency_key:
            idempotency.finish(tenant.id, idempotency_key, out)
        return out

    @chat.post("/chat/stream")
    async def chat_stream(body: ChatRequest, request: Request,
                          x_tenant_id: Annotated[str | None, Header(max_length=100)] = None) -> StreamingResponse:
        """The same call streamed as server-sent events: deltas, then usage and cost."""
        model, messages, masked, params = prepare(body)
        tenant = tenant_of(x_tenant_id, model)
        hold = admit(tenant, messages, params)
        upstream = llm.astream(messages, model=model, settings=settings, **params)

        def record(state: dict[str, Any]) -> None:
            """Bill the stream. One the client left has no usage event: count its prompt and what it streamed,
            which the provider generated (and charges for) whether or not anyone read it."""
            used, spent = state["tokens"], state["cost_usd"]
            if not used and state["cancelled"]:
                usage = Usage(input_tokens=tokens.count_messages(messages), output_tokens=tokens.count(state["text"]))
                used, spent = usage.total_tokens, cost(model, usage).total
            tenants.settle(hold, used, spent)

        return StreamingResponse(sse_events(upstream, request.is_disconnected, on_close=record),
                                 media_type="text/event-stream", headers={"cache-control": "no-cache"})

    @chat.get("/tenants/{tenant_id}/usage")
    def tenant_usage(tenant_id: str) -> dict[str, Any]:
        """Today's requests, tokens and cost for one tenant, and what is left of its budget."""
        if tenant_id not in tenants.tenants:
            raise ServiceError(404, f"tenant {tenant_id!r} not found", "not_found")
        return tenants.usage(tenant_id)

    patterns = APIRouter(tags=["patterns"])

    @patterns.post("/sampling")
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

    @patterns.post("/extract")
    async def extract(body: ExtractRequest) -> dict[str, Any]:
        """A Person record at one reliability level: value, attempts and every validation error."""
        if body.level not in structured.LEVELS:
            raise ServiceError(422, f"unknown level {body.level!r}; choose one of {', '.join(structured.LEVELS)}",
                               "unknown_level")
        try:
            result = await asyncio.to_thread(structured.extract, body.text, body.level,
                                             max_retries=body.max_retries, mock=body.mock.options())
        except Exception as exc:
            raise _provider_error(exc) from exc
        return result.as_dict()

    @patterns.post("/tools/run")
    async def tools_run(body: ToolRequest) -> dict[str, Any]:
        """The multi-tool loop: parallel calls, structured tool errors, the final answer."""
        unknown = [t for t in body.tools or [] if t not in TOOLS]
        if unknown or body.tools == []:
            raise ServiceError(422, f"unknown tools {unknown}; choose from {', '.join(TOOLS)}", "unknown_tool")
        try:
            out = await tool_loop(body.question, tools=body.tools, max_steps=body.max_steps)
        except Exception as exc:
            raise _provider_error(exc) from exc
        out.pop("messages")
        return out

    @patterns.post("/tools/protocols")
    async def tools_protocols(body: ProtocolRequest) -> dict[str, Any]:
        """The same tool conversation on the OpenAI and the Anthropic wire, exchange by exchange."""
        try:
            return await side_by_side(body.question, mock_app=mock_app())
        except RuntimeError as exc:
            raise ServiceError(400, str(exc), "upstream_rejected") from exc

    @patterns.post("/orchestrate/{pattern}")
    async def orchestrate(pattern: str, body: OrchestrateRequest) -> dict[str, Any]:
        """Run one orchestration pattern: answer, every call, wall time vs the sequential sum."""
        if pattern not in PATTERNS:
            raise ServiceError(404, f"unknown pattern {pattern!r}; choose one of {', '.join(PATTERNS)}",
                               "unknown_pattern")
        if body.model:
            _check_model(body.model.split("?", 1)[0])
        try:
            run = await run_pattern(pattern, body.inputs, model=body.model, mock=body.mock.options(), k=body.k,
                                    temperature=body.temperature)
        except Exception as exc:
            raise _provider_error(exc) from exc
        return run.as_dict()

    costs = APIRouter(prefix="/cost", tags=["cost"])

    @costs.post("/tokenize")
    def tokenize(body: TokenizeRequest) -> dict[str, Any]:
        """Token ids and pieces (o200k_base)."""
        return cost_mod.tokenize(body.text)

    @costs.post("/estimate")
    def estimate(body: EstimateRequest) -> dict[str, Any]:
        """The cost of one call from the price map."""
        _check_model(body.model)
        return cost_mod.estimate(body.text, body.model, body.output_tokens, body.cached_tokens)

    @costs.post("/cache")
    def cache(body: CacheRequest) -> dict[str, Any]:
        """Prompt-caching savings from write/read prices, hit rate (or arrival rate and TTL)."""
        _check_model(body.model)
        return asdict(cost_mod.cache_savings(body.model, body.prefix_tokens, body.suffix_tokens, body.requests,
                                             body.hit_rate, body.rate_per_s, body.ttl_s))

    @costs.post("/cache/measure")
    async def cache_measure(body: MeasureCacheRequest) -> dict[str, Any]:
        """The same savings measured on real calls to the mock's simulated prompt cache."""
        return await asyncio.to_thread(cost_mod.measure_cache, body.requests, body.prefix_tokens,
                                       settings=settings)

    resilient = APIRouter(tags=["resilience"])

    @resilient.post("/resilient")
    async def resilient_call(body: ResilientRequest) -> dict[str, Any]:
        """Retries with full jitter and retry-after, a breaker per model, fallback down the list."""
        for model in body.models:
            _check_model(model.split("?", 1)[0])
        faults = body.primary_faults.options()

        def call(model: str) -> llm.Completion:
            mock = faults if model == body.models[0] else None
            return llm.complete(body.prompt, model=model, settings=settings, mock=mock)

        completion, hops = await asyncio.to_thread(
            resilience.call_with_fallback, call, body.models, breakers, max_attempts=body.max_attempts,
            base=body.base_delay_s, cap=body.cap_s)
        return {"ok": completion is not None, "answer": completion.text if completion else None,
                "served_by": next((h.model for h in hops if h.outcome == "ok"), None),
                "hops": [asdict(h) for h in hops], "breakers": breakers.snapshot()}

    @resilient.get("/breakers")
    def list_breakers() -> list[dict[str, Any]]:
        """The circuit breaker of every model called so far."""
        return breakers.snapshot()

    for router in (chat, patterns, costs, resilient):
        app.include_router(router)
    return app
