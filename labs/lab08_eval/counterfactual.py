"""Counterfactual (off-policy) evaluation: the value of a new policy from logs a different policy wrote.

    curl -s localhost:8008/online/off-policy -H 'content-type: application/json' -d '{"n_logs": 2000, "repeats": 50}'
    python -m labs.lab08_eval.counterfactual     # the table the README shows

The world: contexts x ~ P(x) (query types), actions a (say which prompt or model answers), a reward
r ~ Bernoulli(ρ(x, a)) (thumbs up). The logging policy μ(a|x) chose the logged actions and recorded its
propensity μ(a_i|x_i); the target policy π(a|x) is the one we would like to ship. With w_i = π(a_i|x_i) / μ(a_i|x_i):

    true value   V(π)  = Σ_x P(x) Σ_a π(a|x) ρ(x, a)          (known here because the world is simulated)
    naive        V̂     = mean r_i                             (the logging policy's value, not π's)
    IPS          V̂_IPS = (1/n) Σ_i w_i r_i                    (unbiased if μ > 0 wherever π > 0)
    SNIPS        V̂_SN  = Σ_i w_i r_i / Σ_i w_i                (self-normalised: a little bias, much less variance)
    DM           V̂_DM  = (1/n) Σ_i Σ_a π(a|x_i) ρ̂(x_i, a)     (a reward model ρ̂: here each action's mean, blind to x)
    DR           V̂_DR  = V̂_DM + (1/n) Σ_i w_i (r_i − ρ̂(x_i, a_i))
    ESS          (Σ w_i)² / Σ w_i²                            (how many logs the weighted estimate is worth)

`logging_epsilon` sets how exploratory μ is (ε-greedy around its own favourite action): with little
exploration the target's actions are rare in the logs, the weights are large, and IPS's variance grows.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from labs.lab08_eval.stats import StatsError

ESTIMATORS = ("naive", "ips", "snips", "dm", "dr")


@dataclass
class World:
    p_x: np.ndarray  # (X,)
    rho: np.ndarray  # (X, A) reward probabilities
    mu: np.ndarray  # (X, A) logging policy
    pi: np.ndarray  # (X, A) target policy

    def value(self, policy: np.ndarray) -> float:
        return float(self.p_x @ (policy * self.rho).sum(axis=1))


def make_world(n_contexts: int = 6, n_actions: int = 4, logging_epsilon: float = 0.3, seed: int = 0) -> World:
    """A random world; μ is ε-greedy on a stale guess of the best action, π is greedy-ish on a better one."""
    if not 0 < logging_epsilon <= 1:
        raise StatsError("logging_epsilon must be in (0, 1]: μ must give every action some chance")
    rng = np.random.default_rng(seed)
    p_x = rng.dirichlet(np.ones(n_contexts))
    rho = rng.uniform(0.05, 0.9, (n_contexts, n_actions))
    stale = np.argmax(rho + rng.normal(0, 0.3, rho.shape), axis=1)  # what the old system believed
    mu = np.full((n_contexts, n_actions), logging_epsilon / n_actions)
    mu[np.arange(n_contexts), stale] += 1 - logging_epsilon
    better = rho + rng.normal(0, 0.05, rho.shape)  # the new system's (closer) belief, softened
    pi = np.exp(better / 0.05)
    pi /= pi.sum(axis=1, keepdims=True)
    return World(p_x, rho, mu, pi)


def log_data(world: World, n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """n logged interactions under μ: context, action, reward and the logged propensity μ(a|x)."""
    x = rng.choice(len(world.p_x), size=n, p=world.p_x)
    cum = np.cumsum(world.mu[x], axis=1)
    a = np.minimum((rng.random(n)[:, None] > cum).sum(axis=1), world.mu.shape[1] - 1)  # inverse-CDF draw
    r = (rng.random(n) < world.rho[x, a]).astype(float)
    return {"x": x, "a": a, "r": r, "propensity": world.mu[x, a]}


def estimate(logs: dict[str, np.ndarray], pi: np.ndarray) -> dict[str, float]:
    """Every estimator of V(π) from one log (π given as an (X, A) table)."""
    x, a, r, prop = logs["x"], logs["a"], logs["r"], logs["propensity"]
    w = pi[x, a] / prop
    X, A = pi.shape
    # The reward model is deliberately too simple: each action's mean reward, ignoring the context, as a
    # real model is wrong somewhere. (A per-(x, a) table of the same logs would make DR's correction
    # exactly zero: within a cell, Σ w (r − mean r) = 0.) DR repairs DM's bias with the weighted residuals.
    sums, counts = np.zeros(A), np.zeros(A)
    np.add.at(sums, a, r)
    np.add.at(counts, a, 1)
    rho_hat = np.tile(np.where(counts > 0, sums / np.maximum(counts, 1), r.mean()), (X, 1))
    dm_each = (pi[x] * rho_hat[x]).sum(axis=1)
    return {"naive": float(r.mean()), "ips": float(np.mean(w * r)),
            "snips": float((w * r).sum() / w.sum()) if w.sum() > 0 else 0.0,
            "dm": float(dm_each.mean()), "dr": float(np.mean(dm_each + w * (r - rho_hat[x, a]))),
            "ess": float(w.sum() ** 2 / (w**2).sum()) if (w > 0).any() else 0.0, "max_weight": float(w.max())}


def evaluate(n_logs: int = 2000, repeats: int = 200, logging_epsilon: float = 0.3, seed: int = 0,
             n_contexts: int = 6, n_actions: int = 4) -> dict:
    """Each estimator's bias, spread and RMSE against the true V(π), over `repeats` independent logs."""
    if n_logs < 1 or repeats < 1:
        raise StatsError("n_logs and repeats must be >= 1")
    world = make_world(n_contexts, n_actions, logging_epsilon, seed)
    truth = world.value(world.pi)
    rng = np.random.default_rng(seed + 1)
    runs = [estimate(log_data(world, n_logs, rng), world.pi) for _ in range(repeats)]
    rows = []
    for name in ESTIMATORS:
        v = np.array([run[name] for run in runs])
        rows.append({"estimator": name, "mean": round(float(v.mean()), 4), "bias": round(float(v.mean() - truth), 4),
                     "sd": round(float(v.std(ddof=1)) if repeats > 1 else 0.0, 4),
                     "rmse": round(float(np.sqrt(np.mean((v - truth) ** 2))), 4)})
    return {"true_value_target": round(truth, 4), "true_value_logging": round(world.value(world.mu), 4),
            "n_logs": n_logs, "repeats": repeats, "logging_epsilon": logging_epsilon,
            "mean_ess": round(float(np.mean([run["ess"] for run in runs])), 1),
            "mean_max_weight": round(float(np.mean([run["max_weight"] for run in runs])), 2), "rows": rows}


def main() -> None:
    for eps in (0.5, 0.1):
        out = evaluate(n_logs=2000, repeats=300, logging_epsilon=eps)
        print(f"logging ε = {eps}: V(π) = {out['true_value_target']}, V(μ) = {out['true_value_logging']}, "
              f"{out['n_logs']} logs × {out['repeats']} repeats, mean ESS {out['mean_ess']}, "
              f"mean max weight {out['mean_max_weight']}")
        for r in out["rows"]:
            print(f"  {r['estimator']:6} mean {r['mean']:.4f}  bias {r['bias']:+.4f}  sd {r['sd']:.4f}  "
                  f"rmse {r['rmse']:.4f}")
    print(json.dumps({"note": "naive is V(μ), not V(π): averaging the logs answers the wrong question"}))


if __name__ == "__main__":
    main()
