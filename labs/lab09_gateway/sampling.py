"""Tail-based sampling: decide after a trace has finished, so every error and every slow trace is kept.

    curl -s localhost:8009/analysis/sampling          # what the live sampler kept, and why
    curl -s -X PUT localhost:8009/admin/sampling -H 'authorization: Bearer sk-lab09-admin' \
      -H 'content-type: application/json' -d '{"p": 0.25, "slow_ms": 500}'

Head sampling (decide at the start) keeps errors at the base rate p, exactly the traces you need.
The tail policy here keeps a trace when

    any span has an error (status ERROR or error.type)  OR  root latency >= slow_ms  OR  u(trace_id) < p

An error is what the availability SLO counts: a failed upstream attempt or a 5xx; a 4xx the gateway
returns itself (bad key, budget, rate limit, bad input) is the caller's, and sampled like the rest.
u maps the trace id to [0, 1) by hashing, so every service deciding about the same trace
agrees without talking. Expected kept fraction = e + s + p * (1 - e - s) for error share e and
slow-but-ok share s.

`TailSamplingProcessor` does it for real, in the span pipeline: it sits in front of the exporting
processors (the SQLite store, OTLP when set), holds back every span of a gateway trace until the
trace's local root (the request's SERVER span) ends, then hands the whole trace on or drops it.
Traces it was not asked to watch (other services in the same process) pass straight through.
The OpenTelemetry Collector's `tail_sampling` processor is the same idea one hop later, for traces
that span several services; in one process, the SDK can do it without the extra hop.

`kept_fraction` applies a policy to the stored call log instead: "what would p=0.05 keep?". The call log
holds the calls that passed the key check; a request refused at the door (401, 403 over budget, 429 rate
limited) is a trace the live sampler decides on but not a call, so under refusals `live.traces` is larger
than `what_if.traces`, and the two kept counts differ by the refused traces the live policy kept.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.trace import StatusCode

from shared.telemetry import wrap_exporters

REASONS = ("error", "slow", "sampled", "dropped", "overflow")


def unit_hash(trace_id: str) -> float:
    return int(hashlib.sha256(trace_id.encode()).hexdigest()[:13], 16) / 16**13


@dataclass(frozen=True)
class TailSampler:
    p: float = 0.1
    slow_ms: float = 1000.0

    def keep(self, trace_id: str, error: bool, latency_ms: float) -> bool:
        return self.reason(trace_id, error, latency_ms) != "dropped"

    def reason(self, trace_id: str, error: bool, latency_ms: float) -> str:
        if error:
            return "error"
        if latency_ms >= self.slow_ms:
            return "slow"
        return "sampled" if unit_hash(trace_id) < self.p else "dropped"


def policy_from_env() -> TailSampler:
    """The policy at start: LAB09_SAMPLE_RATE (p, default 0.1) and LAB09_SLOW_MS (default 1000)."""
    return TailSampler(p=_env_float("LAB09_SAMPLE_RATE", 0.1, 0, 1), slow_ms=_env_float("LAB09_SLOW_MS", 1000, 1e-3, 1e9))


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


def had_error(row: dict) -> bool:
    """What the live sampler sees as an error trace, read from a stored call: a 5xx or an error type, and
    also a call that succeeded only after a failed upstream attempt (a retry or a fallback), whose trace
    holds that attempt's error span."""
    return (row["status"] >= 500 or bool(row["error_type"]) or (row.get("attempts") or 1) > 1
            or bool(row.get("fallback")))


def kept_fraction(rows: list[dict], sampler: TailSampler) -> dict:
    """Apply the policy to stored calls: how many would be kept, and why."""
    reasons = {"error": 0, "slow": 0, "sampled": 0, "dropped": 0}
    for row in rows:
        reasons[sampler.reason(row["trace_id"] or row["request_id"], had_error(row), row["latency_ms"])] += 1
    n = len(rows)
    kept = n - reasons["dropped"]
    return {"policy": {"p": sampler.p, "slow_ms": sampler.slow_ms}, "traces": n, "kept": kept,
            "kept_fraction": round(kept / n, 4) if n else None, "by_reason": reasons,
            "errors_kept_fraction": 1.0 if reasons["error"] else None}


