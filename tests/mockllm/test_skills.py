"""The skills registry: a lab adds a deterministic skill to `assistant` without touching the engine,
and it answers in-process, over HTTP, and in a separate server started with --load."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import httpx
import pytest

from shared import llm
from shared.mockllm.engine import SKILLS, MockEngine, MockRequest
from tests.mockllm import promql_skill
from tests.services import free_port, serve_in_subprocess

SYSTEM = "Translate the question to PromQL. Reply with the query only."
QUESTION = "What is the error rate of service checkout over the last 10 minutes?"
EXPECTED = ('sum(rate(http_requests_total{service="checkout", code=~"5.."}[10m])) / '
            'sum(rate(http_requests_total{service="checkout"}[10m]))')
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def promql():
    promql_skill.install()
    yield
    promql_skill.uninstall()


def ask(engine: MockEngine, system: str | None = SYSTEM) -> str:
    messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": QUESTION}]
    body = engine.complete(MockRequest.from_openai({"model": "assistant", "messages": messages}))
    return body["choices"][0]["message"]["content"]


def test_a_registered_skill_answers_what_it_claims_and_nothing_else(promql):
    engine = MockEngine()
    assert ask(engine) == EXPECTED
    assert ask(engine, system=None) != EXPECTED  # not its request: the assistant answers as before
    promql_skill.install()  # registering again replaces, never duplicates
    assert [s.name for s in SKILLS].count(promql_skill.NAME) == 1


def test_without_the_skill_the_assistant_cannot_do_it():
    assert promql_skill.NAME not in {s.name for s in SKILLS}
    assert ask(MockEngine()) != EXPECTED


def test_the_skill_reaches_shared_llm_and_the_http_fronts(promql, live_mock):
    assert llm.complete(QUESTION, system=SYSTEM).text == EXPECTED
    import openai

    client = openai.OpenAI(base_url=f"{live_mock}/v1", api_key="mock", max_retries=0)
    resp = client.chat.completions.create(model="assistant", messages=[
        {"role": "system", "content": SYSTEM}, {"role": "user", "content": QUESTION}])
    assert resp.choices[0].message.content == EXPECTED


def test_a_separate_server_loads_skills_with_the_load_flag(tmp_path):
    """`python -m shared.mockllm --host H --port P --load module:install`, as make mock / compose run it."""
    port = free_port()
    env = {**os.environ, "DATA_DIR": str(tmp_path), "MOCK_LATENCY_MS": "1"}
    base = f"http://127.0.0.1:{port}"
    with serve_in_subprocess([sys.executable, "-m", "shared.mockllm", "--host", "127.0.0.1", "--port", str(port),
                              "--load", "tests.mockllm.promql_skill:install"], env, f"{base}/v1/models"):
        resp = httpx.post(f"{base}/v1/chat/completions", timeout=10, json={"model": "assistant", "messages": [
            {"role": "system", "content": SYSTEM}, {"role": "user", "content": QUESTION}]})
    assert resp.status_code == 200 and resp.json()["choices"][0]["message"]["content"] == EXPECTED
