"""decide.py: the score is the weighted mean of the matrix's fits, the cases land where the reasoning says,
the estimates follow their formulas, and POST /calc/decide refuses bad input with a 4xx."""

import numpy as np
import pytest
from fastapi.testclient import TestClient

from labs.lab10_finetune import decide as D
from labs.lab10_finetune.app import create_app
from shared.config import get_settings


def random_inputs(rng):
    return {"knowledge_changes": str(rng.choice(["never", "yearly", "monthly", "daily"])),
            "knowledge_tokens": int(rng.choice([0, 3_000, 200_000, 5_000_000])),
            "needs_citations": bool(rng.integers(2)), "format_need": str(rng.choice(["none", "loose", "strict"])),
            "latency_budget_ms": float(rng.uniform(50, 3_000)), "labeled_examples": int(rng.integers(0, 5_000)),
            "queries_per_month": int(rng.integers(0, 10**7)),
            "weights": {c: float(rng.uniform(0, 3)) for c in D.CRITERIA}}


@pytest.mark.parametrize("seed", range(10))
def test_score_is_the_weighted_mean_of_the_fits(seed):
    kw = random_inputs(np.random.default_rng(seed))
    out = D.decide(**kw)
    w = kw["weights"]
    for option, score in out["ranking"]:
        fits = out["matrix"][option]
        assert all(0 <= fits[c]["fit"] <= 1 for c in D.CRITERIA)
        want = sum(w[c] * fits[c]["fit"] for c in D.CRITERIA) / sum(w.values())
        assert score == pytest.approx(want, abs=1e-3)
    assert [s for _, s in out["ranking"]] == sorted((s for _, s in out["ranking"]), reverse=True)
    assert out["recommendation"] == out["ranking"][0][0]


def test_estimates_follow_their_formulas():
    out = D.decide(knowledge_tokens=10_000, format_need="strict", labeled_examples=2_000, queries_per_month=1_000,
                   price_per_mtok=2.0, train_price_per_mtok=3.0)
    e = out["estimates"]
    assert e["prompt"]["prompt_tokens"] == D.INSTRUCTION_TOKENS + D.FEW_SHOT_TOKENS["strict"] + 10_000
    assert e["rag+finetune"]["prompt_tokens"] == D.INSTRUCTION_TOKENS + D.RAG_TOKENS
    assert e["rag"]["latency_ms"] == pytest.approx(1000 * e["rag"]["prompt_tokens"] / D.PREFILL_TOKENS_PER_S
                                                   + D.RETRIEVAL_MS, abs=0.1)
    training = 2_000 * D.TRAIN_TOKENS_PER_EXAMPLE * D.TRAIN_EPOCHS * 3.0 / 1e6 / D.AMORTISE_MONTHS
    assert e["finetune"]["cost_per_month"] == pytest.approx(1_000 * 400 * 2.0 / 1e6 + training, abs=0.01)


@pytest.mark.parametrize("kw,best", [
    ({"knowledge_changes": "daily", "knowledge_tokens": 2_000_000, "needs_citations": True}, "rag"),
    ({"knowledge_changes": "never", "knowledge_tokens": 0, "format_need": "strict", "labeled_examples": 5_000,
      "queries_per_month": 10_000_000, "latency_budget_ms": 200}, "finetune"),
    ({"knowledge_changes": "yearly", "knowledge_tokens": 3_000}, "prompt"),
    ({"knowledge_changes": "daily", "knowledge_tokens": 2_000_000, "format_need": "strict",
      "labeled_examples": 3_000}, "rag+finetune"),
])
def test_cases_land_where_the_reasoning_says(kw, best):
    assert D.decide(**kw)["recommendation"] == best


def test_one_criterion_alone_decides_and_more_data_never_hurts_the_fine_tune():
    only_cost = {c: 0.0 for c in D.CRITERIA} | {"cost": 1.0}
    out = D.decide(knowledge_tokens=100_000, weights=only_cost)
    cheapest = min(out["estimates"], key=lambda o: out["estimates"][o]["cost_per_month"])
    assert out["recommendation"] == cheapest
    scores = [dict(D.decide(format_need="strict", labeled_examples=n)["ranking"])["finetune"]
              for n in (0, 100, 500, 1_000, 5_000)]
    assert scores == sorted(scores)
    with pytest.raises(ValueError, match="unknown criteria"):
        D.decide(weights={"vibes": 1.0})


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    return TestClient(create_app(get_settings(data_dir=str(tmp_path_factory.mktemp("lab10decide")))))


def test_route_returns_the_matrix(client):
    r = client.post("/calc/decide", json={"knowledge_changes": "daily", "needs_citations": True})
    assert r.status_code == 200
    body = r.json()
    assert body["recommendation"] == "rag" and set(body["matrix"]) == set(D.OPTIONS)
    assert set(body["matrix"]["rag"]) == set(D.CRITERIA)


@pytest.mark.parametrize("body,needle", [
    ({"weights": {"vibes": 1}}, "weights"),
    ({"weights": dict.fromkeys(D.CRITERIA, 0)}, "must not all be zero"),
    ({"knowledge_changes": "hourly"}, "knowledge_changes"),
    ({"latency_budget_ms": 0}, "latency_budget_ms"),
    ({"labeled_examples": -1}, "labeled_examples"),
    ({"colour": "blue"}, "colour"),
])
def test_route_refuses_bad_input(client, body, needle):
    r = client.post("/calc/decide", json=body)
    assert r.status_code == 422 and needle in r.json()["error"]["message"]
