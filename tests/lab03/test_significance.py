"""significance.py against scipy.stats.bootstrap, statsmodels (McNemar, power) and numerical integration."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate
from scipy import stats as sps
from statsmodels.stats.contingency_tables import mcnemar as sm_mcnemar
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import (
    power_proportions_2indep,
    proportion_effectsize,
    samplesize_proportions_2indep_onetail,
)

from labs.lab03_classical import significance
from labs.lab03_classical.metrics import MetricError


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("method, sp_method", [("percentile", "percentile"), ("bca", "BCa")])
def test_bootstrap_matches_scipy_on_the_same_resamples(seed, method, sp_method):
    # scipy draws its resample indices as rng.integers(0, n, (B, n)) too: the same seed gives the same resamples
    x = np.random.default_rng(100 + seed).lognormal(0, 1, 40)
    ours = significance.bootstrap_ci(x, np.mean, B=999, method=method, seed=np.random.default_rng(seed))
    ref = sps.bootstrap((x,), np.mean, n_resamples=999, batch=None, method=sp_method,
                        rng=np.random.default_rng(seed), vectorized=True)
    assert ours["low"] == pytest.approx(ref.confidence_interval.low, rel=1e-10)
    assert ours["high"] == pytest.approx(ref.confidence_interval.high, rel=1e-10)
    assert ours["se"] == pytest.approx(ref.standard_error, rel=1e-10)


def test_bca_shifts_a_skewed_statistic_upward():
    x = np.random.default_rng(1).exponential(1.0, 30)
    pct = significance.bootstrap_ci(x, np.mean, method="percentile")
    bca = significance.bootstrap_ci(x, np.mean, method="bca")
    assert bca["high"] > pct["high"]  # right skew: BCa moves the interval towards the long tail


@pytest.mark.parametrize("seed", range(10))
def test_mcnemar_matches_statsmodels(seed):
    rng = np.random.default_rng(seed)
    a = (rng.random(150) < 0.7).astype(int)
    b = np.where(rng.random(150) < rng.uniform(0.05, 0.3), 1 - a, a)
    bb, cc = significance.discordant(a, b)
    table = [[int(((a == 1) & (b == 1)).sum()), bb], [cc, int(((a == 0) & (b == 0)).sum())]]
    for exact, correction in ((True, True), (False, True), (False, False)):
        ours = significance.mcnemar(bb, cc, exact=exact, correction=correction)
        ref = sm_mcnemar(table, exact=exact, correction=correction)
        assert ours["p_value"] == pytest.approx(ref.pvalue, rel=1e-9)
        assert ours["statistic"] == pytest.approx(ref.statistic, rel=1e-9)


@pytest.mark.parametrize("p1, delta", [(0.10, 0.02), (0.05, 0.01), (0.30, -0.05), (0.5, 0.1), (0.02, 0.005)])
@pytest.mark.parametrize("alpha, power", [(0.05, 0.8), (0.01, 0.9)])
def test_sample_sizes_match_statsmodels(p1, delta, alpha, power):
    p2 = p1 + delta
    ours = significance.n_two_proportions(p1, p2, alpha, power)
    assert ours == pytest.approx(samplesize_proportions_2indep_onetail(delta, p1, power, alpha=alpha), rel=1e-9)
    assert power_proportions_2indep(delta, p1, ours, alpha=alpha).power == pytest.approx(power, abs=1e-4)
    arcsine = NormalIndPower().solve_power(effect_size=proportion_effectsize(p2, p1), alpha=alpha, power=power)
    # NormalIndPower also counts the far tail's (tiny) share of the power, so it needs a hair fewer users
    assert significance.n_arcsine(p1, p2, alpha, power) == pytest.approx(arcsine, rel=2e-3)
    assert significance.n_arcsine(p1, p2, alpha, power) >= arcsine


def test_rule_of_thumb_is_the_formula_at_the_defaults():
    r = significance.sample_size(0.10, 0.02)
    assert r["per_arm"] == {"two_proportion_z": 3841, "arcsine": 3835, "rule_of_thumb_16": 3600}
    # with both variances at p and z's at 0.05 / 0.8, the formula gives 2·(1.96 + 0.84)²·p(1 − p)/Δ² ≈ rule
    z = significance._z(0.05, 0.8)
    assert 2 * sum(z) ** 2 == pytest.approx(16, rel=0.02)


@pytest.mark.parametrize("seed", range(6))
def test_p_b_beats_a_closed_form_matches_integration(seed):
    rng = np.random.default_rng(seed)
    a_A, b_A, a_B = rng.integers(1, 60, 3)
    b_B = rng.uniform(1, 60)
    closed = significance.p_b_beats_a(a_A, b_A, a_B, b_B)
    ref, _ = integrate.quad(lambda t: sps.beta.pdf(t, a_B, b_B) * sps.beta.cdf(t, a_A, b_A), 0, 1, epsabs=1e-12)
    assert closed == pytest.approx(ref, abs=1e-8)


def test_beta_binomial_posterior():
    r = significance.beta_binomial(100, 1000, 130, 1000)
    assert r["posterior_a"] == [101, 901] and r["posterior_b"] == [131, 871]
    assert r["p_b_beats_a"] == pytest.approx(r["p_b_beats_a_monte_carlo"], abs=0.01)
    assert 0.95 < r["p_b_beats_a"] < 1
    assert r["lift_95"][0] < 0.03 < r["lift_95"][1]


def test_paired_bootstrap_is_tighter_than_unpaired_on_correlated_items():
    rng = np.random.default_rng(0)
    difficulty = rng.random(400)
    a = (difficulty < 0.70).astype(float)
    b = (difficulty < 0.74).astype(float)  # B solves everything A solves, and a few more
    r = significance.paired_bootstrap(a, b, B=2000)
    assert r["paired_se"] < r["unpaired_se"] / 2
    assert r["low"] > 0 and r["delta"] == pytest.approx(b.mean() - a.mean())


def test_compare_verdicts():
    a = [1] * 50 + [0] * 50
    assert significance.compare(a, a)["verdict"].startswith("no detectable")
    better = significance.compare(a, [1] * 80 + [0] * 20)
    assert better["verdict"].startswith("B is better") and better["mcnemar_exact"]["p_value"] < 1e-6
    scores = significance.compare([0.2, 0.4, 0.9], [0.3, 0.5, 0.7])
    assert "mcnemar_exact" not in scores  # McNemar needs 0/1 correctness


def test_bad_input():
    with pytest.raises(MetricError, match="same items"):
        significance.paired_bootstrap([1, 0, 1], [1, 0])
    with pytest.raises(MetricError, match="lift"):
        significance.sample_size(0.95, 0.1)
    with pytest.raises(MetricError, match="conversions"):
        significance.beta_binomial(11, 10, 1, 10)