@dataclass
class LiveSampling:
    """One service's live policy and what it has decided so far (counts reset when the policy changes)."""

    sampler: TailSampler
    on_decision: Callable[[str, bool, str], None] | None = None
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(REASONS, 0))
    spans_exported: int = 0
    spans_dropped: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def set_policy(self, sampler: TailSampler) -> None:
        with self._lock:
            self.sampler = sampler
            self.counts = dict.fromkeys(REASONS, 0)
            self.spans_exported = self.spans_dropped = 0

    def record(self, reason: str, spans: int) -> None:
        with self._lock:
            self.counts[reason] += 1
            if reason == "dropped":
                self.spans_dropped += spans
            else:
                self.spans_exported += spans

    def stats(self) -> dict:
        with self._lock:
            traces = sum(self.counts.values())
            kept = traces - self.counts["dropped"]
            return {"policy": {"p": self.sampler.p, "slow_ms": self.sampler.slow_ms}, "traces": traces,
                    "kept": kept, "dropped": self.counts["dropped"],
                    "kept_fraction": round(kept / traces, 4) if traces else None,
                    "by_reason": dict(self.counts), "spans_exported": self.spans_exported,
                    "spans_dropped": self.spans_dropped}


@dataclass
class _Pending:
    root_span_id: int
    live: LiveSampling
    spans: list[ReadableSpan] = field(default_factory=list)


class TailSamplingProcessor(SpanProcessor):
    """Buffers each watched trace until its root span ends, then exports all of it or none of it."""

    def __init__(self, downstream: Sequence[SpanProcessor], max_pending: int = 10_000):
        self.downstream = tuple(downstream)
        self.max_pending = max_pending
        self._pending: OrderedDict[int, _Pending] = OrderedDict()
        self._decided: OrderedDict[int, bool] = OrderedDict()  # late spans follow their trace's decision
        self._lock = threading.Lock()

    def watch(self, span: Span, live: LiveSampling) -> None:
        """Hold back this span's trace until `span` (the local root) ends; `live` decides and counts."""
        ctx = span.get_span_context()
        overflow = None
        with self._lock:
            self._pending[ctx.trace_id] = _Pending(ctx.span_id, live)
            if len(self._pending) > self.max_pending:  # roots that never end must not hold memory forever
                overflow = self._pending.popitem(last=False)[1]
        if overflow is not None:
            overflow.live.record("overflow", len(overflow.spans))
            self._export(overflow.spans)

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        for p in self.downstream:
            p.on_start(span, parent_context=parent_context)

    def on_end(self, span: ReadableSpan) -> None:
        ctx = span.get_span_context()
        with self._lock:
            pending = self._pending.get(ctx.trace_id)
            if pending is None:
                late = self._decided.get(ctx.trace_id)
            else:
                pending.spans.append(span)
                if ctx.span_id != pending.root_span_id:
                    return
                del self._pending[ctx.trace_id]
        if pending is None:
            if late is not False:
                self._export([span])
            return
        self._decide(ctx.trace_id, span, pending)

    def _decide(self, trace_id: int, root: ReadableSpan, pending: _Pending) -> None:
        error = any(_is_error(s) for s in pending.spans)
        status = (root.attributes or {}).get("http.response.status_code")
        if isinstance(status, int) and status >= 500:
            error = True
        latency_ms = ((root.end_time or 0) - (root.start_time or 0)) / 1e6
        hex_id = f"{trace_id:032x}"
        reason = pending.live.sampler.reason(hex_id, error, latency_ms)
        kept = reason != "dropped"
        with self._lock:
            self._decided[trace_id] = kept
            if len(self._decided) > 4096:
                self._decided.popitem(last=False)
        pending.live.record(reason, len(pending.spans))
        if kept:
            self._export(pending.spans)
        if pending.live.on_decision is not None:
            pending.live.on_decision(hex_id, kept, reason)

    def _export(self, spans: list[ReadableSpan]) -> None:
        for span in spans:
            for p in self.downstream:
                p.on_end(span)

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return all(p.force_flush(timeout_millis) for p in self.downstream)

    def shutdown(self) -> None:
        with self._lock:
            pending, self._pending = list(self._pending.values()), OrderedDict()
        for item in pending:  # nothing decided yet: keep rather than lose
            item.live.record("overflow", len(item.spans))
            self._export(item.spans)
        for p in self.downstream:
            p.shutdown()


def _is_error(span: ReadableSpan) -> bool:
    return span.status.status_code is StatusCode.ERROR or "error.type" in (span.attributes or {})


_processor: TailSamplingProcessor | None = None
_install_lock = threading.Lock()


def install() -> TailSamplingProcessor:
    """Put one tail-sampling processor in front of the process's exporting processors (once).

    shared.telemetry installs the exporters (SQLite, OTLP) as batch processors on the global
    provider; they move behind this processor, so a watched trace reaches them whole or not at all.
    Processors that only read or rewrite spans (the redactor) keep running on every span first.
    """
    global _processor
    with _install_lock:
        if _processor is None:
            _processor = wrap_exporters(TailSamplingProcessor)
        return _processor
