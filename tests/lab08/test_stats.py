"""The from-scratch statistics against SciPy, scikit-learn, statsmodels and krippendorff on random data."""

from __future__ import annotations

import math

import krippendorff
import numpy as np
import pytest
from scipy import stats as sps
from scipy.special import comb
from sklearn.metrics import cohen_kappa_score
from statsmodels.stats.contingency_tables import mcnemar as sm_mcnemar
from statsmodels.stats.inter_rater import fleiss_kappa as sm_fleiss
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import NormalIndPower, normal_sample_size_one_tail
from statsmodels.stats.proportion import samplesize_confint_proportion

from labs.lab08_eval import stats

SEEDS = range(12)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("weights", [None, "linear", "quadratic"])
def test_cohen_kappa_matches_sklearn(seed, weights):
    rng = np.random.default_rng(seed)
    n, k = rng.integers(5, 80), rng.integers(2, 6)
    r1 = rng.integers(0, k, n)
    r2 = np.where(rng.random(n) < 0.6, r1, rng.integers(0, k, n))
    labels = list(range(k))
    ours = stats.cohen_kappa(r1.tolist(), r2.tolist(), weights=weights, labels=labels)
    assert ours == pytest.approx(cohen_kappa_score(r1, r2, weights=weights, labels=labels), abs=1e-9)


@pytest.mark.parametrize("seed", SEEDS)
def test_fleiss_kappa_matches_statsmodels(seed):
    rng = np.random.default_rng(seed)
    items, cats, raters = rng.integers(3, 40), rng.integers(2, 6), rng.integers(2, 8)
    counts = np.array([np.bincount(rng.integers(0, cats, raters), minlength=cats) for _ in range(items)])
    assert stats.fleiss_kappa(counts.tolist()) == pytest.approx(sm_fleiss(counts), abs=1e-9)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("level", ["nominal", "ordinal", "interval"])
def test_krippendorff_alpha_matches_package(seed, level):
    rng = np.random.default_rng(seed)
    raters, units = rng.integers(2, 6), rng.integers(4, 30)
    truth = rng.integers(1, 6, units).astype(float)
    X = np.where(rng.random((raters, units)) < 0.7, truth, rng.integers(1, 6, (raters, units))).astype(float)
    X[rng.random(X.shape) < 0.15] = np.nan
    ours = stats.krippendorff_alpha(X.tolist(), level=level)
    ref = krippendorff.alpha(reliability_data=X, level_of_measurement=level)
    assert ours == pytest.approx(ref, abs=1e-9)


@pytest.mark.parametrize("seed", SEEDS)
def test_mcnemar_matches_statsmodels(seed):
    rng = np.random.default_rng(seed)
    a, b, c, d = rng.integers(0, 60, 4)
    if b + c == 0:
        b = 1
    table = [[a, b], [c, d]]
    for exact in (True, False):
        ours = stats.mcnemar(int(c), int(b), exact=exact)
        ref = sm_mcnemar(table, exact=exact, correction=True)
        assert ours.p_value == pytest.approx(ref.pvalue, rel=1e-9, abs=1e-12)
        assert ours.statistic == pytest.approx(ref.statistic, rel=1e-9)


@pytest.mark.parametrize("seed", SEEDS)
def test_holm_and_bh_match_statsmodels(seed):
    p = np.random.default_rng(seed).random(np.random.default_rng(seed).integers(1, 30)) ** 2
    assert stats.holm(p) == pytest.approx(multipletests(p, method="holm")[1].tolist(), abs=1e-12)
    assert stats.benjamini_hochberg(p) == pytest.approx(multipletests(p, method="fdr_bh")[1].tolist(), abs=1e-12)


@pytest.mark.parametrize("seed", range(4))
def test_bootstrap_percentile_ci_matches_scipy(seed):
    x = np.random.default_rng(seed).normal(0.7, 0.3, 200)
    est, lo, hi = stats.bootstrap_ci(x, B=20000, seed=seed)
    ref = sps.bootstrap((x,), np.mean, n_resamples=20000, method="percentile", random_state=seed)
    assert est == pytest.approx(x.mean())
    assert lo == pytest.approx(ref.confidence_interval.low, abs=0.01)
    assert hi == pytest.approx(ref.confidence_interval.high, abs=0.01)


