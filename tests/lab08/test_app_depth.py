"""The routes for online and counterfactual evaluation, eval quality and the task stacks: answers and 4xx."""

from __future__ import annotations

import pytest

from labs.lab08_eval.app import create_app
from tests.services import warm_client


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    from shared.config import get_settings

    with warm_client(create_app(get_settings(data_dir=tmp_path_factory.mktemp("data")))) as c:  # tide runs load
        yield c


def test_peeking_and_off_policy(client):
    body = client.post("/online/peeking", json={"sims": 300, "n_per_arm": 500, "looks": 5}).json()
    assert [r["procedure"] for r in body["rows"]] == ["fixed horizon", "naive peeking", "SPRT"]
    assert body["naive_peeking_exact"] == pytest.approx(0.142, abs=0.002)
    body = client.post("/online/off-policy", json={"n_logs": 500, "repeats": 20}).json()
    assert {r["estimator"] for r in body["rows"]} == {"naive", "ips", "snips", "dm", "dr"}


def test_quality_and_task_routes(client):
    assert client.get("/compare/tide-a/tide-b/antipatterns").json()["found"] == ["average-tide trap"]
    life = client.get("/datasets/classification/lifecycle?periods=2026-Q3,2026-Q4").json()
    assert [v["label"] for v in life["versions"]] == ["v0", "v1", "v2"]
    stack = client.post("/tasks/classification", json={"limit": 20}).json()
    assert stack["n"] == 20 and 0 <= stack["ece"] <= 1
    png = client.post("/tasks/classification?format=png", json={"limit": 10})
    assert png.headers["content-type"] == "image/png" and png.content[:4] == b"\x89PNG"
    assert client.get("/tasks/trajectory").json()["n"] == 30


@pytest.mark.parametrize("method,path,body,status", [
    ("post", "/online/peeking", {"sims": 4000, "n_per_arm": 20000}, 422),
    ("post", "/online/peeking", {"p_a": 0.9, "mde": 0.2}, 422),
    ("post", "/online/peeking", {"p_a": 1e-300, "mde": 0.5}, 422),  # θ1 rounds to 1: log(0) (the fuzz's 500)
    ("post", "/online/peeking", {"mde": 0}, 422),  # an SPRT for no lift never moves
    ("post", "/online/peeking", {"looks": 0}, 422),
    ("post", "/online/off-policy", {"n_logs": 100000, "repeats": 100}, 422),
    ("post", "/online/off-policy", {"logging_epsilon": 0}, 422),
    ("post", "/tasks/classification", {"model": "mock/nosuch"}, 422),
    ("post", "/tasks/classification", {"variant": "v9"}, 422),
    ("get", "/compare/tide-a/nope/antipatterns", None, 404),
    ("get", "/datasets/nope/lifecycle", None, 404),
    ("get", "/datasets/qa/lifecycle?periods=a%20b", None, 422),
    ("get", "/datasets/qa/lifecycle?periods=,,", None, 422),
])
def test_bad_input_is_a_4xx(client, method, path, body, status):
    r = client.post(path, json=body) if method == "post" else client.get(path)
    assert r.status_code == status, r.text
