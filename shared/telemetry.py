"""OpenTelemetry set up once per process, with the GenAI semantic conventions and a SQLite span store.

    python -c "from shared.telemetry import setup_telemetry, query_spans; setup_telemetry(); print(query_spans(limit=5))"

Embedded default: every finished span is written to `DATA_DIR/telemetry.db`, where labs and tests
read it through this module (`query_spans`, `span_tree`, `remove_span_attributes`), never its table.
Attributes are stored as strict JSON: a non-finite float (NaN, Infinity) is stored as its name, a
string, so every row stays readable by SQLite's JSON functions and by strict JSON readers.
When `OTEL_EXPORTER_OTLP_ENDPOINT` is set, spans and metrics also go over OTLP/HTTP to a collector
(docker-compose runs one in front of Jaeger). Metrics go through an OpenTelemetry MeterProvider whose
Prometheus reader feeds every service's `/metrics` (and whose OTLP reader, when set, the collector).

GenAI conventions used here (the current names; `gen_ai.system` is the old one):
span name "{gen_ai.operation.name} {gen_ai.request.model}", kind CLIENT, attributes
gen_ai.operation.name, gen_ai.provider.name, gen_ai.request.*, gen_ai.response.model / id /
finish_reasons, gen_ai.usage.input_tokens / output_tokens / cache_read.input_tokens /
cache_creation.input_tokens / reasoning.output_tokens, error.type; metrics
gen_ai.client.token.usage (by gen_ai.token.type) and gen_ai.client.operation.duration (seconds).
Every span that names a `gen_ai.operation.name` (an `invoke_agent` span a lab opens itself too)
carries `gen_ai.provider.name`, derived from `gen_ai.request.model` when the caller left it out.
What a call cost is not a GenAI convention: it goes in the project's own namespace,
`aieng.usage.cost_usd` (`COST_ATTRIBUTE`), not among the spec's `gen_ai.usage.*` token counts.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.metrics.view import ExplicitBucketHistogramAggregation, View
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.trace import SpanKind, Status, StatusCode

from shared.config import Settings, get_settings
from shared.store import Store

TRACER_NAME = "aieng.labs"
COST_ATTRIBUTE = "aieng.usage.cost_usd"  # the project's namespace: gen_ai.usage.* holds token counts only
TOKEN_BUCKETS = [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304]
DURATION_BUCKETS = [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92]

SPAN_SCHEMA = """
CREATE TABLE spans (
    span_id TEXT PRIMARY KEY,
    trace_id TEXT NOT NULL,
    parent_id TEXT,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    service TEXT,
    start_ns INTEGER NOT NULL,
    end_ns INTEGER NOT NULL,
    duration_ms REAL NOT NULL,
    status TEXT NOT NULL,
    status_message TEXT,
    attributes TEXT NOT NULL,
    events TEXT NOT NULL
);
CREATE INDEX spans_trace ON spans (trace_id);
CREATE INDEX spans_start ON spans (start_ns);
CREATE INDEX spans_name ON spans (name);
"""


class SQLiteSpanExporter(SpanExporter):
    """Writes finished spans to SQLite. The target file can be re-pointed (tests use a temp DATA_DIR)."""

    def __init__(self, path: Path):
        self._lock = threading.Lock()
        self.store = Store(path, migrations=[SPAN_SCHEMA])

    def repoint(self, path: Path) -> None:
        with self._lock:
            if Path(path) != self.store.path:
                self.store = Store(path, migrations=[SPAN_SCHEMA])

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        rows = [_span_row(s) for s in spans]
        with self._lock:
            with self.store.tx() as db:
                db.executemany(
                    "INSERT OR REPLACE INTO spans VALUES (:span_id, :trace_id, :parent_id, :name, :kind, "
                    ":service, :start_ns, :end_ns, :duration_ms, :status, :status_message, :attributes, :events)",
                    rows,
                )
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        self.store.close()


def _span_row(span: ReadableSpan) -> dict[str, Any]:
    ctx = span.get_span_context()
    start, end = span.start_time or 0, span.end_time or 0
    return {
        "span_id": f"{ctx.span_id:016x}",
        "trace_id": f"{ctx.trace_id:032x}",
        "parent_id": f"{span.parent.span_id:016x}" if span.parent else None,
        "name": span.name,
        "kind": span.kind.name,
        "service": (span.resource.attributes.get("service.name") if span.resource else None),
        "start_ns": start,
        "end_ns": end,
        "duration_ms": (end - start) / 1e6,
        "status": span.status.status_code.name,
        "status_message": span.status.description,
        "attributes": json_text(dict(span.attributes or {})),
        "events": json_text(
            [{"name": e.name, "ts": e.timestamp, "attributes": dict(e.attributes or {})} for e in span.events]),
    }


def _finite(value: Any) -> Any:
    """NaN and +-Infinity as their names (strings): strict JSON has no number for them."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def json_text(value: Any) -> str:
    """Strict JSON for the span store (never NaN/Infinity, which SQLite's JSON functions call malformed)."""
    try:  # the common case has no non-finite float: encode once, without walking the value first
        return json.dumps(value, default=list, allow_nan=False)
    except ValueError:
        return json.dumps(_finite(value), default=lambda v: _finite(list(v)), allow_nan=False)