@pytest.mark.parametrize("seed", range(4))
def test_paired_bootstrap_ci_matches_scipy(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(50, 300))
    a = (rng.random(n) < rng.uniform(0.3, 0.8)).astype(float)
    b = np.where(rng.random(n) < 0.8, a, rng.random(n) < 0.7).astype(float)
    ours = stats.paired_bootstrap(a, b, B=20000, seed=seed)
    ref = sps.bootstrap((a, b), lambda x, y, axis=-1: np.mean(y - x, axis=axis), paired=True, vectorized=True,
                        n_resamples=20000, method="percentile", random_state=seed)
    assert ours["delta"] == pytest.approx(float(np.mean(b - a)))
    assert ours["low"] == pytest.approx(ref.confidence_interval.low, abs=0.01)
    assert ours["high"] == pytest.approx(ref.confidence_interval.high, abs=0.01)


def test_paired_bootstrap_is_tighter_than_unpaired_when_items_correlate():
    rng = np.random.default_rng(3)
    difficulty = rng.random(300)
    a = (rng.random(300) > difficulty).astype(float)
    b = np.where(rng.random(300) < 0.9, a, 1 - a)
    paired = stats.paired_bootstrap(a, b, B=4000)
    ref = sps.bootstrap((a, b), lambda x, y: np.mean(y - x), paired=True, n_resamples=4000,
                        method="percentile", random_state=0)
    assert paired["low"] == pytest.approx(ref.confidence_interval.low, abs=0.01)
    _, lo_a, hi_a = stats.bootstrap_ci(a)
    _, lo_b, hi_b = stats.bootstrap_ci(b)
    assert paired["high"] - paired["low"] < (hi_a - lo_a) + (hi_b - lo_b)


@pytest.mark.parametrize("seed", SEEDS)
def test_pass_at_k_matches_closed_form(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 200))
    c, k = int(rng.integers(0, n + 1)), int(rng.integers(1, n + 1))
    assert stats.pass_at_k(n, c, k) == pytest.approx(1 - comb(n - c, k, exact=True) / comb(n, k, exact=True),
                                                     abs=1e-9)


def test_pass_at_k_rejects_k_above_n():
    with pytest.raises(stats.StatsError):
        stats.pass_at_k(5, 1, 6)


@pytest.mark.parametrize("p1,p2", [(0.7, 0.75), (0.5, 0.52), (0.9, 0.8), (0.3, 0.45)])
def test_sample_size_matches_statsmodels_power(p1, p2):
    h = stats.cohen_h(p1, p2)
    ref = NormalIndPower().solve_power(effect_size=abs(h), alpha=0.05, power=0.8, ratio=1)
    assert stats.n_per_arm(p1, p2) == math.ceil(ref)
    n = stats.n_per_arm(p1, p2)
    assert stats.power_two_proportions(p1, p2, n) == pytest.approx(
        NormalIndPower().power(abs(h), nobs1=n, alpha=0.05, ratio=1), abs=1e-9)


@pytest.mark.parametrize("seed", SEEDS)
def test_sample_sizes_match_statsmodels_on_random_inputs(seed):
    rng = np.random.default_rng(seed)
    p, delta = rng.uniform(0.05, 0.9), rng.uniform(0.005, 0.09)
    alpha, power = rng.uniform(0.01, 0.1), rng.uniform(0.6, 0.95)
    z = sps.norm.ppf(1 - alpha / 2)
    margin = samplesize_confint_proportion(p, delta, alpha=alpha)
    assert 0 <= stats.n_for_margin(p, delta, z=z) - margin < 1 + 1e-9
    per_arm = NormalIndPower().solve_power(effect_size=abs(stats.cohen_h(p, p + delta)), alpha=alpha, power=power)
    assert 0 <= stats.n_per_arm(p, p + delta, alpha, power) - per_arm < 1 + 1e-9


@pytest.mark.parametrize("seed", SEEDS)
def test_the_chapters_per_arm_formula_matches_statsmodels_on_random_inputs(seed):
    """(z_{α/2} + z_β)²·2p(1−p)/Δ² is statsmodels' one-tail normal sample size with σ² = 2p(1−p) under
    both hypotheses; and it is statsmodels' two-tailed z-test power solution (effect Δ/√(p(1−p))) rounded
    up, give or take the far tail's sliver of power."""
    rng = np.random.default_rng(100 + seed)
    p, delta = rng.uniform(0.02, 0.95), rng.uniform(0.002, 0.04)
    alpha, power = rng.uniform(0.01, 0.1), rng.uniform(0.6, 0.95)
    sd = math.sqrt(2 * p * (1 - p))
    one_tail = normal_sample_size_one_tail(delta, power, alpha / 2, std_null=sd, std_alternative=sd)
    assert stats.n_per_arm_chapter(p, delta, alpha, power) == math.ceil(one_tail - 1e-9)
    two_tail = NormalIndPower().solve_power(effect_size=delta / math.sqrt(p * (1 - p)), alpha=alpha, power=power)
    assert 0 <= stats.n_per_arm_chapter(p, delta, alpha, power) - two_tail < 2  # ceil, plus the far tail


