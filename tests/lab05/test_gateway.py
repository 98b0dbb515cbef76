"""The service's call path: fallback across models on shared/resilience.py, provider errors mapped."""

from __future__ import annotations

import pytest

from labs.lab05_patterns import production
from labs.lab05_patterns.gateway import Gateway, check_model, provider_error
from shared.service import ServiceError
from shared.store import Store


@pytest.fixture
def gw(model, tmp_path):
    return Gateway(model, Store(tmp_path / "lab05.db", migrations=[production.SCHEMA]))


def test_fallback_serves_when_the_primary_keeps_failing_and_the_breaker_then_skips_it(gw):
    slept: list[float] = []
    models = ["mock/assistant", "mock/assistant?fallback=1"]
    for failures in (1, 2):
        out = gw.fallback("What is 2 + 2?", models, {"error_status": 503}, max_attempts=3, sleep=slept.append)
        assert out["ok"] and out["answer"] == "4" and out["served_by"] == models[1]
        assert out["hops"][0]["outcome"] == "failed" and len(out["hops"][0]["attempts"]) == 3
        assert all("ServiceUnavailable" in a["error"] for a in out["hops"][0]["attempts"])
        assert out["breakers"][0] == {**out["breakers"][0], "state": "closed", "failures": failures}
    assert len(slept) == 4 and all(0 <= d <= min(0.5, 0.05 * 2 ** (i % 2)) for i, d in enumerate(slept))
    out = gw.fallback("What is 2 + 2?", models, {"error_status": 503}, max_attempts=1, sleep=slept.append)
    assert out["breakers"][0]["state"] == "open" and out["breakers"][0]["threshold"] == 3
    out = gw.fallback("What is 2 + 2?", models, sleep=slept.append)
    assert out["hops"][0] == {"model": models[0], "outcome": "circuit_open", "attempts": [], "error": None}
    assert out["served_by"] == models[1]


def test_fallback_waits_at_least_the_mock_retry_after(gw):
    slept: list[float] = []
    out = gw.fallback("What is 2 + 2?", ["mock/assistant", "mock/fallible"], {"error_status": 429, "retry_after": 2},
                      max_attempts=3, base_s=0.001, cap_s=0.002, sleep=slept.append)
    assert out["answer"] == "4" and slept == [2.0, 2.0]
    assert [a["retry_after_s"] for a in out["hops"][0]["attempts"]] == [2.0, 2.0, 2.0]


def test_a_permanent_error_is_not_retried_and_every_model_failing_is_not_ok(gw):
    slept: list[float] = []
    out = gw.fallback("hi", ["mock/assistant"], {"error_status": 500}, max_attempts=1, sleep=slept.append)
    assert not out["ok"] and out["answer"] is None and out["served_by"] is None
    with pytest.raises(ServiceError) as info:
        gw.fallback("hi", ["nobody/knows"])
    assert info.value.status == 400 and info.value.type == "unknown_model"


def test_check_model_reads_the_price_map():
    check_model("mock/assistant?fallback=1")
    check_model("openai/gpt-4o-mini")
    with pytest.raises(ServiceError):
        check_model("nobody/knows")


def test_provider_errors_map_to_clear_statuses(model):
    cases = [({"context_window": 5}, 413, None), ({"error_status": 500}, 502, None),
             ({"error_status": 429, "retry_after": 2}, 429, "2")]
    for mock, status, retry_after in cases:
        with pytest.raises(Exception) as info:
            model.complete("a long enough prompt", mock=mock)
        err = provider_error(info.value)
        assert err.status == status and (retry_after is None or err.headers["retry-after"] == retry_after)


def test_a_tenant_allowed_a_mock_may_reach_it_over_http(gw):
    assert gw.tenant("tiny", "mock/assistant").id == "tiny"
    assert gw.tenant("tiny", "openai/mock/assistant").id == "tiny"
    for model_id in ("mock/noisy", "openai/mock/noisy", "openai/gpt-4o-mini"):
        with pytest.raises(ServiceError) as info:
            gw.tenant("tiny", model_id)
        assert info.value.type == "model_not_allowed"
