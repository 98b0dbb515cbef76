"""Is the difference real? Bootstrap CIs, the paired bootstrap, McNemar, A/B sample size, Bayesian A/B.

    python -m labs.lab03_classical.significance   # sample sizes for a 2-point lift on a 10% baseline

Bootstrap      draw B resamples of the n items with replacement; θ*_b = statistic of resample b.
  percentile   CI = (q_{α/2}, q_{1−α/2}) of θ*
  BCa          z₀ = Φ⁻¹(share of θ* below θ̂, ties counted half); a = Σ(θ̄₍.₎ − θ₍ᵢ₎)³ / (6·(Σ(θ̄₍.₎ − θ₍ᵢ₎)²)^{3/2})
               from the jackknife θ₍ᵢ₎ (item i left out); α' = Φ(z₀ + (z₀ + z_α)/(1 − a·(z₀ + z_α)));
               CI = (q_{α'_lo}, q_{α'_hi}) of θ*: corrects the percentile CI for bias and skew.
Paired         the same resampled items for both models: Δ*_b = mean(B − A) on resample b. Pairing
               cancels the item difficulty both models share, so the CI is narrower than two
               independent CIs suggest.
McNemar        on the discordant pairs only: b = A right & B wrong, c = A wrong & B right.
               exact:  p = min(1, 2·BinomCDF(min(b, c); b + c, ½))
               χ²:     (|b − c| − 1)² / (b + c) on 1 d.f. (continuity corrected; without: (b − c)²/(b + c))
Sample size    per arm, to detect p₁ → p₂ = p₁ + Δ (two-sided α, power 1 − β):
  exact-ish    n = (z_{1−α/2}·√(2·p̄(1 − p̄)) + z_{1−β}·√(p₁(1 − p₁) + p₂(1 − p₂)))² / Δ²,  p̄ = (p₁ + p₂)/2
  arcsine      n = ((z_{1−α/2} + z_{1−β}) / h)²,  h = 2·asin√p₂ − 2·asin√p₁ (statsmodels' NormalIndPower)
  rule         n ≈ 16·p(1 − p)/Δ²: the first formula with α = 0.05, power = 0.8 ((1.96 + 0.84)² ≈ 7.84,
               times 2 arms' variance ≈ 16) and both variances taken at the baseline p.
Bayesian       conversions ~ Binomial(n, θ), prior Beta(a₀, b₀) → posterior Beta(a₀ + s, b₀ + n − s);
               P(θ_B > θ_A) = Σ_{i=0}^{α_B−1} B(α_A + i, β_A + β_B) / ((β_B + i)·B(1 + i, β_B)·B(α_A, β_A))
               (exact for integer α_B); lift θ_B − θ_A summarised by posterior draws.

Checked against scipy.stats.bootstrap, statsmodels' mcnemar, NormalIndPower and
samplesize_proportions_2indep_onetail, and numerical integration (tests/lab03/test_significance.py).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence

import numpy as np
from scipy.special import betaln, ndtr, ndtri
from scipy.stats import binom

from labs.lab03_classical.metrics import MetricError

Statistic = Callable[..., np.ndarray]  # statistic(sample, axis=-1) -> one value per row


def _sample(x: Sequence, field: str = "x", min_n: int = 2) -> np.ndarray:
    a = np.asarray(x, dtype=float)
    if a.ndim != 1 or a.size < min_n:
        raise MetricError(f"{field} needs at least {min_n} values")
    if not np.isfinite(a).all():
        raise MetricError(f"{field} must be finite numbers")
    return a


def resample_indices(n: int, B: int, rng: np.random.Generator) -> np.ndarray:
    """B rows of n item indices drawn with replacement (one row per bootstrap resample)."""
    return rng.integers(0, n, (B, n))


def _percentile_of(values: np.ndarray, score: float) -> float:
    return float(((values < score).sum() + (values <= score).sum()) / (2 * values.size))


def bootstrap_ci(x: Sequence, statistic: Statistic = np.mean, B: int = 2000, alpha: float = 0.05,
                 method: str = "bca", seed: int | np.random.Generator = 0) -> dict:
    """A (1 − α) bootstrap CI of statistic(x); method 'percentile' or 'bca' (see the module docstring)."""
    x = _sample(x)
    rng = np.random.default_rng(seed)
    theta_hat = float(statistic(x, axis=-1))
    theta_star = statistic(x[resample_indices(x.size, B, rng)], axis=-1)
    if method == "percentile":
        lo, hi = alpha / 2, 1 - alpha / 2
    elif method == "bca":
        z0 = ndtri(_percentile_of(theta_star, theta_hat))
        jack = statistic(np.array([np.delete(x, i) for i in range(x.size)]), axis=-1)
        d = jack.mean() - jack
        denom = 6 * (d**2).sum() ** 1.5
        a = (d**3).sum() / denom if denom > 0 else 0.0
        z = ndtri(np.array([alpha / 2, 1 - alpha / 2]))
        lo, hi = ndtr(z0 + (z0 + z) / (1 - a * (z0 + z)))
        if not (np.isfinite(lo) and np.isfinite(hi)):  # every resample equal to θ̂: no spread to correct
            lo, hi = alpha / 2, 1 - alpha / 2
    else:
        raise MetricError("method must be 'percentile' or 'bca'")
    ci = np.percentile(theta_star, [100 * lo, 100 * hi])
    return {"estimate": theta_hat, "low": float(ci[0]), "high": float(ci[1]), "method": method, "B": B,
            "alpha": alpha, "se": float(theta_star.std(ddof=1))}


def bootstrap_metric(metric: Callable[..., float], *columns: np.ndarray, B: int = 1000, alpha: float = 0.05,
                     seed: int = 0, vectorised: bool = False) -> dict:
    """Percentile CI of metric(*columns) over items. A `vectorised` metric takes B × n arrays and
    returns B values (one pass); any other is called once per resample, and a resample it cannot
    score (one class left, for AUC) is skipped and counted."""
    n = len(columns[0])
    idx = resample_indices(n, B, np.random.default_rng(seed))
    skipped = 0
    if vectorised:
        values = np.asarray(metric(*(c[idx] for c in columns)), dtype=float)
    else:
        kept = []
        for row in idx:
            try:
                kept.append(metric(*(c[row] for c in columns)))
            except MetricError:
                skipped += 1
        if not kept:
            raise MetricError("no bootstrap resample could be scored; send more items of each class")
        values = np.asarray(kept)
    lo, hi = np.percentile(values, [100 * alpha / 2, 100 * (1 - alpha / 2)])
    return {"estimate": float(metric(*columns)), "low": float(lo), "high": float(hi), "B": B, "skipped": skipped}


def paired_bootstrap(a: Sequence, b: Sequence, B: int = 2000, alpha: float = 0.05, seed: int = 0) -> dict:
    """CI of mean(b) − mean(a) over the same items, resampling items (not the two models separately)."""
    a = _sample(a, "a")
    b = _sample(b, "b")
    if a.size != b.size:
        raise MetricError(f"a has {a.size} items and b has {b.size}; a paired comparison needs the same items")
    rng = np.random.default_rng(seed)
    idx = resample_indices(a.size, B, rng)
    d = b - a
    delta_star = d[idx].mean(axis=1)
    lo, hi = np.percentile(delta_star, [100 * alpha / 2, 100 * (1 - alpha / 2)])
    # two-sided bootstrap p-value: how often the resampled difference lands on the other side of 0
    p = min(1.0, 2 * min((delta_star <= 0).mean(), (delta_star >= 0).mean()))
    return {"mean_a": float(a.mean()), "mean_b": float(b.mean()), "delta": float(d.mean()),
            "low": float(lo), "high": float(hi), "p_value": float(p), "B": B, "alpha": alpha,
            "unpaired_se": float(math.sqrt(a.var(ddof=1) / a.size + b.var(ddof=1) / b.size)),
            "paired_se": float(delta_star.std(ddof=1))}


def discordant(a_correct: Sequence, b_correct: Sequence) -> tuple[int, int]:
    """(b, c) = (A right and B wrong, A wrong and B right)."""
    a = np.asarray(a_correct)
    b = np.asarray(b_correct)
    if a.shape != b.shape or a.ndim != 1:
        raise MetricError(f"a has {a.size} items and b has {b.size}; McNemar needs the same items")
    if not (np.isin(a, (0, 1)).all() and np.isin(b, (0, 1)).all()):
        raise MetricError("McNemar needs per-item correctness as 0/1 (or true/false)")
    return int(((a == 1) & (b == 0)).sum()), int(((a == 0) & (b == 1)).sum())


def mcnemar(b: int, c: int, exact: bool = True, correction: bool = True) -> dict:
    """McNemar's test from the discordant counts (see the module docstring)."""
    n = b + c
    if exact:
        stat = float(min(b, c))
        p = 1.0 if n == 0 else min(1.0, 2 * float(binom.cdf(min(b, c), n, 0.5)))
    else:
        stat = 0.0 if n == 0 else (max(abs(b - c) - (1 if correction else 0), 0) ** 2) / n
        # χ²₁ survival = P(|Z| > √stat) = 2·(1 − Φ(√stat))
        p = 1.0 if n == 0 else float(2 * ndtr(-math.sqrt(stat)))
    return {"b": b, "c": c, "statistic": stat, "p_value": p, "exact": exact}


