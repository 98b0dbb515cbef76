"""The one way labs call a model: complete / acomplete / stream / astream / embed / structured.

    python -c "from shared import llm; print(llm.complete('What is 17 + 25?').text)"

Everything goes through LiteLLM, so `LLM_MODEL` picks the provider: `mock/<behaviour>` (default,
in-process, no server), `openai/gpt-4o-mini` with OPENAI_API_KEY, or any OpenAI-compatible server
with LLM_API_BASE (the mock over HTTP, the lab-09 gateway). `structured` goes through instructor.
Every call is a GenAI span (shared.telemetry) and carries its cost from the price map (shared.pricing).

Mock controls travel with the request: `mock={"error_rate": 0.3, "seed": 7}` becomes the request's
extra body field "mock" (and x-mock-* headers over HTTP), so the same call works in-process and remote.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel

from shared.config import Settings, get_settings
from shared.pricing import Usage, cost, usage_from
from shared.telemetry import genai_span, provider_of

T = TypeVar("T", bound=BaseModel)
Messages = str | list[dict[str, Any]]

_litellm = None


def litellm_module():
    """Import LiteLLM once, lazily (it costs seconds), with the mock provider and prices registered."""
    global _litellm
    if _litellm is None:
        import litellm

        from shared.mockllm.provider import register_with_litellm

        litellm.suppress_debug_info = True
        litellm.telemetry = False
        litellm.drop_params = True
        # LiteLLM ends a stream with InternalServerError (MidStreamFallbackError, a 502 at the gateway)
        # once 100 consecutive chunks carry the same text, taking it for a model stuck in a loop. A
        # repetitive answer is legitimate (a summary of "data data ...", a table rule), and a looping
        # model is bounded by max_tokens and the timeout anyway: the check only cuts good answers.
        litellm.REPEATED_STREAMING_CHUNK_LIMIT = 1 << 30
        register_with_litellm(litellm)
        _litellm = litellm
    return _litellm


@dataclass
class ToolCall:
    id: str
    name: str
    arguments: str

    def json_args(self) -> Any:
        import json

        return json.loads(self.arguments or "{}")


@dataclass
class Completion:
    text: str | None
    model: str
    tool_calls: list[ToolCall] = field(default_factory=list)
    finish_reason: str | None = None
    usage: Usage = field(default_factory=Usage)
    cost_usd: float = 0.0
    latency_s: float = 0.0
    response_id: str | None = None
    raw: Any = None

    def message(self) -> dict[str, Any]:
        """The assistant message to append to a conversation (with its tool calls, if any)."""
        msg: dict[str, Any] = {"role": "assistant", "content": self.text}
        if self.tool_calls:
            msg["tool_calls"] = [{"id": t.id, "type": "function",
                                  "function": {"name": t.name, "arguments": t.arguments}}
                                 for t in self.tool_calls]
        return msg


def as_messages(prompt: Messages, system: str | None = None) -> list[dict[str, Any]]:
    messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else list(prompt)
    if system:
        messages = [{"role": "system", "content": system}, *messages]
    return messages


def _call_kwargs(settings: Settings, model: str | None, mock: dict[str, Any] | None,
                 kwargs: dict[str, Any]) -> dict[str, Any]:
    model = model or settings.llm_model
    out = dict(kwargs)
    out["model"] = model
    if settings.llm_api_base and not model.startswith("mock/"):
        out.setdefault("api_base", settings.llm_api_base)
    if settings.llm_api_key and not model.startswith("mock/"):
        out.setdefault("api_key", settings.llm_api_key)
    out.setdefault("timeout", settings.llm_timeout_s)
    out.setdefault("num_retries", 0)  # retries are a policy the caller chooses (lab-05 shows them)
    if model.startswith("mock/"):
        # named, LiteLLM skips resolving the provider from the model string (about 0.4 ms of CPU a call)
        out.setdefault("custom_llm_provider", "mock")
    if model.startswith("mock/") and "reasoning_effort" in out:  # LiteLLM drops it for custom providers
        out.setdefault("allowed_openai_params", ["reasoning_effort"])
    if mock:
        extra_body = dict(out.get("extra_body") or {})
        extra_body["mock"] = {**extra_body.get("mock", {}), **mock}
        out["extra_body"] = extra_body
        headers = dict(out.get("extra_headers") or {})
        headers.update({f"x-mock-{k.replace('_', '-')}": str(v) for k, v in mock.items()
                        if isinstance(v, str | int | float | bool)})
        out["extra_headers"] = headers
    return out


_REQUEST_ATTRS = ("temperature", "top_p", "max_tokens", "seed", "frequency_penalty", "presence_penalty")


def _to_completion(resp: Any, model: str, latency: float) -> Completion:
    choice = resp.choices[0]
    msg = choice.message
    calls = [ToolCall(id=tc.id, name=tc.function.name, arguments=tc.function.arguments or "{}")
             for tc in (getattr(msg, "tool_calls", None) or [])]
    usage = usage_from(getattr(resp, "usage", None))
    return Completion(text=msg.content, model=getattr(resp, "model", None) or model, tool_calls=calls,
                      finish_reason=choice.finish_reason, usage=usage, cost_usd=_cost(model, usage),
                      latency_s=latency, response_id=getattr(resp, "id", None), raw=resp)


def _cost(model: str, usage: Usage) -> float:
    try:
        return cost(model, usage).total
    except KeyError:
        return 0.0


def _record(result, completion: Completion) -> None:
    result.response_model = completion.model
    result.response_id = completion.response_id
    result.finish_reasons = [completion.finish_reason or "unknown"]
    u = completion.usage
    result.input_tokens, result.output_tokens = u.input_tokens, u.output_tokens
    result.cache_read_tokens, result.cache_creation_tokens = u.cached_input_tokens, u.cache_write_tokens
    result.reasoning_tokens = u.reasoning_tokens
    result.cost_usd = completion.cost_usd


def complete(prompt: Messages, *, model: str | None = None, system: str | None = None,
             settings: Settings | None = None, mock: dict[str, Any] | None = None, **kwargs: Any) -> Completion:
    """One chat completion. kwargs go to litellm.completion (tools, tool_choice, temperature, seed, ...)."""
    settings = settings or get_settings()
    call = _call_kwargs(settings, model, mock, kwargs)
    call["messages"] = as_messages(prompt, system)
    request = {k: call.get(k) for k in _REQUEST_ATTRS}
    with genai_span("chat", call["model"], request=request) as (_span, result):
        start = time.perf_counter()
        resp = litellm_module().completion(**call)
        completion = _to_completion(resp, call["model"], time.perf_counter() - start)
        _record(result, completion)
    return completion


async def acomplete(prompt: Messages, *, model: str | None = None, system: str | None = None,
                    settings: Settings | None = None, mock: dict[str, Any] | None = None,
                    **kwargs: Any) -> Completion:
    """The async twin of `complete` (for asyncio.gather fan-out)."""
    settings = settings or get_settings()
    call = _call_kwargs(settings, model, mock, kwargs)
    call["messages"] = as_messages(prompt, system)
    request = {k: call.get(k) for k in _REQUEST_ATTRS}
    with genai_span("chat", call["model"], request=request) as (_span, result):
        start = time.perf_counter()
        resp = await litellm_module().acompletion(**call)
        completion = _to_completion(resp, call["model"], time.perf_counter() - start)
        _record(result, completion)
    return completion


@dataclass
class StreamEvent:
    """One streamed piece: a text delta, or (last) the whole Completion with usage and cost."""

    delta: str = ""
    done: bool = False
    completion: Completion | None = None
    time_to_first_chunk_s: float | None = None


class _StreamAccumulator:
    def __init__(self, model: str):
        self.model = model
        self.parts: list[str] = []
        self.calls: dict[int, dict[str, str]] = {}
        self.finish_reason: str | None = None
        self.usage = Usage()
        self.response_id: str | None = None
        self.start = time.perf_counter()
        self.ttfc: float | None = None

    def add(self, chunk: Any) -> str:
        if self.ttfc is None:
            self.ttfc = time.perf_counter() - self.start
        self.response_id = self.response_id or getattr(chunk, "id", None)
        if getattr(chunk, "usage", None):
            self.usage = usage_from(chunk.usage)
        delta_text = ""
        for choice in getattr(chunk, "choices", None) or []:
            delta = choice.delta
            if getattr(delta, "content", None):
                delta_text += delta.content
            for tc in getattr(delta, "tool_calls", None) or []:
                slot = self.calls.setdefault(tc.index or 0, {"id": "", "name": "", "arguments": ""})
                slot["id"] = tc.id or slot["id"]
                if tc.function is not None:
                    slot["name"] = tc.function.name or slot["name"]
                    slot["arguments"] += tc.function.arguments or ""
            self.finish_reason = choice.finish_reason or self.finish_reason
        self.parts.append(delta_text)
        return delta_text

    def completion(self) -> Completion:
        calls = [ToolCall(**c) for _, c in sorted(self.calls.items())]
        return Completion(text="".join(self.parts), model=self.model, tool_calls=calls,
                          finish_reason=self.finish_reason, usage=self.usage,
                          cost_usd=_cost(self.model, self.usage), latency_s=time.perf_counter() - self.start,
                          response_id=self.response_id)


def _stream_kwargs(settings, model, system, prompt, mock, kwargs):
    call = _call_kwargs(settings, model, mock, kwargs)
    call["messages"] = as_messages(prompt, system)
    call["stream"] = True
    call["stream_options"] = {"include_usage": True}
    return call


def _finish_stream(acc: _StreamAccumulator, result) -> Completion:
    """The accumulated completion, recorded on the open span's result (usage, cost, time to first chunk)."""
    completion = acc.completion()
    _record(result, completion)
    result.time_to_first_chunk_s = acc.ttfc
    return completion


