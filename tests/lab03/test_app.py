"""The lab-03 service: each route's answer, its PNGs, and a clear 4xx naming the field for bad input."""

from __future__ import annotations

import pytest

Y = [0, 0, 1, 1, 0, 1, 0, 1, 1, 0]
P = [0.1, 0.4, 0.35, 0.8, 0.2, 0.9, 0.6, 0.7, 0.95, 0.05]




def test_ready_after_warmup(client):
    body = client.get("/readyz").json()
    assert body["status"] == "ready" and body["checks"]["datasets"]["detail"] == "7 datasets loaded"


def test_metrics_route(client):
    r = client.post("/metrics", json={"y_true": Y, "y_score": P})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["confusion"] == {"tp": 4, "fp": 1, "fn": 1, "tn": 4}
    assert body["roc_auc"] == pytest.approx(0.92) and "brier" in body
    assert client.post("/metrics", json={"y_true": Y, "y_pred": [1] * 10}).json()["recall"] == 1.0


@pytest.mark.parametrize("path", ["/metrics/roc.png", "/metrics/pr.png"])
def test_curve_pngs(client, path):
    r = client.post(path, json={"y_true": Y, "y_score": P})
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    assert r.content.startswith(b"\x89PNG")


def test_calibrate_and_reliability_png(client):
    y = [i % 2 for i in range(200)]
    p = [0.97 if (i % 4 in (1, 2)) else 0.03 for i in range(200)]  # half of its confident calls are wrong
    r = client.post("/calibrate", json={"y_true": y, "probs": p, "method": "platt", "bins": 5})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["after"]["ece"] < body["before"]["ece"] and body["after"]["nll"] < body["before"]["nll"]
    png = client.post("/calibrate/reliability.png", json={"y_true": y, "probs": p, "method": "isotonic"})
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG")


def test_compare_and_ab(client):
    a = [1] * 60 + [0] * 40
    b = [1] * 75 + [0] * 25
    body = client.post("/compare", json={"a": a, "b": b, "B": 500}).json()
    assert body["verdict"].startswith("B is better") and body["mcnemar_exact"]["c"] == 15
    n = client.post("/ab/sample-size", json={"p_baseline": 0.1, "lift": 0.02}).json()
    assert n["per_arm"]["two_proportion_z"] == 3841
    post = client.post("/ab/posterior", json={"conversions_a": 100, "users_a": 1000,
                                              "conversions_b": 130, "users_b": 1000}).json()
    assert 0.95 < post["p_b_beats_a"] < 1


def test_fit_and_datasets(client):
    names = [d["name"] for d in client.get("/datasets").json()]
    assert names == ["breast_cancer", "digits", "iris", "wine", "iris_versicolor", "digits_8", "fair"]
    body = client.post("/fit", json={"dataset": "wine", "model": "logistic", "seed": 1}).json()
    assert body["beats_baseline"] and body["classes"] == 3


@pytest.mark.parametrize("path, body, status, needle", [
    ("/metrics", {"y_true": [0, 1, 1], "y_score": [0.1, 0.2]}, 422, "y_score has 2 values but y_true has 3"),
    ("/metrics", {"y_true": [0, 1], "y_score": [0.1, 0.2], "y_pred": [0, 1]}, 422, "exactly one"),
    ("/metrics", {"y_true": [0, 2], "y_pred": [0, 1]}, 422, "y_true.1"),
    ("/metrics", {"y_true": [0, 1], "y_score": [0.1, 0.2], "treshold": 0.3}, 422, "treshold"),
    ("/metrics/roc.png", {"y_true": [1, 1], "y_score": [0.1, 0.2]}, 422, "only class 1"),
    ("/calibrate", {"y_true": [0, 1, 0, 1], "probs": [0.1, 0.2, 0.3, 1.5]}, 422, "probs.3"),
    ("/calibrate", {"y_true": [1, 1, 1, 1], "probs": [0.1, 0.2, 0.3, 0.5]}, 422, "only class 1"),
    ("/calibrate", {"y_true": [0, 1, 0, 1, 1], "probs": [0.1, 0.2, 0.3, 0.5]}, 422, "probs has 4 rows"),
    ("/calibrate", {"y_true": [0, 1, 0, 1], "probs": [0.1, 0.2, 0.3, 0.5], "method": "beta"}, 422, "method"),
    ("/compare", {"a": [1, 0, 1], "b": [1, 0]}, 422, "same items"),
    ("/ab/sample-size", {"p_baseline": 0.95, "lift": 0.1}, 422, "lift"),
    ("/ab/posterior", {"conversions_a": 11, "users_a": 10, "conversions_b": 1, "users_b": 10}, 422, "conversions"),
    ("/fit", {"dataset": "mnist"}, 422, "dataset"),
    ("/fit", {"dataset": "iris", "cv_folds": 1}, 422, "cv_folds"),
])
def test_bad_input_is_a_422_that_names_the_field(client, path, body, status, needle):
    r = client.post(path, json=body)
    assert r.status_code == status, r.text
    assert needle in r.json()["error"]["message"] or needle in r.text
