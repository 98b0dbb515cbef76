"""Metering: who made each call (attribution), what it cost, and the golden-signal metrics it feeds.

    curl -s 'localhost:8009/analysis/cost?by=prompt_version'
    curl -s localhost:8009/metrics | grep gateway_

Every call is attributed to a tenant and a key (from the virtual key), a feature and a prompt
version (the x-feature / x-prompt-version headers) and a user (x-user-id, stored only as a keyed
hash). Tenant, feature and prompt version become metric labels, each bounded (`BoundedLabel`): past
its limit a new value becomes "other", so one client cannot blow up the metric series.

Errors are tri-class: the caller's (a 4xx the gateway returns itself: bad key, budget, rate, input),
the provider's (an upstream failure, whatever status it maps to) and the gateway's own (any other
5xx). Only the last two spend the availability budget.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from labs.lab09_gateway.calls import BoundedLabel, CallLog, CallRecord, user_hash
from labs.lab09_gateway.gateway import Outcome, Route, UpstreamError, current_span_set, instruments
from labs.lab09_gateway.keys import KeyStore, VirtualKey
from labs.lab09_gateway.tracing import trace_id
from shared.service import ServiceError


def error_class(status: int, upstream: bool) -> str | None:
    """Tri-class errors: the caller's (4xx), the provider's (upstream), the gateway's own (5xx)."""
    if status < 400:
        return None
    if upstream:
        return "provider"
    return "client" if status < 500 else "gateway"


class Metering:
    """Attribution labels, the call record's life (open, finish), and the metrics each call adds to."""

    def __init__(self, keys: KeyStore, log: CallLog, secret: bytes):
        self.keys, self.log, self.secret = keys, log, secret
        self.feature = BoundedLabel(20)
        self.prompt_version = BoundedLabel(20)
        self.tenant = BoundedLabel(50, keys.tenants)

    def authorize(self, headers: Mapping[str, str]) -> VirtualKey:
        """The caller's virtual key; a refused call (401/403/429) still counts as a client error, under its
        tenant when the key is known (a budget or a rate refusal), so a throttled tenant shows as itself."""
        key = None
        try:
            key = self.keys.identify(headers.get("authorization"), headers.get("x-api-key"))
            self.keys.admit(key)
            return key
        except ServiceError as exc:
            tenant = "unknown" if key is None else self.tenant(key.tenant)
            instruments()["requests"].add(1, {"gen_ai.request.model": "unknown", "tenant": tenant,
                                              "status_class": f"{exc.status // 100}xx", "error_class": "client"})
            raise

    def open(self, headers: Mapping[str, str], request_id: str, key: VirtualKey, route: Route, operation: str,
             stream: bool) -> CallRecord:
        """The call's record, attributed before the first upstream attempt (to the route's first target)."""
        first = route.targets[0]
        return CallRecord(
            request_id=request_id, tenant=self.tenant(key.tenant), key_id=key.key_id,
            feature=self.feature(headers.get("x-feature", "")[:64]),
            prompt_version=self.prompt_version(headers.get("x-prompt-version", "")[:64]),
            user_hash=user_hash(headers.get("x-user-id"), self.secret), route=route.name, model=first.model,
            provider=first.provider, path=first.upstream, operation=operation, stream=stream, trace_id=trace_id(),
            conversation=headers.get("x-conversation-id", "")[:128] or None)

    def finish(self, record: CallRecord, out: Outcome, started: float, status: int, error: UpstreamError | None,
               content: tuple[str, str | None] | None) -> None:
        """Fill the record from the outcome, tag the request span, add to the metrics, queue the row."""
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
        record.error_class = error_class(status, error is not None)
        current_span_set({"gateway.tenant": record.tenant, "gateway.key_id": record.key_id,
                          "gateway.feature": record.feature, "gateway.prompt_version": record.prompt_version,
                          "gateway.route": record.route, "gateway.attempts": record.attempts,
                          "gateway.fallback": record.fallback, "gateway.cost_usd": record.cost_usd,
                          "gateway.user.hash": record.user_hash, "error.type": record.error_type})
        self._count(record, status)
        self.log.add(record, content)

    @staticmethod
    def _count(record: CallRecord, status: int) -> None:
        inst = instruments()
        labels = {"gen_ai.request.model": record.route, "tenant": record.tenant}
        inst["requests"].add(1, {**labels, "status_class": f"{status // 100}xx",
                                 "error_class": record.error_class or "none"})
        inst["duration"].record(record.latency_ms / 1000, labels)
        # tokens by kind per route and tenant: cache hit rate = cached / input, as a PromQL ratio (usage.py)
        for kind, n in (("input", record.input_tokens), ("cached", record.cached_tokens),
                        ("output", record.output_tokens)):
            if n:
                inst["tokens"].add(n, {**labels, "kind": kind})
        if record.cost_usd:
            inst["cost"].add(record.cost_usd, {**labels, "feature": record.feature,
                                               "prompt_version": record.prompt_version})
        if record.stream and record.ttft_ms is not None and record.chunks:
            model = {"gen_ai.request.model": record.route}
            inst["ttfc"].record(record.ttft_ms / 1000, model)
            if record.chunks > 1 and record.decode_ms is not None:
                inst["tpoc"].record(record.decode_ms / 1000 / (record.chunks - 1), model)