def _read_json(text: str | None, default: Any) -> Any:
    """A stored attributes/events column, read leniently: rows written before strict JSON may hold a
    bare NaN (Python's reader accepts it); a row that is not JSON at all reads as `default`."""
    try:
        return json.loads(text) if text else default
    except (TypeError, ValueError):
        return default


@dataclass
class _State:
    provider: TracerProvider
    sqlite: SQLiteSpanExporter
    batch: BatchSpanProcessor
    meter_provider: MeterProvider
    service_name: str


_state: _State | None = None
_state_lock = threading.Lock()


def setup_telemetry(settings: Settings | None = None, service_name: str | None = None) -> TracerProvider:
    """Install the tracer and meter providers once; later calls with settings only re-point the SQLite file.

    A call without settings (tracer(), query_spans()) keeps the current file: re-pointing it to the
    environment's DATA_DIR there would send a test's spans away from its temp DATA_DIR.
    """
    global _state
    if _state is not None and settings is None:  # the hot path: every span asks (get_settings costs ~2 ms)
        return _state.provider
    explicit = settings is not None
    settings = settings or get_settings()
    db_path = Path(settings.data_dir) / "telemetry.db"
    with _state_lock:
        if _state is not None:
            if explicit:
                _state.sqlite.repoint(db_path)
            return _state.provider
        name = service_name or settings.otel_service_name or "aieng-labs"
        resource = Resource.create({"service.name": name})
        provider = TracerProvider(resource=resource)
        provider.add_span_processor(GenAIConventions())
        sqlite = SQLiteSpanExporter(db_path)
        batch = BatchSpanProcessor(sqlite, schedule_delay_millis=200, max_export_batch_size=512,
                                   max_queue_size=65536)
        provider.add_span_processor(batch)
        if settings.otel_exporter_otlp_endpoint:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            endpoint = settings.otel_exporter_otlp_endpoint.rstrip("/") + "/v1/traces"
            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
        trace.set_tracer_provider(provider)
        meter_provider = _meter_provider(resource, settings.otel_exporter_otlp_endpoint)
        metrics.set_meter_provider(meter_provider)
        _state = _State(provider, sqlite, batch, meter_provider, name)
        return provider


def metric_views() -> list[View]:
    """The GenAI conventions' bucket boundaries for the two GenAI histograms."""
    return [
        View(instrument_name="gen_ai.client.token.usage",
             aggregation=ExplicitBucketHistogramAggregation(TOKEN_BUCKETS)),
        View(instrument_name="gen_ai.client.operation.duration",
             aggregation=ExplicitBucketHistogramAggregation(DURATION_BUCKETS)),
    ]


def otlp_metric_reader(endpoint: str) -> MetricReader:
    """Every metric (the GenAI ones included) pushed over OTLP/HTTP to `endpoint`/v1/metrics."""
    # imported only when an endpoint is set, as the OTLP span exporter is (protobuf and requests)
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter

    return PeriodicExportingMetricReader(OTLPMetricExporter(endpoint=endpoint.rstrip("/") + "/v1/metrics"))


def _meter_provider(resource: Resource, otlp_endpoint: str | None) -> MeterProvider:
    from opentelemetry.exporter.prometheus import PrometheusMetricReader

    readers: list[MetricReader] = [PrometheusMetricReader()]
    if otlp_endpoint:
        readers.append(otlp_metric_reader(otlp_endpoint))
    return MeterProvider(resource=resource, metric_readers=readers, views=metric_views())


class GenAIConventions(SpanProcessor):
    """Fills `gen_ai.provider.name` (required on every GenAI span) from `gen_ai.request.model` on spans
    that name a GenAI operation but not their provider, e.g. an `invoke_agent` span a lab opens itself."""

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        attrs = span.attributes or {}
        model = attrs.get("gen_ai.request.model")
        if attrs.get("gen_ai.operation.name") and "gen_ai.provider.name" not in attrs and isinstance(model, str):
            span.set_attribute("gen_ai.provider.name", provider_of(model))

    def on_end(self, span: ReadableSpan) -> None:
        return None

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def _rearrange(change: Callable[[tuple[SpanProcessor, ...]], tuple[SpanProcessor, ...]]) -> None:
    """Rewrite the provider's processor chain under its lock. The SDK has no public API to reorder or
    replace processors, so this one function is the only place that touches its private list."""
    setup_telemetry()
    assert _state is not None
    multi = _state.provider._active_span_processor
    with multi._lock:
        multi._span_processors = change(multi._span_processors)


