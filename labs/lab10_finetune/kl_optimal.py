"""The KL-constrained optimal policy on a small discrete example:
`curl -s localhost:8010/calc/kl-optimal -H 'content-type: application/json' -d '{"pi_ref": [0.5, 0.3, 0.2], "rewards": [1, 0, 2], "beta": 1}'`.

RLHF maximises, for each prompt x, expected reward minus β times the KL to the reference:
    J(π) = Σ_y π(y|x)·r(x,y) − β·Σ_y π(y|x)·log(π(y|x)/π_ref(y|x)).
Its maximiser over the simplex is closed-form (a Gibbs distribution):
    π*(y|x) = π_ref(y|x)·exp(r(x,y)/β) / Z(x),   Z(x) = Σ_y π_ref(y|x)·exp(r(x,y)/β),
with value J(π*) = β·log Z(x). Inverted, r(x,y) = β·log(π*(y|x)/π_ref(y|x)) + β·log Z(x): the step DPO
starts from (objectives.py). β → ∞ gives π_ref back; β → 0 puts all mass on the best reward.

`numerical_optimum` finds the same π without the formula: SLSQP over the probabilities themselves,
bounded to [0, 1] and constrained to sum to 1, so the check shares no algebra with the closed form.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize
from scipy.special import logsumexp


def optimal_policy(pi_ref: np.ndarray, r: np.ndarray, beta: float) -> np.ndarray:
    """π* ∝ π_ref·exp(r/β), computed in log space so a small β does not overflow."""
    logits = np.log(pi_ref) + np.asarray(r, dtype=float) / beta
    return np.exp(logits - logsumexp(logits))


def log_Z(pi_ref: np.ndarray, r: np.ndarray, beta: float) -> float:
    return float(logsumexp(np.log(pi_ref) + np.asarray(r, dtype=float) / beta))


def objective(pi: np.ndarray, pi_ref: np.ndarray, r: np.ndarray, beta: float) -> float:
    """J(π) = E_π[r] − β·KL(π‖π_ref); 0·log 0 taken as 0."""
    pi = np.asarray(pi, dtype=float)
    return float(pi @ np.asarray(r, dtype=float) - beta * kl(pi, pi_ref))


def kl(pi: np.ndarray, pi_ref: np.ndarray) -> float:
    pi = np.asarray(pi, dtype=float)
    nz = pi > 0
    return float(np.sum(pi[nz] * (np.log(pi[nz]) - np.log(np.asarray(pi_ref)[nz]))))


def numerical_optimum(pi_ref: np.ndarray, r: np.ndarray, beta: float) -> np.ndarray:
    """argmax_π J(π) by SLSQP on the simplex, started from the uniform policy."""
    n = len(pi_ref)
    result = minimize(lambda p: -objective(np.clip(p, 0, 1), pi_ref, r, beta), np.full(n, 1 / n), method="SLSQP",
                      bounds=[(0.0, 1.0)] * n, constraints=[{"type": "eq", "fun": lambda p: p.sum() - 1}],
                      options={"ftol": 1e-14, "maxiter": 1000})
    p = np.clip(result.x, 0, None)
    return p / p.sum()


def solve(pi_ref: list[float], rewards: list[float], beta: float) -> dict[str, object]:
    """The closed form beside scipy's optimum, their objective values, β·log Z and the recovered rewards."""
    ref, r = np.asarray(pi_ref, dtype=float), np.asarray(rewards, dtype=float)
    star, numeric = optimal_policy(ref, r, beta), numerical_optimum(ref, r, beta)
    # the reward read back from π* is r up to the constant β·log Z: DPO's implicit reward
    implied = beta * (np.log(star) - np.log(ref)) + beta * log_Z(ref, r, beta)
    return {"pi_star": _round(star), "scipy": _round(numeric), "max_abs_diff": float(np.abs(star - numeric).max()),
            "objective": {"pi_star": round(objective(star, ref, r, beta), 6),
                          "scipy": round(objective(numeric, ref, r, beta), 6),
                          "pi_ref": round(objective(ref, ref, r, beta), 6)},
            "beta_log_Z": round(beta * log_Z(ref, r, beta), 6), "kl_pi_star": round(kl(star, ref), 6),
            "expected_reward": {"pi_star": round(float(star @ r), 6), "pi_ref": round(float(ref @ r), 6)},
            "implied_rewards": _round(implied)}


def beta_sweep(pi_ref: list[float], rewards: list[float], betas: list[float]) -> list[dict[str, float]]:
    """How β trades reward for staying close: E_π*[r] and KL(π*‖π_ref) per β."""
    ref, r = np.asarray(pi_ref, dtype=float), np.asarray(rewards, dtype=float)
    out = []
    for beta in betas:
        star = optimal_policy(ref, r, beta)
        out.append({"beta": beta, "expected_reward": round(float(star @ r), 4), "kl": round(kl(star, ref), 4),
                    "pi_star": _round(star, 4)})
    return out


def _round(x: np.ndarray, digits: int = 6) -> list[float]:
    return [round(float(v), digits) for v in x]
