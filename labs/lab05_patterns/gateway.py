"""The service's call path: check, mask, tenant, replay, hold, call, settle; and fallback across models.

    curl -s localhost:8005/chat -H 'content-type: application/json' -H 'idempotency-key: order-42' \
      -d '{"messages": [{"role": "user", "content": "What is 6 * 7?"}]}'      # twice: one model call

A request to /chat goes through these steps, in this order:

    1. check   the model has a price (or it could not be billed) and the prompt fits its window (413)
    2. mask    PII becomes placeholders before anything leaves the service (production.mask_messages)
    3. tenant  the caller's tenant exists and may use the model (403)
    4. replay  an idempotency key seen before returns the stored answer: no second call, no second bill
    5. hold    the tenant's rate bucket and daily budget admit the call and hold its tokens (429)
    6. call    the model, with max_tokens lowered to what the hold covers
    7. settle  the real usage replaces the hold; the answer is stored under the idempotency key

A failure at step 6 releases the hold and frees the key, so the client's retry really retries.
Steps 1-2 count tokens and run regexes over up to 64 messages: they run in a worker thread, so one
large prompt never stalls the event loop (and with it /healthz and every other request).

/resilient is the other path: retries with full jitter and retry-after, one circuit breaker per
model, fallback down the list. It is built on shared/resilience.py, the production versions of the
mechanisms resilience.py writes out from scratch.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import shared.mockllm.tokens as tokens
from labs.lab05_patterns.production import (
    Conflict,
    IdempotencyStore,
    Masked,
    QuotaExceeded,
    Reservation,
    Tenant,
    Tenants,
    mask_messages,
)
from labs.lab05_patterns.streaming import sse_events
from shared.llm import Model
from shared.pricing import UnknownModelPrice, Usage, cost, price_for
from shared.resilience import BreakerOpen, Breakers, retry, retry_after_s, status_of
from shared.service import ServiceError, not_found
from shared.store import Store

SAMPLING_PARAMS = {"temperature", "top_p", "frequency_penalty", "presence_penalty", "max_tokens", "seed",
                   "reasoning_effort"}


def check_model(model: str) -> None:
    """A model with no price cannot be billed, so it is refused before any call (400)."""
    try:
        price_for(model.split("?", 1)[0])
    except UnknownModelPrice as exc:
        raise ServiceError(400, f"unknown model {model!r}: it has no entry in the price map",
                           "unknown_model") from exc


def _same_mock(model_id: str) -> str:
    """`openai/mock/x` is the mock behaviour `mock/x` reached over HTTP: a tenant allowed one may use the other."""
    return model_id.removeprefix("openai/") if model_id.startswith("openai/mock/") else model_id


def provider_error(exc: Exception) -> ServiceError:
    """Map LiteLLM's provider exceptions to clear statuses for our caller."""
    status = status_of(exc)
    name = type(exc).__name__
    text = str(exc)
    if name == "ContextWindowExceededError" or "context length" in text or "context_length" in text:
        return ServiceError(413, "the prompt is longer than the model's context window",
                            "context_length_exceeded")
    if status == 429:
        after = retry_after_s(exc)
        return ServiceError(429, "the model provider is rate limiting; retry later", "upstream_rate_limited",
                            headers={"retry-after": str(int(after or 1))})
    if status is not None and 400 <= status < 500:
        return ServiceError(400, f"the model provider rejected the request: {text[:200]}", "upstream_rejected")
    return ServiceError(502, f"the model provider failed: {name}", "upstream_error")


@dataclass
class Prepared:
    """A chat request after steps 1-2: what will be sent, and how to put the PII back."""

    model: Model
    messages: list[dict[str, Any]]
    masked: Masked
    params: dict[str, Any]
    prompt_tokens: int  # of the masked messages: what the hold is sized on


@dataclass
class Hop:
    model: str
    outcome: str  # ok | failed | circuit_open
    attempts: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None