def add_span_processor(processor: SpanProcessor, first: bool = False) -> None:
    """Add a processor (e.g. a redacting one) that sees spans before they are exported.

    `first=True` runs it before the exporting processors already installed: a processor that
    rewrites a finished span must act before a batch exporter queues it for another thread.
    """
    setup_telemetry()
    assert _state is not None
    _state.provider.add_span_processor(processor)
    if first:
        _rearrange(lambda procs: (processor, *(p for p in procs if p is not processor)))


def wrap_exporters(wrap: Callable[[tuple[SpanProcessor, ...]], SpanProcessor]) -> SpanProcessor:
    """Put one processor in front of the exporting ones (SQLite, OTLP): `wrap(exporters)` returns a
    processor that decides what reaches them (a tail sampler holds a trace, then passes it on whole or
    drops it). Processors that only read or rewrite spans keep running first, on every span."""
    built: list[SpanProcessor] = []

    def change(procs: tuple[SpanProcessor, ...]) -> tuple[SpanProcessor, ...]:
        exporting = tuple(p for p in procs if isinstance(p, BatchSpanProcessor | SimpleSpanProcessor))
        built.append(wrap(exporting))
        return (*(p for p in procs if p not in exporting), built[0])

    _rearrange(change)
    return built[0]


_tracer_of: tuple[Any, trace.Tracer] | None = None


def tracer() -> trace.Tracer:
    """The project's tracer, built once per provider (get_tracer builds a new one each call: ~0.2 ms)."""
    global _tracer_of
    setup_telemetry()
    provider = trace.get_tracer_provider()
    if _tracer_of is None or _tracer_of[0] is not provider:
        _tracer_of = (provider, trace.get_tracer(TRACER_NAME))
    return _tracer_of[1]


def flush(timeout_ms: int = 5000) -> None:
    if _state is not None:
        _state.provider.force_flush(timeout_ms)


def _span_store() -> Store:
    setup_telemetry()
    assert _state is not None
    return _state.sqlite.store


def query_spans(trace_id: str | None = None, name: str | None = None, since_ns: int | None = None,
                limit: int = 200, attribute: tuple[str, Any] | None = None) -> list[dict]:
    """Finished spans, newest first; flushes the batch processor first so a test sees its own spans."""
    flush()
    where, params = [], []
    if trace_id:
        where.append("trace_id = ?")
        params.append(trace_id)
    if name:
        where.append("name LIKE ?")
        params.append(name)
    if since_ns is not None:
        where.append("start_ns >= ?")
        params.append(since_ns)
    if attribute is not None:  # CASE: json_extract never sees a row that is not valid JSON
        where.append("CASE WHEN json_valid(attributes) THEN json_extract(attributes, ?) END = ?")
        params.extend([f'$."{attribute[0]}"', attribute[1]])
    sql = "SELECT * FROM spans" + (" WHERE " + " AND ".join(where) if where else "")
    sql += " ORDER BY start_ns DESC LIMIT ?"
    rows = _span_store().query(sql, [*params, limit])
    for row in rows:
        row["attributes"] = _read_json(row["attributes"], {})
        row["events"] = _read_json(row["events"], [])
    return rows


def remove_span_attributes(names: Sequence[str], where: tuple[str, Any]) -> int:
    """Delete the attributes `names` from every stored span whose attribute `where[0]` equals `where[1]`
    (right to deletion: a user's captured content). Returns how many spans changed.

    It works over any stored row: rows are matched by the value's JSON text, then read leniently in
    Python, so an old row holding a bare NaN is cleaned (and rewritten as strict JSON) instead of
    failing the whole deletion; a row that is not JSON at all but holds the value loses every attribute.
    """
    flush()
    key, value = where
    names = set(names)
    changed = 0
    with _span_store().tx() as db:
        rows = db.execute("SELECT span_id, attributes FROM spans WHERE instr(attributes, ?) > 0",
                          [json.dumps(value)]).fetchall()
        for span_id, text in rows:
            attrs = _read_json(text, None)
            if not isinstance(attrs, dict):
                kept: dict[str, Any] = {}
            elif attrs.get(key) != value or not names & set(attrs):
                continue
            else:
                kept = {k: v for k, v in attrs.items() if k not in names}
            db.execute("UPDATE spans SET attributes = ? WHERE span_id = ?", [json_text(kept), span_id])
            changed += 1
    return changed


