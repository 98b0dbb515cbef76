"""The vector-database decision matrix and the self-host-vs-API cost: computed from inputs, checked by hand."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from labs.lab06_rag import exercises, vectordb
from labs.lab06_rag.app import create_app
from shared.config import get_settings


def test_memory_per_index_kind_follows_the_formulas():
    m = vectordb.memory(1_000_000, 768, ram_gb=64)
    assert m["flat"]["gb"] == pytest.approx(3.072) and m["hnsw"]["gb"] == pytest.approx(3.2)
    assert m["ivfpq"]["gb"] == pytest.approx(0.104)  # 96 one-byte codes + an 8-byte id
    assert vectordb.memory(50_000_000, 768, ram_gb=64)["hnsw"]["nodes"] == 4  # ⌈160 · 1.3 / 64⌉


def test_hard_requirements_eliminate_with_reasons_and_the_rest_are_ranked():
    r = vectordb.decide(50_000_000, 768, hybrid=True, tenants=20, managed="preferred")
    faiss = next(row for row in r["matrix"] if row["option"].startswith("faiss"))
    assert "no hybrid (BM25 + vector) search" in faiss["eliminated"] and "no tenant isolation" in faiss["eliminated"]
    kept = [row["score"] for row in r["matrix"] if not row["eliminated"]]
    assert kept == sorted(kept, reverse=True) and r["choice"] == r["matrix"][0]["option"]
    # self-hosting required drops the managed-only service; joins with SQL favour pgvector
    r = vectordb.decide(2_000_000, 384, sql=True, managed="avoid")
    assert r["choice"] == "pgvector"
    assert "cannot be self-hosted" in next(x for x in r["matrix"] if x["option"] == "managed vector service")["eliminated"]
    # an index that fits: exact search over 50M x 768 on two 64 GB nodes fits nowhere
    r = vectordb.decide(50_000_000, 768, exact_recall=True, max_nodes=2)
    assert r["choice"] is None and all("fits" in " ".join(x["eliminated"]) for x in r["matrix"])
    # more queries than a node serves: replicas multiply the nodes
    assert vectordb.decide(1_000_000, 384, qps=1200, qps_per_node=500)["matrix"][0]["nodes"] == 3


@settings(max_examples=20, deadline=None)
@given(st.floats(0.005, 1.0), st.floats(0.2, 5.0), st.floats(2_000, 200_000), st.floats(0, 40), st.integers(1, 4))
def test_break_even_is_where_the_two_monthly_costs_meet(p, g, tau, hours, gpus):
    inputs = {"documents": 100_000, "api_price_per_m": p, "gpu_hour_usd": g, "gpu_tokens_per_s": tau,
              "engineer_hours": hours, "always_on_gpus": gpus}
    q = vectordb.cost(queries_per_month=0, **inputs)["break_even_queries_per_month"]
    if q is None:  # never: past the always-on GPUs' capacity a GPU token costs at least an API token
        assert g / (tau * 3600) >= p / 1e6
        return
    if q == 0:  # self-hosting is already cheaper with no queries at all
        return
    at = vectordb.cost(queries_per_month=q, **inputs)["monthly_usd"]
    assert at["api"] == pytest.approx(at["self_host"], rel=1e-3, abs=0.05)
    below = vectordb.cost(queries_per_month=q * 0.9, **inputs)["monthly_usd"]
    above = vectordb.cost(queries_per_month=q * 1.1, **inputs)["monthly_usd"]
    assert below["api"] < below["self_host"] and above["api"] > above["self_host"]


def test_the_two_exercises_added_for_the_chapter():
    r = exercises.vector_db_choice()
    assert r["answer"] == r["ranking"][0][0] and "faiss (in-process)" in r["eliminated"]
    r = exercises.self_host_vs_api()
    assert r["monthly_usd"]["3e+07 queries"]["cheaper"] == "api"
    assert r["monthly_usd"]["3e+10 queries"]["cheaper"] == "self_host" and 3e9 < r["answer"] < 3e10


def test_routes_and_bad_input(tmp_path):
    with TestClient(create_app(get_settings(data_dir=tmp_path)), raise_server_exceptions=False) as c:
        r = c.post("/vectordb/decide", json={"vectors": 1_000_000, "dim": 384, "weights": {"sql": 3}})
        assert r.status_code == 200 and r.json()["weights"]["sql"] == 3
        assert c.post("/vectordb/cost", json={"documents": 1000}).json()["cheaper"] == "api"
        for bad in ({"vectors": 0, "dim": 384}, {"vectors": 10, "dim": 384, "weights": {"speed": 1}},
                    {"vectors": 10, "dim": 384, "managed": "maybe"}, {"vectors": 10**13, "dim": 384},
                    # found by the contract fuzz: all-zero weights divided by zero, a vanishing qps_per_node
                    # made the replica count infinite (both were 500s)
                    {"vectors": 10, "dim": 384, "weights": dict.fromkeys(
                        ("scale", "filtering", "hybrid", "tenancy", "operations", "sql"), 0)},
                    {"vectors": 10, "dim": 384, "qps_per_node": 1e-300}, {"vectors": 10, "dim": 384,
                                                                           "weights": {"sql": -1}}):
            assert c.post("/vectordb/decide", json=bad).status_code == 422
        for bad in ({"documents": 10, "always_on_gpus": 0}, {"documents": 10, "reembed_share": 2}, {}):
            assert c.post("/vectordb/cost", json=bad).status_code == 422
