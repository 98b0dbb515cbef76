"""losses.py against sklearn.metrics, torch's losses, scipy's log-densities and statsmodels' fits."""

from __future__ import annotations

import numpy as np
import pytest
import statsmodels.api as sm
import torch
from scipy import stats as sps
from sklearn import metrics as skm

from labs.lab03_classical import losses


@pytest.mark.parametrize("seed", range(6))
def test_losses_match_references(seed):
    rng = np.random.default_rng(seed)
    n, k = 50, 4
    y = rng.normal(size=n)
    y_hat = y + rng.normal(size=n)
    assert losses.mse(y, y_hat) == pytest.approx(skm.mean_squared_error(y, y_hat))
    assert losses.mae(y, y_hat) == pytest.approx(skm.mean_absolute_error(y, y_hat))
    labels = rng.integers(0, k, n)
    z = rng.normal(0, 5, (n, k))
    torch_ce = torch.nn.functional.cross_entropy(torch.tensor(z), torch.tensor(labels)).item()
    assert losses.cross_entropy(labels, z) == pytest.approx(torch_ce, rel=1e-9)
    P = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    assert losses.cross_entropy(labels, z) == pytest.approx(skm.log_loss(labels, P, labels=range(k)), rel=1e-6)
    yb = rng.integers(0, 2, n)
    zb = rng.normal(0, 30, n)  # large logits: the stable form must not overflow
    torch_bce = torch.nn.functional.binary_cross_entropy_with_logits(torch.tensor(zb), torch.tensor(yb, dtype=torch.float64))
    assert losses.bce_with_logits(yb, zb) == pytest.approx(torch_bce.item(), rel=1e-9)
    t = 2 * yb - 1
    assert losses.hinge(t, zb / 10) == pytest.approx(skm.hinge_loss(t, zb / 10))
    sigma, b = rng.uniform(0.5, 3, 2)
    assert losses.gaussian_nll(y, y_hat, sigma) == pytest.approx(-sps.norm.logpdf(y, y_hat, sigma).sum())
    assert losses.laplace_nll(y, y_hat, b) == pytest.approx(-sps.laplace.logpdf(y, y_hat, b).sum())


def test_hinge_is_not_a_likelihood():
    norm = losses.hinge_normaliser(np.linspace(-3, 3, 13))
    assert norm.max() - norm.min() > 0.3  # a likelihood would sum to 1 over the two labels at every f


@pytest.mark.parametrize("seed", range(4))
def test_loss_fits_equal_likelihood_fits(seed):
    rng = np.random.default_rng(seed)
    X = losses.with_bias(rng.normal(size=(200, 3)))
    w_true = rng.normal(size=4)
    y = X @ w_true + rng.laplace(0, 1, 200)
    w_ls = losses.fit_least_squares(X, y)
    np.testing.assert_allclose(w_ls, sm.OLS(y, X).fit().params, atol=1e-10)
    w_mle, sigma = losses.fit_gaussian_mle(X, y)
    np.testing.assert_allclose(w_mle, w_ls, atol=1e-4)
    assert sigma**2 == pytest.approx(losses.mse(y, X @ w_ls), rel=1e-4)  # σ̂² = MSE at the fit
    w_lad = losses.fit_least_absolute(X, y)
    w_qr = sm.QuantReg(y, X).fit(q=0.5, max_iter=5000).params
    assert losses.mae(y, X @ w_lad) == pytest.approx(losses.mae(y, X @ w_qr), rel=1e-4)
    assert losses.mae(y, X @ w_lad) <= losses.mae(y, X @ w_ls)
    yb = (rng.random(200) < 1 / (1 + np.exp(-X @ w_true))).astype(float)
    w_bce = losses.fit_logistic(X, yb)
    np.testing.assert_allclose(w_bce, sm.Logit(yb, X).fit(disp=0).params, atol=1e-6)


def test_location_minimisers_and_demo():
    demo = losses.mle_demo()
    assert demo["gaussian"]["max_abs_diff_w_mse_vs_w_mle"] < 1e-3
    lap = demo["laplace"]
    assert lap["mae_at_lad_fit"] < lap["mae_at_ols_fit"]
    assert lap["laplace_nll_at_lad_fit"] < lap["laplace_nll_at_ols_fit"]
    y = np.array([1.0, 2.0, 2.0, 7.0, 50.0])
    grid = np.linspace(0, 60, 60001)
    residual = y[None, :] - grid[:, None]
    assert grid[np.argmin((residual**2).sum(1))] == pytest.approx(y.mean(), abs=1e-3)
    assert grid[np.argmin(np.abs(residual).sum(1))] == pytest.approx(np.median(y), abs=1e-3)
