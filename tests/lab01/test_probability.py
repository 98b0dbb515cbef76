"""Expectation, Bayes, MLE, KL, entropy and perplexity against scipy.stats, torch.distributions and simulation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from labs.lab01_math import probability as P

CASES = [("bernoulli", {"p": 0.3}), ("binomial", {"n": 12, "p": 0.4}), ("poisson", {"lam": 3.5}),
         ("gaussian", {"mu": -1.0, "sigma": 2.0}), ("uniform", {"a": -2.0, "b": 5.0}), ("exponential", {"rate": 0.5})]


@pytest.mark.parametrize("family,params", CASES)
def test_expectation_formulas_match_scipy_and_monte_carlo(family, params):
    r = P.expectation(family, params, 20_000, seed=3)
    assert r["formula_vs_scipy_error"] < 1e-12
    lo, hi = r["monte_carlo"]["ci95"]
    assert hi - lo < 0.2 * (1 + math.sqrt(r["analytic"]["var"]))
    assert r["monte_carlo"]["var"] == pytest.approx(r["analytic"]["var"], rel=0.1)


def test_the_95_percent_interval_covers_about_95_percent_of_the_time():
    covered = [P.expectation("exponential", {"rate": 2.0}, 500, seed=s)["monte_carlo"]["covers_analytic_mean"]
               for s in range(300)]
    assert 0.90 <= np.mean(covered) <= 0.99


@pytest.mark.parametrize("family,params,match", [("bernoulli", {"p": 1.5}, "probability"),
                                                 ("gaussian", {"mu": 0, "sigma": -1}, "sigma"),
                                                 ("uniform", {"a": 2, "b": 1}, "greater"),
                                                 ("poisson", {"rate": 1}, "takes parameters")])
def test_bad_parameters_are_refused(family, params, match):
    with pytest.raises(ValueError, match=match):
        P.expectation(family, params, 10)


@settings(max_examples=30, deadline=None)
@given(st.integers(2, 6), st.integers(0, 2**31))
def test_bayes_matches_simulation(k, seed):
    rng = np.random.default_rng(seed)
    prior = rng.dirichlet(np.ones(k)).tolist()
    prior[-1] = 1 - sum(prior[:-1])
    lik = rng.uniform(0.2, 1, k).tolist()
    r = P.bayes(prior, lik)
    assert r["posterior_sums_to"] == pytest.approx(1)
    sim = P.bayes_by_simulation(prior, lik, 100_000, seed=seed % 1000)
    np.testing.assert_allclose(r["posterior"], sim, atol=0.02)


def test_bayes_refuses_bad_priors():
    with pytest.raises(ValueError, match="sum to 1"):
        P.bayes([0.5, 0.6], [0.1, 0.2])
    with pytest.raises(ValueError, match="probability 0"):
        P.bayes([0.5, 0.5], [0.0, 0.0])


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 8), st.integers(0, 2**31))
def test_kl_entropy_cross_entropy_match_scipy_and_torch(k, seed):
    rng = np.random.default_rng(seed)
    p, q = rng.dirichlet(np.ones(k)), rng.dirichlet(np.ones(k))
    assert P.entropy(p) == pytest.approx(scipy.stats.entropy(p), abs=1e-12)
    assert P.kl_categorical(p, q) == pytest.approx(scipy.stats.entropy(p, q), abs=1e-12)
    ref = torch.distributions.kl_divergence(torch.distributions.Categorical(probs=torch.from_numpy(p)),
                                            torch.distributions.Categorical(probs=torch.from_numpy(q)))
    assert P.kl_categorical(p, q) == pytest.approx(float(ref), abs=1e-12)
    assert P.cross_entropy(p, q) == pytest.approx(P.entropy(p) + P.kl_categorical(p, q), abs=1e-12)
    assert P.kl_categorical(p, q) >= 0 and P.kl_categorical(p, p) == pytest.approx(0, abs=1e-15)


@settings(max_examples=40, deadline=None)
@given(st.floats(0.01, 0.99), st.floats(0.01, 0.99), st.floats(-3, 3), st.floats(0.2, 3), st.floats(-3, 3),
       st.floats(0.2, 3))
def test_closed_form_kl_matches_torch(p, q, m1, s1, m2, s2):
    B, N = torch.distributions.Bernoulli, torch.distributions.Normal
    t = torch.tensor
    assert P.kl_bernoulli(p, q) == pytest.approx(
        float(torch.distributions.kl_divergence(B(probs=t(p, dtype=torch.float64)), B(probs=t(q, dtype=torch.float64)))),
        abs=1e-12)
    assert P.kl_gaussian(m1, s1, m2, s2) == pytest.approx(
        float(torch.distributions.kl_divergence(N(t(m1, dtype=torch.float64), t(s1, dtype=torch.float64)),
                                                N(t(m2, dtype=torch.float64), t(s2, dtype=torch.float64)))), abs=1e-12)


def test_kl_is_asymmetric_and_infinite_off_support():
    r = P.kl_report("bernoulli", [0.3], [0.5])
    assert r["kl_pq_nats"] != pytest.approx(r["kl_qp_nats"])
    assert P.kl_categorical([0.5, 0.5], [1.0, 0.0]) == math.inf
    with pytest.raises(ValueError):
        P.kl_bernoulli(1.2, 0.5)


@pytest.mark.parametrize("seed", range(3))
def test_gaussian_mle_is_least_squares(seed):
    r = P.gaussian_mle_is_mse(n=150, d=4, noise=0.3, seed=seed)
    assert r["max_difference"] < 1e-6
    assert r["sigma_mle"] == pytest.approx(r["sqrt_mse"], rel=1e-6)
    assert r["nll_formula_vs_scipy_error"] < 1e-8


@settings(max_examples=15, deadline=None)
@given(st.lists(st.integers(1, 50), min_size=2, max_size=6))
def test_categorical_mle_is_the_empirical_frequency(counts):
    r = P.categorical_mle_is_cross_entropy(counts)
    assert r["max_difference"] < 1e-5
    assert r["identity_error"] < 1e-9


def test_perplexity_of_a_known_case_and_the_uniform_limit():
    r = P.perplexity("a b c", "a b c", alpha=1.0)  # each seen word: (1 + 1) / (3 + 4) = 2/7
    assert r["perplexity"] == pytest.approx(3.5)
    big = P.perplexity(P.TRAIN_TEXT, P.TEST_TEXT, alpha=1e9)  # smoothing swamps the counts: uniform
    assert big["perplexity"] == pytest.approx(big["vocabulary"], rel=1e-6)
    real = P.perplexity(P.TRAIN_TEXT, P.TEST_TEXT)
    tokens = P.tokenize(P.TEST_TEXT)
    model = P.Unigram(P.tokenize(P.TRAIN_TEXT))
    counts = np.array([tokens.count(w) for w in dict.fromkeys(tokens)], dtype=float)
    q = np.array([model.prob(w) for w in dict.fromkeys(tokens)])
    # CE of the test's empirical distribution against q, via scipy: H(p̂) + KL(p̂ ‖ q renormalised) − log Z
    p_hat = counts / counts.sum()
    ce = scipy.stats.entropy(p_hat) + scipy.stats.entropy(p_hat, q / q.sum()) - math.log(q.sum())
    assert real["cross_entropy_nats"] == pytest.approx(ce, rel=1e-12)
    assert real["perplexity"] == pytest.approx(math.exp(ce), rel=1e-12)
