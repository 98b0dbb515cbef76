"""Hybrid retrieval: reciprocal rank fusion and weighted score fusion.

    python -m labs.lab06_rag.exercises     # "rrf" works two rankings by hand

    RRF:       score(d) = Σ_{r ∈ rankings} 1 / (k + rank_r(d)),  k = 60, rank from 1
    weighted:  score(d) = α · minmax(s_dense(d)) + (1 − α) · minmax(s_bm25(d))   (absent = 0)

RRF needs no score calibration: BM25 scores are unbounded and cosines sit in [-1, 1], so only
their ranks are comparable. Weighted fusion keeps the score gaps but needs normalising first.
"""

from __future__ import annotations


def rrf(rankings: list[list[str]], k: int = 60) -> list[tuple[str, float]]:
    score: dict[str, float] = {}
    for ranking in rankings:
        for rank, d in enumerate(ranking, start=1):
            score[d] = score.get(d, 0.0) + 1.0 / (k + rank)
    return sorted(score.items(), key=lambda kv: (-kv[1], kv[0]))


def minmax(scores: dict[str, float]) -> dict[str, float]:
    if not scores:
        return {}
    lo, hi = min(scores.values()), max(scores.values())
    if hi == lo:
        return {d: 1.0 for d in scores}
    return {d: (s - lo) / (hi - lo) for d, s in scores.items()}


def weighted(dense: dict[str, float], sparse: dict[str, float], alpha: float = 0.5) -> list[tuple[str, float]]:
    nd, ns = minmax(dense), minmax(sparse)
    score = {d: alpha * nd.get(d, 0.0) + (1 - alpha) * ns.get(d, 0.0) for d in set(nd) | set(ns)}
    return sorted(score.items(), key=lambda kv: (-kv[1], kv[0]))
