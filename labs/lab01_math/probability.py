"""Probability for ML: expectation, Bayes, the two losses as maximum likelihood, KL, entropy, perplexity.

    curl -s localhost:8001/probability/bayes -H 'content-type: application/json' -d '{"prior": [0.2, 0.8], "likelihood": [0.6, 0.05]}'
    curl -s localhost:8001/probability/kl -H 'content-type: application/json' -d '{"family": "bernoulli", "p": [0.3], "q": [0.5]}'

    E[X] = Σ x p(x),  Var[X] = E[X²] − E[X]²;  Monte Carlo: x̄ ± 1.96 s/√n covers E[X] ~95% of the time
    Bayes          P(H | E) = P(E | H) P(H) / Σ_h P(E | h) P(h)
    Gaussian MLE   −log L(w, σ) = (N/2) log 2πσ² + (1/2σ²) Σ (yᵢ − xᵢ·w)²   ⇒ argmin_w = argmin_w MSE
    categorical    −(1/N) log L(q) = −Σₖ p̂ₖ log qₖ = H(p̂, q)                ⇒ the MLE is q = p̂
    entropy        H(p) = −Σ p log p;  cross-entropy H(p, q) = −Σ p log q = H(p) + KL(p ‖ q)
    KL             KL(p ‖ q) = Σ p log(p / q) ≥ 0, = 0 only when p = q, and KL(p ‖ q) ≠ KL(q ‖ p)
      Bernoulli    p log(p/q) + (1 − p) log((1 − p)/(1 − q))
      Gaussian     log(σ₂/σ₁) + (σ₁² + (μ₁ − μ₂)²) / (2σ₂²) − 1/2
    perplexity     PPL = exp(H(p, q)) per token: the number of equally likely choices q is "as confused as"

Everything is in nats (natural log); divide by ln 2 for bits.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass

import numpy as np
import scipy.optimize
import scipy.special
import scipy.stats

LN2 = math.log(2)


@dataclass(frozen=True)
class Family:
    params: tuple[str, ...]
    mean: object  # (params) -> float, the analytic formula
    var: object
    sample: object  # (rng, params, n) -> ndarray
    scipy: object  # (params) -> frozen scipy.stats distribution, the reference


FAMILIES: dict[str, Family] = {
    "bernoulli": Family(("p",), lambda p: p, lambda p: p * (1 - p), lambda r, p, n: r.random(n) < p,
                        lambda p: scipy.stats.bernoulli(p)),
    "binomial": Family(("n", "p"), lambda n, p: n * p, lambda n, p: n * p * (1 - p),
                       lambda r, n_, p, n: r.binomial(int(n_), p, n), lambda n, p: scipy.stats.binom(int(n), p)),
    "poisson": Family(("lam",), lambda lam: lam, lambda lam: lam, lambda r, lam, n: r.poisson(lam, n),
                      lambda lam: scipy.stats.poisson(lam)),
    "gaussian": Family(("mu", "sigma"), lambda mu, s: mu, lambda mu, s: s * s,
                       lambda r, mu, s, n: r.normal(mu, s, n), lambda mu, s: scipy.stats.norm(mu, s)),
    "uniform": Family(("a", "b"), lambda a, b: (a + b) / 2, lambda a, b: (b - a) ** 2 / 12,
                      lambda r, a, b, n: r.uniform(a, b, n), lambda a, b: scipy.stats.uniform(a, b - a)),
    "exponential": Family(("rate",), lambda rate: 1 / rate, lambda rate: 1 / rate ** 2,
                          lambda r, rate, n: r.exponential(1 / rate, n), lambda rate: scipy.stats.expon(scale=1 / rate)),
}


def check_params(family: str, params: dict[str, float]) -> list[float]:
    fam = FAMILIES[family]
    if set(params) != set(fam.params):
        raise ValueError(f"{family} takes parameters {', '.join(fam.params)}, got {', '.join(params) or 'none'}")
    v = {k: float(params[k]) for k in fam.params}
    problems = {
        "p": not 0 <= v.get("p", 0.5) <= 1, "n": v.get("n", 1) < 1 or v.get("n", 1) != int(v.get("n", 1)),
        "lam": v.get("lam", 1) <= 0, "sigma": v.get("sigma", 1) <= 0, "rate": v.get("rate", 1) <= 0,
        "b": "a" in v and v["b"] <= v["a"],
    }
    bad = [k for k, is_bad in problems.items() if is_bad and k in v]
    if bad:
        rules = {"p": "a probability in [0, 1]", "n": "a whole number ≥ 1", "lam": "> 0", "sigma": "> 0",
                 "rate": "> 0", "b": "greater than a"}
        raise ValueError("; ".join(f"{k} must be {rules[k]}" for k in bad))
    return [v[k] for k in fam.params]


def expectation(family: str, params: dict[str, float], n: int, seed: int = 0) -> dict:
    """Analytic E[X] and Var[X] beside a Monte Carlo estimate with its 95% confidence interval."""
    args = check_params(family, params)
    fam = FAMILIES[family]
    x = np.asarray(fam.sample(np.random.default_rng(seed), *args, n), dtype=np.float64)
    mean, var = float(fam.mean(*args)), float(fam.var(*args))
    xbar, s2 = float(x.mean()), float(x.var(ddof=1)) if n > 1 else 0.0
    half = 1.96 * math.sqrt(s2 / n)  # CLT: x̄ is about normal with sd σ/√n
    ref = fam.scipy(*args)
    return {"family": family, "params": dict(zip(fam.params, args, strict=True)), "n": n,
            "analytic": {"mean": mean, "var": var},
            "monte_carlo": {"mean": xbar, "var": s2, "ci95": [xbar - half, xbar + half],
                            "covers_analytic_mean": xbar - half <= mean <= xbar + half},
            "scipy": {"mean": float(ref.mean()), "var": float(ref.var())},
            "formula_vs_scipy_error": max(abs(mean - float(ref.mean())), abs(var - float(ref.var())))}


def bayes(prior: list[float], likelihood: list[float]) -> dict:
    """P(h | E) ∝ P(E | h) P(h) over mutually exclusive hypotheses h whose priors sum to 1."""
    if len(prior) != len(likelihood):
        raise ValueError(f"{len(prior)} priors but {len(likelihood)} likelihoods: one of each per hypothesis")
    if abs(sum(prior) - 1) > 1e-9:
        raise ValueError(f"priors must sum to 1 (they are exclusive and exhaustive), they sum to {sum(prior):.6g}")
    joint = [p * lk for p, lk in zip(prior, likelihood, strict=True)]
    evidence = math.fsum(joint)
    if evidence == 0:
        raise ValueError("the evidence has probability 0 under every hypothesis: no posterior")
    posterior = [j / evidence for j in joint]
    return {"prior": prior, "likelihood": likelihood, "joint": joint, "evidence": evidence, "posterior": posterior,
            "posterior_sums_to": math.fsum(posterior)}


def bayes_by_simulation(prior: list[float], likelihood: list[float], n: int, seed: int = 0) -> list[float]:
    """The same posterior by counting: draw a hypothesis, then the evidence; keep the draws that showed it."""
    rng = np.random.default_rng(seed)
    h = rng.choice(len(prior), size=n, p=np.asarray(prior) / np.sum(prior))
    shown = rng.random(n) < np.asarray(likelihood)[h]
    counts = np.bincount(h[shown], minlength=len(prior))
    return (counts / max(1, counts.sum())).tolist()


def gaussian_nll(w: np.ndarray, sigma: float, X: np.ndarray, y: np.ndarray) -> float:
    """−log L = (N/2) log(2πσ²) + Σ (y − Xw)² / (2σ²), written out from the normal density."""
    r = y - X @ w
    return 0.5 * len(y) * math.log(2 * math.pi * sigma ** 2) + float(r @ r) / (2 * sigma ** 2)


def gaussian_mle_is_mse(n: int = 200, d: int = 3, noise: float = 0.5, seed: int = 0) -> dict:
    """Fit w twice on the same data: by least squares (MSE) and by maximising the Gaussian likelihood."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    w_true = rng.normal(size=d)
    y = X @ w_true + rng.normal(0, noise, n)
    w_mse, *_ = np.linalg.lstsq(X, y, rcond=None)

    def nll(theta: np.ndarray) -> float:  # σ through its log, so the optimiser never tries σ ≤ 0
        return gaussian_nll(theta[:d], math.exp(theta[d]), X, y)

    res = scipy.optimize.minimize(nll, np.zeros(d + 1), method="BFGS", options={"gtol": 1e-10})
    w_mle, sigma_mle = res.x[:d], math.exp(res.x[d])
    mse = float(np.mean((y - X @ w_mse) ** 2))
    scipy_nll = -float(scipy.stats.norm(X @ w_mle, sigma_mle).logpdf(y).sum())
    return {"n": n, "d": d, "noise_sigma": noise, "w_true": w_true.tolist(), "w_mse": w_mse.tolist(),
            "w_mle": w_mle.tolist(), "max_difference": float(np.max(np.abs(w_mse - w_mle))),
            "sigma_mle": sigma_mle, "sqrt_mse": math.sqrt(mse),
            "nll_formula_vs_scipy_error": abs(gaussian_nll(w_mle, sigma_mle, X, y) - scipy_nll),
            "why": "σ only scales and shifts −log L, so the w that minimises Σ(y − Xw)² minimises it too; "
                   "and σ̂² comes out as the MSE at that w"}


