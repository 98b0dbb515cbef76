"""The estate and the incident renderer: consistent telemetry, a truth that follows from it, determinism."""

from __future__ import annotations

import pytest

from labs.lab13_sre.estate import (
    CAUSE_SERVICES,
    CAUSES,
    EDGE,
    Spec,
    fixture_incidents,
    generate,
    load_estate,
    render,
)
from labs.lab13_sre.metrics import fixture_db
from labs.lab13_sre.promql import query

ESTATE = load_estate()


def test_the_call_graph_is_acyclic_and_reaches_everything_from_the_edge():
    reach = ESTATE.upstream  # upstream(x) = who depends on x
    assert all(EDGE in reach(s) for s in ESTATE.services)
    for s in ESTATE.services:
        assert all(c not in ESTATE.upstream(s) for c in ESTATE.services[s].calls)  # no callee depends back on s


@pytest.mark.parametrize("cause", CAUSES)
def test_every_template_renders_consistent_telemetry(cause):
    service = CAUSE_SERVICES[cause][0]
    inc = render(Spec(id="T-0001", cause=cause, service=service, onset_min=30, magnitude=0.8, seed=1), ESTATE)
    assert inc.truth["service"] == service and inc.truth["team"] == ESTATE.owner(service)
    web = inc.series[EDGE]["error_ratio"]
    assert max(web[30:]) > 5 * max(web[:30])  # the edge feels it after onset, not before
    paging = {a["service"] for a in inc.alerts if a["labels"]["severity"] == "critical"}
    assert paging & ({service, *ESTATE.callers(service)})  # the fault pages at or next to its source
    if cause == "bad_deploy":
        assert any(d["service"] == service and d["minute"] == 29 for d in inc.deploys)
    if cause == "dependency_outage":
        assert inc.series[service]["up"][40] == 0
    if cause == "cert_expiry":
        assert any("x509" in e["msg"] for e in inc.logs)


def test_severity_truth_follows_the_rubric():
    for inc in fixture_incidents():
        peak = inc.truth["peak_edge_error_ratio"]
        want = "SEV1" if peak >= 0.2 else None
        if want:
            assert inc.truth["severity"] == want


def test_generation_is_deterministic_and_covers_every_cause():
    a, b = generate(14, seed=3), generate(14, seed=3)
    assert a == b and {s.cause for s in a} == set(CAUSES)
    assert render(a[0]).alerts == render(b[0]).alerts
    with pytest.raises(ValueError, match="unknown cause"):
        render(Spec(id="T-1", cause="gremlins", service="web"))


def test_the_histogram_agrees_with_the_p99_series():
    from labs.lab13_sre.estate import fixture_incident

    db = fixture_db("INC-2043")
    series_p99_s = fixture_incident("INC-2043").series["web"]["p99_ms"][20] / 1000
    p99 = query('histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{service="web"}[5m])))',
                db, 1200)
    value = next(iter(p99.values()))
    assert series_p99_s / 2 <= value <= series_p99_s * 2  # linear interpolation inside coarse buckets


def test_counters_only_go_up():
    for s in fixture_db("INC-2043").series:
        if s.labels["__name__"].endswith(("_total", "_bucket", "_count", "_sum")):
            assert all(b >= a for a, b in zip(s.v, s.v[1:], strict=False)), s.labels
