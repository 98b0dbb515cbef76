"""Retrieval metrics from their formulas.

    python -m labs.lab06_rag.exercises     # "ndcg" works a graded list by hand

    Recall@k    = |relevant ∩ top-k| / |relevant|
    Precision@k = |relevant ∩ top-k| / k
    MRR         = mean over queries of 1 / rank of the first relevant result (0 if none)
    DCG@k       = Σ_{i=1..k} rel_i / log2(i + 1)       NDCG@k = DCG@k / IDCG@k (ideal order)

Relevance is graded (2 = answers, 1 = related); recall, precision and MRR count grade ≥ 1.
Unanswerable queries (no relevant documents) are left out of ranking metrics: nothing can be found.
"""

from __future__ import annotations

import math


def recall_at_k(ranked: list[str], relevant: dict[str, int], k: int) -> float:
    rel = {d for d, g in relevant.items() if g > 0}
    return len(rel & set(ranked[:k])) / len(rel) if rel else 0.0


def precision_at_k(ranked: list[str], relevant: dict[str, int], k: int) -> float:
    return sum(1 for d in ranked[:k] if relevant.get(d, 0) > 0) / k


def reciprocal_rank(ranked: list[str], relevant: dict[str, int]) -> float:
    for i, d in enumerate(ranked, start=1):
        if relevant.get(d, 0) > 0:
            return 1.0 / i
    return 0.0


def dcg(gains: list[float], k: int) -> float:
    return sum(g / math.log2(i + 1) for i, g in enumerate(gains[:k], start=1))


def ndcg_at_k(ranked: list[str], relevant: dict[str, int], k: int) -> float:
    ideal = dcg(sorted(relevant.values(), reverse=True), k)
    return dcg([relevant.get(d, 0) for d in ranked], k) / ideal if ideal > 0 else 0.0


def ranking_metrics(ranked: list[str], relevant: dict[str, int], k: int = 5) -> dict[str, float]:
    return {f"recall@{k}": recall_at_k(ranked, relevant, k), f"precision@{k}": precision_at_k(ranked, relevant, k),
            "mrr": reciprocal_rank(ranked, relevant), f"ndcg@{k}": ndcg_at_k(ranked, relevant, k)}
