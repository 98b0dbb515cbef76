"""POST /tasks/summarization and /tasks/pairwise: answers and 4xx."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from labs.lab08_eval.app import create_app


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    from shared.config import get_settings

    app = create_app(get_settings(data_dir=tmp_path_factory.mktemp("data")))
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def test_summarization_and_pairwise_routes(client):
    out = client.post("/tasks/summarization", json={"limit": 5}).json()
    assert out["n"] == 5 and set(out["agreement"]) >= {"coverage", "faithfulness", "concision", "overall", "gated"}
    out = client.post("/tasks/pairwise", json={"limit": 3, "position_bias": 0.9, "B": 200}).json()
    assert out["n_judgements"] == 6 and 0 <= out["position_consistency"] <= 1
    assert out["swapped"]["low"] <= out["swapped"]["win_rate_a"] <= out["swapped"]["high"]


@pytest.mark.parametrize("path,body", [
    ("/tasks/summarization", {"limit": 31}), ("/tasks/summarization", {"noise": 2}),
    ("/tasks/summarization", {"judge": "x"}), ("/tasks/pairwise", {"limit": 0}),
    ("/tasks/pairwise", {"B": 50}), ("/tasks/pairwise", {"position_bias": 1.5}),
])
def test_bad_input_is_a_422(client, path, body):
    r = client.post(path, json=body)
    assert r.status_code == 422, r.text
