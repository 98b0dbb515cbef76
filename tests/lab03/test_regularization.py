"""regularization.py against sklearn's Ridge and Lasso and torch.optim.Adam / AdamW."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.linear_model import Lasso, Ridge

from labs.lab03_classical import regularization as reg


@pytest.mark.parametrize("seed", range(5))
def test_ridge_and_lasso_match_sklearn(seed):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(80, 6))
    y = X @ (rng.normal(size=6) * (rng.random(6) < 0.5)) + rng.normal(size=80)
    lam = rng.uniform(0.1, 10)
    np.testing.assert_allclose(reg.ridge(X, y, lam), Ridge(alpha=lam, fit_intercept=False).fit(X, y).coef_, atol=1e-8)
    alpha = rng.uniform(0.01, 0.5)
    ref = Lasso(alpha=alpha, fit_intercept=False, tol=1e-12, max_iter=100_000).fit(X, y).coef_
    ours = reg.lasso(X, y, alpha)
    np.testing.assert_allclose(ours, ref, atol=1e-6)
    np.testing.assert_array_equal(ours == 0, ref == 0)


def test_ridge_is_the_gaussian_map():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 3))
    y = rng.normal(size=50)
    sigma2, tau2 = 2.0, 0.5
    w = reg.ridge(X, y, sigma2 / tau2)

    def neg_log_posterior(w):
        return ((y - X @ w) ** 2).sum() / (2 * sigma2) + (w**2).sum() / (2 * tau2)

    grad = -(X.T @ (y - X @ w)) / sigma2 + w / tau2
    np.testing.assert_allclose(grad, 0, atol=1e-10)
    for _ in range(20):
        assert neg_log_posterior(w) <= neg_log_posterior(w + rng.normal(0, 0.01, 3))


def test_l1_zeros_weights_and_l2_does_not():
    path = reg.sparsity_path()
    assert [r["l1_zero_weights"] for r in path] == sorted(r["l1_zero_weights"] for r in path)
    assert path[-1]["l1_zero_weights"] >= 3
    assert all(r["l2_zero_weights"] == 0 for r in path)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("decoupled", [False, True])
def test_adam_matches_torch(seed, decoupled):
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(5, 5))
    H = A @ A.T + np.eye(5)
    c = rng.normal(size=5)
    w0 = rng.normal(size=5)
    lr, wd = 0.05, 0.1
    ours = reg.adam(lambda w: H @ w - c, w0, lr=lr, weight_decay=wd, decoupled=decoupled, steps=50)
    w = torch.tensor(w0, requires_grad=True)
    opt = (torch.optim.AdamW if decoupled else torch.optim.Adam)([w], lr=lr, weight_decay=wd)
    Ht, ct = torch.tensor(H), torch.tensor(c)
    for step in range(50):
        opt.zero_grad()
        (0.5 * w @ Ht @ w - ct @ w).backward()
        opt.step()
        np.testing.assert_allclose(ours[step + 1], w.detach().numpy(), rtol=1e-9, atol=1e-12)


def test_adamw_and_l2_land_in_different_places():
    r = reg.adam_vs_adamw()
    np.testing.assert_allclose(r["adam_l2_final"], r["map_with_l2_prior"], atol=1e-3)
    assert r["adam_l2_final"][1] < 0.2 and r["adamw_final"][1] > 0.9  # the flat-loss weight
    assert abs(r["adamw_final"][0] - r["adamw_final"][1]) < 1e-3  # AdamW decays both alike


def test_separable_logistic_diverges_without_a_prior():
    plain = reg.separable_logistic(0.0, iters=2000)["norm_w_at_iteration"]
    l2 = reg.separable_logistic(0.01, iters=2000)["norm_w_at_iteration"]
    growth = [plain[k] for k in ("10", "100", "1000", "2000")]
    assert growth == sorted(growth) and plain["2000"] - plain["1000"] > 0.2
    assert l2["2000"] == pytest.approx(l2["1000"], abs=1e-9) and l2["2000"] < plain["2000"] / 1.5
