"""Time series over the call log: what the dashboard's charts draw, one value per time bucket.

    curl -s 'localhost:8009/analysis/timeseries?window_s=900&buckets=30'

The window [now - w, now) is cut into n equal buckets of width w / n; bucket i holds the calls with
t0 + i * w / n <= ts < t0 + (i + 1) * w / n. Per bucket:

    p50 / p90 / p99   latency of the successful calls (latency.percentile, numpy's linear rule)
    error_rate        calls with an error (any of the three classes) / calls
    cost_usd          sum of the calls' cost; cumulative_usd its running sum over the buckets
    burn_rate[slo]    (bad events / events) / (1 - target), the SLO's events as shared/slo.py defines them
    judge_score       mean graded quality of the calls graded in the bucket (quality drift over time)

A bucket with no calls (or no events of a kind) holds None, and a chart leaves a gap there rather
than drawing a zero that never happened.
"""

from __future__ import annotations

import time
from typing import Any

from labs.lab09_gateway.latency import percentile
from shared.slo import SLO

QUANTILES = {"p50_ms": 0.5, "p90_ms": 0.9, "p99_ms": 0.99}


def bucket_of(ts: float, t0: float, width: float, n: int) -> int | None:
    """The bucket index of a timestamp, None outside [t0, t0 + n * width)."""
    i = int((ts - t0) // width)
    return i if 0 <= i < n else None


def series(rows: list[dict], slos: list[SLO], window_s: float, buckets: int = 30,
           now: float | None = None) -> dict[str, Any]:
    """Column-wise series: `t` holds each bucket's start (unix seconds), every other list one value per bucket."""
    now = time.time() if now is None else now
    width = window_s / buckets
    t0 = now - window_s
    grouped: list[list[dict]] = [[] for _ in range(buckets)]
    for row in rows:
        i = bucket_of(row["ts"], t0, width, buckets)
        if i is not None:
            grouped[i].append(row)
    out: dict[str, Any] = {"window_s": window_s, "bucket_s": round(width, 6),
                           "t": [round(t0 + i * width, 3) for i in range(buckets)],
                           "calls": [len(g) for g in grouped]}
    for name, q in QUANTILES.items():
        out[name] = [_r(percentile([r["latency_ms"] for r in g if r["status"] < 400], q)) for g in grouped]
    out["error_rate"] = [_r(sum(1 for r in g if r["status"] >= 400) / len(g)) if g else None for g in grouped]
    out["cost_usd"] = [round(sum(r["cost_usd"] for r in g), 8) if g else None for g in grouped]
    running, cumulative = 0.0, []
    for g in grouped:
        running += sum(r["cost_usd"] for r in g)
        cumulative.append(round(running, 8))
    out["cumulative_usd"] = cumulative
    out["burn_rate"] = {slo.name: [_burn(g, slo) for g in grouped] for slo in slos}
    out["judge_score"] = [_mean([r["quality"] for r in g if r["quality"] is not None]) for g in grouped]
    return out


def _burn(rows: list[dict], slo: SLO) -> float | None:
    events = [good for r in rows if (good := slo.event(r)) is not None]
    if not events:
        return None
    return _r(events.count(False) / len(events) / slo.budget)


def _mean(xs: list[float]) -> float | None:
    return _r(sum(xs) / len(xs)) if xs else None


def _r(v: float | None) -> float | None:
    return None if v is None else round(v, 4)
