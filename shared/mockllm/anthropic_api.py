"""The Anthropic Messages wire format: request in, message and stream events out, errors.

    curl -s localhost:8000/v1/messages -H 'content-type: application/json' -d '{"model": "assistant", \
"max_tokens": 256, "messages": [{"role": "user", "content": "What is 6 * 7?"}]}'

The engine thinks in OpenAI's shape, so this module translates at the border, which is also the
chapter's comparison of the two tool protocols, side by side:

| concept              | OpenAI chat completions                  | Anthropic messages                          |
| -------------------- | ---------------------------------------- | ------------------------------------------- |
| system prompt        | a message with role "system"             | top-level `system` (string or text blocks)  |
| the model calls tools| `message.tool_calls[].function.arguments`| content block `tool_use` with `input` (an   |
|                      | (a JSON *string*)                        | object) and id `toolu_...`                  |
| results come back    | one message per result, role "tool"      | blocks `tool_result` inside a *user* message|
| forcing a tool       | `tool_choice: {"type": "function", ...}` | `tool_choice: {"type": "tool", "name": ...}`|
| why it stopped       | finish_reason stop / tool_calls / length | stop_reason end_turn / tool_use / max_tokens|
| usage                | prompt_tokens includes cached tokens     | input_tokens excludes cache reads and writes|
| streaming            | `data:` chunks with deltas, then [DONE]  | named events: message_start, content_block_*|
|                      |                                          | (text_delta, input_json_delta), message_*   |
"""

from __future__ import annotations

import json
from typing import Any

import shared.mockllm.tokens as tokens
from shared.mockllm.cache import CacheUse
from shared.mockllm.request import MockError, MockRequest

STOP_REASONS = {"stop": "end_turn", "tool_calls": "tool_use", "length": "max_tokens"}
ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
               404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error",
               503: "overloaded_error", 529: "overloaded_error"}


def error_body(exc: MockError) -> dict[str, Any]:
    kind = ERROR_TYPES.get(exc.status, "api_error" if exc.status >= 500 else "invalid_request_error")
    return {"type": "error", "error": {"type": kind, "message": exc.message}}


def _bad(message: str) -> MockError:
    return MockError(400, message, "invalid_request_error")


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(str(b.get("text", "")) if isinstance(b, dict) else str(b) for b in content)
    return "" if content is None else str(content)


def _has_mark(block: Any) -> bool:
    return isinstance(block, dict) and isinstance(block.get("cache_control"), dict)


def _tool_choice(choice: Any) -> tuple[Any, bool]:
    """Anthropic's tool_choice -> (OpenAI's tool_choice, parallel_tool_calls)."""
    if not isinstance(choice, dict):
        return None, True
    parallel = not choice.get("disable_parallel_tool_use", False)
    kind = choice.get("type")
    if kind == "tool":
        return {"type": "function", "function": {"name": choice.get("name")}}, parallel
    return {"any": "required", "none": "none", "auto": "auto"}.get(kind), parallel


def to_openai_messages(body: dict[str, Any]) -> tuple[list[dict[str, Any]], list[int]]:
    """Anthropic system + messages -> OpenAI-shaped messages, and the cache breakpoints among them.

    A breakpoint k means "tools + the first k converted messages" (k = 0: the tools alone).
    """
    out: list[dict[str, Any]] = []
    marks: list[int] = []
    system = body.get("system")
    if system:
        if not isinstance(system, str | list):
            raise _bad("system: must be a string or an array of text blocks")
        out.append({"role": "system", "content": _text(system)})
        if isinstance(system, list) and any(_has_mark(b) for b in system):
            marks.append(len(out))
    for n, message in enumerate(body.get("messages") or []):
        if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
            raise _bad(f"messages.{n}.role: must be 'user' or 'assistant'")
        role, content = message["role"], message.get("content")
        if isinstance(content, str):
            out.append({"role": role, "content": content})
            continue
        if not isinstance(content, list):
            raise _bad(f"messages.{n}.content: must be a string or an array of content blocks")
        texts, calls, marked = [], [], False
        for block in content:
            if not isinstance(block, dict):
                raise _bad(f"messages.{n}.content: each block must be an object")
            marked = marked or _has_mark(block)
            kind = block.get("type")
            if kind == "text":
                texts.append(str(block.get("text", "")))
            elif kind == "tool_use":
                calls.append({"id": str(block.get("id", "")), "type": "function",
                              "function": {"name": str(block.get("name", "")),
                                           "arguments": json.dumps(block.get("input") or {})}})
            elif kind == "tool_result":
                result = _text(block.get("content"))
                if block.get("is_error"):
                    result = json.dumps({"error": result})
                out.append({"role": "tool", "tool_call_id": str(block.get("tool_use_id", "")), "content": result})
            else:
                texts.append(f"[{kind} block]")
        if role == "assistant":
            msg: dict[str, Any] = {"role": "assistant", "content": "\n".join(texts) or None}
            if calls:
                msg["tool_calls"] = calls
            out.append(msg)
        elif texts:
            out.append({"role": "user", "content": "\n".join(texts)})
        if marked:
            marks.append(len(out))
    return out, marks


