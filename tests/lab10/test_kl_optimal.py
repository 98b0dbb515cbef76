"""The closed-form KL-constrained optimum against scipy's numerical maximiser, on random instances."""

import numpy as np
import pytest

from labs.lab10_finetune import kl_optimal as K


def _instance(rng):
    n = int(rng.integers(2, 9))
    return rng.dirichlet(np.ones(n)), rng.normal(0, 1, n), float(rng.uniform(0.2, 3.0))


def test_closed_form_equals_scipys_optimum_on_random_instances():
    rng = np.random.default_rng(0)
    for _ in range(25):
        pi_ref, r, beta = _instance(rng)
        star, numeric = K.optimal_policy(pi_ref, r, beta), K.numerical_optimum(pi_ref, r, beta)
        assert np.abs(star - numeric).max() < 1e-5
        # no policy scipy finds beats the formula, and the optimum's value is β·log Z
        assert K.objective(star, pi_ref, r, beta) >= K.objective(numeric, pi_ref, r, beta) - 1e-9
        assert K.objective(star, pi_ref, r, beta) == pytest.approx(beta * K.log_Z(pi_ref, r, beta), abs=1e-9)


def test_random_policies_never_beat_the_optimum():
    rng = np.random.default_rng(1)
    pi_ref, r, beta = _instance(rng)
    best = K.objective(K.optimal_policy(pi_ref, r, beta), pi_ref, r, beta)
    others = rng.dirichlet(np.ones(len(pi_ref)), size=200)
    assert max(K.objective(p, pi_ref, r, beta) for p in others) < best


def test_beta_limits_and_the_reward_read_back():
    pi_ref, r = [0.5, 0.3, 0.2], [1.0, 0.0, 2.0]
    assert K.optimal_policy(np.array(pi_ref), r, 1e4) == pytest.approx(pi_ref, abs=1e-3)
    assert K.optimal_policy(np.array(pi_ref), r, 0.01)[2] == pytest.approx(1.0, abs=1e-6)
    out = K.solve(pi_ref, r, 1.0)
    assert out["implied_rewards"] == pytest.approx(r, abs=1e-6)
    assert out["objective"]["pi_star"] > out["objective"]["pi_ref"]
    sweep = K.beta_sweep(pi_ref, r, [0.1, 1.0, 10.0])
    assert [s["kl"] for s in sweep] == sorted((s["kl"] for s in sweep), reverse=True)
