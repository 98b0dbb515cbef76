"""The chapter's six worked exercises, computed.

    python -m labs.lab09_gateway.exercises          # readable
    python -m labs.lab09_gateway.exercises --json   # one JSON object
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from labs.lab09_gateway import drift, redaction, sampling
from labs.lab09_gateway import slo as gateway_slo
from shared import slo
from shared.mockllm.engine import MockEngine, MockRequest
from shared.pricing import Usage, cost


def cost_of_a_day() -> dict:
    """A day's traffic priced from the price map: 200k calls of gpt-4o-mini (1,200 in / 300 out,
    60% of input cached) and 5k calls of claude-sonnet-4 (3,000 in / 800 out)."""
    mix = [("openai/gpt-4o-mini", 200_000, Usage(1200, 300, cached_input_tokens=720)),
           ("anthropic/claude-sonnet-4", 5_000, Usage(3000, 800))]
    lines = {m: round(n * cost(m, u).total, 2) for m, n, u in mix}
    return {"inputs": {m: {"calls": n, "input": u.input_tokens, "output": u.output_tokens,
                           "cached": u.cached_input_tokens} for m, n, u in mix},
            "answer": {"per_model_usd": lines, "total_usd": round(sum(lines.values()), 2)}}


def burn_rate_alert() -> dict:
    """99.9% SLO over 30 days; errors 2% of traffic for the last 70 minutes, 0.05% before."""
    s = slo.SLO("availability", "availability", 0.999)
    alerts = gateway_slo.load()[1]
    now = 100 * 86400.0
    rows = []
    for minute in range(0, 3 * 24 * 60):
        ts = now - minute * 60
        rate = 0.02 if minute < 70 else 0.0005
        for i in range(100):
            bad = i < rate * 100 if rate * 100 >= 1 else (minute * 100 + i) % int(1 / rate) == 0
            rows.append({"ts": ts, "status": 500 if bad else 200, "error_class": "provider" if bad else None,
                         "latency_ms": 100, "quality": None})
    result = slo.evaluate(rows, [s], alerts, now=now)["slos"][0]
    return {"inputs": {"target": 0.999, "recent_error_rate": 0.02, "minutes": 70, "baseline_error_rate": 0.0005},
            "answer": {"burn_rates": result["burn_rates"],
                       "firing": [a["alert"] for a in result["alerts"] if a["firing"]]}}


def redaction_check() -> dict:
    """A support message with an email, a phone, a card, an order number (not a card: Luhn fails) and a key."""
    text = ("Hi, I'm Ada (ada.lovelace@example.com, +44 20 7946 0958). Card 4111 1111 1111 1111, "
            "order 1234 5678 9012 3456, key sk-live-abcdefghijklmnop1234.")
    r = redaction.redact_with_counts(text)
    return {"inputs": {"text": text}, "answer": {"redacted": r.text, "found": r.found}}


def kl_drift() -> dict:
    """Topic mix last week vs today: does it drift past 0.1 nats?"""
    ref = ["billing"] * 50 + ["code"] * 30 + ["travel"] * 15 + ["other"] * 5
    cur = ["billing"] * 20 + ["code"] * 30 + ["travel"] * 45 + ["other"] * 5
    bins = [*drift.TOPICS, "other"]
    d = drift.kl(drift.distribution(cur, bins), drift.distribution(ref, bins))
    return {"inputs": {"reference": {"billing": 50, "code": 30, "travel": 15, "other": 5},
                       "current": {"billing": 20, "code": 30, "travel": 45, "other": 5}},
            "answer": {"kl_nats": round(d, 4), "drifted": d > 0.1}}


ORDERS = {1234: {"status": "shipped", "carrier": "DHL"}, 5678: {"status": "processing", "carrier": None}}
ORDER_TOOL = {"type": "function", "function": {
    "name": "lookup_order", "description": "Look up an order's status by its order number.",
    "parameters": {"type": "object", "properties": {"order_id": {"type": "integer", "description": "the order number"}},
                   "required": ["order_id"]}}}
SPAN_ATTRIBUTES = ("gen_ai.operation.name", "gen_ai.tool.name", "gen_ai.usage.input_tokens",
                   "gen_ai.usage.output_tokens", "gen_ai.response.finish_reasons", "lab09.stopped")


def lookup_order(order_id: int) -> dict:
    return {"order_id": order_id, **ORDERS[order_id]} if order_id in ORDERS else {"error": f"no order {order_id}"}


def run_tool_loop(tracer: trace.Tracer, question: str, max_steps: int = 5, parallel: bool = True,
                  model: str = "mock/assistant") -> str:
    """A support agent: model call, the tool calls it asks for, again, until it answers or runs out of steps.

    The model is the mock's engine called directly (the same behaviour `mock/assistant` serves over HTTP):
    the model layer would load LiteLLM, seconds of import for an exercise that needs none of it. Each
    model call and tool call is a span under the run's `invoke_agent` span, named and attributed as
    the GenAI conventions say.
    """
    engine = MockEngine()
    messages: list[dict] = [{"role": "user", "content": question}]
    with tracer.start_as_current_span("invoke_agent support-bot", attributes={
            "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "support-bot"}) as root:
        for _ in range(max_steps):
            with tracer.start_as_current_span(f"chat {model}", attributes={
                    "gen_ai.operation.name": "chat", "gen_ai.request.model": model}) as span:
                body = engine.complete(MockRequest.from_openai({
                    "model": model, "messages": messages, "tools": [ORDER_TOOL], "parallel_tool_calls": parallel}))
                choice = body["choices"][0]
                span.set_attributes({"gen_ai.usage.input_tokens": body["usage"]["prompt_tokens"],
                                     "gen_ai.usage.output_tokens": body["usage"]["completion_tokens"],
                                     "gen_ai.response.finish_reasons": [choice["finish_reason"]]})
            message = choice["message"]
            messages.append(message)
            if not message.get("tool_calls"):
                return message["content"]
            for call in message["tool_calls"]:
                name = call["function"]["name"]
                with tracer.start_as_current_span(f"execute_tool {name}", attributes={
                        "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": name,
                        "gen_ai.tool.call.id": call["id"]}):
                    result = lookup_order(**json.loads(call["function"]["arguments"]))
                messages.append({"role": "tool", "tool_call_id": call["id"], "content": json.dumps(result)})
        root.set_attribute("lab09.stopped", f"max_steps: {max_steps}")
        return ""


def span_tree(spans: Sequence[ReadableSpan]) -> list[dict]:
    """Nest finished spans by their parent ids (children in start order); a span whose parent is not
    among them is a root."""
    nodes = {s.context.span_id: {"name": s.name, "attributes": {k: (list(v) if isinstance(v, tuple) else v)
                                                                for k, v in (s.attributes or {}).items()
                                                                if k in SPAN_ATTRIBUTES},
                                 "children": [], "start": s.start_time} for s in spans}
    roots = []
    for s in sorted(spans, key=lambda s: s.start_time):
        parent = s.parent.span_id if s.parent is not None else None
        (nodes[parent]["children"] if parent in nodes else roots).append(nodes[s.context.span_id])
    for node in nodes.values():
        del node["start"]
    return roots


def traced_run(question: str, max_steps: int = 5, parallel: bool = True) -> tuple[list[dict], str]:
    """One run of the loop under its own tracer provider, spans kept in memory: (the span tree, the answer)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))  # synchronous: every span is there when the run ends
    answer = run_tool_loop(provider.get_tracer("lab09.exercises"), question, max_steps, parallel)
    provider.shutdown()
    return span_tree(exporter.get_finished_spans()), answer


