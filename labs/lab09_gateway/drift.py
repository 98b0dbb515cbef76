"""Drift: KL divergence between a reference window and the current window of prompts.

    curl -s 'localhost:8009/analysis/drift?reference_s=3600&current_s=300'

For distributions P (current) and Q (reference) over the same bins, with add-epsilon smoothing so
an empty reference bin does not make the divergence infinite:

    D_KL(P || Q) = sum_i p_i * ln(p_i / q_i)          (nats; 0 when P = Q)

Three kinds of drift, each a KL over bins:
    input drift     prompt length in tokens (log2 bins: 0-15, 16-31, ..., 4096+) and topic (keywords)
    output drift    answer length in output tokens (the same log2 bins): longer, shorter or truncated answers
    quality drift   judge scores (graded quality, five bins of 0.2) of the graded calls, with the means beside
An alert fires when D_KL exceeds a threshold (default 0.1 nats). Input drift without quality drift
says the users changed; quality drift without input drift points at the prompt, the model or the provider.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Sequence

LENGTH_BINS = ["<16", "16-31", "32-63", "64-127", "128-255", "256-511", "512-1023", "1024-2047", "2048-4095", "4096+"]
TOPICS = {
    "billing": ("invoice", "refund", "charge", "payment", "price", "bill", "subscription"),
    "code": ("python", "function", "error", "bug", "code", "stack", "compile", "sql"),
    "travel": ("flight", "hotel", "weather", "city", "trip", "paris", "tokyo"),
    "math": ("+", "*", "sum", "calculate", "what is", "percent"),
}


SCORE_BINS = ["0-0.2", "0.2-0.4", "0.4-0.6", "0.6-0.8", "0.8-1"]
KINDS = {"prompt_length": "input", "topic": "input", "output_length": "output", "judge_score": "quality"}


def score_bin(score: float) -> str:
    return SCORE_BINS[min(int(score * 5), 4)]


def length_bin(tokens: int) -> str:
    if tokens < 16:
        return LENGTH_BINS[0]
    i = min(int(math.log2(tokens)) - 3, len(LENGTH_BINS) - 1)
    return LENGTH_BINS[i]


def topic_of(text: str) -> str:
    low = text.lower()
    scores = {t: sum(low.count(w) for w in words) for t, words in TOPICS.items()}
    best = max(scores, key=lambda t: scores[t])
    return best if scores[best] else "other"


def distribution(values: Sequence[str], bins: Sequence[str], eps: float = 1e-3) -> list[float]:
    counts = Counter(values)
    raw = [counts.get(b, 0) + eps for b in bins]
    total = sum(raw)
    return [c / total for c in raw]


def kl(p: Sequence[float], q: Sequence[float]) -> float:
    """D_KL(p || q) in nats; p and q are probability vectors over the same bins."""
    return sum(pi * math.log(pi / qi) for pi, qi in zip(p, q, strict=True) if pi > 0)


def drift(reference: list[dict], current: list[dict], threshold: float = 0.1) -> dict:
    """KL of the input (prompt length, topic), output (answer length) and quality (judge score)
    distributions, current vs reference."""
    out = {"n_reference": len(reference), "n_current": len(current), "threshold": threshold, "features": {}}
    graded_ref = [r["quality"] for r in reference if r.get("quality") is not None]
    graded_cur = [r["quality"] for r in current if r.get("quality") is not None]
    features = {
        "prompt_length": ([length_bin(r["input_tokens"]) for r in reference],
                          [length_bin(r["input_tokens"]) for r in current], LENGTH_BINS),
        "topic": ([r["topic"] for r in reference], [r["topic"] for r in current], [*TOPICS, "other"]),
        "output_length": ([length_bin(r["output_tokens"]) for r in reference if "output_tokens" in r],
                          [length_bin(r["output_tokens"]) for r in current if "output_tokens" in r], LENGTH_BINS),
        "judge_score": ([score_bin(q) for q in graded_ref], [score_bin(q) for q in graded_cur], SCORE_BINS),
    }
    for name, (ref, cur, bins) in features.items():
        if not ref or not cur:
            out["features"][name] = {"kl": None, "drifted": False}
            continue
        d = kl(distribution(cur, bins), distribution(ref, bins))
        out["features"][name] = {"kl": round(d, 4), "drifted": d > threshold,
                                 "reference": dict(Counter(ref)), "current": dict(Counter(cur))}
    for name, kind in KINDS.items():
        out["features"][name]["kind"] = kind
    mean = lambda xs: round(sum(xs) / len(xs), 4) if xs else None  # noqa: E731
    out["quality"] = {"graded_reference": len(graded_ref), "graded_current": len(graded_cur),
                      "mean_reference": mean(graded_ref), "mean_current": mean(graded_cur)}
    out["drifted_kinds"] = sorted({KINDS[n] for n, f in out["features"].items() if f["drifted"]})
    out["drifted"] = bool(out["drifted_kinds"])
    return out


def windows(rows: list[dict], current_s: float, threshold: float = 0.1, now: float | None = None) -> dict:
    """Split call-log rows into the reference (before the last `current_s` seconds) and the current
    window, keep the successful chat calls, and compare them."""
    now = time.time() if now is None else now
    ok = [r for r in rows if r["status"] < 400 and r["operation"] == "chat"]
    return drift([r for r in ok if r["ts"] < now - current_s], [r for r in ok if r["ts"] >= now - current_s],
                 threshold)
