"""The two tool-use wire protocols, side by side: the same question through the mock's two fronts.

    curl -s localhost:8005/tools/protocols -H 'content-type: application/json' \
      -d '{"question": "What is the weather in Tokyo?"}'

Both conversations run the same loop (ask -> the model calls a tool -> we run it -> we send the
result -> the model answers) against the mock's HTTP app, in process, so every body shown is the
exact JSON that would cross the wire to /v1/chat/completions (OpenAI) and /v1/messages (Anthropic):

    OpenAI:    tools[].function.parameters; reply message.tool_calls[].function.arguments is a JSON
               string; results go back as {"role": "tool", "tool_call_id", "content"} messages.
    Anthropic: tools[].input_schema; reply content has {"type": "tool_use", "id", "name", "input"}
               (an object); results go back as {"type": "tool_result", "tool_use_id"} blocks in a
               *user* message; stop_reason "tool_use" instead of finish_reason "tool_calls".

In the service itself LiteLLM hides this difference (`anthropic/<model>` takes the OpenAI shape and
translates); tests/lab05/test_tools.py drives the Anthropic front through LiteLLM to prove it.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from labs.lab05_patterns.tools import TOOLS, run_tool


def _mock_client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://mock")


async def _post(client: httpx.AsyncClient, path: str, body: dict[str, Any], log: list[dict[str, Any]]) -> dict:
    response = await client.post(path, json=body)
    data = response.json()
    log.append({"request": {"method": "POST", "path": path, "body": body},
                "response": {"status": response.status_code, "body": data}})
    if response.status_code >= 400:
        raise RuntimeError(f"{path} answered {response.status_code}: {json.dumps(data)[:200]}")
    return data


async def openai_exchange(client: httpx.AsyncClient, question: str, tools: list[str]) -> dict[str, Any]:
    log: list[dict[str, Any]] = []
    messages: list[dict[str, Any]] = [{"role": "user", "content": question}]
    body = {"model": "assistant", "messages": messages, "tools": [TOOLS[t].openai() for t in tools]}
    first = await _post(client, "/v1/chat/completions", body, log)
    message = first["choices"][0]["message"]
    calls = message.get("tool_calls") or []
    if calls:
        results = [{"role": "tool", "tool_call_id": c["id"],
                    "content": json.dumps(run_tool(c["function"]["name"], c["function"]["arguments"]))}
                   for c in calls]
        followup = {**body, "messages": [*messages, {k: v for k, v in message.items() if v is not None},
                                         *results]}
        final = await _post(client, "/v1/chat/completions", followup, log)
        answer = final["choices"][0]["message"]["content"]
    else:
        answer = message.get("content")
    return {"answer": answer, "tool_calls": len(calls), "exchanges": log}


async def anthropic_exchange(client: httpx.AsyncClient, question: str, tools: list[str]) -> dict[str, Any]:
    log: list[dict[str, Any]] = []
    messages: list[dict[str, Any]] = [{"role": "user", "content": question}]
    body = {"model": "assistant", "max_tokens": 512, "messages": messages,
            "tools": [TOOLS[t].anthropic() for t in tools]}
    first = await _post(client, "/v1/messages", body, log)
    uses = [b for b in first["content"] if b.get("type") == "tool_use"]
    if uses:
        results = [{"type": "tool_result", "tool_use_id": b["id"], "content": json.dumps(run_tool(b["name"], b["input"]))}
                   for b in uses]
        followup = {**body, "messages": [*messages, {"role": "assistant", "content": first["content"]},
                                         {"role": "user", "content": results}]}
        final = await _post(client, "/v1/messages", followup, log)
        answer = "".join(b.get("text", "") for b in final["content"] if b.get("type") == "text")
    else:
        answer = "".join(b.get("text", "") for b in first["content"] if b.get("type") == "text")
    return {"answer": answer, "tool_calls": len(uses), "exchanges": log}


async def side_by_side(question: str, mock_app: Any, tools: list[str] | None = None) -> dict[str, Any]:
    """`mock_app` is the mock provider's ASGI app (shared.mockllm.server.create_app), called in process."""
    tools = tools or list(TOOLS)
    async with _mock_client(mock_app) as client:
        openai = await openai_exchange(client, question, tools)
        anthropic = await anthropic_exchange(client, question, tools)
    return {"question": question, "openai": openai, "anthropic": anthropic,
            "same_answer": openai["answer"] == anthropic["answer"]}