def agent_span_tree(question: str = "Where is order 1234, and order 5678?", max_steps: int = 5,
                    parallel: bool = True) -> dict:
    """The span tree of a real tool loop, built from its spans' parent ids: invoke_agent -> chat, execute_tool, ..."""
    roots, answer = traced_run(question, max_steps, parallel)
    tree = roots[0]
    chats = [c["attributes"] for c in tree["children"] if c["attributes"]["gen_ai.operation.name"] == "chat"]
    usage = Usage(sum(a["gen_ai.usage.input_tokens"] for a in chats), sum(a["gen_ai.usage.output_tokens"] for a in chats))
    return {"inputs": {"question": question, "max_steps": max_steps, "parallel_tool_calls": parallel,
                       "model": "mock/assistant",
                       "priced_as": "openai/gpt-4o-mini"},
            "answer": {"tree": tree, "steps": [c["name"] for c in tree["children"]], "roots": len(roots),
                       "total_tokens": usage.input_tokens + usage.output_tokens,
                       "cost_usd": round(cost("openai/gpt-4o-mini", usage).total, 6), "agent_answer": answer}}


def sampling_policy() -> dict:
    """10,000 traces, 1% errors, 4% slow: keep every error and slow trace, 5% of the rest."""
    sampler = sampling.TailSampler(p=0.05, slow_ms=2000)
    rows = []
    for i in range(10_000):
        error = i % 100 == 0
        slow = not error and i % 25 == 1
        rows.append({"trace_id": f"{i:032x}", "request_id": str(i), "status": 500 if error else 200,
                     "error_type": "x" if error else None, "latency_ms": 3000 if slow else 200})
    kept = sampling.kept_fraction(rows, sampler)
    expected = 0.01 + 0.04 + 0.05 * 0.95
    return {"inputs": {"traces": 10_000, "error_share": 0.01, "slow_share": 0.04, "p": 0.05},
            "answer": {"kept_fraction": kept["kept_fraction"], "expected": round(expected, 4),
                       "by_reason": kept["by_reason"]}}


EXERCISES = {"cost_of_a_day": cost_of_a_day, "burn_rate_alert": burn_rate_alert, "redaction_check": redaction_check,
             "kl_drift": kl_drift, "agent_span_tree": agent_span_tree, "sampling_policy": sampling_policy}


def main(argv: list[str]) -> None:
    results = {name: fn() for name, fn in EXERCISES.items()}
    if "--json" in argv:
        print(json.dumps(results, indent=2))
        return
    for name, fn in EXERCISES.items():
        print(f"== {name}: {fn.__doc__.strip().splitlines()[0] if fn.__doc__ else ''}")
        print(f"   inputs: {json.dumps(results[name]['inputs'])}")
        print(f"   answer: {json.dumps(results[name]['answer'])}")
        print()


if __name__ == "__main__":
    main(sys.argv[1:])
