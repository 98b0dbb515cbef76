"""The statistics an eval needs, written from the formulas (tests check them against SciPy, sklearn,
statsmodels and `krippendorff` on random data).

    python -m labs.lab08_eval.exercises        # κ on a worked table, pass@k, sample size, McNemar

Agreement
    Cohen's κ      κ = (p_o − p_e) / (1 − p_e),  p_e = Σ_k p1_k · p2_k  (weighted: 1 − Σw·O / Σw·E)
    Fleiss' κ      P_i = (Σ_j n_ij² − n) / (n(n − 1)),  P̄ = mean P_i,  P̄_e = Σ_j p_j²,
                   κ = (P̄ − P̄_e) / (1 − P̄_e)
    Krippendorff α α = 1 − D_o / D_e over the coincidence matrix o_ck, with δ² nominal (c≠k),
                   ordinal (Σ_{g=c..k} n_g − (n_c + n_k)/2)², interval (c − k)²
Significance
    McNemar        b = fixed-by-B, c = broken-by-B;  exact: p = min(1, 2·BinomCDF(min(b,c); b+c, ½));
                   χ² (continuity corrected) = (|b − c| − 1)² / (b + c), 1 d.f.
    bootstrap      resample items with replacement B times; the percentile CI is the (α/2, 1 − α/2)
                   quantiles of the statistic; paired: the same resampled items for both systems
    Holm           sort p ascending; adj_i = max_{j≤i} min(1, (m − j + 1)·p_(j))
    BH             adj_(i) = min_{j≥i} min(1, m·p_(j) / j)
Planning
    N ≈ 4·p(1 − p)/Δ²    items for a 95% CI of half-width Δ around an accuracy p (z² ≈ 4)
    two proportions     n per arm = 2·((z_{1−α/2} + z_{1−β}) / h)²,  h = 2·asin√p1 − 2·asin√p2
                        (2·asin√p̂ has variance 1/n, so a difference of two has 2/n); the formula
                        ignores the far tail's share of the power, so step n down while the exact
                        two-tailed power still reaches the target (what statsmodels' solve_power finds)
    the chapter's       n per arm = (z_{α/2} + z_β)²·2p(1 − p)/Δ²: the z-test on the raw difference with
    formula             one p's variance p(1 − p) on both arms and the near tail only. It differs from
                        the arcsine form because the variance of p̂ depends on p (arcsine removes that,
                        in effect using the variance between p1 and p2), and the lab's form also counts
                        the far tail; at p = 0.7, Δ = 0.01 they are 32,966 and 32,646 (1% apart), at
                        p = 0.9, Δ = 0.05 they are 566 and 424 (near 0 or 1 the variances part most)
Agreement labels (Landis & Koch 1977)
    κ < 0 poor, ≤ 0.20 slight, ≤ 0.40 fair, ≤ 0.60 moderate, ≤ 0.80 substantial, else almost perfect
Code
    pass@k = 1 − C(n − c, k) / C(n, k)   (unbiased, from n samples with c correct)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats as sps


class StatsError(ValueError):
    """Input the formula cannot take (empty samples, k > n, a ragged matrix): a 4xx, not a crash."""


def _finite(*values: float) -> None:
    """Values near the float limit (1e308) overflow the sums; say so rather than answer NaN."""
    if not all(math.isfinite(v) for v in values):
        raise StatsError("the values are too large for float arithmetic (the result overflows); rescale them")


# --- agreement ----------------------------------------------------------------------------------


def confusion(r1: Sequence, r2: Sequence, labels: Sequence | None = None) -> tuple[np.ndarray, list]:
    if len(r1) != len(r2):
        raise StatsError(f"the two raters labelled {len(r1)} and {len(r2)} items; they must match")
    if not r1:
        raise StatsError("no ratings")
    labels = list(labels) if labels is not None else sorted(set(r1) | set(r2), key=str)
    index = {label: i for i, label in enumerate(labels)}
    O = np.zeros((len(labels), len(labels)))  # noqa: E741  (O and E as in the formula)
    for a, b in zip(r1, r2, strict=True):
        if a not in index or b not in index:
            raise StatsError(f"rating {a if a not in index else b!r} is not one of the labels {labels}")
        O[index[a], index[b]] += 1
    return O, labels


def cohen_kappa(r1: Sequence, r2: Sequence, weights: str | None = None, labels: Sequence | None = None) -> float:
    """Cohen's κ for two raters; weights None, "linear" or "quadratic" (labels in ordinal order)."""
    O, labels = confusion(r1, r2, labels)  # noqa: E741
    n = O.sum()
    k = len(labels)
    E = np.outer(O.sum(axis=1), O.sum(axis=0)) / n
    if weights is None:
        w = 1.0 - np.eye(k)
    elif weights in ("linear", "quadratic"):
        i, j = np.meshgrid(np.arange(k), np.arange(k), indexing="ij")
        w = np.abs(i - j) if weights == "linear" else (i - j) ** 2
        w = w.astype(float)
    else:
        raise StatsError("weights must be null, 'linear' or 'quadratic'")
    expected = (w * E).sum()
    if expected == 0:
        return 1.0 if (w * O).sum() == 0 else 0.0  # one label only: agreement is total by construction
    return float(1.0 - (w * O).sum() / expected)