def categorical_mle_is_cross_entropy(counts: list[int]) -> dict:
    """Maximise the categorical likelihood over softmax logits; the answer is the empirical frequencies,
    and −(1/N) log L equals the cross-entropy H(p̂, q) for any q."""
    c = np.asarray(counts, dtype=np.float64)
    if c.ndim != 1 or len(c) < 2 or (c < 0).any() or c.sum() == 0:
        raise ValueError("counts: at least two categories, non-negative, not all zero")
    N, p_hat = c.sum(), c / c.sum()

    def neg_log_lik(theta: np.ndarray) -> float:
        logq = theta - scipy.special.logsumexp(theta)
        return -float(c @ logq)

    res = scipy.optimize.minimize(neg_log_lik, np.zeros(len(c)), method="BFGS", options={"gtol": 1e-10})
    q_mle = scipy.special.softmax(res.x)
    q_any = scipy.special.softmax(np.random.default_rng(0).normal(size=len(c)))
    ce = cross_entropy(p_hat, q_any)
    ll = float(scipy.stats.multinomial(int(N), q_any).logpmf(c)) - float(
        scipy.special.gammaln(N + 1) - scipy.special.gammaln(c + 1).sum())  # drop the constant coefficient
    return {"counts": counts, "empirical": p_hat.tolist(), "q_mle": q_mle.tolist(),
            "max_difference": float(np.max(np.abs(q_mle - p_hat))),
            "some_q": q_any.tolist(), "cross_entropy": ce, "minus_log_likelihood_per_sample": -ll / N,
            "identity_error": abs(ce + ll / N)}


