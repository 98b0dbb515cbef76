"""Cache hit rate and tokens per conversation, aggregated per route, tenant or conversation.

    curl -s 'localhost:8009/analysis/usage?by=conversation&top=5'

Over the calls C of a group:

    cache_hit_rate = sum(cached_tokens) / sum(input_tokens)      (the share of prompt tokens read from the cache)
    tokens per conversation: for each conversation k in the group, T_k = sum over its calls of
                             input_tokens + output_tokens; reported as mean, p50 and p95 of T_k

The cardinality trap: a conversation id is unbounded (every chat makes a new one), so it is never a
metric label. Metrics carry route and tenant only (bounded, `BoundedLabel`), enough for the cache hit
rate as a PromQL ratio of two counters; the per-conversation view is computed here from the call log
(which can afford a row per call) and itself bounded: the `top` conversations by tokens, then one
`other` row for all the rest, so 10,000 conversations make 11 rows, not 10,000.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from labs.lab09_gateway.latency import percentile

GROUPS = ("route", "tenant", "conversation")
NO_CONVERSATION = "none"  # calls sent without x-conversation-id


def _tokens(r: dict) -> int:
    return r["input_tokens"] + r["output_tokens"]


def _summary(items: list[dict]) -> dict[str, Any]:
    """Calls, tokens, cache hit rate and the tokens-per-conversation distribution of one group of calls."""
    inputs = sum(r["input_tokens"] for r in items)
    cached = sum(r["cached_tokens"] for r in items)
    per_conv: dict[str, int] = defaultdict(int)
    for r in items:
        if r["conversation"]:
            per_conv[r["conversation"]] += _tokens(r)
    totals = list(per_conv.values())
    return {"calls": len(items), "input_tokens": inputs, "cached_tokens": cached,
            "output_tokens": sum(r["output_tokens"] for r in items),
            "cache_hit_rate": round(cached / inputs, 4) if inputs else None,
            "conversations": len(totals),
            "tokens_per_conversation": {"mean": round(sum(totals) / len(totals), 3) if totals else None,
                                        "p50": _r(percentile(totals, 0.5)), "p95": _r(percentile(totals, 0.95))}}


def aggregate(rows: list[dict], by: str, top: int = 10) -> dict[str, Any]:
    """Per group of `by`. For `by=conversation`: the `top` conversations by tokens and one `other` row."""
    if by not in GROUPS:
        raise ValueError(f"cannot group by {by!r}; one of {GROUPS}")
    ok = [r for r in rows if r["status"] < 400]
    groups: dict[str, list[dict]] = defaultdict(list)
    for r in ok:
        groups[r[by] or NO_CONVERSATION].append(r)
    ranked = sorted(groups.items(), key=lambda kv: (-sum(_tokens(r) for r in kv[1]), kv[0]))
    out = [{"name": name, **_summary(items)} for name, items in ranked[:top]]
    rest = ranked[top:]
    if rest:
        out.append({"name": "other", "groups": len(rest), **_summary([r for _, items in rest for r in items])})
    return {"by": by, "top": top, "groups": out, "total": _summary(ok)}


def _r(v: float | None) -> float | None:
    return None if v is None else round(v, 3)