def fleiss_kappa(counts: Sequence[Sequence[int]]) -> float:
    """Fleiss' κ from an items × categories matrix of how many raters chose each category."""
    try:
        M = np.asarray(counts, dtype=float)
    except (TypeError, ValueError) as exc:
        raise StatsError("counts must be a rectangular items × categories matrix of numbers") from exc
    if M.ndim != 2 or M.shape[0] < 1 or M.shape[1] < 2:
        raise StatsError("counts must be an items × categories matrix with at least 2 categories")
    if (M < 0).any():
        raise StatsError("counts must be non-negative")
    n_raters = M.sum(axis=1)
    n = n_raters[0]
    if n < 2 or not np.all(n_raters == n):
        raise StatsError("every item needs the same number of raters (at least 2)")
    N = M.shape[0]
    P_i = ((M**2).sum(axis=1) - n) / (n * (n - 1))
    P_bar = P_i.mean()
    p_j = M.sum(axis=0) / (N * n)
    P_e = (p_j**2).sum()
    if P_e == 1:
        return 1.0
    return float((P_bar - P_e) / (1 - P_e))


def krippendorff_alpha(data: Sequence[Sequence[float | None]], level: str = "nominal") -> float:
    """Krippendorff's α from a raters × units matrix (None / NaN = missing); level nominal|ordinal|interval."""
    try:
        X = np.array([[np.nan if v is None else v for v in row] for row in data], dtype=float)
    except (TypeError, ValueError) as exc:
        raise StatsError("data must be a rectangular raters × units matrix of numbers or nulls") from exc
    if X.ndim != 2 or X.shape[0] < 2:
        raise StatsError("data must be a raters × units matrix with at least 2 raters")
    if level not in ("nominal", "ordinal", "interval"):
        raise StatsError("level must be nominal, ordinal or interval")
    values = np.unique(X[~np.isnan(X)])
    if len(values) < 2:
        raise StatsError("alpha needs at least two distinct values")
    index = {v: i for i, v in enumerate(values)}
    V = len(values)
    o = np.zeros((V, V))  # the coincidence matrix: pairable values within a unit, weighted 1/(m_u − 1)
    for u in range(X.shape[1]):
        present = X[~np.isnan(X[:, u]), u]
        m_u = len(present)
        if m_u < 2:
            continue
        counts = np.zeros(V)
        for v in present:
            counts[index[v]] += 1
        o += (np.outer(counts, counts) - np.diag(counts)) / (m_u - 1)
    n_c = o.sum(axis=1)
    n = n_c.sum()
    if n == 0:
        raise StatsError("no unit has two ratings to compare")
    if level == "nominal":
        delta2 = 1.0 - np.eye(V)
    elif level == "interval":
        with np.errstate(over="ignore", invalid="ignore"):
            delta2 = (values[:, None] - values[None, :]) ** 2
    else:
        cum = np.cumsum(n_c)
        delta2 = np.zeros((V, V))
        for c in range(V):
            for k in range(V):
                lo, hi = min(c, k), max(c, k)
                between = cum[hi] - (cum[lo - 1] if lo > 0 else 0.0)
                delta2[c, k] = (between - (n_c[c] + n_c[k]) / 2) ** 2
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        D_o = (o * delta2).sum()
        D_e = (np.outer(n_c, n_c) * delta2).sum() / (n - 1)
        alpha = float(1.0 - D_o / D_e)
    _finite(alpha)
    return alpha


# --- significance -------------------------------------------------------------------------------


@dataclass
class McNemar:
    b: int
    c: int
    statistic: float
    p_value: float
    exact: bool


