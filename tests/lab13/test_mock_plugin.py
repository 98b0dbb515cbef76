"""The lab's mock models: policies over the request, options that arrive as strings over HTTP."""

from __future__ import annotations

import json
import random

from labs.lab13_sre import mock_plugin
from shared.mockllm.request import MockRequest


def req(behaviour, user, system="", **options):
    msgs = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": user}]
    r = MockRequest.from_openai({"model": behaviour, "messages": msgs, "temperature": 0})
    r.options.update(options)
    return r


def test_options_as_strings_work_like_numbers():
    services = "service: web\nservice: checkout\nhttp_requests_total"
    a = mock_plugin.promql(req("sre_promql", "Request rate of checkout", services, mistake_rate="0", paraphrase_rate="0"))
    b = mock_plugin.promql(req("sre_promql", "Request rate of checkout", services, mistake_rate=0, paraphrase_rate=0))
    assert a.content == b.content == '```promql\nsum(rate(http_requests_total{service="checkout"}[5m]))\n```'


def test_translator_reads_the_question_not_a_lookup_table():
    rng = random.Random(0)
    services = ["web", "billing-api"]  # a service the eval set never mentions
    q = mock_plugin.translate("What is the 95th percentile latency of billing-api over the last 10 minutes?",
                              services, rng, paraphrase=0, mistake=0, guess_names=False)
    assert q == ('histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket'
                 '{service="billing-api"}[10m])))')


def test_triage_names_the_deepest_alerting_service_with_the_graph():
    body = {"alerts": [{"service": "web", "alertname": "HighErrorRate", "severity": "critical"},
                       {"service": "api", "alertname": "HighErrorRate", "severity": "critical"},
                       {"service": "web", "alertname": "HighLatencyP99", "severity": "warning"},
                       {"service": "db", "alertname": "TargetDown", "severity": "critical"}],
            "owners": {"web": "front", "api": "back", "db": "data"}, "edge_error_ratio": 0.3,
            "dependencies": {"web": ["api"], "api": ["db"], "db": []}}
    out = json.loads(mock_plugin.triage(req("sre_triage", f"```json\n{json.dumps(body)}\n```", "rubric",
                                            wrong_rate=0)).content)
    assert out == {**out, "severity": "SEV1", "service": "db", "team": "data"}
    body.pop("dependencies")
    loud = json.loads(mock_plugin.triage(req("sre_triage", json.dumps(body), "rubric", wrong_rate=0)).content)
    assert loud["service"] == "web"  # without the graph: the loudest
