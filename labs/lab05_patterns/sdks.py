"""LiteLLM vs native SDKs: one question through the `openai` SDK, the `anthropic` SDK and LiteLLM.

    curl -s localhost:8005/sdks/compare -H 'content-type: application/json' -d '{"question": "What is 6 * 7?"}'
    .venv/bin/python bench/bench_lab05_sdks.py      # per-call overhead of each client against the mock over HTTP

Five ways to ask the mock the same thing, each a few lines (the response's `code` shows them):

    raw_httpx          a POST of the OpenAI JSON: the floor any client adds to
    openai_sdk         openai.AsyncOpenAI(...).chat.completions.create  -> POST /v1/chat/completions
    anthropic_sdk      anthropic.AsyncAnthropic(...).messages.create     -> POST /v1/messages
    litellm_openai     litellm.acompletion("openai/assistant")           -> the same wire as openai_sdk
    litellm_anthropic  litellm.acompletion("anthropic/assistant")        -> the same wire as anthropic_sdk

What differs on the wire: the path, the headers (an `anthropic-version` on the Anthropic front, and
LiteLLM sends the key as `x-api-key` there), `max_tokens` (optional vs required), the reply's shape
(`choices[0].message` vs `content[]` blocks; `usage.prompt_tokens` vs `usage.input_tokens`). LiteLLM takes the OpenAI shape in
and gives the OpenAI shape back for both, which is why the rest of this lab never names a provider;
the price is its own per-call work, which the bench measures beside each SDK's.

This module is the one place in the labs that imports the provider SDKs, because comparing them is
its subject; everything else goes through shared.llm. The mock is reached over HTTP: a real socket in
the bench, an in-process ASGI transport behind the route (same requests, same bytes, no port).
"""

from __future__ import annotations

import inspect
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import httpx2

from shared.llm import litellm_module

API_KEY = "mock-key"
SHOWN_HEADERS = ("authorization", "x-api-key", "anthropic-version", "content-type", "user-agent")


async def raw_httpx(http: httpx.AsyncClient, base: str, question: str) -> tuple[str, dict[str, int]]:
    r = await http.post(f"{base}/v1/chat/completions", headers={"authorization": f"Bearer {API_KEY}"},
                        json={"model": "assistant", "messages": [{"role": "user", "content": question}]})
    body = r.raise_for_status().json()
    return body["choices"][0]["message"]["content"], {"input": body["usage"]["prompt_tokens"],
                                                      "output": body["usage"]["completion_tokens"]}


async def openai_sdk(http: httpx.AsyncClient, base: str, question: str) -> tuple[str, dict[str, int]]:
    import openai  # the SDK's import costs ~0.5 s; only this comparison needs it

    client = openai.AsyncOpenAI(base_url=f"{base}/v1", api_key=API_KEY, http_client=http, max_retries=0)
    r = await client.chat.completions.create(model="assistant", messages=[{"role": "user", "content": question}])
    return r.choices[0].message.content, {"input": r.usage.prompt_tokens, "output": r.usage.completion_tokens}


async def anthropic_sdk(http: httpx2.AsyncClient, base: str, question: str) -> tuple[str, dict[str, int]]:
    import anthropic  # as above: imported only by this comparison

    client = anthropic.AsyncAnthropic(base_url=base, api_key=API_KEY, http_client=http, max_retries=0)
    r = await client.messages.create(model="assistant", max_tokens=256,
                                     messages=[{"role": "user", "content": question}])
    text = "".join(b.text for b in r.content if b.type == "text")
    return text, {"input": r.usage.input_tokens, "output": r.usage.output_tokens}


async def litellm_openai(http: httpx.AsyncClient, base: str, question: str) -> tuple[str, dict[str, int]]:
    import openai  # LiteLLM takes a ready client; ours carries the transport and the wire log

    r = await litellm_module().acompletion(
        model="openai/assistant", api_base=f"{base}/v1", api_key=API_KEY, num_retries=0,
        client=openai.AsyncOpenAI(base_url=f"{base}/v1", api_key=API_KEY, http_client=http, max_retries=0),
        messages=[{"role": "user", "content": question}])
    return r.choices[0].message.content, {"input": r.usage.prompt_tokens, "output": r.usage.completion_tokens}