def mcnemar(b: int, c: int, exact: bool | None = None) -> McNemar:
    """McNemar on the discordant pairs: b = wrong in A, right in B (fixed); c = right in A, wrong in B (broken).

    exact=None picks the exact binomial test when b + c < 25 (the χ² approximation is poor there).
    """
    if b < 0 or c < 0:
        raise StatsError("b and c are counts and must be >= 0")
    n = b + c
    exact = n < 25 if exact is None else exact
    if n == 0:
        return McNemar(b, c, 0.0, 1.0, exact)
    if exact:
        p = min(1.0, 2 * sps.binom.cdf(min(b, c), n, 0.5))
        return McNemar(b, c, float(min(b, c)), float(p), True)
    chi2 = (abs(b - c) - 1) ** 2 / n
    return McNemar(b, c, float(chi2), float(sps.chi2.sf(chi2, 1)), False)


def _rng(seed: int | None) -> np.random.Generator:
    return np.random.default_rng(seed)


def bootstrap_ci(x: Sequence[float], stat: Callable[[np.ndarray], float] = np.mean, B: int = 2000,
                 alpha: float = 0.05, seed: int | None = 0) -> tuple[float, float, float]:
    """(estimate, low, high): the percentile bootstrap CI of stat over the items."""
    x = np.asarray(x, dtype=float)
    if x.size == 0:
        raise StatsError("bootstrap needs at least one sample")
    if not 0 < alpha < 1 or B < 1:
        raise StatsError("alpha must be in (0, 1) and B >= 1")
    idx = _rng(seed).integers(0, x.size, size=(B, x.size))
    with np.errstate(over="ignore", invalid="ignore"):
        boots = np.array([stat(x[row]) for row in idx]) if stat is not np.mean else x[idx].mean(axis=1)
        lo, hi = np.quantile(boots, [alpha / 2, 1 - alpha / 2])
        est = float(stat(x))
    _finite(est, lo, hi)
    return est, float(lo), float(hi)


def paired_bootstrap(a: Sequence[float], b: Sequence[float], B: int = 2000, alpha: float = 0.05,
                     seed: int | None = 0) -> dict[str, float]:
    """CI of mean(b) − mean(a) resampling items (pairs stay together), and P(Δ ≤ 0) under the bootstrap."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.size == 0 or a.size != b.size:
        raise StatsError("paired bootstrap needs two non-empty samples of the same length")
    idx = _rng(seed).integers(0, a.size, size=(B, a.size))
    with np.errstate(over="ignore", invalid="ignore"):
        d = b - a
        boots = d[idx].mean(axis=1)
        lo, hi = np.quantile(boots, [alpha / 2, 1 - alpha / 2])
        delta = float(d.mean())
    _finite(delta, lo, hi)
    return {"delta": delta, "low": float(lo), "high": float(hi),
            "p_le_zero": float((boots <= 0).mean())}


def holm(p: Sequence[float]) -> list[float]:
    """Holm–Bonferroni adjusted p-values (step-down; controls the family-wise error rate)."""
    p = np.asarray(p, dtype=float)
    m = p.size
    order = np.argsort(p)
    adj = np.empty(m)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        adj[i] = running
    return adj.tolist()


def benjamini_hochberg(p: Sequence[float]) -> list[float]:
    """Benjamini–Hochberg adjusted p-values (step-up; controls the false discovery rate)."""
    p = np.asarray(p, dtype=float)
    m = p.size
    order = np.argsort(p)
    adj = np.empty(m)
    running = 1.0
    for rank in range(m - 1, -1, -1):
        i = order[rank]
        running = min(running, m * p[i] / (rank + 1))
        adj[i] = min(1.0, running)
    return adj.tolist()


# --- planning -----------------------------------------------------------------------------------


def n_for_margin(p: float, delta: float, z: float = 2.0) -> int:
    """N ≈ z²·p(1−p)/Δ²: items so that a 95% CI around accuracy p is ±Δ (z = 2 gives the 4·p(1−p)/Δ²)."""
    if not 0 < p < 1 or delta <= 0:
        raise StatsError("p must be in (0, 1) and delta > 0")
    return _items(z * z * p * (1 - p) / delta**2)


def _items(n: float) -> int:
    if not math.isfinite(n) or n > 1e12:
        raise StatsError("the difference is too small: no feasible number of items detects it")
    return math.ceil(n)


def cohen_h(p1: float, p2: float) -> float:
    return 2 * math.asin(math.sqrt(p1)) - 2 * math.asin(math.sqrt(p2))


def n_per_arm(p1: float, p2: float, alpha: float = 0.05, power: float = 0.8) -> int:
    """Items per system to detect p1 vs p2 (two-sided z-test on the arcsine scale)."""
    if not (0 < p1 < 1 and 0 < p2 < 1) or p1 == p2:
        raise StatsError("p1 and p2 must be distinct and in (0, 1)")
    if not (0 < alpha < 1 and 0 < power < 1):
        raise StatsError("alpha and power must be in (0, 1)")
    z_a, z_b = sps.norm.ppf(1 - alpha / 2), sps.norm.ppf(power)
    h = abs(cohen_h(p1, p2))
    if h == 0:
        raise StatsError("p1 and p2 are too close to tell apart")
    n = _items(2 * ((z_a + z_b) / h) ** 2)  # the one-tail closed form: its power is already >= the target
    # Counting the far tail too can only add power, so fewer items may do. Power rises with n, so the
    # smallest n that reaches the target is found by bisection on [1, n]: ~log2(n) evaluations, where
    # stepping down one item at a time took up to n (tens of seconds for a tiny delta and a low target).
    lo, hi = 0, n  # power(lo) < target (lo = 0: no items), power(hi) >= target
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if power_two_proportions(p1, p2, mid, alpha) >= power:
            hi = mid
        else:
            lo = mid
    return hi


def n_per_arm_chapter(p: float, delta: float, alpha: float = 0.05, power: float = 0.8) -> int:
    """The chapter's n per arm = (z_{α/2} + z_β)²·2p(1−p)/Δ², with p the baseline rate, rounded up."""
    if not 0 < p < 1 or delta <= 0:
        raise StatsError("p must be in (0, 1) and delta > 0")
    if not (0 < alpha < 1 and 0 < power < 1):
        raise StatsError("alpha and power must be in (0, 1)")
    z_a, z_b = sps.norm.ppf(1 - alpha / 2), sps.norm.ppf(power)
    return _items((z_a + z_b) ** 2 * 2 * p * (1 - p) / delta**2)


