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
import json
import logging
import math
import random
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from shared.mockllm import tokens
from shared.mockllm.cache import MIN_CACHED, CacheUse, PromptCache, openai_boundaries

log = logging.getLogger("aieng.mockllm")

FIXED_CREATED = 1_750_000_000  # fixed so identical requests give byte-identical responses


class MockError(Exception):
    """An error the fronts turn into the API's error JSON with this status (and headers)."""

    def __init__(self, status: int, message: str, type: str = "api_error", code: str | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.type, self.code = status, message, type, code
        self.headers = headers or {}

    def openai_body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": None, "code": self.code}}


@dataclass
class ToolCallOut:
    name: str
    arguments: str
    id: str = ""


@dataclass
class Reply:
    """What a behaviour decides to say. The engine adds ids, usage, faults and the wire format."""

    content: str | None = None
    tool_calls: list[ToolCallOut] = field(default_factory=list)
    reasoning_tokens: int = 0
    finish_reason: str | None = None


# --- options and faults ---------------------------------------------------------------------------

FLOAT_OPTIONS = {"error_rate", "malformed_rate", "truncate_rate", "bad_tool_rate", "latency_ms",
                 "ttft_ms", "tpot_ms", "p", "middle_attention", "position_bias", "length_bias",
                 "self_preference", "obedience", "spotlight_resistance", "cache_ttl_s", "noise",
                 "fail_rate_prompt", "fail_rate_json_mode", "fail_rate_tools", "fail_rate_json_schema",
                 "fail_rate_strict"}
INT_OPTIONS = {"error_status", "seed", "dimensions", "retry_after", "context_window", "fail_first"}
BOOL_OPTIONS = {"hang"}


PROBABILITIES = {"error_rate", "malformed_rate", "truncate_rate", "bad_tool_rate", "p", "fail_rate_prompt",
                 "fail_rate_json_mode", "fail_rate_tools", "fail_rate_json_schema", "fail_rate_strict"}
NON_NEGATIVE = {"latency_ms", "ttft_ms", "tpot_ms", "cache_ttl_s", "retry_after", "fail_first", "noise"}


def _coerce(key: str, value: Any) -> Any:
    """An option's value as its type, or a 400 naming the option (never a 500, never a sleep forever)."""

    def bad(why: str = "") -> MockError:
        return MockError(400, f"mock option {key!r} has an invalid value {value!r}{why}", "invalid_request_error",
                         "invalid_mock_option")

    try:
        if key in BOOL_OPTIONS:
            return str(value).lower() in {"1", "true", "yes", "on"}
        if key not in FLOAT_OPTIONS and key not in INT_OPTIONS:
            return value
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise bad()
        number = float(value)
        if not math.isfinite(number):
            raise bad(" (must be a finite number)")
        if key in INT_OPTIONS:
            number = int(number)
    except (TypeError, ValueError, OverflowError) as exc:
        raise bad() from exc
    if key in PROBABILITIES and not 0 <= number <= 1:
        raise bad(" (a probability: 0 to 1)")
    if key in NON_NEGATIVE and number < 0:
        raise bad(" (must be >= 0)")
    if key == "error_status" and not 400 <= number <= 599:
        raise bad(" (an HTTP error status: 400 to 599)")
    if key == "context_window" and number < 1:
        raise bad(" (must be >= 1)")
    return number


def options_from(headers: dict[str, str] | None, body_mock: dict[str, Any] | None,
                 server_defaults: dict[str, Any] | None = None) -> dict[str, Any]:
    """Merge server defaults < x-mock-* headers < the body's "mock" object."""
    opts: dict[str, Any] = {}
    for key, value in (server_defaults or {}).items():
        opts[key] = _coerce(key, value)
    for key, value in (headers or {}).items():
        k = key.lower()
        if k.startswith("x-mock-"):
            name = k[len("x-mock-"):].replace("-", "_")
            opts[name] = _coerce(name, value)
    for key, value in (body_mock or {}).items():
        opts[key] = _coerce(key, value)
    return opts


# --- the request ----------------------------------------------------------------------------------

ROLES = {"system", "developer", "user", "assistant", "tool", "function"}


def _check_message(i: int, message: Any) -> None:
    """One chat message: a known role, content that is text, parts or null, well-formed tool calls."""

    def bad(message: str) -> MockError:
        return MockError(400, f"messages[{i}]: {message}", "invalid_request_error", "invalid_messages")

    if not isinstance(message, dict) or message.get("role") not in ROLES:
        raise bad(f"each message needs a 'role', one of {sorted(ROLES)}")
    content = message.get("content")
    if content is not None and not isinstance(content, str | list):
        raise bad("'content' must be a string, an array of content parts, or null")
    if isinstance(content, list) and not all(isinstance(part, dict | str) for part in content):
        raise bad("each content part must be an object such as {\"type\": \"text\", \"text\": ...}")
    calls = message.get("tool_calls")
    if calls is not None:
        if not isinstance(calls, list) or not all(
                isinstance(c, dict) and isinstance(c.get("function"), dict)
                and isinstance(c["function"].get("name"), str) for c in calls):
            raise bad("'tool_calls' must be an array of {id, type: function, function: {name, arguments}}")


def _check_shapes(body: dict[str, Any]) -> None:
    """Reject the shapes an OpenAI server rejects (behaviours may then trust them)."""

    def bad(message: str) -> MockError:
        return MockError(400, message, "invalid_request_error", "invalid_request")

    tools = body.get("tools")
    if tools is not None:
        if not isinstance(tools, list):
            raise bad("'tools' must be an array")
        for tool in tools:
            fn = tool.get("function", tool) if isinstance(tool, dict) else None
            if not isinstance(fn, dict) or not isinstance(fn.get("name"), str) or not isinstance(
                    fn.get("parameters", {}), dict):
                raise bad("each tool needs a 'function' with a string 'name' and an object 'parameters'")
    choice = body.get("tool_choice")
    if choice is not None and not isinstance(choice, dict) and choice not in ("none", "auto", "required", "any"):
        raise bad("'tool_choice' must be 'none', 'auto', 'required' or an object naming a function")
    rf = body.get("response_format")
    if rf is not None:
        if not isinstance(rf, dict) or rf.get("type") not in ("text", "json_object", "json_schema"):
            raise bad("'response_format' must be an object with type text, json_object or json_schema")
        if rf["type"] == "json_schema" and not (isinstance(rf.get("json_schema"), dict) and isinstance(
                rf["json_schema"].get("schema", {}), dict)):
            raise bad("'response_format.json_schema' must be an object with an object 'schema'")


MAX_N = 128  # OpenAI's limit on choices per request


def _ranged(body: dict[str, Any], name: str, lo: float, hi: float | None, integer: bool = False) -> Any:
    """A numeric parameter within the API's range, None when absent; a 400 naming it otherwise."""
    value = body.get(name)
    if value is None:
        return None
    kind = "an integer" if integer else "a number"
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and (
        not integer or float(value).is_integer()) and lo <= value and (hi is None or value <= hi)
    if not ok:
        span = f"from {lo} to {hi}" if hi is not None else f"of at least {lo}"
        raise MockError(400, f"'{name}' must be {kind} {span}, got {value!r}", "invalid_request_error",
                        "invalid_value")
    return int(value) if integer else float(value)


@dataclass
class MockRequest:
    behaviour: str
    messages: list[dict[str, Any]]
    model: str = ""
    tools: list[dict[str, Any]] = field(default_factory=list)
    tool_choice: Any = None
    response_format: dict[str, Any] | None = None
    temperature: float = 1.0
    top_p: float = 1.0
    seed: int | None = None
    max_tokens: int | None = None
    n: int = 1
    stream: bool = False
    include_usage: bool = False
    options: dict[str, Any] = field(default_factory=dict)
    occurrence: int = 0  # how many identical requests (same seed too) came before (set by the engine)
    temperature_set: bool = False  # the client chose a temperature (unset: canonical answers)
    parallel_tool_calls: bool = True
    reasoning_effort: str | None = None
    api: str = "openai"  # which front's wire format the plan is rendered in ("openai" | "anthropic")
    cache_breakpoints: list[int] | None = None  # Anthropic cache_control marks, as message-prefix lengths
    choice: int = 0  # which of the n choices a behaviour is answering (varies its sampling)
    _fp: str | None = field(default=None, init=False, repr=False, compare=False)

    @classmethod
    def from_openai(cls, body: dict[str, Any], headers: dict[str, str] | None = None,
                    server_defaults: dict[str, Any] | None = None) -> MockRequest:
        if not isinstance(body, dict):
            raise MockError(400, "request body must be a JSON object", "invalid_request_error")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise MockError(400, "'messages' must be a non-empty array", "invalid_request_error", "invalid_messages")
        for i, m in enumerate(messages):
            _check_message(i, m)
        _check_shapes(body)
        model = str(body.get("model") or "assistant")
        behaviour = model.split("/", 1)[1] if model.startswith("mock/") else model
        opts = options_from(headers, body.get("mock") if isinstance(body.get("mock"), dict) else None,
                            server_defaults)
        if "?" in behaviour:  # mock/noisy?p=0.6 : options in the model name, for clients that can't add fields
            behaviour, query = behaviour.split("?", 1)
            for pair in query.split("&"):
                if "=" in pair:
                    k, v = pair.split("=", 1)
                    opts.setdefault(k, _coerce(k, v))
        stream_options = body.get("stream_options") or {}
        seed = body.get("seed", opts.get("seed"))
        temperature = _ranged(body, "temperature", 0, 2)
        max_tokens = _ranged(body, "max_completion_tokens", 1, None, True)
        if max_tokens is None:
            max_tokens = _ranged(body, "max_tokens", 1, None, True)
        n = _ranged(body, "n", 1, MAX_N, True)
        top_p = _ranged(body, "top_p", 0, 1)
        try:
            return cls(
                behaviour=behaviour, model=model, messages=messages, tools=list(body.get("tools") or []),
                tool_choice=body.get("tool_choice"), response_format=body.get("response_format"),
                temperature=1.0 if temperature is None else temperature,
                top_p=1.0 if top_p is None else top_p,
                seed=None if seed is None else int(seed),
                max_tokens=max_tokens,
                n=n or 1, stream=bool(body.get("stream")),
                include_usage=bool(stream_options.get("include_usage")) if isinstance(stream_options, dict)
                else False,
                options=opts, temperature_set=temperature is not None,
                parallel_tool_calls=body.get("parallel_tool_calls") is not False,
                reasoning_effort=body.get("reasoning_effort"),
            )
        except (TypeError, ValueError, OverflowError) as exc:
            raise MockError(400, f"invalid request parameter: {exc}", "invalid_request_error") from exc

    # -- hashing and randomness
    def fingerprint(self) -> str:
        """A hash of everything that defines the request (computed once: it is on every rng call)."""
        if self._fp is None:
            key = {"b": self.behaviour, "m": self.messages, "t": self.tools, "tc": self.tool_choice,
                   "rf": self.response_format, "temp": self.temperature, "n": self.n, "api": self.api,
                   "o": {k: v for k, v in sorted(self.options.items()) if k != "seed"}}
            self._fp = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()
        return self._fp

    def rng(self, salt: str = "") -> random.Random:
        """Randomness for one decision. At temperature 0 the model's own choices ignore the seed.

        Salts starting with "sample" are the model's own sampling (greedy at temperature 0 and
        different for each of the n choices); other salts (faults) are per request.
        """
        seed = self.seed if self.seed is not None else f"occ{self.occurrence}"
        if salt.startswith("sample"):
            seed = "greedy" if self.temperature == 0 else f"{seed}|c{self.choice}"
        material = f"{self.fingerprint()}|{seed}|{salt}".encode()
        return random.Random(int.from_bytes(hashlib.sha256(material).digest()[:8], "big"))

    def sampling(self) -> bool:
        """True when the client asked for sampling (temperature > 0): answers may then vary with the seed."""
        return self.temperature_set and self.temperature > 0

    # -- reading the conversation
    def text_of(self, message: dict[str, Any]) -> str:
        return tokens.message_text(message)

    def system(self) -> str:
        return "\n".join(self.text_of(m) for m in self.messages if m.get("role") in ("system", "developer"))

    def last_user(self) -> str:
        for m in reversed(self.messages):
            if m.get("role") == "user":
                return self.text_of(m)
        return ""

    def tool_results_since_user(self) -> list[dict[str, Any]]:
        """Tool messages after the last user message (the model must now answer from them)."""
        out: list[dict[str, Any]] = []
        for m in reversed(self.messages):
            if m.get("role") == "user":
                break
            if m.get("role") == "tool":
                out.append(m)
        return list(reversed(out))

    def transcript(self) -> str:
        return "\n".join(self.text_of(m) for m in self.messages)

    def opt(self, key: str, default: Any = None) -> Any:
        return self.options.get(key, default)


# --- behaviours and skills ------------------------------------------------------------------------

BehaviourFn = Callable[[MockRequest], Reply]


@dataclass
class Behaviour:
    name: str
    fn: BehaviourFn
    description: str


BEHAVIOURS: dict[str, Behaviour] = {}


def behaviour(name: str, description: str) -> Callable[[BehaviourFn], BehaviourFn]:
    """Register a behaviour: the model id `name` (over HTTP) or `mock/name` (in-process)."""

    def deco(fn: BehaviourFn) -> BehaviourFn:
        BEHAVIOURS[name] = Behaviour(name, fn, description)
        return fn

    return deco


@dataclass
class Skill:
    name: str
    fn: Callable[[MockRequest], Reply | None]


SKILLS: list[Skill] = []


def register_skill(name: str, fn: Callable[[MockRequest], Reply | None]) -> None:
    """A lab's deterministic skill (e.g. NL -> PromQL): the assistant asks each skill first; None = not mine."""
    SKILLS[:] = [s for s in SKILLS if s.name != name] + [Skill(name, fn)]


def unregister_skill(name: str) -> None:
    """Remove a skill (tests that register one clean up after themselves)."""
    SKILLS[:] = [s for s in SKILLS if s.name != name]


def _load_behaviours() -> None:
    from shared.mockllm import behaviours  # noqa: F401  (registers on import)


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


EMBEDDING_MODEL = {"id": "embedding", "description": "Deterministic hashed character n-gram embeddings "
                                                     "(POST /v1/embeddings; `dimensions` 8..4096, default 256)"}


class MockEngine:
    def __init__(self, defaults: dict[str, Any] | None = None, max_remembered: int = 200_000,
                 cache: PromptCache | None = None):
        _load_behaviours()
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
        plan.cache = self._cache(req)
        body = self._body(req, replies, plan.cache)
        if req.api == "anthropic":
            from shared.mockllm import anthropic_api

            body = anthropic_api.message(req, body, plan.cache)
        plan.body = body
        if req.stream:
            if req.api == "anthropic":
                from shared.mockllm import anthropic_api

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

        out = []
        for choice in body["choices"]:
            index, message = choice["index"], choice["message"]
            out.append(chunk(index, {"role": "assistant", "content": ""}))
            for piece in tokens.split(message.get("content") or ""):
                out.append(chunk(index, {"content": piece}))
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
        from shared.mockllm.embeddings import embed_text

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