def compare(a: Sequence, b: Sequence, B: int = 2000, alpha: float = 0.05, seed: int = 0) -> dict:
    """Two models' per-item results (0/1 correct, or scores in [0, 1]): paired CI, McNemar, a verdict."""
    out = {"paired_bootstrap": paired_bootstrap(a, b, B, alpha, seed)}
    binary = np.isin(np.asarray(a), (0, 1)).all() and np.isin(np.asarray(b), (0, 1)).all()
    if binary:
        bb, cc = discordant(a, b)
        out["mcnemar_exact"] = mcnemar(bb, cc, exact=True)
        out["mcnemar_chi2"] = mcnemar(bb, cc, exact=False)
    boot = out["paired_bootstrap"]
    if boot["low"] > 0:
        verdict = "B is better: the whole CI of mean(B) - mean(A) is above 0"
    elif boot["high"] < 0:
        verdict = "A is better: the whole CI of mean(B) - mean(A) is below 0"
    else:
        verdict = "no detectable difference: the CI of mean(B) - mean(A) contains 0"
    out["verdict"] = verdict
    return out


def _z(alpha: float, power: float) -> tuple[float, float]:
    return float(ndtri(1 - alpha / 2)), float(ndtri(power))


def n_rule_of_thumb(p: float, delta: float) -> float:
    return 16 * p * (1 - p) / delta**2