def sample_size_per_arm(p: float, delta: float, alpha: float = 0.05, power: float = 0.8) -> dict[str, Any]:
    """Both per-arm sample sizes for detecting p → p + Δ, labelled, with the reason they differ."""
    p2 = p + delta
    if not 0 < p2 < 1:
        raise StatsError("p + delta must be in (0, 1)")
    chapter = n_per_arm_chapter(p, delta, alpha, power)
    arcsine = n_per_arm(p, p2, alpha, power)
    return {
        "chapter": {"formula": "(z_{a/2} + z_b)^2 * 2p(1-p) / delta^2, p = the baseline", "n_per_arm": chapter,
                    "power_at_n": round(power_two_proportions(p, p2, chapter, alpha), 4)},
        "cohen_h": {"formula": "smallest n with two-tailed power >= target, h = 2 asin(sqrt p2) - 2 asin(sqrt p)",
                    "n_per_arm": arcsine, "h": round(cohen_h(p2, p), 6)},
        "ratio_chapter_to_cohen_h": round(chapter / arcsine, 4),
        "why_they_differ": (f"the chapter puts the baseline's variance p(1-p) = {p * (1 - p):.4g} on both arms; the "
                            f"arcsine scale has a variance that does not depend on p, which amounts to using the "
                            f"variance between the two rates (at the midpoint, {(p + delta / 2) * (1 - p - delta / 2):.4g}); "
                            "it also counts the far tail's share of the power, which the closed form ignores"),
    }


def landis_koch(kappa: float) -> str:
    """The Landis–Koch (1977) label for an agreement coefficient: a convention, not a test."""
    if kappa < 0:
        return "poor"
    for bound, label in ((0.20, "slight"), (0.40, "fair"), (0.60, "moderate"), (0.80, "substantial")):
        if kappa <= bound:
            return label
    return "almost perfect"


def power_two_proportions(p1: float, p2: float, n: int, alpha: float = 0.05) -> float:
    """The power of n items per arm to detect p1 vs p2 (both tails counted)."""
    if n < 1:
        raise StatsError("n must be >= 1")
    h = abs(cohen_h(p1, p2))
    z_a = sps.norm.ppf(1 - alpha / 2)
    shift = h * math.sqrt(n / 2)
    return float(sps.norm.sf(z_a - shift) + sps.norm.cdf(-z_a - shift))


# --- code ---------------------------------------------------------------------------------------


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k = 1 − C(n−c, k)/C(n, k), computed as a product so big n does not overflow."""
    if n < 1 or k < 1:
        raise StatsError("n and k must be >= 1")
    if k > n:
        raise StatsError(f"k ({k}) cannot exceed the number of samples n ({n})")
    if not 0 <= c <= n:
        raise StatsError(f"c ({c}) must be between 0 and n ({n})")
    if n - c < k:
        return 1.0
    return float(1.0 - np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))
