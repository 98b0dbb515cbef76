"""`@trace_llm_call`: the chapter's small decorator that turns any model call into a GenAI span.

    python -c "from labs.lab09_gateway.decorator import demo; print(demo())"

It reads the model from the call's `model=` argument, opens a CLIENT span named
"chat {model}" with the GenAI attributes, reads usage and finish reason from whatever comes back
(an OpenAI/LiteLLM response or a shared.llm Completion), and on an exception sets `error.type`
and re-raises. Sync and async functions alike.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from shared.llm import litellm_module
from shared.pricing import usage_from
from shared.telemetry import query_spans, setup_telemetry


def _usage_attrs(resp: Any) -> dict[str, Any]:
    raw = getattr(resp, "usage", None)
    if raw is None and isinstance(resp, dict):
        raw = resp.get("usage")
    u = raw if hasattr(raw, "input_tokens") and hasattr(raw, "reasoning_tokens") else usage_from(raw)
    finish = getattr(resp, "finish_reason", None)
    choices = getattr(resp, "choices", None) or (resp.get("choices") if isinstance(resp, dict) else None) or []
    if finish is None and choices:
        first = choices[0]
        finish = first.get("finish_reason") if isinstance(first, dict) else getattr(first, "finish_reason", None)
    return {"gen_ai.usage.input_tokens": u.input_tokens, "gen_ai.usage.output_tokens": u.output_tokens,
            "gen_ai.usage.cache_read.input_tokens": u.cached_input_tokens,
            "gen_ai.usage.reasoning.output_tokens": u.reasoning_tokens,
            "gen_ai.response.finish_reasons": [finish or "unknown"]}


def trace_llm_call(fn=None, *, operation: str = "chat", provider: str | None = None):
    """Decorate a function that calls a model; `@trace_llm_call` or `@trace_llm_call(provider="openai")`."""
    if fn is None:
        return functools.partial(trace_llm_call, operation=operation, provider=provider)
    tracer = trace.get_tracer("aieng.labs.lab09.decorator")

    def start(kwargs: dict[str, Any]):
        model = str(kwargs.get("model") or "unknown")
        attrs = {"gen_ai.operation.name": operation, "gen_ai.request.model": model,
                 "gen_ai.provider.name": provider or (model.split("/", 1)[0] if "/" in model else "openai")}
        for key in ("temperature", "max_tokens", "top_p", "seed"):
            if isinstance(kwargs.get(key), int | float):
                attrs[f"gen_ai.request.{key}"] = kwargs[key]
        return tracer.start_as_current_span(f"{operation} {model}", kind=SpanKind.CLIENT, attributes=attrs,
                                            record_exception=True, set_status_on_exception=False)

    def failed(span, exc: BaseException) -> None:
        span.set_attribute("error.type", type(exc).__name__)
        span.set_status(Status(StatusCode.ERROR, str(exc)[:300]))

    if inspect.iscoroutinefunction(fn):
        @functools.wraps(fn)
        async def async_wrapper(*args, **kwargs):
            with start(kwargs) as span:
                try:
                    resp = await fn(*args, **kwargs)
                except BaseException as exc:
                    failed(span, exc)
                    raise
                span.set_attributes(_usage_attrs(resp))
                return resp
        return async_wrapper

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with start(kwargs) as span:
            try:
                resp = fn(*args, **kwargs)
            except BaseException as exc:
                failed(span, exc)
                raise
            span.set_attributes(_usage_attrs(resp))
            return resp
    return wrapper


def demo() -> dict:
    """Call the in-process mock through the decorator and return the span it recorded."""
    setup_telemetry()  # the decorator uses the global tracer provider: install ours before the first span

    @trace_llm_call
    def ask(prompt: str, model: str = "mock/assistant") -> Any:
        return litellm_module().completion(model=model, messages=[{"role": "user", "content": prompt}])

    resp = ask("What is 6 * 7?", model="mock/assistant")
    span = query_spans(name="chat mock/assistant", limit=1)[0]
    return {"answer": resp.choices[0].message.content, "span": span["name"],
            "attributes": {k: v for k, v in span["attributes"].items() if k.startswith("gen_ai.")}}