async def litellm_anthropic(http: httpx.AsyncClient, base: str, question: str) -> tuple[str, dict[str, int]]:
    # LiteLLM's wrapper of an httpx client (LiteLLM is imported by shared.llm, lazily: it costs seconds)
    from litellm.llms.custom_httpx.http_handler import AsyncHTTPHandler

    handler = AsyncHTTPHandler()
    handler.client = http
    r = await litellm_module().acompletion(model="anthropic/assistant", api_base=base, api_key=API_KEY,
                                           num_retries=0, client=handler, max_tokens=256,
                                           messages=[{"role": "user", "content": question}])
    return r.choices[0].message.content, {"input": r.usage.prompt_tokens, "output": r.usage.completion_tokens}


Path = Callable[[Any, str, str], Awaitable[tuple[str, dict[str, int]]]]
PATHS: dict[str, Path] = {"raw_httpx": raw_httpx, "openai_sdk": openai_sdk, "anthropic_sdk": anthropic_sdk,
                          "litellm_openai": litellm_openai, "litellm_anthropic": litellm_anthropic}
HTTPX2 = {"anthropic_sdk"}  # the anthropic SDK (2.x) is built on httpx2, a fork with httpx's API: it refuses httpx


def warm() -> str:
    """Import both SDKs at start-up (the anthropic SDK takes seconds), so the first comparison is quick."""
    import anthropic  # noqa: F401  (imported for its side effect: loaded once, here, off the request path)
    import openai  # noqa: F401

    return "openai and anthropic SDKs loaded"


def _shown(headers: Any) -> dict[str, str]:
    out = {k: v for k, v in headers.items() if k in SHOWN_HEADERS}
    for k in ("authorization", "x-api-key"):
        if k in out:
            out[k] = out[k].replace(API_KEY, "***")
    return out


class WireLog:
    """httpx event hooks that keep each request and response as it crossed the wire."""

    def __init__(self) -> None:
        self.exchanges: list[dict[str, Any]] = []

    async def on_request(self, request: Any) -> None:
        self.exchanges.append({"request": {"method": request.method, "path": request.url.path,
                                           "headers": _shown(request.headers),
                                           "body": json.loads(request.content or b"null")}})

    async def on_response(self, response: Any) -> None:
        await response.aread()
        self.exchanges[-1]["response"] = {"status": response.status_code, "body": response.json()}

    def client(self, lib: Any, asgi_app: Any = None) -> Any:
        """An AsyncClient of `lib` (httpx or httpx2) that logs here; in process when given an ASGI app."""
        transport = lib.ASGITransport(app=asgi_app) if asgi_app is not None else None
        return lib.AsyncClient(transport=transport, timeout=30,
                               event_hooks={"request": [self.on_request], "response": [self.on_response]})


def http_client(path: str, asgi_app: Any = None, log: WireLog | None = None) -> Any:
    """The HTTP client `path` needs (httpx, or httpx2 for the anthropic SDK), logging to `log`."""
    return (log or WireLog()).client(httpx2 if path in HTTPX2 else httpx, asgi_app)


async def compare(question: str, base: str, asgi_app: Any = None, paths: list[str] | None = None) -> dict[str, Any]:
    """Each path once: its code, what it sent and got back, its answer, usage and wall time.

    `base` is the mock's URL; with `asgi_app` (the mock's app) the calls stay in process."""
    out: dict[str, Any] = {}
    for name in paths or list(PATHS):
        log = WireLog()
        async with http_client(name, asgi_app, log) as http:
            start = time.perf_counter()
            answer, usage = await PATHS[name](http, base, question)
            wall = time.perf_counter() - start
        out[name] = {"answer": answer, "usage": usage, "wall_ms": round(wall * 1000, 3),
                     "wire": log.exchanges, "code": inspect.getsource(PATHS[name])}
    answers = {v["answer"] for v in out.values()}
    return {"question": question, "same_answer": len(answers) == 1, "paths": out}
