"""Traces: one SERVER span per request, the GenAI spans under it, and the span trees the views show.

    curl -s 'localhost:8009/traces?limit=3'          # recent calls the tail sampler kept
    curl -s localhost:8009/traces/<trace_id>         # one span tree (content only with the admin key)

The SERVER span comes from `ServerSpans`, a pure ASGI middleware that also joins an incoming
`traceparent`; each upstream attempt is a GenAI CLIENT span under it (gateway.py). Span trees are
read from the span store through shared.telemetry (`span_tree`), never from its table.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from opentelemetry import context, propagate, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from labs.lab09_gateway.calls import CallLog
from labs.lab09_gateway.redaction import without_content
from labs.lab09_gateway.sampling import TailSampler
from shared.service import ServiceError, not_found
from shared.telemetry import span_tree, tracer

UNTRACED = frozenset({"/healthz", "/readyz", "/metrics", "/dashboard/data"})  # probes and polling, not calls
_PROPAGATED = (b"traceparent", b"tracestate", b"baggage")


def server_spans(app: FastAPI, on_request: Callable[[Any, dict], None]) -> None:
    """One SERVER span per request (`ServerSpans`), outermost but for Starlette's own error middleware.
    `on_request(span, scope)` runs as each server span starts (the tail sampler watches the gateway's
    traces from there). HTTP metrics come from shared.service's middleware (/metrics)."""
    app.add_middleware(ServerSpans, on_request=on_request)


class ServerSpans:
    """The request's SERVER span, with the stable HTTP conventions' names (http.request.method, url.path,
    http.route, http.response.status_code; status ERROR on a 5xx or an exception), a child of the
    caller's trace when a `traceparent` comes in.

    The OpenTelemetry FastAPI instrumentor did this before at about a fifth of the gateway's own CPU
    per call: it matches the route table a second time, decodes every header, wraps every message sent
    and receive, and writes the old and the new attribute names. A gateway is judged on its own overhead,
    so this keeps only what a reader of the trace uses. The route template is read from the scope after
    the app has routed the request (the span is named "POST /v1/chat/completions" when it ends)."""

    def __init__(self, app, on_request: Callable[[Any, dict], None]):
        self.app = app
        self.on_request = on_request

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"] in UNTRACED:
            return await self.app(scope, receive, send)
        carrier = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"] if k in _PROPAGATED}
        parent = propagate.extract(carrier) if carrier else None
        method = scope["method"]
        attrs = {"http.request.method": method, "url.path": scope["path"], "url.scheme": scope.get("scheme", "http")}
        span = tracer().start_span(method, context=parent, kind=SpanKind.SERVER, attributes=attrs)
        token = context.attach(trace.set_span_in_context(span, parent))
        status = 500  # what the span says if the app raises before it answers

        async def traced_send(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            self.on_request(span, scope)
            await self.app(scope, receive, traced_send)
        except BaseException as exc:
            span.record_exception(exc)
            span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"[:500]))
            raise
        else:
            if status >= 500:
                span.set_status(Status(StatusCode.ERROR))
        finally:
            route = getattr(scope.get("route"), "path", None)
            if route:
                span.update_name(f"{method} {route}")
            span.set_attributes({"http.route": route or "unmatched", "http.response.status_code": status})
            context.detach(token)
            span.end()


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