def _prob(p, name: str) -> np.ndarray:
    a = np.asarray(p, dtype=np.float64)
    if a.ndim != 1 or len(a) == 0 or (a < 0).any() or (a > 1).any():
        raise ValueError(f"{name} must be a list of probabilities in [0, 1]")
    if abs(a.sum() - 1) > 1e-6:
        raise ValueError(f"{name} must sum to 1 (it sums to {a.sum():.6g})")
    return a


def entropy(p) -> float:
    """H(p) = −Σ p log p, with 0 log 0 = 0."""
    p = _prob(p, "p")
    nz = p > 0
    return float(-np.sum(p[nz] * np.log(p[nz])))


def cross_entropy(p, q) -> float:
    """H(p, q) = −Σ p log q: infinite if q puts 0 where p does not."""
    p, q = _prob(p, "p"), _prob(q, "q")
    if len(p) != len(q):
        raise ValueError(f"p has {len(p)} outcomes and q has {len(q)}")
    nz = p > 0
    if (q[nz] == 0).any():
        return math.inf
    return float(-np.sum(p[nz] * np.log(q[nz])))


def kl_categorical(p, q) -> float:
    """KL(p ‖ q) = Σ p log(p / q) = H(p, q) − H(p)."""
    p, q = _prob(p, "p"), _prob(q, "q")
    if len(p) != len(q):
        raise ValueError(f"p has {len(p)} outcomes and q has {len(q)}")
    nz = p > 0
    if (q[nz] == 0).any():
        return math.inf
    return float(np.sum(p[nz] * np.log(p[nz] / q[nz])))


def kl_bernoulli(p: float, q: float) -> float:
    for name, v in (("p", p), ("q", q)):
        if not 0 <= v <= 1:
            raise ValueError(f"{name} = {v} is not a probability in [0, 1]")
    return kl_categorical([p, 1 - p], [q, 1 - q])


