"""The prompting routes: few-shot classify / evaluate / optimize answer, and bad input is a clear 4xx."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from labs.lab05_patterns.app import create_app


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    from shared.config import get_settings

    with TestClient(create_app(get_settings(data_dir=tmp_path_factory.mktemp("lab05-prompting"))),
                    raise_server_exceptions=False) as c:
        yield c


def test_classify_shows_the_demonstrations_it_sent(client):
    r = client.post("/fewshot/classify", json={"text": "where is my package", "strategy": "similar", "k": 3})
    body = r.json()
    assert r.status_code == 200 and body["label"] == "shipping" and len(body["demos"]) == 3
    assert body["label"] in {d["label"] for d in body["demos"]}
    zero = client.post("/fewshot/classify", json={"text": "where is my package", "strategy": "zero_shot"}).json()
    assert zero["demos"] == []


def test_label_bias_reaches_the_labeller(client):
    text = "my card was declined"
    plain = client.post("/fewshot/classify", json={"text": text, "k": 4, "label_bias": 0}).json()
    biased = client.post("/fewshot/classify", json={"text": text, "k": 4, "label_bias": 2}).json()
    counts = {}
    for d in biased["demos"]:
        counts[d["label"]] = counts.get(d["label"], 0) + 1
    assert plain["label"] == "billing" and biased["label"] == max(counts, key=counts.get)


def test_evaluate_and_optimize_answer(client):
    r = client.post("/fewshot/evaluate", json={"strategies": ["fixed", "similar"], "k": 4, "n_test": 8})
    assert r.status_code == 200 and [s["strategy"] for s in r.json()["scores"]] == ["fixed", "similar"]
    r = client.post("/fewshot/optimize", json={"candidates": 1, "n_dev": 4, "n_test": 4, "k": 2, "max_bootstrapped": 4})
    assert r.status_code == 200 and set(r.json()["test"]) == {"zero_shot", "labelled_random", "optimized"}


@pytest.mark.parametrize("path,body,status,kind", [
    ("/fewshot/classify", {"text": "x", "strategy": "best"}, 422, "unknown_strategy"),
    ("/fewshot/classify", {"text": "x", "k": 17}, 422, "validation_error"),
    ("/fewshot/evaluate", {"strategies": ["nearest"]}, 422, "unknown_strategy"),
    ("/fewshot/evaluate", {"n_test": 41}, 422, "validation_error"),
    ("/fewshot/optimize", {"candidates": 7}, 422, "validation_error"),
    ("/fewshot/optimize", {"shots": 3}, 422, "validation_error"),
])
def test_bad_input_is_a_clear_4xx(client, path, body, status, kind):
    r = client.post(path, json=body)
    assert r.status_code == status and r.json()["error"]["type"] == kind
