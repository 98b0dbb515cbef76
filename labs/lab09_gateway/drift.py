"""Drift: KL divergence between a reference window and the current window of prompts.

    curl -s 'localhost:8009/analysis/drift?reference_s=3600&current_s=300'

For distributions P (current) and Q (reference) over the same bins, with add-epsilon smoothing so
an empty reference bin does not make the divergence infinite:

    D_KL(P || Q) = sum_i p_i * ln(p_i / q_i)          (nats; 0 when P = Q)

Two features: prompt length in tokens (log2 bins: 0-15, 16-31, ..., 4096+) and topic (keywords).
An alert fires when D_KL exceeds a threshold (default 0.1 nats).
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
    """KL of prompt-length and topic distributions, current vs reference."""
    out = {"n_reference": len(reference), "n_current": len(current), "threshold": threshold, "features": {}}
    features = {
        "prompt_length": ([length_bin(r["input_tokens"]) for r in reference],
                          [length_bin(r["input_tokens"]) for r in current], LENGTH_BINS),
        "topic": ([r["topic"] for r in reference], [r["topic"] for r in current], [*TOPICS, "other"]),
    }
    for name, (ref, cur, bins) in features.items():
        if not ref or not cur:
            out["features"][name] = {"kl": None, "drifted": False}
            continue
        d = kl(distribution(cur, bins), distribution(ref, bins))
        out["features"][name] = {"kl": round(d, 4), "drifted": d > threshold,
                                 "reference": dict(Counter(ref)), "current": dict(Counter(cur))}
    out["drifted"] = any(f["drifted"] for f in out["features"].values())
    return out


def windows(rows: list[dict], current_s: float, threshold: float = 0.1, now: float | None = None) -> dict:
    """Split call-log rows into the reference (before the last `current_s` seconds) and the current
    window, keep the successful chat calls, and compare them."""
    now = time.time() if now is None else now
    ok = [r for r in rows if r["status"] < 400 and r["operation"] == "chat"]
    return drift([r for r in ok if r["ts"] < now - current_s], [r for r in ok if r["ts"] >= now - current_s],
                 threshold)
