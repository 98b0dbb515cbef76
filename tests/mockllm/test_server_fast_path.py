"""The chat route's ASGI fast path sends what the FastAPI route sent: same JSON, same SSE bytes,
same errors, request ids and metrics labels kept."""

from __future__ import annotations

import json

import numpy as np
import pytest
from fastapi.testclient import TestClient

from shared.mockllm.engine import MockEngine, MockRequest
from shared.mockllm.server import _sse_data, create_app


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    from shared.config import get_settings

    with TestClient(create_app(get_settings(data_dir=tmp_path_factory.mktemp("fast")))) as c:
        yield c


@pytest.mark.parametrize("seed", range(4))
def test_sse_templates_equal_json_dumps_of_every_chunk(seed):
    rng = np.random.default_rng(seed)
    alphabet = list('abc XYZ"\\\n\té€😀<>&.?') + ["word", "6 * 7"]
    engine = MockEngine()
    for behaviour in ("assistant", "noisy", "fallible"):
        text = "".join(rng.choice(alphabet, 60))
        prompt = ("Summarize: " if rng.random() < 0.5 else "") + text
        plan = engine.plan(MockRequest.from_openai({"model": behaviour, "stream": True, "n": int(rng.integers(1, 3)),
                                                    "stream_options": {"include_usage": bool(rng.random() < .5)},
                                                    "messages": [{"role": "user", "content": prompt}]}))
        assert _sse_data(plan.chunks) == [f"data: {json.dumps(c)}\n\n" for c in plan.chunks]


def test_fast_path_answers_like_the_route(client):
    body = {"model": "assistant", "messages": [{"role": "user", "content": "What is 6 * 7?"}]}
    r = client.post("/v1/chat/completions", json=body, headers={"x-request-id": "req-fast-1"})
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    assert r.headers["x-request-id"] == "req-fast-1" and "42" in r.json()["choices"][0]["message"]["content"]
    with client.stream("POST", "/v1/chat/completions", json={**body, "stream": True}) as s:
        text = "".join(s.iter_text())
    assert s.headers["content-type"].startswith("text/event-stream") and s.headers["cache-control"] == "no-cache"
    assert text.endswith("data: [DONE]\n\n") and "42" in text
    bad = client.post("/v1/chat/completions", content=b"{not json", headers={"content-type": "application/json"})
    assert bad.status_code == 400 and bad.json()["error"]["type"] == "invalid_request_error"
    fault = client.post("/v1/chat/completions", json=body, headers={"x-mock-error-status": "429"})
    assert fault.status_code == 429 and "error" in fault.json()
    assert client.get("/v1/chat/completions").status_code == 405  # everything but POST still goes to FastAPI
    metrics = client.get("/metrics").text
    assert 'route="/v1/chat/completions"' in metrics