def request(body: Any, headers: dict[str, str] | None = None,
            server_defaults: dict[str, Any] | None = None) -> MockRequest:
    """A /v1/messages body -> the engine's MockRequest (api="anthropic")."""
    if not isinstance(body, dict):
        raise _bad("request body must be a JSON object")
    if not isinstance(body.get("messages"), list) or not body["messages"]:
        raise _bad("messages: field required (a non-empty array)")
    if not isinstance(body.get("max_tokens"), int) or isinstance(body.get("max_tokens"), bool) \
            or body["max_tokens"] < 1:
        raise _bad("max_tokens: field required (a positive integer)")
    messages, marks = to_openai_messages(body)
    tools = body.get("tools") or []
    if not isinstance(tools, list) or not all(isinstance(t, dict) and t.get("name") for t in tools):
        raise _bad("tools: must be an array of {name, description, input_schema}")
    if any(_has_mark(t) for t in tools):
        marks.insert(0, 0)
    choice, parallel = _tool_choice(body.get("tool_choice"))
    openai_body = {
        "model": body.get("model"), "messages": messages, "max_tokens": body["max_tokens"],
        "temperature": body.get("temperature"), "top_p": body.get("top_p"), "stream": body.get("stream"),
        "tool_choice": choice, "parallel_tool_calls": parallel, "mock": body.get("mock"),
        "tools": [{"type": "function", "function": {"name": t["name"], "description": t.get("description", ""),
                                                    "parameters": t.get("input_schema") or {"type": "object"}}}
                  for t in tools],
    }
    thinking = body.get("thinking")
    if isinstance(thinking, dict) and thinking.get("type") == "enabled":
        openai_body["reasoning_effort"] = "high"
    req = MockRequest.from_openai(openai_body, headers, server_defaults)
    req.api = "anthropic"
    req.cache_breakpoints = marks or None
    req.include_usage = True
    return req


def count_tokens(body: Any) -> dict[str, int]:
    """POST /v1/messages/count_tokens: what the prompt would cost, without running the model."""
    req = request({**body, "max_tokens": 1} if isinstance(body, dict) else body)
    return {"input_tokens": tokens.count_messages(req.messages, req.tools)}


def _tool_input(arguments: str) -> dict[str, Any]:
    try:
        value = json.loads(arguments)
    except json.JSONDecodeError:
        return {"unexpected_argument": True}  # Anthropic sends an object even when the model errs
    return value if isinstance(value, dict) else {"value": value}


def message(req: MockRequest, openai_body: dict[str, Any], cache: CacheUse) -> dict[str, Any]:
    """The engine's OpenAI-shaped body (first choice) -> an Anthropic `message` object."""
    choice = openai_body["choices"][0]
    msg = choice["message"]
    content: list[dict[str, Any]] = []
    if msg.get("content"):
        content.append({"type": "text", "text": msg["content"]})
    for call in msg.get("tool_calls") or []:
        content.append({"type": "tool_use", "id": "toolu_" + call["id"].removeprefix("call_"),
                        "name": call["function"]["name"], "input": _tool_input(call["function"]["arguments"])})
    usage = openai_body["usage"]
    return {
        "id": "msg_" + openai_body["id"].removeprefix("chatcmpl-"), "type": "message", "role": "assistant",
        "model": req.model, "content": content,
        "stop_reason": STOP_REASONS.get(choice["finish_reason"], "end_turn"), "stop_sequence": None,
        "usage": {"input_tokens": max(usage["prompt_tokens"] - cache.read - cache.write, 0),
                  "cache_creation_input_tokens": cache.write, "cache_read_input_tokens": cache.read,
                  "output_tokens": usage["completion_tokens"]},
    }


def events(msg: dict[str, Any]) -> list[dict[str, Any]]:
    """A message as the stream of events the Messages API sends (each event's name is its "type")."""
    start = {**msg, "content": [], "stop_reason": None, "usage": {**msg["usage"], "output_tokens": 1}}
    out: list[dict[str, Any]] = [{"type": "message_start", "message": start}]
    for index, block in enumerate(msg["content"]):
        if block["type"] == "text":
            out.append({"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}})
            out += [{"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": piece}}
                    for piece in tokens.split(block["text"])]
        else:
            out.append({"type": "content_block_start", "index": index,
                        "content_block": {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}})
            out += [{"type": "content_block_delta", "index": index,
                     "delta": {"type": "input_json_delta", "partial_json": piece}}
                    for piece in tokens.split(json.dumps(block["input"]))]
        out.append({"type": "content_block_stop", "index": index})
    out.append({"type": "message_delta", "delta": {"stop_reason": msg["stop_reason"], "stop_sequence": None},
                "usage": {"output_tokens": msg["usage"]["output_tokens"]}})
    out.append({"type": "message_stop"})
    return out
