"""Traces: one SERVER span per request, the GenAI spans under it, and the span trees the views show.

    curl -s 'localhost:8009/traces?limit=3'          # recent calls the tail sampler kept
    curl -s localhost:8009/traces/<trace_id>         # one span tree (content only with the admin key)

The SERVER span comes from the OpenTelemetry FastAPI instrumentor, which also joins an incoming
`traceparent`; each upstream attempt is a GenAI CLIENT span under it (gateway.py). Span trees are
read from the span store through shared.telemetry (`span_tree`), never from its table.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from opentelemetry import trace
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.metrics import NoOpMeterProvider

from labs.lab09_gateway.calls import CallLog
from labs.lab09_gateway.redaction import without_content
from labs.lab09_gateway.sampling import TailSampler
from shared.service import ServiceError, not_found
from shared.telemetry import span_tree


def server_spans(app: FastAPI, on_request: Callable[[Any, dict], None]) -> None:
    """One SERVER span per request, without the instrumentor's per-message `http send` / `http receive`
    spans: a stream of 200 chunks would otherwise add 200 spans, and a gateway is judged on its own
    overhead. `on_request(span, scope)` runs as each server span starts (the tail sampler watches
    the gateway's traces from there)."""
    # HTTP metrics come from shared.service's middleware (/metrics): the instrumentor's own would double them
    FastAPIInstrumentor.instrument_app(app, excluded_urls="healthz,readyz,metrics,dashboard/data",
                                       exclude_spans=["receive", "send"], server_request_hook=on_request,
                                       meter_provider=NoOpMeterProvider())


def trace_id() -> str | None:
    """The current trace's id as 32 hex digits (None outside a recording span)."""
    ctx = trace.get_current_span().get_span_context()
    return f"{ctx.trace_id:032x}" if ctx.is_valid else None


def tree(trace_id: str, log: CallLog, policy: TailSampler, with_content: bool) -> list[dict[str, Any]]:
    """The span tree of one trace; 404 `trace_not_sampled` when the call exists but its spans were dropped."""
    spans = span_tree(trace_id)
    if not with_content:
        spans = without_content(spans)
    if spans:
        return spans
    if log.dropped(trace_id):
        raise ServiceError(404, f"trace {trace_id} was dropped by tail sampling (fast, no error, outside "
                           f"p={policy.p:g}); PUT /admin/sampling keeps more", "trace_not_sampled")
    raise not_found("trace", trace_id)


def recent(log: CallLog, limit: int, trees: bool = False) -> list[dict[str, Any]]:
    """The newest kept calls with their trace ids (and, for the dashboard, their trees without content)."""
    rows = log.kept(limit)
    if trees:
        rows = [{**r, "tree": without_content(span_tree(r["trace_id"])) if r["trace_id"] else []} for r in rows]
    return rows
