"""What reaches an OTLP receiver: a process with OTEL_EXPORTER_OTLP_ENDPOINT set exports its spans and
its GenAI metrics to a receiver written here from the OTLP protobufs (nothing of shared.telemetry)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from google.protobuf.json_format import MessageToDict
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from shared.config import REPO_ROOT

PROGRAM = textwrap.dedent("""
    from shared.telemetry import genai_span, setup_telemetry, tracer

    setup_telemetry()
    with genai_span("chat", "mock/assistant") as (_span, result):
        result.input_tokens, result.output_tokens, result.cost_usd = 12, 3, 0.002
    with tracer().start_as_current_span("invoke_agent helper", attributes={
            "gen_ai.operation.name": "invoke_agent", "gen_ai.request.model": "mock/agent"}):
        pass
    # exit: the providers' shutdown hooks flush the span batch and push the metrics one last time
""")


@pytest.fixture
def receiver():
    got: dict[str, list[bytes]] = {"/v1/traces": [], "/v1/metrics": []}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802  (http.server's name)
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            got.setdefault(self.path, []).append(body)
            self.send_response(200)
            self.send_header("content-type", "application/x-protobuf")
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args):
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}", got
    server.shutdown()


def _attrs(items) -> dict:
    return {a["key"]: next(iter(a["value"].values())) for a in items}


def test_spans_and_genai_metrics_reach_otlp(receiver, tmp_path):
    endpoint, got = receiver
    env = {**os.environ, "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint, "DATA_DIR": str(tmp_path / "data")}
    run = subprocess.run([sys.executable, "-c", PROGRAM], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]

    metrics = {}
    for body in got["/v1/metrics"]:
        for rm in MessageToDict(ExportMetricsServiceRequest.FromString(body))["resourceMetrics"]:
            for sm in rm["scopeMetrics"]:
                for m in sm["metrics"]:
                    metrics[m["name"]] = m
    assert {"gen_ai.client.token.usage", "gen_ai.client.operation.duration"} <= set(metrics)
    tokens = metrics["gen_ai.client.token.usage"]["histogram"]["dataPoints"]
    by_type = {_attrs(p["attributes"])["gen_ai.token.type"]: p for p in tokens}
    assert by_type["input"]["sum"] == 12 and by_type["output"]["sum"] == 3
    assert by_type["input"]["explicitBounds"][:3] == [1, 4, 16], "the GenAI bucket boundaries travel too"

    spans = {}
    for body in got["/v1/traces"]:
        for rs in MessageToDict(ExportTraceServiceRequest.FromString(body))["resourceSpans"]:
            for ss in rs["scopeSpans"]:
                for span in ss["spans"]:
                    spans[span["name"]] = _attrs(span["attributes"])
    chat = spans["chat mock/assistant"]
    assert chat["aieng.usage.cost_usd"] == 0.002
    assert not [k for k in chat if k.startswith("gen_ai.usage.") and "token" not in k], chat
    assert spans["invoke_agent helper"]["gen_ai.provider.name"] == "mock"