def stream(prompt: Messages, *, model: str | None = None, system: str | None = None,
           settings: Settings | None = None, mock: dict[str, Any] | None = None,
           **kwargs: Any) -> Iterator[StreamEvent]:
    """Yield text deltas as they arrive, then one final event with the full Completion (usage, cost)."""
    settings = settings or get_settings()
    call = _stream_kwargs(settings, model, system, prompt, mock, kwargs)
    with genai_span("chat", call["model"], request={k: call.get(k) for k in _REQUEST_ATTRS},
                    extra={"gen_ai.request.stream": True}) as (_span, result):
        acc = _StreamAccumulator(call["model"])
        for chunk in litellm_module().completion(**call):
            text = acc.add(chunk)
            if text:
                yield StreamEvent(delta=text)
        completion = _finish_stream(acc, result)
    yield StreamEvent(done=True, completion=completion, time_to_first_chunk_s=acc.ttfc)


async def astream(prompt: Messages, *, model: str | None = None, system: str | None = None,
                  settings: Settings | None = None, mock: dict[str, Any] | None = None,
                  **kwargs: Any) -> AsyncIterator[StreamEvent]:
    """The async twin of `stream` (what an SSE endpoint iterates)."""
    settings = settings or get_settings()
    call = _stream_kwargs(settings, model, system, prompt, mock, kwargs)
    with genai_span("chat", call["model"], request={k: call.get(k) for k in _REQUEST_ATTRS},
                    extra={"gen_ai.request.stream": True}) as (_span, result):
        acc = _StreamAccumulator(call["model"])
        async for chunk in await litellm_module().acompletion(**call):
            text = acc.add(chunk)
            if text:
                yield StreamEvent(delta=text)
        completion = _finish_stream(acc, result)
    yield StreamEvent(done=True, completion=completion, time_to_first_chunk_s=acc.ttfc)


