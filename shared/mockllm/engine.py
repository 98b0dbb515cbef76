"""The behaviour engine: a request in, a planned response out (body, stream chunks, timings, fault).

    python -c "from shared.mockllm.engine import MockEngine, MockRequest; \
print(MockEngine().complete(MockRequest.from_openai({'model': 'assistant', \
'messages': [{'role': 'user', 'content': 'What is 6 * 7?'}]}))['choices'][0]['message'])"

Determinism: every random draw comes from `MockRequest.rng(salt)`, seeded by a hash of the request
(messages, tools, format, behaviour), its `seed`, and, when no seed is given, how many times this
exact request has been seen before. So the same request with the same seed gives a byte-identical
response, while a retried request without a seed can succeed where the first attempt hit a fault
(and a 30% fault rate is the same 30% on every run of a test).

The engine only plans; the fronts (provider.py in-process, server.py over HTTP) do the sleeping,
so the same plan runs in a thread or on an event loop. Its one piece of state besides the
occurrence counter is the prompt cache (cache.py): a long prompt sent twice within the TTL is
reported as cached the second time, exactly as providers bill it.

Pipeline of `plan(req)`: fault? -> behaviour's Reply (once per choice) -> corruption faults ->
OpenAI body (usage, cache) -> Anthropic message instead when req.api == "anthropic" -> stream chunks.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import shared.mockllm.anthropic_api as anthropic_api
import shared.mockllm.behaviours  # noqa: F401  (each behaviour registers itself on import)
import shared.mockllm.tokens as tokens
from shared.mockllm.cache import MIN_CACHED, CacheUse, PromptCache, openai_boundaries
from shared.mockllm.embeddings import embed_text
from shared.mockllm.request import (  # noqa: F401  (re-exported: plugins import these from the engine)
    BEHAVIOURS,
    FIXED_CREATED,
    SKILLS,
    Behaviour,
    MockError,
    MockRequest,
    Reply,
    Skill,
    ToolCallOut,
    behaviour,
    options_from,
    register_skill,
    unregister_skill,
)

log = logging.getLogger("aieng.mockllm")

# --- the engine -----------------------------------------------------------------------------------


@dataclass
class Plan:
    """What a front must do: wait, then send `body` (or `chunks`), or raise `error`."""

    body: dict[str, Any] | None = None
    chunks: list[dict[str, Any]] = field(default_factory=list)
    error: MockError | None = None
    latency_s: float = 0.0
    ttft_s: float = 0.0
    tpot_s: float = 0.0
    hang: bool = False
    truncated: bool = False
    cache: CacheUse = field(default_factory=CacheUse)


class TextDelta(dict):
    """A stream chunk that carries one piece of text and nothing else, as most chunks of a stream do.

    To every reader it is the plain dict `{**base, "choices": [{"index", "delta": {"content": piece},
    "logprobs": None, "finish_reason": None}]}`. It also remembers its piece and `shape` (the chunks of
    one choice share it), so the HTTP front can write all the pieces of a choice from one JSON template
    instead of a json.dumps each (server._sse_data); nothing changes a chunk after the plan is made.
    """

    __slots__ = ("piece", "shape")

    def __init__(self, base: dict[str, Any], piece: str, index: int, shape: tuple[Any, ...]):
        super().__init__(base)
        self["choices"] = [{"index": index, "delta": {"content": piece}, "logprobs": None, "finish_reason": None}]
        self.piece, self.shape = piece, shape


EMBEDDING_MODEL = {"id": "embedding", "description": "Deterministic hashed character n-gram embeddings "
                                                     "(POST /v1/embeddings; `dimensions` 8..4096, default 256)"}


class MockEngine:
    def __init__(self, defaults: dict[str, Any] | None = None, max_remembered: int = 200_000,
                 cache: PromptCache | None = None):
        self.defaults = dict(defaults or {})
        self._seen: OrderedDict[str, int] = OrderedDict()
        self._lock = threading.Lock()
        self.max_remembered = max_remembered
        self.cache = cache or PromptCache(ttl_s=float(self.defaults.get("cache_ttl_s", 300)))

    def models(self) -> list[dict[str, Any]]:
        entries = [{"id": b.name, "description": b.description} for b in BEHAVIOURS.values()]
        entries.append(EMBEDDING_MODEL)
        return [{"id": e["id"], "object": "model", "created": FIXED_CREATED, "owned_by": "mock",
                 "description": e["description"]} for e in sorted(entries, key=lambda e: e["id"])]

    def _note_occurrence(self, req: MockRequest) -> None:
        key = req.fingerprint() + f"|{req.seed}"
        with self._lock:
            req.occurrence = self._seen.get(key, 0)
            self._seen[key] = req.occurrence + 1
            self._seen.move_to_end(key)
            while len(self._seen) > self.max_remembered:
                self._seen.popitem(last=False)

    def reply(self, req: MockRequest) -> Reply:
        spec = BEHAVIOURS.get(req.behaviour)
        if spec is None:
            raise MockError(404, f"The model '{req.model}' does not exist; GET /v1/models lists the mock's "
                                 "behaviours", "invalid_request_error", "model_not_found")
        try:
            return spec.fn(req)
        except (TypeError, AttributeError, KeyError, ValueError, IndexError, RecursionError) as exc:
            # an input shape no behaviour expected: a 400 for the client, a log line for us
            log.warning("behaviour %s failed on a request: %r", req.behaviour, exc, exc_info=True)
            raise MockError(400, f"the '{req.behaviour}' model could not process this request "
                                 f"({type(exc).__name__}: {exc})", "invalid_request_error", "unprocessable") from exc

    def plan(self, req: MockRequest) -> Plan:
        """Decide everything about this request: fault, reply, usage, wire body and stream chunks."""
        self._note_occurrence(req)
        plan = Plan(latency_s=float(req.opt("latency_ms", 0)) / 1000,
                    ttft_s=float(req.opt("ttft_ms", 0)) / 1000, tpot_s=float(req.opt("tpot_ms", 0)) / 1000,
                    hang=bool(req.opt("hang", False)))
        fault = self._fault(req)
        if fault is not None:
            plan.error = fault
            return plan
        replies = [self._corrupt(req, self.reply(req if i == 0 else dataclasses.replace(req, choice=i)))
                   for i in range(req.n)]
        thinking = sum(r.reasoning_tokens for r in replies)
        if thinking and plan.tpot_s:  # hidden reasoning tokens are decoded before the first visible one
            plan.ttft_s += thinking * plan.tpot_s
            plan.latency_s += 0 if req.stream else thinking * plan.tpot_s
        plan.cache = self._cache(req)
        body = self._body(req, replies, plan.cache)
        if req.api == "anthropic":
            body = anthropic_api.message(req, body, plan.cache)
        plan.body = body
        if req.stream:
            if req.api == "anthropic":
                plan.chunks = anthropic_api.events(body)
            else:
                plan.chunks = self._chunks(req, body)
            if req.opt("truncate_rate") and req.rng("fault:truncate").random() < req.opt("truncate_rate"):
                cut = max(1, len(plan.chunks) // 2)
                plan.chunks = plan.chunks[:cut]
                plan.truncated = True
        return plan

    def complete(self, req: MockRequest) -> dict[str, Any]:
        """Plan and return the body at once (no timings); raises MockError for a planned fault."""
        plan = self.plan(req)
        if plan.error:
            raise plan.error
        assert plan.body is not None
        return plan.body

    # -- faults
    def _fault(self, req: MockRequest) -> MockError | None:
        """An injected error: always (error_status), at a seeded rate (error_rate), or on the first
        `fail_first` sends of an identical request (a transient failure that a retry gets past)."""
        status = req.opt("error_status")
        rate = req.opt("error_rate")
        fail_first = int(req.opt("fail_first", 0))
        if fail_first:
            if req.occurrence >= fail_first:
                return self._context_check(req)
            status = status or 503
        elif status is None and rate is None:
            return self._context_check(req)
        elif req.rng("fault:error").random() >= float(1.0 if rate is None else rate):
            return self._context_check(req)
        status = int(status or 500)
        if status == 429:
            retry_after = str(req.opt("retry_after", 1))
            return MockError(429, "Rate limit reached for requests (mock fault)", "rate_limit_error",
                             "rate_limit_exceeded", headers={"retry-after": retry_after})
        if status == 400:
            return MockError(400, "This model's maximum context length is exceeded (mock fault)",
                             "invalid_request_error", "context_length_exceeded")
        if status in (503, 529):
            return MockError(status, "The server is overloaded (mock fault)", "server_error", "overloaded")
        return MockError(status, f"mock fault: status {status}", "server_error" if status >= 500 else
                         "invalid_request_error")

    def _context_check(self, req: MockRequest) -> MockError | None:
        limit = int(req.opt("context_window", 128_000))
        used = tokens.count_messages(req.messages, req.tools)
        if used > limit:
            return MockError(400, f"This model's maximum context length is {limit} tokens. However, your "
                                  f"messages resulted in {used} tokens.", "invalid_request_error",
                             "context_length_exceeded")
        return None

    def _corrupt(self, req: MockRequest, reply: Reply) -> Reply:
        rate = req.opt("malformed_rate")
        if rate and reply.content and req.rng(f"fault:malformed{req.choice}").random() < rate:
            text = reply.content
            reply.content = text[: max(1, int(len(text) * 0.6))] if text.lstrip().startswith(("{", "[")) \
                else text + " {\"unterminated\": "
        rate = req.opt("bad_tool_rate")
        if rate and reply.tool_calls and req.rng(f"fault:badtool{req.choice}").random() < rate:
            if req.rng(f"fault:badtool-kind{req.choice}").random() < 0.5:
                reply.tool_calls[0].name = reply.tool_calls[0].name + "_v2"  # a tool that does not exist
            else:
                reply.tool_calls[0].arguments = '{"unexpected_argument": true'  # invalid JSON arguments
        return reply

    # -- prompt caching
    def _cache(self, req: MockRequest) -> CacheUse:
        """OpenAI caches automatically at 128-token steps; Anthropic only up to cache_control marks."""
        if tokens.count_messages(req.messages, req.tools) < MIN_CACHED:
            return CacheUse()  # the cheap test first: most prompts are far too short to be cached
        if req.api == "anthropic" and not req.cache_breakpoints:
            return CacheUse()
        ids, ends = tokens.prompt_ids(req.messages, req.tools)
        if req.api == "anthropic":
            boundaries = sorted({ends[min(k, len(ends) - 1)] for k in req.cache_breakpoints or []})
        else:
            boundaries = openai_boundaries(len(ids))
        return self.cache.use(ids, boundaries, req.opt("cache_ttl_s"))

    # -- wire format
    def _usage(self, req: MockRequest, replies: list[Reply], cache: CacheUse) -> dict[str, Any]:
        prompt = tokens.count_messages(req.messages, req.tools)
        completion = sum(tokens.count(r.content or "") + sum(tokens.count(c.name) + tokens.count(c.arguments)
                                                             for c in r.tool_calls) + r.reasoning_tokens
                         for r in replies)
        usage: dict[str, Any] = {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
            "prompt_tokens_details": {"cached_tokens": min(cache.read, prompt), "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": sum(r.reasoning_tokens for r in replies),
                                          "audio_tokens": 0, "accepted_prediction_tokens": 0,
                                          "rejected_prediction_tokens": 0},
        }
        return usage

    def _body(self, req: MockRequest, replies: list[Reply], cache: CacheUse) -> dict[str, Any]:
        occurrence = req.occurrence if req.seed is None else 0  # a seeded request is the same response
        rid = "chatcmpl-" + hashlib.sha256(f"{req.fingerprint()}|{req.seed}|{occurrence}".encode()).hexdigest()[:24]
        choices, finals = [], []
        for index, reply in enumerate(replies):
            calls = []
            for i, call in enumerate(reply.tool_calls):
                call.id = call.id or f"call_{rid[-12:]}{index}{i}"
                calls.append({"id": call.id, "type": "function",
                              "function": {"name": call.name, "arguments": call.arguments}})
            content = reply.content
            finish = reply.finish_reason or ("tool_calls" if calls else "stop")
            if req.max_tokens is not None and content and tokens.count(content) > req.max_tokens:
                content = "".join(tokens.split(content)[: req.max_tokens])
                finish = "length"
            message: dict[str, Any] = {"role": "assistant", "content": content, "refusal": None}
            if calls:
                message["tool_calls"] = calls
            choices.append({"index": index, "message": message, "logprobs": None, "finish_reason": finish})
            finals.append(Reply(content=content, tool_calls=reply.tool_calls,
                                reasoning_tokens=reply.reasoning_tokens))
        return {
            "id": rid, "object": "chat.completion", "created": FIXED_CREATED, "model": req.behaviour,
            "system_fingerprint": "fp_mock", "choices": choices, "usage": self._usage(req, finals, cache),
        }

    def _chunks(self, req: MockRequest, body: dict[str, Any]) -> list[dict[str, Any]]:
        """The body cut into deltas: role, text pieces at token boundaries, tool-call argument pieces."""
        base = {"id": body["id"], "object": "chat.completion.chunk", "created": body["created"],
                "model": body["model"], "system_fingerprint": "fp_mock"}

        def chunk(index: int, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            return {**base, "choices": [{"index": index, "delta": delta, "logprobs": None,
                                         "finish_reason": finish}]}

        out: list[dict[str, Any]] = []
        for choice in body["choices"]:
            index, message = choice["index"], choice["message"]
            out.append(chunk(index, {"role": "assistant", "content": ""}))
            shape = (body["id"], index)
            for piece in tokens.split(message.get("content") or ""):
                out.append(TextDelta(base, piece, index, shape))
            for i, call in enumerate(message.get("tool_calls") or []):
                out.append(chunk(index, {"tool_calls": [{"index": i, "id": call["id"], "type": "function",
                                                         "function": {"name": call["function"]["name"],
                                                                      "arguments": ""}}]}))
                for piece in tokens.split(call["function"]["arguments"]):
                    out.append(chunk(index, {"tool_calls": [{"index": i, "function": {"arguments": piece}}]}))
            out.append(chunk(index, {}, choice["finish_reason"]))
        if req.include_usage:
            out.append({**base, "choices": [], "usage": body["usage"]})
        return out

    # -- embeddings
    def embed(self, model: str, inputs: Any, dimensions: int | None = None) -> dict[str, Any]:
        """`inputs` as the embeddings API takes it: a string, strings, token ids, or lists of token ids."""
        inputs = embedding_texts(inputs)
        try:
            dim = int(dimensions or 256)
        except (TypeError, ValueError, OverflowError) as exc:
            raise MockError(400, "dimensions must be an integer", "invalid_request_error") from exc
        if not 8 <= dim <= 4096:
            raise MockError(400, "dimensions must be between 8 and 4096", "invalid_request_error")
        data = [{"object": "embedding", "index": i, "embedding": embed_text(t, dim)} for i, t in enumerate(inputs)]
        used = sum(tokens.count(t) for t in inputs)
        return {"object": "list", "data": data, "model": model,
                "usage": {"prompt_tokens": used, "total_tokens": used}}


def embedding_texts(raw: Any) -> list[str]:
    """The embeddings API's `input` as texts. Token ids (some clients, LangChain's among them, send
    them instead of text) are decoded with cl100k_base, the tokenizer of OpenAI's embedding models."""

    def bad(message: str) -> MockError:
        return MockError(400, f"'input' {message}", "invalid_request_error", "invalid_input")

    def is_ids(value: Any) -> bool:
        return isinstance(value, list) and bool(value) and all(
            isinstance(t, int) and not isinstance(t, bool) for t in value)

    if isinstance(raw, str) or is_ids(raw):
        raw = [raw]
    if not isinstance(raw, list) or not raw:
        raise bad("must be a non-empty string, array of strings, or array of token arrays")
    texts = []
    for item in raw:
        if isinstance(item, str) and item:
            texts.append(item)
        elif is_ids(item):
            try:
                texts.append(tokens.decode(item))
            except (KeyError, ValueError, OverflowError) as exc:
                raise bad(f"has a token id that cl100k_base does not know ({exc})") from exc
        else:
            raise bad("items must be non-empty strings or non-empty arrays of token ids")
    return texts
