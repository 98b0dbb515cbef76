"""Latency percentiles per model and the breakdown queue / time to first token / decode.

    curl -s localhost:8009/analysis/latency

Percentile by linear interpolation between order statistics (numpy's default), for sorted x of n:

    h = (n - 1) * q;  p_q = x[floor(h)] + (h - floor(h)) * (x[floor(h) + 1] - x[floor(h)])

A mean hides the tail: report p50 for the typical call and p95/p99 for the users who complain.

Where the time goes (`components`, curl -s localhost:8009/analysis/latency/components): a streamed
call's latency is network + queue + prefill + decode + the gateway's own time. Queue, TTFT and decode
are measured; TTFT = network + prefill is split by a least-squares fit TTFT = a + b * input_tokens
over the model's calls (b is the prefill rate; a, what every call pays, is the network round trip and
the provider's fixed overhead), and TPOT = decode / (output_tokens - 1).
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


# --- where the time of one call goes: network, queue, prefill, decode --------------------------------

def prefill_fit(input_tokens: Sequence[float], ttft_ms: Sequence[float]) -> dict[str, float | int | None]:
    """Least squares TTFT = a + b * input_tokens over a model's streamed calls.

    b (ms per input token) is the provider's prefill rate: prefill grows with the prompt. a is what
    every call pays whatever its prompt: the network round trip and the provider's fixed overhead.
    With fewer than two distinct prompt lengths b cannot be told apart from a (None); a negative b
    (noise) is clipped to 0, which puts all of TTFT in a.
    """
    n = len(input_tokens)
    if n < 2 or len(set(input_tokens)) < 2:
        return {"n": n, "a_ms": None, "b_ms_per_token": None, "r2": None}
    mx, my = sum(input_tokens) / n, sum(ttft_ms) / n
    sxx = sum((x - mx) ** 2 for x in input_tokens)
    sxy = sum((x - mx) * (y - my) for x, y in zip(input_tokens, ttft_ms, strict=True))
    b = sxy / sxx
    a = my - b * mx
    ss_tot = sum((y - my) ** 2 for y in ttft_ms)
    ss_res = sum((y - a - b * x) ** 2 for x, y in zip(input_tokens, ttft_ms, strict=True))
    r2 = 1 - ss_res / ss_tot if ss_tot > 0 else None
    if b < 0:
        b, a = 0.0, my
    return {"n": n, "a_ms": a, "b_ms_per_token": b, "r2": r2}


def split_call(row: dict, b_ms_per_token: float | None) -> dict[str, float | None]:
    """One streamed call's latency as network + queue + prefill + decode + gateway (they sum to latency_ms).

        queue   = the wait for an upstream slot in the gateway (measured)
        prefill = b * input_tokens (the fit), at most TTFT
        network = TTFT - prefill (round trip and the provider's fixed overhead)
        decode  = first chunk to last chunk (measured); TPOT = decode / (output_tokens - 1)
        gateway = latency - queue - TTFT - decode (auth, parsing, relaying, recording)
    """
    ttft, decode = row["ttft_ms"], row["decode_ms"] or 0.0
    prefill = None if b_ms_per_token is None else min(ttft, b_ms_per_token * row["input_tokens"])
    network = ttft - (prefill or 0.0) if prefill is not None else None
    tokens = row["output_tokens"]
    return {"network": network, "queue": row["queue_ms"], "prefill": prefill, "decode": decode,
            "gateway": max(0.0, row["latency_ms"] - row["queue_ms"] - ttft - decode),
            "network_plus_prefill": ttft, "tpot": decode / (tokens - 1) if tokens > 1 else None}


def components(rows: list[dict]) -> dict[str, dict]:
    """Per model, over its successful streamed calls: the prefill fit and the median of each component."""
    by_model: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        if row["status"] < 400 and row["stream"] and row["ttft_ms"] is not None:
            by_model[row["route"]].append(row)
    out = {}
    for model, items in sorted(by_model.items()):
        fit = prefill_fit([r["input_tokens"] for r in items], [r["ttft_ms"] for r in items])
        parts = [split_call(r, fit["b_ms_per_token"]) for r in items]
        medians = {}
        for name in ("network", "queue", "prefill", "decode", "gateway", "network_plus_prefill", "tpot"):
            values = [p[name] for p in parts if p[name] is not None]
            medians[name] = round(percentile(values, 0.5), 3) if values else None
        out[model] = {"calls": len(items), "median_ms": medians,
                      "latency_p50_ms": round(percentile([r["latency_ms"] for r in items], 0.5), 3),
                      "prefill_fit": {k: (round(v, 6) if isinstance(v, float) else v) for k, v in fit.items()}}
    return out
