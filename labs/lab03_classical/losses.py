"""Losses as negative log-likelihoods: minimising the loss is maximising a likelihood.

    python -m labs.lab03_classical.losses         # the same weights found both ways on real data

loss            per item                           the likelihood it is the NLL of (up to constants)
MSE             (y − ŷ)²                           y ~ N(ŷ, σ²):  −log p = ½log(2πσ²) + (y − ŷ)²/(2σ²)
MAE             |y − ŷ|                            y ~ Laplace(ŷ, b):  −log p = log(2b) + |y − ŷ|/b
cross-entropy   −log p_y                           y ~ Categorical(p),  p = softmax(z)
BCE             −[y·log p + (1 − y)·log(1 − p)]    y ~ Bernoulli(p),  p = σ(z)
hinge           max(0, 1 − t·f), t = ±1            none: e^{−hinge(+1, f)} + e^{−hinge(−1, f)} is not
                                                   constant in f, so it normalises to no p(t | f);
                                                   hinge is a margin surrogate for the 0-1 loss
So σ fixed, the Gaussian NLL is an increasing affine map of the MSE and both have one argmin; the
same holds for Laplace and MAE. The constant that minimises Σ(y − c)² is the mean, Σ|y − c| the median.

Checked against sklearn.metrics, scipy.stats log-densities, torch's losses and statsmodels' OLS,
QuantReg(q = 0.5) and Logit fits (tests/lab03/test_losses.py).
"""

from __future__ import annotations

import json

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit, log_softmax
from sklearn.datasets import load_breast_cancer, load_diabetes


def mse(y: np.ndarray, y_hat: np.ndarray) -> float:
    return float(np.mean((np.asarray(y) - y_hat) ** 2))


def mae(y: np.ndarray, y_hat: np.ndarray) -> float:
    return float(np.mean(np.abs(np.asarray(y) - y_hat)))


def cross_entropy(y: np.ndarray, z: np.ndarray) -> float:
    """Mean −log softmax(z)_y for integer labels y and logits z (n × k); log-sum-exp keeps it stable."""
    y = np.asarray(y, dtype=int)
    return float(-np.mean(log_softmax(np.asarray(z, dtype=float), axis=1)[np.arange(y.size), y]))


def bce_with_logits(y: np.ndarray, z: np.ndarray) -> float:
    """Mean −[y log σ(z) + (1 − y) log σ(−z)] = mean(log(1 + e^z) − y·z), stable for any z."""
    z = np.asarray(z, dtype=float)
    return float(np.mean(np.logaddexp(0.0, z) - np.asarray(y) * z))


def hinge(t: np.ndarray, f: np.ndarray) -> float:
    """Mean max(0, 1 − t·f) for labels t in {−1, +1}."""
    return float(np.mean(np.maximum(0.0, 1.0 - np.asarray(t) * np.asarray(f))))


def gaussian_nll(y: np.ndarray, mu: np.ndarray, sigma: float) -> float:
    """Σ −log N(y; μ, σ²) = n/2·log(2πσ²) + n·MSE/(2σ²)."""
    n = np.asarray(y).size
    return float(n / 2 * np.log(2 * np.pi * sigma**2) + n * mse(y, mu) / (2 * sigma**2))


def laplace_nll(y: np.ndarray, mu: np.ndarray, b: float) -> float:
    """Σ −log Laplace(y; μ, b) = n·log(2b) + n·MAE/b."""
    n = np.asarray(y).size
    return float(n * np.log(2 * b) + n * mae(y, mu) / b)


def hinge_normaliser(f: np.ndarray) -> np.ndarray:
    """e^{−hinge(+1, f)} + e^{−hinge(−1, f)}: a likelihood would make this 1 for every f."""
    f = np.asarray(f, dtype=float)
    return np.exp(-np.maximum(0, 1 - f)) + np.exp(-np.maximum(0, 1 + f))


def with_bias(X: np.ndarray) -> np.ndarray:
    return np.column_stack([np.ones(len(X)), X])


