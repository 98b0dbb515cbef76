"""The ~80-line MVP runs on its own: chat, retries, idempotency, masking, streaming."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from labs.lab05_patterns import mvp


def test_mvp_is_small():
    lines = [ln for ln in Path(mvp.__file__).read_text().splitlines() if ln.strip()]
    assert len(lines) <= 85


def test_chat_idempotency_and_masking():
    client = TestClient(mvp.create_app())
    first = client.post("/chat", json={"prompt": "What is 6 * 7?"}, headers={"idempotency-key": "x"}).json()
    again = client.post("/chat", json={"prompt": "What is 6 * 7?"}, headers={"idempotency-key": "x"}).json()
    assert first["text"] == "42" and first["cost_usd"] > 0 and again["replayed"]
    echoed = client.post("/chat", json={"prompt": "Please note my address ada@example.com"}).json()["text"]
    assert "<EMAIL>" in echoed and "ada@example.com" not in echoed
    assert client.post("/chat", json={"prompt": ""}).status_code == 422


def test_retries_ride_out_transient_faults_and_give_up_on_persistent_ones():
    flaky = TestClient(mvp.create_app(model="mock/assistant?error_rate=0.4&error_status=503"))
    codes = [flaky.post("/chat", json={"prompt": f"What is {i} + 1?"}).status_code for i in range(6)]
    assert codes.count(200) >= 5
    down = TestClient(mvp.create_app(model="mock/assistant?error_status=503"))
    assert down.post("/chat", json={"prompt": "What is 1 + 1?"}).status_code == 502


def test_stream():
    client = TestClient(mvp.create_app())
    with client.stream("POST", "/chat/stream", json={"prompt": "What is the capital of France?"}) as r:
        text = "".join(r.iter_text())
    assert '{"text": "Paris"}' in text and '"done": true' in text