def embed(texts: str | list[str], *, model: str | None = None, settings: Settings | None = None,
          **kwargs: Any) -> list[list[float]]:
    """Embedding vectors for texts (EMBED_MODEL; the mock's are hashed character n-grams)."""
    settings = settings or get_settings()
    model = model or settings.embed_model
    inputs = [texts] if isinstance(texts, str) else list(texts)
    call = {"model": model, "input": inputs, **kwargs}
    if settings.llm_api_base and not model.startswith("mock/"):
        call.setdefault("api_base", settings.llm_api_base)
        if settings.llm_api_key:
            call.setdefault("api_key", settings.llm_api_key)
    with genai_span("embeddings", model) as (_span, result):
        resp = litellm_module().embedding(**call)
        usage = usage_from(getattr(resp, "usage", None))
        result.input_tokens = usage.input_tokens
        result.response_model = getattr(resp, "model", None) or model
        result.cost_usd = _cost(model, usage)
        data = sorted(resp.data, key=lambda d: d["index"] if isinstance(d, dict) else d.index)
        return [d["embedding"] if isinstance(d, dict) else d.embedding for d in data]


def _instructor_client(mode_name: str, is_async: bool = False):
    import instructor

    litellm = litellm_module()
    mode = getattr(instructor.Mode, mode_name.upper())
    return instructor.from_litellm(litellm.acompletion if is_async else litellm.completion, mode=mode)


