"""Lab mock plugins: the shared engine holds only generic behaviours; lab-07's `agent`/`agent_tot` and
lab-08's golden-set skill come from `labs/<lab>/mock_plugin.py`, and the mock a reader starts with
`make mock` (`python -m labs mock`) or `make up` loads every one of them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from labs import discover, mock_argv, mock_plugins
from tests.services import free_port, serve_in_subprocess

ROOT = Path(__file__).resolve().parents[2]
POLICY_TASK = {"role": "user", "content": "Task: Look up the pets policy."}
GET_POLICY = {"type": "function", "function": {"name": "get_policy", "parameters": {
    "type": "object", "properties": {"topic": {"type": "string"}}}}}


def _python(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_every_lab_plugin_follows_the_convention():
    assert "labs.lab07_agents.mock_plugin:install" in mock_plugins()
    assert "labs.lab08_eval.mock_plugin:install" in mock_plugins()
    for lab in discover():
        has_file = (lab.folder / "mock_plugin.py").is_file()
        assert (lab.mock_plugin is not None) == has_file
    argv = mock_argv("127.0.0.1", 8123)
    assert argv[:4] == ["--host", "127.0.0.1", "--port", "8123"]
    assert argv[4:] == [arg for spec in mock_plugins() for arg in ("--load", spec)]


def test_the_shared_engine_alone_has_no_lab_behaviours_and_lab07_code_brings_them():
    """A fresh process: shared.mockllm knows no `agent`; importing any of lab-07's entry points registers both."""
    check = ("from shared.mockllm.engine import BEHAVIOURS; import shared.mockllm.behaviours; "
             "import json; print(json.dumps(sorted(BEHAVIOURS)))")
    alone = json.loads(_python(check))
    assert "gullible" in alone and "agent" not in alone and "agent_tot" not in alone
    for module in ("labs.lab07_agents.app", "labs.lab07_agents.suite", "labs.lab07_agents.runtime"):
        found = json.loads(_python(check.replace("import shared.mockllm.behaviours", f"import {module}")))
        assert {"agent", "agent_tot"} <= set(found), f"importing {module} does not register agent and agent_tot"


@pytest.fixture(scope="module")
def lab_mock(tmp_path_factory):
    """`python -m labs mock --host H --port P`: what `make mock` runs (and `make up` starts the same loads)."""
    port = free_port()
    env = {**os.environ, "DATA_DIR": str(tmp_path_factory.mktemp("lab-mock")), "MOCK_LATENCY_MS": "1"}
    env.pop("MOCK_LOAD", None)
    base = f"http://127.0.0.1:{port}"
    with serve_in_subprocess([sys.executable, "-m", "labs", "mock", "--host", "127.0.0.1", "--port", str(port)],
                             env, f"{base}/v1/models"):
        yield base


def _chat(base: str, body: dict) -> dict:
    resp = httpx.post(f"{base}/v1/chat/completions", json=body, timeout=10)
    assert resp.status_code == 200, resp.text
    return resp.json()["choices"][0]["message"]


def test_models_lists_the_lab_behaviours(lab_mock):
    ids = {m["id"] for m in httpx.get(f"{lab_mock}/v1/models", timeout=5).json()["data"]}
    assert {"agent", "agent_tot", "assistant", "gullible"} <= ids
    assert httpx.get(f"{lab_mock}/v1/models/agent_tot", timeout=5).status_code == 200


def test_agent_plans_the_next_call_over_http(lab_mock):
    message = _chat(lab_mock, {"model": "agent", "messages": [POLICY_TASK], "tools": [GET_POLICY]})
    call = message["tool_calls"][0]["function"]
    assert call["name"] == "get_policy" and json.loads(call["arguments"]) == {"topic": "pets"}


def test_agent_tot_proposes_and_evaluates_over_http(lab_mock):
    proposals = _chat(lab_mock, {"model": "agent_tot", "messages": [
        {"role": "system", "content": "ROLE: proposer. Propose up to 3 candidate next steps."}, POLICY_TASK]})
    candidates = json.loads(proposals["content"])["candidates"]
    assert 1 <= len(candidates) <= 3 and all("thought" in c for c in candidates)
    value = _chat(lab_mock, {"model": "agent_tot", "messages": [
        {"role": "system", "content": "ROLE: evaluator."}, POLICY_TASK,
        {"role": "user", "content": 'Candidate: Action: get_policy\nAction Input: {"topic": "pets"}'}]})
    assert value["content"].startswith("Value: sure")


def test_lab08_skill_answers_over_http(lab_mock):
    from labs.lab08_eval import candidates
    from shared.mockllm.engine import MockRequest

    body = {"model": "assistant", "messages": [{"role": "user", "content": candidates.prompt(
        candidates.item("qa-geo-00"))}], "mock": {"variant": "v2"}}
    expected = candidates.answer(MockRequest.from_openai(body)).content
    assert _chat(lab_mock, body)["content"] == expected


def test_gullible_can_fall_back_to_the_lab_agent_over_http(lab_mock):
    message = _chat(lab_mock, {"model": "gullible", "messages": [POLICY_TASK], "tools": [GET_POLICY],
                               "mock": {"base": "agent"}})
    assert message["tool_calls"][0]["function"]["name"] == "get_policy"
