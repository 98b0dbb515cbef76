"""The chapter's six worked exercises, computed.

    python -m labs.lab09_gateway.exercises          # readable
    python -m labs.lab09_gateway.exercises --json   # one JSON object
"""

from __future__ import annotations

import json
import sys

from labs.lab09_gateway import drift, redaction, sampling
from labs.lab09_gateway import slo as gateway_slo
from shared import slo
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


def agent_span_tree() -> dict:
    """The span tree of one agent run: invoke_agent -> chat, execute_tool, chat (a tool loop)."""
    tree = {"name": "invoke_agent support-bot", "children": [
        {"name": "chat gpt-4o-mini", "attributes": {"gen_ai.usage.input_tokens": 850, "gen_ai.usage.output_tokens": 40,
                                                    "gen_ai.response.finish_reasons": ["tool_calls"]}},
        {"name": "execute_tool lookup_order", "attributes": {"gen_ai.tool.name": "lookup_order"}},
        {"name": "chat gpt-4o-mini", "attributes": {"gen_ai.usage.input_tokens": 960, "gen_ai.usage.output_tokens": 120,
                                                    "gen_ai.response.finish_reasons": ["stop"]}}]}
    tokens = sum(c.get("attributes", {}).get("gen_ai.usage.input_tokens", 0)
                 + c.get("attributes", {}).get("gen_ai.usage.output_tokens", 0) for c in tree["children"])
    return {"inputs": {"steps": [c["name"] for c in tree["children"]]},
            "answer": {"tree": tree, "total_tokens": tokens,
                       "cost_usd": round(cost("openai/gpt-4o-mini", Usage(850 + 960, 40 + 120)).total, 6)}}


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