def fit_least_squares(X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """argmin_w ‖y − Xw‖² (the normal equations, solved by lstsq for stability)."""
    return np.linalg.lstsq(X, y, rcond=None)[0]


def fit_gaussian_mle(X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float]:
    """argmax over (w, σ) of Π N(y_i; x_iᵀw, σ²), by L-BFGS on the NLL with analytic gradients."""
    n, d = X.shape

    def nll_and_grad(theta: np.ndarray) -> tuple[float, np.ndarray]:
        w, log_sigma = theta[:d], theta[d]
        r = y - X @ w
        s2 = np.exp(2 * log_sigma)
        value = n * log_sigma + n / 2 * np.log(2 * np.pi) + r @ r / (2 * s2)
        grad = np.r_[-(X.T @ r) / s2, n - r @ r / s2]
        return value, grad

    theta0 = np.r_[np.zeros(d), np.log(y.std())]
    res = minimize(nll_and_grad, theta0, jac=True, method="L-BFGS-B", options={"gtol": 1e-9, "ftol": 1e-15, "maxiter": 10_000})
    return res.x[:d], float(np.exp(res.x[d]))


def fit_least_absolute(X: np.ndarray, y: np.ndarray, iters: int = 500, eps: float = 1e-8) -> np.ndarray:
    """argmin_w Σ|y − Xw| by iteratively reweighted least squares (weights 1/|r|)."""
    w = fit_least_squares(X, y)
    for _ in range(iters):
        r = np.abs(y - X @ w)
        sw = 1.0 / np.sqrt(np.maximum(r, eps))
        new = fit_least_squares(X * sw[:, None], y * sw)
        if np.abs(new - w).max() < 1e-10 * (1 + np.abs(w).max()):
            return new
        w = new
    return w


def fit_logistic(X: np.ndarray, y: np.ndarray, lam: float = 0.0, iters: int = 100) -> np.ndarray:
    """argmin_w Σ BCE(y, σ(Xw)) + (λ/2)‖w‖² by Newton's method (the Bernoulli MLE when λ = 0)."""
    w = np.zeros(X.shape[1])
    for _ in range(iters):
        p = expit(X @ w)
        g = X.T @ (p - y) + lam * w
        H = X.T @ (X * (p * (1 - p))[:, None]) + lam * np.eye(X.shape[1])
        step = np.linalg.solve(H, g)
        w -= step
        if np.abs(step).max() < 1e-12:
            break
    return w


def mle_demo() -> dict:
    """The loss fit and the likelihood fit agree, on diabetes (regression) and breast_cancer (classes)."""
    Xd, yd = load_diabetes(return_X_y=True)
    Xd = with_bias((Xd - Xd.mean(0)) / Xd.std(0))  # unit-scale features: a well-conditioned likelihood
    w_mse = fit_least_squares(Xd, yd)
    w_mle, sigma = fit_gaussian_mle(Xd, yd)
    w_mae = fit_least_absolute(Xd, yd)
    b_hat = mae(yd, Xd @ w_mae)  # the Laplace scale's MLE given w is the MAE
    Xb, yb = load_breast_cancer(return_X_y=True)
    Xb = Xb[:, [0, 1, 4]]  # mean radius, texture, smoothness: a small model on data that is not separable
    Xb = with_bias((Xb - Xb.mean(0)) / Xb.std(0))
    w_bce = fit_logistic(Xb, yb)
    return {
        "gaussian": {"max_abs_diff_w_mse_vs_w_mle": float(np.abs(w_mse - w_mle).max()),
                     "sigma_mle_squared": sigma**2, "mse_at_fit": mse(yd, Xd @ w_mse)},
        "laplace": {"mae_at_lad_fit": mae(yd, Xd @ w_mae), "mae_at_ols_fit": mae(yd, Xd @ w_mse),
                    "laplace_nll_at_lad_fit": laplace_nll(yd, Xd @ w_mae, b_hat),
                    "laplace_nll_at_ols_fit": laplace_nll(yd, Xd @ w_mse, mae(yd, Xd @ w_mse))},
        "bernoulli": {"weights": w_bce.tolist(), "bce_at_fit": bce_with_logits(yb, Xb @ w_bce)},
        "location": {"argmin_squared_is_mean": float(np.mean(yd)), "argmin_absolute_is_median": float(np.median(yd))},
        "hinge_normaliser_at_f=-2,0,2": hinge_normaliser(np.array([-2.0, 0.0, 2.0])).tolist(),
    }


if __name__ == "__main__":
    print(json.dumps(mle_demo(), indent=2))
