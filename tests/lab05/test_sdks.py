"""LiteLLM vs the native SDKs against the mock over a real socket: same answer, each on its own wire."""

from __future__ import annotations

from fastapi.testclient import TestClient

from labs.lab05_patterns import sdks
from labs.lab05_patterns.app import create_app


async def test_every_client_gets_the_same_answer_and_usage(live_mock):
    out = await sdks.compare("What is 6 * 7?", live_mock)
    assert out["same_answer"] and set(out["paths"]) == set(sdks.PATHS)
    assert {v["answer"] for v in out["paths"].values()} == {"42"}
    assert len({tuple(v["usage"].values()) for v in out["paths"].values()}) == 1
    wire = {name: v["wire"][0]["request"] for name, v in out["paths"].items()}
    assert {wire[n]["path"] for n in ("raw_httpx", "openai_sdk", "litellm_openai")} == {"/v1/chat/completions"}
    assert {wire[n]["path"] for n in ("anthropic_sdk", "litellm_anthropic")} == {"/v1/messages"}
    for name in ("anthropic_sdk", "litellm_anthropic"):
        assert wire[name]["body"]["max_tokens"] == 256 and "anthropic-version" in wire[name]["headers"]
        assert out["paths"][name]["wire"][0]["response"]["body"]["content"][0]["type"] == "text"
    assert "max_tokens" not in wire["openai_sdk"]["body"]
    assert all("mock-key" not in str(w["headers"]) for w in wire.values())  # the key is redacted
    assert "litellm_module().acompletion" in out["paths"]["litellm_anthropic"]["code"]


def test_the_route_compares_in_process_and_refuses_unknown_paths(settings):
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        r = client.post("/sdks/compare", json={"question": "What is 6 * 7?", "paths": ["openai_sdk", "litellm_openai"]})
        assert r.status_code == 200 and r.json()["same_answer"] and set(r.json()["paths"]) == {"openai_sdk", "litellm_openai"}
        assert client.post("/sdks/compare", json={"question": "hi", "paths": ["curl"]}).status_code == 422