@dataclass
class Structured:
    """A validated object plus what it took: attempts, each failed attempt's error, usage and cost."""

    value: BaseModel
    attempts: int
    errors: list[str]
    usage: Usage
    cost_usd: float


def structured(prompt: Messages, response_model: type[T], *, model: str | None = None,
               system: str | None = None, mode: str = "tools", max_retries: int = 2,
               settings: Settings | None = None, mock: dict[str, Any] | None = None,
               **kwargs: Any) -> Structured:
    """Extract a Pydantic object with instructor (mode: tools | json | json_schema | md_json).

    instructor re-asks with the validation error after a failed attempt, up to max_retries times.
    """
    settings = settings or get_settings()
    call = _call_kwargs(settings, model, mock, kwargs)
    call["messages"] = as_messages(prompt, system)
    client = _instructor_client(mode)
    attempts: list[Any] = []
    errors: list[str] = []

    def on_response(resp: Any) -> None:
        attempts.append(resp)

    def on_error(err: Exception) -> None:
        errors.append(str(err)[:500])

    client.on("completion:response", on_response)
    client.on("parse:error", on_error)
    with genai_span("chat", call["model"], extra={"gen_ai.output.type": "json",
                                                   "instructor.mode": mode}) as (_span, result):
        value = client.chat.completions.create(response_model=response_model, max_retries=max_retries, **call)
        total = Usage()
        for resp in attempts:
            total = total + usage_from(getattr(resp, "usage", None))
        result.input_tokens, result.output_tokens = total.input_tokens, total.output_tokens
        spent = _cost(call["model"], total)
        result.cost_usd = spent
    return Structured(value=value, attempts=max(len(attempts), 1), errors=errors, usage=total, cost_usd=spent)


def provider(model: str | None = None, settings: Settings | None = None) -> str:
    return provider_of(model or (settings or get_settings()).llm_model)


_MOCK_PREFIXES = ("mock/", "openai/mock/")