def n_two_proportions(p1: float, p2: float, alpha: float = 0.05, power: float = 0.8) -> float:
    """Per-arm n for a two-sided two-proportion z-test: pooled variance under H0, unpooled under H1."""
    z_a, z_b = _z(alpha, power)
    p_bar = (p1 + p2) / 2
    num = z_a * math.sqrt(2 * p_bar * (1 - p_bar)) + z_b * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))
    return (num / (p2 - p1)) ** 2


def n_arcsine(p1: float, p2: float, alpha: float = 0.05, power: float = 0.8) -> float:
    """Per-arm n from Cohen's h (the variance-stabilised difference), ignoring the far tail."""
    z_a, z_b = _z(alpha, power)
    h = 2 * math.asin(math.sqrt(p2)) - 2 * math.asin(math.sqrt(p1))
    return 2 * ((z_a + z_b) / h) ** 2


def sample_size(p_baseline: float, lift: float, alpha: float = 0.05, power: float = 0.8) -> dict:
    """Users per arm to detect an absolute lift on a baseline rate, three ways, rounded up."""
    p1, p2 = p_baseline, round(p_baseline + lift, 12)
    if not (0 < p1 < 1 and 0 < p2 < 1):
        raise MetricError("lift: p_baseline + lift must lie strictly between 0 and 1")
    if abs(p2 - p1) < 1e-6:
        raise MetricError("lift: must be at least 1e-6 in size (a zero lift needs infinitely many users)")
    if not (1e-6 <= alpha < 1 and 0 < power <= 0.9999):
        raise MetricError("alpha must be in [1e-6, 1) and power in (0, 0.9999]")
    exact = n_two_proportions(p1, p2, alpha, power)
    rule = n_rule_of_thumb(p1, lift)
    return {
        "p_baseline": p1, "p_variant": p2, "lift": lift, "alpha": alpha, "power": power,
        "per_arm": {"two_proportion_z": math.ceil(exact), "arcsine": math.ceil(n_arcsine(p1, p2, alpha, power)),
                    "rule_of_thumb_16": math.ceil(round(rule, 6))},
        "rule_vs_exact": rule / exact,
        "why_they_differ": ("16·p(1-p)/Δ² fixes α = 0.05 and power = 0.8 and takes both arms' variance at the "
                            "baseline; the z-test formula uses the pooled rate under H0 and each arm's own "
                            "variance under H1, so a lift that raises p(1-p) needs more users than the rule says"),
    }


def beta_binomial(s_a: int, n_a: int, s_b: int, n_b: int, prior: tuple[float, float] = (1.0, 1.0),
                  draws: int = 20_000, seed: int = 0) -> dict:
    """Posterior of each arm's rate and of the lift θ_B − θ_A under a Beta prior."""
    if not (0 <= s_a <= n_a and 0 <= s_b <= n_b):
        raise MetricError("conversions must lie between 0 and the number of users in each arm")
    a_A, b_A = prior[0] + s_a, prior[1] + n_a - s_a
    a_B, b_B = prior[0] + s_b, prior[1] + n_b - s_b
    rng = np.random.default_rng(seed)
    lift = rng.beta(a_B, b_B, draws) - rng.beta(a_A, b_A, draws)
    exact = p_b_beats_a(a_A, b_A, a_B, b_B) if float(a_B).is_integer() and a_B <= 100_000 else None
    return {"posterior_a": [a_A, b_A], "posterior_b": [a_B, b_B],
            "p_b_beats_a": exact if exact is not None else float((lift > 0).mean()),
            "p_b_beats_a_monte_carlo": float((lift > 0).mean()),
            "lift_mean": float(lift.mean()),
            "lift_95": [float(v) for v in np.percentile(lift, [2.5, 97.5])]}


def p_b_beats_a(a_A: float, b_A: float, a_B: float, b_B: float) -> float:
    """P(θ_B > θ_A) for θ_A ~ Beta(a_A, b_A), θ_B ~ Beta(a_B, b_B), a_B an integer (closed form)."""
    i = np.arange(int(a_B))
    terms = betaln(a_A + i, b_A + b_B) - np.log(b_B + i) - betaln(1 + i, b_B) - betaln(a_A, b_A)
    return float(np.clip(np.exp(terms).sum(), 0.0, 1.0))


if __name__ == "__main__":
    print(json.dumps(sample_size(0.10, 0.02), indent=2))
