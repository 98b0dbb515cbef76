"""What a behaviour sees and returns: the parsed request, its options and faults, the reply, the registries.

    python -c "from shared.mockllm.request import MockRequest; \
print(MockRequest.from_openai({'model': 'assistant', 'messages': [{'role': 'user', 'content': 'hi'}]}).behaviour)"

The engine (engine.py) and every behaviour (behaviours/, and the labs' mock plugins) build on this
module, and it builds on neither: a behaviour registers itself with `@behaviour(name, description)`
when its module is imported, and the engine imports the behaviours package to have them all.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import shared.mockllm.tokens as tokens

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

# what json.dumps(key, sort_keys=True, default=str) writes, with the encoder built once (json.dumps
# builds a new one on every call that passes an option)
_FINGERPRINT_JSON = json.JSONEncoder(sort_keys=True, default=str)

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
            self._fp = hashlib.sha256(_FINGERPRINT_JSON.encode(key).encode()).hexdigest()
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
