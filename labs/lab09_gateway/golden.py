"""The four golden signals for an LLM gateway, per model and tenant, from the call log.

    curl -s 'localhost:8009/analysis/golden?window_s=3600'

Over a window of w seconds holding the calls C of one (model, tenant):

    traffic     = |C| / w  calls/s,  sum(output_tokens) / w  tokens/s
    errors      = counts by class (client / provider / gateway; metering.py), error_rate = errors / |C|
    latency     = p50 and p99 of the successful calls' end-to-end latency (latency.percentile)
    saturation  = calls in flight per upstream model now, and the provider's 429s in the window
"""

from __future__ import annotations

from typing import Any

from labs.lab09_gateway.latency import percentile


def golden_signals(rows: list[dict], window_s: float, inflight: dict[str, int]) -> dict[str, Any]:
    """Traffic (calls/s, tokens/s), errors by class, latency p50/p99, saturation (in flight, provider 429s)."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for row in rows:
        groups.setdefault((row["route"], row["tenant"]), []).append(row)
    out = []
    for (model, tenant), items in sorted(groups.items()):
        lat = [r["latency_ms"] for r in items if r["status"] < 400]
        errors = {"client": 0, "provider": 0, "gateway": 0}
        for r in items:
            if r["error_class"] in errors:
                errors[r["error_class"]] += 1
        out.append({"model": model, "tenant": tenant, "calls": len(items),
                    "calls_per_s": round(len(items) / window_s, 6),
                    "output_tokens_per_s": round(sum(r["output_tokens"] for r in items) / window_s, 6),
                    "errors": errors, "error_rate": round(sum(errors.values()) / len(items), 4),
                    "p50_ms": _r(percentile(lat, 0.5)), "p99_ms": _r(percentile(lat, 0.99)),
                    "provider_429": sum(1 for r in items if r["status"] == 429 and r["error_class"] == "provider"),
                    "cost_usd": round(sum(r["cost_usd"] for r in items), 8)})
    return {"rows": out, "inflight": dict(inflight), "calls": len(rows)}


def _r(v: float | None) -> float | None:
    return None if v is None else round(v, 3)
