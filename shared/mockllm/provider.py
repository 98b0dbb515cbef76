"""The in-process front: a LiteLLM custom provider, so `mock/<behaviour>` needs no server.

    python -c "import litellm; from shared.mockllm.provider import register_with_litellm; \
register_with_litellm(litellm); print(litellm.completion(model='mock/assistant', \
messages=[{'role': 'user', 'content': '2 + 2?'}]).choices[0].message.content)"

Faults behave as over HTTP: a planned error raises an exception LiteLLM maps to its usual classes
(429 -> RateLimitError, 500 -> InternalServerError, ...), latency and TTFT/TPOT really sleep, and a
"hang" sleeps until the caller's timeout.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

from litellm import CustomLLM, EmbeddingResponse, ModelResponse
from litellm.llms.custom_llm import CustomLLMError

from shared.mockllm.engine import BEHAVIOURS, MockEngine, MockError, MockRequest, Plan
from shared.pricing import UnknownModelPrice, cost, usage_from

HANG_S = 3600.0


class MockProviderError(CustomLLMError):
    def __init__(self, error: MockError):
        super().__init__(status_code=error.status, message=error.message)
        self.headers = error.headers
        self.code = error.code
        self.type = error.type


def _request(model: str, messages: list, optional_params: dict, headers: dict | None,
             stream: bool) -> MockRequest:
    params = dict(optional_params or {})
    extra = params.pop("extra_body", None) or {}
    body = {**params, **{k: v for k, v in extra.items() if k != "mock"}, "model": model, "messages": messages,
            "stream": stream}
    if stream:
        body["stream_options"] = {"include_usage": True}
    if isinstance(extra.get("mock"), dict):
        body["mock"] = extra["mock"]
    return MockRequest.from_openai(body, headers=headers or {})


def _timeout_of(timeout: Any) -> float:
    if timeout is None:
        return HANG_S
    if isinstance(timeout, int | float):
        return float(timeout)
    return float(getattr(timeout, "read", None) or getattr(timeout, "timeout", None) or HANG_S)


_TIMED_OUT = MockError(408, "request timed out (mock hang or latency past the client's timeout)", "timeout")


def _wait_for(plan: Plan, timeout: Any) -> tuple[float, bool]:
    """How long to sleep, and whether the client's timeout ends the call first (as a real socket would)."""
    limit = _timeout_of(timeout)
    if plan.hang:
        return min(limit, HANG_S), True
    if plan.latency_s and plan.latency_s > limit:
        return limit, True
    return plan.latency_s or 0.0, False


def _response(plan: Plan, model: str) -> ModelResponse:
    """The provider's answer with its price stamped on it, as LiteLLM's cost hook expects of a provider
    that knows its own prices: LiteLLM then skips pricing the response again (~0.3 ms a call)."""
    response = ModelResponse(**plan.body)
    try:
        response._hidden_params["response_cost"] = cost(f"mock/{model.removeprefix('mock/')}", usage_from(response.usage)).total
    except UnknownModelPrice:
        pass
    return response


def _stream_chunk(chunk: dict[str, Any]) -> dict[str, Any]:
    """An OpenAI chunk dict -> LiteLLM's GenericStreamingChunk."""
    out: dict[str, Any] = {"text": "", "tool_use": None, "is_finished": False, "finish_reason": "",
                           "usage": None, "index": 0}
    if chunk.get("usage"):
        out["usage"] = chunk["usage"]
    for choice in chunk.get("choices") or []:
        delta = choice.get("delta") or {}
        out["text"] = delta.get("content") or ""
        calls = delta.get("tool_calls") or []
        if calls:
            call = calls[0]
            out["tool_use"] = {"id": call.get("id"), "type": "function", "index": call.get("index", 0),
                               "function": {"name": (call.get("function") or {}).get("name"),
                                            "arguments": (call.get("function") or {}).get("arguments", "")}}
        if choice.get("finish_reason"):
            out["is_finished"] = True
            out["finish_reason"] = choice["finish_reason"]
    return out


