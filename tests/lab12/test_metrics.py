"""Wilson interval vs statsmodels, hit@k vs brute-force enumeration, on random inputs."""

from __future__ import annotations

import itertools

import numpy as np
from statsmodels.stats.proportion import proportion_confint

from labs.lab12_safety.metrics import hit_at_k, wilson


def test_wilson_matches_statsmodels_on_random_counts():
    rng = np.random.default_rng(0)
    for _ in range(300):
        n = int(rng.integers(1, 500))
        x = int(rng.integers(0, n + 1))
        lo, hi = proportion_confint(x, n, alpha=0.05, method="wilson")
        ours = wilson(x, n)
        assert abs(ours[0] - lo) < 1e-9 and abs(ours[1] - hi) < 1e-9


def test_hit_at_k_matches_enumerating_every_subset():
    rng = np.random.default_rng(1)
    for _ in range(60):
        n = int(rng.integers(1, 9))
        c = int(rng.integers(0, n + 1))
        k = int(rng.integers(1, n + 1))
        outcomes = [1] * c + [0] * (n - c)
        subsets = list(itertools.combinations(range(n), k))
        brute = sum(any(outcomes[i] for i in s) for s in subsets) / len(subsets)
        assert abs(hit_at_k(n, c, k) - brute) < 1e-12