def kl_gaussian(mu1: float, sigma1: float, mu2: float, sigma2: float) -> float:
    """KL(N(μ₁, σ₁²) ‖ N(μ₂, σ₂²)) = log(σ₂/σ₁) + (σ₁² + (μ₁ − μ₂)²)/(2σ₂²) − 1/2."""
    if sigma1 <= 0 or sigma2 <= 0:
        raise ValueError("standard deviations must be > 0")
    return math.log(sigma2 / sigma1) + (sigma1 ** 2 + (mu1 - mu2) ** 2) / (2 * sigma2 ** 2) - 0.5


def kl_report(family: str, p: list[float], q: list[float]) -> dict:
    """KL both ways (in nats and bits), and, for discrete families, the identity H(p, q) = H(p) + KL(p ‖ q)."""
    if family == "bernoulli":
        if len(p) != 1 or len(q) != 1:
            raise ValueError("bernoulli: p and q are one probability each, e.g. [0.3]")
        forward, backward = kl_bernoulli(p[0], q[0]), kl_bernoulli(q[0], p[0])
        P, Q = [p[0], 1 - p[0]], [q[0], 1 - q[0]]
    elif family == "gaussian":
        if len(p) != 2 or len(q) != 2:
            raise ValueError("gaussian: p and q are [mu, sigma] each")
        forward, backward = kl_gaussian(p[0], p[1], q[0], q[1]), kl_gaussian(q[0], q[1], p[0], p[1])
        P = Q = None
    elif family == "categorical":
        forward, backward = kl_categorical(p, q), kl_categorical(q, p)
        P, Q = p, q
    else:
        raise ValueError(f"unknown family {family!r}")
    out = {"family": family, "kl_pq_nats": forward, "kl_qp_nats": backward, "kl_pq_bits": forward / LN2,
           "kl_qp_bits": backward / LN2, "asymmetry_nats": forward - backward}
    if P is not None:
        H, CE = entropy(P), cross_entropy(P, Q)
        out |= {"entropy_p": H, "cross_entropy_pq": CE,
                "identity_error": abs(CE - (H + forward)) if math.isfinite(CE) else 0.0}
    return out


def tokenize(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())


class Unigram:
    """q(w) = (count(w) + α) / (N + α(V + 1)): add-α smoothing, with one slot for words never seen."""

    UNK = "<unk>"

    def __init__(self, tokens: list[str], alpha: float = 1.0):
        if alpha <= 0:
            raise ValueError("alpha must be > 0, or an unseen word gets probability 0 and perplexity is infinite")
        self.counts = Counter(tokens)
        self.N, self.alpha = len(tokens), alpha
        self.V = len(self.counts) + 1  # + <unk>

    def prob(self, word: str) -> float:
        return (self.counts.get(word, 0) + self.alpha) / (self.N + self.alpha * self.V)

    def distribution(self) -> dict[str, float]:
        return {w: self.prob(w) for w in [*self.counts, self.UNK]}


def perplexity(train: str, test: str, alpha: float = 1.0) -> dict:
    """Cross-entropy per test token under a unigram model of the training text, and PPL = exp(CE)."""
    train_tokens, test_tokens = tokenize(train), tokenize(test)
    if not train_tokens or not test_tokens:
        raise ValueError("both texts need at least one word")
    model = Unigram(train_tokens, alpha)
    logq = [math.log(model.prob(t)) for t in test_tokens]
    ce = -math.fsum(logq) / len(logq)
    unseen = sum(t not in model.counts for t in test_tokens)
    return {"train_tokens": len(train_tokens), "test_tokens": len(test_tokens), "vocabulary": model.V,
            "unseen_test_tokens": unseen, "alpha": alpha, "cross_entropy_nats": ce, "cross_entropy_bits": ce / LN2,
            "perplexity": math.exp(ce), "perplexity_from_bits": 2 ** (ce / LN2),
            "uniform_perplexity": model.V,
            "reading": f"on average the model is as unsure as a fair choice among {math.exp(ce):.1f} words"}


TRAIN_TEXT = """
The pager went off at three in the morning because the queue was growing faster than the workers
could drain it. The on-call engineer opened the dashboard, saw the error rate climb, and rolled back
the last deploy. The queue drained within ten minutes and the error rate fell back to its baseline.
In the review the team agreed that the deploy had doubled the work per message, that the alert had
fired on time, and that the runbook had the right first step. They added a load test to the deploy
pipeline so that a change which doubles the work per message fails before it reaches production.
"""
TEST_TEXT = """
The next week the queue grew again, but this time the load test had caught the slow change before
the deploy, and the pager stayed quiet. The team wrote down what the review had taught them.
"""
