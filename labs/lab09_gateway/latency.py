"""Latency percentiles per model and the breakdown queue / time to first token / decode.

    curl -s localhost:8009/analysis/latency

Percentile by linear interpolation between order statistics (numpy's default), for sorted x of n:

    h = (n - 1) * q;  p_q = x[floor(h)] + (h - floor(h)) * (x[floor(h) + 1] - x[floor(h)])

A mean hides the tail: report p50 for the typical call and p95/p99 for the users who complain.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence


def percentile(x: Sequence[float], q: float) -> float | None:
    """q in [0, 1]."""
    if not x:
        return None
    xs = sorted(x)
    h = (len(xs) - 1) * q
    lo = math.floor(h)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (h - lo) * (xs[hi] - xs[lo])


def summary(x: Sequence[float]) -> dict[str, float | int | None]:
    r = lambda v: None if v is None else round(v, 3)  # noqa: E731
    return {"n": len(x), "p50": r(percentile(x, 0.5)), "p90": r(percentile(x, 0.9)),
            "p95": r(percentile(x, 0.95)), "p99": r(percentile(x, 0.99)),
            "mean": r(sum(x) / len(x)) if x else None}


def breakdown(rows: list[dict]) -> dict[str, dict]:
    """Per model: total latency percentiles, and the median of each stage where it is known."""
    by_model: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        by_model[row["route"]].append(row)
    out = {}
    for model, items in sorted(by_model.items()):
        ok = [r for r in items if r["status"] < 400]
        stages = {}
        for stage in ("queue_ms", "ttft_ms", "decode_ms"):
            values = [r[stage] for r in ok if r[stage] is not None]
            stages[stage.removesuffix("_ms")] = round(percentile(values, 0.5), 3) if values else None
        streamed = [r for r in ok if r["stream"] and r["chunks"] > 1 and r["decode_ms"] is not None]
        tpoc = [r["decode_ms"] / (r["chunks"] - 1) for r in streamed]
        out[model] = {"latency_ms": summary([r["latency_ms"] for r in ok]), "median_stages_ms": stages,
                      "ttft_ms": summary([r["ttft_ms"] for r in ok if r["ttft_ms"] is not None]),
                      "time_per_output_chunk_ms": summary(tpoc)}
    return out
