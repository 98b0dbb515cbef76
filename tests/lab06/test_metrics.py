"""Ranking metrics vs scikit-learn and by hand; fusion by hand."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import ndcg_score

from labs.lab06_rag.hybrid import rrf, weighted
from labs.lab06_rag.metrics import ndcg_at_k, precision_at_k, recall_at_k, reciprocal_rank


@pytest.mark.parametrize("seed", range(20))
def test_ndcg_matches_sklearn(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(3, 30))
    gains = rng.integers(0, 4, n)
    if gains.sum() == 0:
        gains[0] = 1
    scores = rng.permutation(n).astype(float)  # distinct: sklearn averages ties, a ranking has none
    ranked = [f"d{i}" for i in np.argsort(-scores)]
    relevant = {f"d{i}": int(g) for i, g in enumerate(gains) if g}
    k = int(rng.integers(1, n + 1))
    assert ndcg_at_k(ranked, relevant, k) == pytest.approx(ndcg_score([gains], [scores], k=k))


def test_recall_precision_mrr_by_hand():
    ranked, relevant = ["a", "b", "c", "d"], {"b": 2, "d": 1, "z": 1}
    assert recall_at_k(ranked, relevant, 2) == pytest.approx(1 / 3)
    assert precision_at_k(ranked, relevant, 4) == 0.5
    assert reciprocal_rank(ranked, relevant) == 0.5
    assert reciprocal_rank(["x"], relevant) == 0.0


def test_rrf_and_weighted_fusion():
    fused = dict(rrf([["a", "b", "c"], ["c", "a"]], k=60))
    assert fused["a"] == pytest.approx(1 / 61 + 1 / 62) and fused["b"] == pytest.approx(1 / 62)
    assert [d for d, _ in rrf([["a", "b", "c"], ["c", "a"]])][0] == "a"
    top = weighted({"a": 0.9, "b": 0.1}, {"b": 12.0, "c": 3.0}, alpha=0.5)
    assert dict(top) == pytest.approx({"a": 0.5, "b": 0.5, "c": 0.0})
