"""Preference data curation with rater agreement: `curl -s localhost:8010/calc/agreement`.

fixtures/lab10/prefs_rated.jsonl holds each pair as options a/b with three raters' votes.
Cohen's κ for two raters over the same items:
    κ = (p_o − p_e) / (1 − p_e),  p_o = share of items they label alike,
    p_e = Σ_k p_1(k)·p_2(k)  (chance agreement from each rater's own label rates).
Fleiss' κ for n raters per item, n_ik = raters who put item i in category k, N items:
    P_i = (Σ_k n_ik² − n) / (n(n − 1))   (agreeing rater pairs on item i),   P̄ = mean P_i,
    p_k = Σ_i n_ik / (N·n),   P̄_e = Σ_k p_k²,   κ = (P̄ − P̄_e) / (1 − P̄_e).
P_i is also the per-pair agreement the curation thresholds on: with three raters it is 1 when all
agree and 1/3 on a 2-1 split. A pair below the threshold is dropped; the rest keep the majority label.
"""

from __future__ import annotations

from collections import Counter
from itertools import combinations
from typing import Any

import numpy as np

CATEGORIES = ("a", "b")


def cohen_kappa(x: list[str], y: list[str]) -> float:
    n = len(x)
    labels = sorted(set(x) | set(y))
    p_o = sum(a == b for a, b in zip(x, y, strict=True)) / n
    cx, cy = Counter(x), Counter(y)
    p_e = sum(cx[k] / n * cy[k] / n for k in labels)
    return 1.0 if p_e == 1 else (p_o - p_e) / (1 - p_e)


def counts(votes: list[list[str]], categories: tuple[str, ...] = CATEGORIES) -> np.ndarray:
    """n_ik: items × categories."""
    return np.array([[v.count(k) for k in categories] for v in votes], dtype=float)


def item_agreement(n_ik: np.ndarray) -> np.ndarray:
    n = n_ik.sum(axis=1)
    return ((n_ik ** 2).sum(axis=1) - n) / (n * (n - 1))


def fleiss_kappa(n_ik: np.ndarray) -> float:
    N, n = n_ik.shape[0], n_ik[0].sum()
    P_bar = item_agreement(n_ik).mean()
    p_k = n_ik.sum(axis=0) / (N * n)
    P_e = float((p_k ** 2).sum())
    return float((P_bar - P_e) / (1 - P_e))


def curate(rated: list[dict[str, Any]], threshold: float) -> dict[str, Any]:
    """Majority-label every pair, drop those whose agreement P_i is below `threshold`, and report κ and
    how many kept labels are wrong (the fixture's `truth`, which a real curation never sees)."""
    votes = [r["votes"] for r in rated]
    n_ik = counts(votes)
    P_i = item_agreement(n_ik)
    raters = len(votes[0])
    pairwise = {f"{i}-{j}": round(cohen_kappa([v[i] for v in votes], [v[j] for v in votes]), 4)
                for i, j in combinations(range(raters), 2)}
    rows, wrong_kept, wrong_all = [], 0, 0
    for r, agree in zip(rated, P_i, strict=True):
        pick = Counter(r["votes"]).most_common(1)[0][0]
        wrong = pick != r.get("truth", pick)
        wrong_all += wrong
        if agree >= threshold:
            wrong_kept += wrong
            chosen, rejected = (r["a"], r["b"]) if pick == "a" else (r["b"], r["a"])
            rows.append({"prompt": r["prompt"], "chosen": chosen, "rejected": rejected})
    return {"threshold": threshold, "pairs": len(rated), "kept": len(rows), "dropped": len(rated) - len(rows),
            "fleiss_kappa": round(fleiss_kappa(n_ik), 4), "cohen_kappa_pairs": pairwise,
            "mean_item_agreement": round(float(P_i.mean()), 4),
            "wrong_labels": {"all": wrong_all, "kept": wrong_kept}, "rows": rows}