class MockLLM(CustomLLM):
    def __init__(self, engine: MockEngine | None = None):
        super().__init__()
        self.engine = engine or MockEngine()

    def _plan(self, model, messages, optional_params, headers, stream) -> Plan:
        try:
            return self.engine.plan(_request(model, messages, optional_params, headers, stream))
        except MockError as exc:
            raise MockProviderError(exc) from exc

    def _wait_sync(self, plan: Plan, timeout: Any) -> None:
        wait, timed_out = _wait_for(plan, timeout)
        time.sleep(wait)
        if timed_out:
            raise MockProviderError(_TIMED_OUT)
        if plan.error:
            raise MockProviderError(plan.error)

    async def _wait_async(self, plan: Plan, timeout: Any) -> None:
        wait, timed_out = _wait_for(plan, timeout)
        await asyncio.sleep(wait)
        if timed_out:
            raise MockProviderError(_TIMED_OUT)
        if plan.error:
            raise MockProviderError(plan.error)

    def completion(self, model, messages, api_base, custom_prompt_dict, model_response, print_verbose, encoding,
                   api_key, logging_obj, optional_params, acompletion=None, litellm_params=None, logger_fn=None,
                   headers=None, timeout=None, client=None) -> ModelResponse:
        plan = self._plan(model, messages, optional_params, headers, False)
        self._wait_sync(plan, timeout)
        return _response(plan, model)

    async def acompletion(self, model, messages, api_base, custom_prompt_dict, model_response, print_verbose,
                          encoding, api_key, logging_obj, optional_params, acompletion=None, litellm_params=None,
                          logger_fn=None, headers=None, timeout=None, client=None) -> ModelResponse:
        plan = self._plan(model, messages, optional_params, headers, False)
        await self._wait_async(plan, timeout)
        return _response(plan, model)

    def streaming(self, model, messages, api_base, custom_prompt_dict, model_response, print_verbose, encoding,
                  api_key, logging_obj, optional_params, acompletion=None, litellm_params=None, logger_fn=None,
                  headers=None, timeout=None, client=None) -> Iterator[dict]:
        plan = self._plan(model, messages, optional_params, headers, True)
        self._wait_sync(plan, timeout)
        for i, chunk in enumerate(plan.chunks):
            time.sleep(plan.ttft_s if i == 0 else plan.tpot_s)
            yield _stream_chunk(chunk)
        if plan.truncated:
            raise MockProviderError(MockError(502, "stream ended before completion (mock truncation)",
                                              "server_error", "stream_truncated"))

    async def astreaming(self, model, messages, api_base, custom_prompt_dict, model_response, print_verbose,
                         encoding, api_key, logging_obj, optional_params, acompletion=None, litellm_params=None,
                         logger_fn=None, headers=None, timeout=None, client=None) -> AsyncIterator[dict]:
        plan = self._plan(model, messages, optional_params, headers, True)
        await self._wait_async(plan, timeout)
        for i, chunk in enumerate(plan.chunks):
            delay = plan.ttft_s if i == 0 else plan.tpot_s
            if delay:
                await asyncio.sleep(delay)
            yield _stream_chunk(chunk)
        if plan.truncated:
            raise MockProviderError(MockError(502, "stream ended before completion (mock truncation)",
                                              "server_error", "stream_truncated"))

    def embedding(self, model, input, model_response, print_verbose, logging_obj, optional_params, api_key=None,
                  api_base=None, timeout=None, litellm_params=None) -> EmbeddingResponse:
        try:
            params = optional_params or {}
            # LiteLLM drops `dimensions` for custom providers; it survives inside extra_body
            dimensions = params.get("dimensions") or (params.get("extra_body") or {}).get("dimensions")
            body = self.engine.embed(model, input, dimensions)
        except MockError as exc:
            raise MockProviderError(exc) from exc
        return EmbeddingResponse(**body)

    async def aembedding(self, model, input, model_response, print_verbose, logging_obj, optional_params,
                         api_key=None, api_base=None, timeout=None, litellm_params=None) -> EmbeddingResponse:
        return self.embedding(model, input, model_response, print_verbose, logging_obj, optional_params)


_handler: MockLLM | None = None


def handler() -> MockLLM:
    global _handler
    if _handler is None:
        _handler = MockLLM()
    return _handler


def register_with_litellm(litellm_module: Any) -> None:
    """Add the `mock` provider and the mock models' prices to LiteLLM (idempotent)."""
    from shared.pricing import litellm_cost_map

    entries = [e for e in (litellm_module.custom_provider_map or []) if e.get("provider") != "mock"]
    entries.append({"provider": "mock", "custom_handler": handler()})
    litellm_module.custom_provider_map = entries
    from litellm.utils import custom_llm_setup

    custom_llm_setup()
    behaviours = sorted(set(BEHAVIOURS) | {"embedding"})
    litellm_module.register_model(litellm_cost_map(behaviours=behaviours))
