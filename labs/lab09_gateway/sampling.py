"""Tail-based sampling: decide after a trace has finished, so every error and every slow trace is kept.

    curl -s localhost:8009/analysis/sampling

Head sampling (decide at the start) keeps errors at the base rate p, exactly the traces you need.
The tail policy here keeps a trace when

    status is an error  OR  latency >= slow_ms  OR  u(trace_id) < p

where u maps the trace id to [0, 1) by hashing, so every service deciding about the same trace
agrees without talking. Expected kept fraction = e + s + p * (1 - e - s) for error share e and
slow-but-ok share s.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass


def unit_hash(trace_id: str) -> float:
    return int(hashlib.sha256(trace_id.encode()).hexdigest()[:13], 16) / 16**13


@dataclass(frozen=True)
class TailSampler:
    p: float = 0.1
    slow_ms: float = 1000.0

    def keep(self, trace_id: str, error: bool, latency_ms: float) -> bool:
        return error or latency_ms >= self.slow_ms or unit_hash(trace_id) < self.p

    def reason(self, trace_id: str, error: bool, latency_ms: float) -> str:
        if error:
            return "error"
        if latency_ms >= self.slow_ms:
            return "slow"
        return "sampled" if unit_hash(trace_id) < self.p else "dropped"


def kept_fraction(rows: list[dict], sampler: TailSampler) -> dict:
    """Apply the policy to stored calls: how many are kept, and why."""
    reasons = {"error": 0, "slow": 0, "sampled": 0, "dropped": 0}
    for row in rows:
        reasons[sampler.reason(row["trace_id"] or row["request_id"], row["status"] >= 500 or bool(row["error_type"]),
                               row["latency_ms"])] += 1
    n = len(rows)
    kept = n - reasons["dropped"]
    return {"policy": {"p": sampler.p, "slow_ms": sampler.slow_ms}, "traces": n, "kept": kept,
            "kept_fraction": round(kept / n, 4) if n else None, "by_reason": reasons,
            "errors_kept_fraction": 1.0 if reasons["error"] else None}