@dataclass(frozen=True)
class Model:
    """The one model handle a lab builds in `create_app` and hands to its domain objects.

        model = Model.from_settings(settings)          # LLM_MODEL, api base, key, timeout: read once
        model.complete("What is 6 * 7?").text
        model.for_behaviour("rag").complete(...)     # the lab's own mock skill, however the mock is reached

    It carries everything a call needs (settings, model id, default mock options), so nothing is re-read
    from the environment at call time and `create_app(settings)` applies to every call the lab makes.
    The mock can be addressed two ways: in-process (`mock/rag`, no server) and over HTTP
    (`openai/mock/rag` with LLM_API_BASE pointing at `make mock`, as docker-compose runs it).
    `is_mock` and `for_behaviour` understand both, so a lab's "use my own mock behaviour" works in each.
    """

    settings: Settings
    id: str
    mock: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, settings: Settings | None = None, model: str | None = None,
                      **mock: Any) -> Model:
        settings = settings or get_settings()
        return cls(settings, model or settings.llm_model, dict(mock))

    @property
    def is_mock(self) -> bool:
        """True for the in-process mock and for the mock served over HTTP."""
        return self.id.startswith(_MOCK_PREFIXES)

    @property
    def behaviour(self) -> str | None:
        """The mock behaviour this handle asks for (`rag` for `mock/rag` or `openai/mock/rag?x=1`), else None."""
        for prefix in _MOCK_PREFIXES:
            if self.id.startswith(prefix):
                return self.id[len(prefix):].split("?", 1)[0]
        return None

    def for_behaviour(self, name: str) -> Model:
        """This handle, pointed at the mock behaviour `name`, kept on the same transport.

        A real provider is returned unchanged: the lab's prompt does the work there.
        """
        if not self.is_mock:
            return self
        prefix = "openai/mock/" if self.id.startswith("openai/mock/") else "mock/"
        return Model(self.settings, prefix + name, self.mock)

    def with_model(self, model: str) -> Model:
        """The same settings and mock options for another model id (e.g. one a request names)."""
        return Model(self.settings, model, self.mock)

    def with_mock(self, **options: Any) -> Model:
        """The same model with extra mock options (faults, seed, variant ...) on every call."""
        return Model(self.settings, self.id, {**self.mock, **options})

    def _mock(self, extra: dict[str, Any] | None) -> dict[str, Any] | None:
        merged = {**self.mock, **(extra or {})}
        return merged or None

    def complete(self, prompt: Messages, *, mock: dict[str, Any] | None = None, **kwargs: Any) -> Completion:
        return complete(prompt, model=self.id, settings=self.settings, mock=self._mock(mock), **kwargs)

    async def acomplete(self, prompt: Messages, *, mock: dict[str, Any] | None = None,
                        **kwargs: Any) -> Completion:
        return await acomplete(prompt, model=self.id, settings=self.settings, mock=self._mock(mock), **kwargs)

    def stream(self, prompt: Messages, *, mock: dict[str, Any] | None = None, **kwargs: Any) -> Iterator[StreamEvent]:
        return stream(prompt, model=self.id, settings=self.settings, mock=self._mock(mock), **kwargs)

    def astream(self, prompt: Messages, *, mock: dict[str, Any] | None = None,
                **kwargs: Any) -> AsyncIterator[StreamEvent]:
        return astream(prompt, model=self.id, settings=self.settings, mock=self._mock(mock), **kwargs)

    def structured(self, prompt: Messages, response_model: type[T], *, mock: dict[str, Any] | None = None,
                   **kwargs: Any) -> Structured:
        return structured(prompt, response_model, model=self.id, settings=self.settings,
                          mock=self._mock(mock), **kwargs)

    def embed(self, texts: str | list[str], *, model: str | None = None, **kwargs: Any) -> list[list[float]]:
        return embed(texts, model=model, settings=self.settings, **kwargs)

    @property
    def provider(self) -> str:
        return provider_of(self.id)

    def warm(self) -> str:
        """Pay LiteLLM's import (seconds) now, not on the first request; returns what /readyz shows."""
        litellm_module()
        return self.id


__all__ = ["Completion", "Model", "StreamEvent", "Structured", "ToolCall", "acomplete", "as_messages",
           "astream", "complete", "embed", "litellm_module", "provider", "stream", "structured"]