def test_both_per_arm_sizes_are_labelled_and_differ_where_the_variances_part():
    mid = stats.sample_size_per_arm(0.7, 0.01)
    assert (mid["chapter"]["n_per_arm"], mid["cohen_h"]["n_per_arm"]) == (32966, 32646)
    assert mid["chapter"]["power_at_n"] >= 0.8 and "variance" in mid["why_they_differ"]
    # near 1 the baseline's p(1−p) overstates the variance between 0.9 and 0.95: the chapter asks for more
    high = stats.sample_size_per_arm(0.9, 0.05)
    assert high["ratio_chapter_to_cohen_h"] > 1.3
    # near 0, rising towards 0.5, the baseline's variance understates it: the chapter asks for fewer
    assert stats.sample_size_per_arm(0.05, 0.02)["ratio_chapter_to_cohen_h"] < 0.9


@pytest.mark.parametrize("kappa,label", [(-0.1, "poor"), (0.0, "slight"), (0.2, "slight"), (0.21, "fair"),
                                         (0.4, "fair"), (0.55, "moderate"), (0.6, "moderate"),
                                         (0.61, "substantial"), (0.8, "substantial"), (0.81, "almost perfect"),
                                         (1.0, "almost perfect")])
def test_landis_koch_labels(kappa, label):
    assert stats.landis_koch(kappa) == label


def test_rule_of_thumb_sample_size():
    assert stats.n_for_margin(0.7, 0.01) == 8400


@pytest.mark.parametrize("call", [
    lambda: stats.bootstrap_ci([1e308, 1e308]),
    lambda: stats.paired_bootstrap([1e308, -1e308], [-1e308, 1e308]),
    lambda: stats.krippendorff_alpha([[1e308, -1e308], [1e308, 1e308]], "interval"),
])
def test_overflowing_values_are_an_error_not_nan(call):
    with pytest.raises(stats.StatsError, match="too large"):
        call()


@pytest.mark.parametrize("bad", [[[1, 2], [1]], [[0, 0]], [[3]]])
def test_fleiss_rejects_malformed_matrices(bad):
    with pytest.raises(stats.StatsError):
        stats.fleiss_kappa(bad)


def test_empty_samples_are_rejected():
    with pytest.raises(stats.StatsError):
        stats.bootstrap_ci([])
    with pytest.raises(stats.StatsError):
        stats.cohen_kappa([], [])


def _n_per_arm_by_steps(p1, p2, alpha, power):
    """The old search, one item at a time down from the closed form: the reference for the bisection."""
    z_a, z_b = sps.norm.ppf(1 - alpha / 2), sps.norm.ppf(power)
    n = math.ceil(2 * ((z_a + z_b) / abs(stats.cohen_h(p1, p2))) ** 2)
    while n > 1 and stats.power_two_proportions(p1, p2, n - 1, alpha) >= power:
        n -= 1
    return n


def test_sample_size_by_bisection_equals_the_step_by_step_search():
    rng = np.random.default_rng(25)
    for _ in range(200):
        p = rng.uniform(0.05, 0.9)
        delta = rng.uniform(0.02, 0.95 - p) if p < 0.93 else 0.03
        alpha, power = rng.uniform(0.005, 0.2), rng.uniform(0.01, 0.99)
        assert stats.n_per_arm(p, p + delta, alpha, power) == _n_per_arm_by_steps(p, p + delta, alpha, power)


def test_a_tiny_delta_with_a_low_power_target_costs_a_few_dozen_evaluations(monkeypatch):
    """Issue 25 #4: p=0.5, delta=0.001, power=0.01 stepped n down one at a time (25 s of CPU)."""
    calls = []
    real = stats.power_two_proportions
    monkeypatch.setattr(stats, "power_two_proportions", lambda *a: calls.append(a) or real(*a))
    n = stats.n_per_arm(0.5, 0.501, 0.05, 0.01)
    assert n == 1 and len(calls) <= 64, len(calls)  # power < alpha: one item already has it
    assert real(0.5, 0.501, 1, 0.05) >= 0.01