class Gateway:
    """Tenants, idempotency keys and breakers over one model handle; one per app."""

    def __init__(self, model: Model, store: Store, breakers: Breakers | None = None):
        self.model = model
        self.tenants = Tenants(store)
        self.idempotency = IdempotencyStore(store)
        self.breakers = breakers or Breakers(threshold=3, cooldown_s=10.0)

    # -- steps 1 to 5 ------------------------------------------------------------------------------

    def prepare(self, request: dict[str, Any]) -> Prepared:
        """Steps 1-2 (CPU: the tokenizer and the PII regexes over every message)."""
        model_id = request.get("model") or self.model.id
        check_model(model_id)
        messages = request["messages"]
        used = tokens.count_messages(messages)
        window = price_for(model_id.split("?", 1)[0]).context_window
        if used > window:
            raise ServiceError(413, f"the prompt is {used} tokens; {model_id} takes at most {window}",
                               "context_length_exceeded", tokens=used, context_window=window)
        masked = Masked("", {})
        if request.get("mask_pii", True):
            messages, masked = mask_messages(messages)
            used = tokens.count_messages(messages)
        params = {k: v for k, v in request.items() if k in SAMPLING_PARAMS and v is not None}
        return Prepared(self.model.with_model(model_id), messages, masked, params, used)

    def tenant(self, tenant_id: str | None, model_id: str) -> Tenant:
        tenant = self.tenants.get(tenant_id)
        if tenant is None:
            raise ServiceError(403, f"unknown tenant {tenant_id!r}", "unknown_tenant")
        allowed = {_same_mock(m) for m in tenant.models}
        if "*" not in allowed and _same_mock(model_id) not in allowed:
            raise ServiceError(403, f"tenant {tenant.id!r} may not use model {model_id!r}", "model_not_allowed",
                               allowed=tenant.models)
        return tenant

    def hold(self, tenant: Tenant, p: Prepared) -> Reservation:
        """Rate bucket + budget hold; the call is then sent with the hold's output cap as max_tokens."""
        try:
            r = self.tenants.admit(tenant, p.prompt_tokens, p.params.get("max_tokens"))
        except QuotaExceeded as exc:
            raise ServiceError(429, str(exc), "quota_exceeded",
                               headers={"retry-after": str(max(1, round(exc.retry_after_s)))}) from exc
        p.params["max_tokens"] = r.max_output
        return r

    def replay(self, tenant: Tenant, key: str, request: dict[str, Any]) -> dict[str, Any] | None:
        try:
            return self.idempotency.begin(tenant.id, key, request)
        except Conflict as exc:
            raise ServiceError(exc.status, str(exc), "idempotency_conflict") from exc

    # -- the two ways to call ----------------------------------------------------------------------

    async def chat(self, request: dict[str, Any], tenant_id: str | None, key: str | None) -> dict[str, Any]:
        """One completion through all seven steps; `request` is the validated body (it is also what
        the idempotency key is bound to)."""
        p = await asyncio.to_thread(self.prepare, request)
        tenant = self.tenant(tenant_id, p.model.id)
        if key:
            stored = self.replay(tenant, key, request)
            if stored is not None:
                return {**stored, "replayed": True}
        try:
            hold = self.hold(tenant, p)
            try:
                c = await p.model.acomplete(p.messages, **p.params)
            except Exception as exc:
                self.tenants.release(hold)
                raise provider_error(exc) from exc
            except BaseException:  # cancelled while waiting: nothing was answered, nothing is billed
                self.tenants.release(hold)
                raise
        except BaseException:
            if key:
                self.idempotency.abandon(tenant.id, key)
            raise
        self.tenants.settle(hold, c.usage.total_tokens, c.cost_usd)
        out = {"text": p.masked.unmask(c.text), "model": c.model, "finish_reason": c.finish_reason,
               "usage": asdict(c.usage), "cost_usd": c.cost_usd, "tenant": tenant.id,
               "max_tokens": p.params["max_tokens"], "pii_masked": p.masked.counts(), "sent": p.messages,
               "replayed": False}
        if key:
            self.idempotency.finish(tenant.id, key, out)
        return out

    async def stream(self, request: dict[str, Any], tenant_id: str | None,
                     disconnected: Callable[[], Awaitable[bool]]) -> AsyncIterator[str]:
        """The same call as server-sent events (deltas, then usage and cost), billed however it ends."""
        p = await asyncio.to_thread(self.prepare, request)
        tenant = self.tenant(tenant_id, p.model.id)
        hold = self.hold(tenant, p)
        upstream = p.model.astream(p.messages, **p.params)

        def record(state: dict[str, Any]) -> None:
            """A stream the client left has no usage event: bill its prompt and what it streamed, which
            the provider generated (and charges for) whether or not anyone read it."""
            used, spent = state["tokens"], state["cost_usd"]
            if not used and state["cancelled"]:
                usage = Usage(input_tokens=tokens.count_messages(p.messages), output_tokens=tokens.count(state["text"]))
                used, spent = usage.total_tokens, cost(p.model.id, usage).total
            self.tenants.settle(hold, used, spent)

        return sse_events(upstream, disconnected, on_close=record)

    def usage(self, tenant_id: str) -> dict[str, Any]:
        if tenant_id not in self.tenants.tenants:
            raise not_found("tenant", tenant_id)
        return self.tenants.usage(tenant_id)

    # -- fallback --------------------------------------------------------------------------------

    def fallback(self, prompt: str, models: list[str], faults: dict[str, Any] | None = None, *,
                 max_attempts: int = 3, base_s: float = 0.05, cap_s: float = 0.5, max_retry_after_s: float = 5.0,
                 sleep: Callable[[float], None] = time.sleep) -> dict[str, Any]:
        """Try each model in order: retries (full jitter, retry-after as a floor) inside its breaker; a
        model whose breaker is open is skipped at once. `faults` go to the first model only."""
        for name in models:
            check_model(name)
        hops: list[Hop] = []
        for name in models:
            breaker = self.breakers.breaker(name)
            try:
                breaker.before()
            except BreakerOpen:
                hops.append(Hop(name, "circuit_open"))
                continue
            model = self.model.with_model(name)
            mock = faults if name == models[0] else None
            attempts: list[dict[str, Any]] = []

            def once(model: Model = model, mock: dict[str, Any] | None = mock,
                     attempts: list[dict[str, Any]] = attempts) -> Any:
                try:
                    value = model.complete(prompt, mock=mock)
                except Exception as exc:
                    attempts.append({"ok": False, "error": f"{type(exc).__name__}: {str(exc)[:120]}",
                                     "retry_after_s": retry_after_s(exc)})
                    raise
                attempts.append({"ok": True})
                return value

            try:
                completion = retry(once, attempts=max_attempts, base_s=base_s, cap_s=cap_s,
                                   max_retry_after_s=max_retry_after_s, sleep=sleep)
            except Exception as exc:
                breaker.failure()
                hops.append(Hop(name, "failed", attempts, f"{type(exc).__name__}: {str(exc)[:160]}"))
                continue
            breaker.success()
            hops.append(Hop(name, "ok", attempts))
            return {"ok": True, "answer": completion.text, "served_by": name, "hops": [asdict(h) for h in hops],
                    "breakers": self.breaker_states()}
        return {"ok": False, "answer": None, "served_by": None, "hops": [asdict(h) for h in hops],
                "breakers": self.breaker_states()}

    def breaker_states(self) -> list[dict[str, Any]]:
        return [{**b, "threshold": self.breakers.threshold} for b in self.breakers.snapshot()]