def span_tree(trace_id: str) -> list[dict]:
    """The spans of one trace as nested dicts ({..., "children": [...]}) ordered by start time."""
    spans = sorted(query_spans(trace_id=trace_id, limit=10_000), key=lambda s: s["start_ns"])
    by_id = {s["span_id"]: {**s, "children": []} for s in spans}
    roots = []
    for span in by_id.values():
        parent = by_id.get(span["parent_id"] or "")
        (parent["children"] if parent else roots).append(span)
    return roots


# --- GenAI semantic conventions ------------------------------------------------------------------

_instruments: dict[str, Any] = {}


def _genai_instruments() -> dict[str, Any]:
    if not _instruments:
        setup_telemetry()
        meter = metrics.get_meter(TRACER_NAME)
        _instruments["tokens"] = meter.create_histogram(
            "gen_ai.client.token.usage", unit="{token}", description="Number of input and output tokens used")
        _instruments["duration"] = meter.create_histogram(
            "gen_ai.client.operation.duration", unit="s", description="GenAI operation duration")
    return _instruments


def provider_of(model: str) -> str:
    """`openai/gpt-4o-mini` -> `openai`; a bare id is taken to be OpenAI's, as LiteLLM does."""
    return model.split("/", 1)[0] if "/" in model else "openai"


@dataclass
class GenAIResult:
    """What a finished call reports back to its span (filled in by the caller before the block ends)."""

    response_model: str | None = None
    response_id: str | None = None
    finish_reasons: list[str] | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_read_tokens: int | None = None
    cache_creation_tokens: int | None = None
    reasoning_tokens: int | None = None
    cost_usd: float | None = None
    time_to_first_chunk_s: float | None = None


@contextmanager
def genai_span(operation: str, model: str, *, provider: str | None = None,
               request: dict[str, Any] | None = None, extra: dict[str, Any] | None = None,
               kind: SpanKind = SpanKind.CLIENT) -> Iterator[tuple[trace.Span, GenAIResult]]:
    """A span and its metrics for one GenAI operation (chat, embeddings, execute_tool, invoke_agent...).

    Fill `result` inside the block; on exit the usage attributes and both metrics are recorded,
    and an exception sets `error.type` to its class name and the span status to ERROR.
    """
    provider = provider or provider_of(model)
    attrs: dict[str, Any] = {
        "gen_ai.operation.name": operation,
        "gen_ai.provider.name": provider,
        "gen_ai.request.model": model,
    }
    for key, value in (request or {}).items():
        if value is not None:
            attrs[f"gen_ai.request.{key}"] = value
    attrs.update({k: v for k, v in (extra or {}).items() if v is not None})
    result = GenAIResult()
    start = time.perf_counter()
    error_type: str | None = None
    with tracer().start_as_current_span(f"{operation} {model}", kind=kind, attributes=attrs,
                                        record_exception=True, set_status_on_exception=False) as span:
        try:
            yield span, result
        except BaseException as exc:
            error_type = getattr(exc, "error_type", None) or type(exc).__name__
            span.set_attribute("error.type", error_type)
            span.set_status(Status(StatusCode.ERROR, str(exc)[:500]))
            raise
        finally:
            _finish_genai(span, result, operation, model, provider, time.perf_counter() - start, error_type)


def _finish_genai(span: trace.Span, r: GenAIResult, operation: str, model: str, provider: str,
                  seconds: float, error_type: str | None) -> None:
    pairs = {
        "gen_ai.response.model": r.response_model,
        "gen_ai.response.id": r.response_id,
        "gen_ai.response.finish_reasons": r.finish_reasons,
        "gen_ai.usage.input_tokens": r.input_tokens,
        "gen_ai.usage.output_tokens": r.output_tokens,
        "gen_ai.usage.cache_read.input_tokens": r.cache_read_tokens,
        "gen_ai.usage.cache_creation.input_tokens": r.cache_creation_tokens,
        "gen_ai.usage.reasoning.output_tokens": r.reasoning_tokens,
        COST_ATTRIBUTE: r.cost_usd,
        "gen_ai.response.time_to_first_chunk": r.time_to_first_chunk_s,
    }
    span.set_attributes({k: v for k, v in pairs.items() if v is not None})  # one lock, not one per key
    inst = _genai_instruments()
    labels = {"gen_ai.operation.name": operation, "gen_ai.provider.name": provider,
              "gen_ai.request.model": model}
    if r.response_model:
        labels["gen_ai.response.model"] = r.response_model
    if error_type:
        labels["error.type"] = error_type
    inst["duration"].record(seconds, labels)
    if r.input_tokens is not None:
        inst["tokens"].record(r.input_tokens, {**labels, "gen_ai.token.type": "input"})
    if r.output_tokens is not None:
        inst["tokens"].record(r.output_tokens, {**labels, "gen_ai.token.type": "output"})
