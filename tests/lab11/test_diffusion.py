import math

import numpy as np
import pytest
import torch

from labs.lab11_multimodal import diffusion


@pytest.mark.parametrize("T", [3, 10, 200])
def test_closed_form_moments_equal_iterating_the_chain(T):
    """Composing x_t = sqrt(1-b) x_{t-1} + sqrt(b) eps: mean coefficient and variance by recursion."""
    sched = diffusion.Schedule.linear(T)
    coef, var = 1.0, 0.0
    for t in range(1, T + 1):
        b = sched.beta[t - 1]
        coef, var = coef * math.sqrt(1 - b), (1 - b) * var + b
        assert coef == pytest.approx(math.sqrt(sched.abar[t - 1]), rel=1e-12)
        assert var == pytest.approx(1 - sched.abar[t - 1], rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("seed", range(3))
def test_closed_form_and_iterated_chain_agree_in_distribution(seed):
    rng = np.random.default_rng(seed)
    sched = diffusion.Schedule(rng.uniform(0.01, 0.3, 6))
    x0 = rng.normal(size=3)
    n = 200_000
    x = np.broadcast_to(x0, (n, 3)).copy()
    for t in range(1, sched.T + 1):
        x = diffusion.q_step(x, t, rng.standard_normal((n, 3)), sched)
    direct = diffusion.q_sample(x0, sched.T, rng.standard_normal((n, 3)), sched)
    for a in (x, direct):
        np.testing.assert_allclose(a.mean(0), math.sqrt(sched.abar[-1]) * x0, atol=0.01)
        np.testing.assert_allclose(a.std(0), math.sqrt(1 - sched.abar[-1]), atol=0.01)


def test_posterior_variance_is_the_gaussian_product():
    """beta~_t from Bayes: q(x_{t-1}|x_t,x_0) precision = alpha_t/beta_t + 1/(1-abar_{t-1})."""
    sched = diffusion.Schedule(np.random.default_rng(0).uniform(0.01, 0.5, 8))
    for t in range(2, sched.T + 1):
        precision = sched.alpha[t - 1] / sched.beta[t - 1] + 1 / (1 - sched.abar[t - 2])
        assert sched.posterior_var[t - 1] == pytest.approx(1 / precision, rel=1e-10)
    assert sched.posterior_var[0] == 0


def test_the_t3_walk_by_hand():
    out = diffusion.walk([1.0], [0.1, 0.2, 0.3], [[1.0], [1.0], [1.0]], [[1.0], [0.0], [1.0]])
    s1, s2, s3 = out["steps"]
    assert s1["abar"] == pytest.approx(0.9) and s2["abar"] == pytest.approx(0.72) and s3["abar"] == pytest.approx(0.504)
    assert s1["x_t"][0] == pytest.approx(math.sqrt(0.9) + math.sqrt(0.1), abs=1e-6)
    assert s1["loss"] == 0 and s2["loss"] == pytest.approx(1.0)
    assert s1["x0_hat"][0] == pytest.approx(1.0, abs=1e-6)      # a perfect eps_hat recovers x0
    assert out["signal_left"] == pytest.approx(math.sqrt(0.504), abs=1e-6)


def test_schedule_rejects_zero_steps():
    with pytest.raises(ValueError):
        diffusion.Schedule.linear(0)


def test_training_lowers_the_epsilon_loss():
    _, history = diffusion.train(diffusion.Config(steps=60, hidden=64, T=50), every=20)
    assert history[-1]["loss"] < history[0]["loss"] < 1.2


def test_guidance_one_is_the_conditional_model_and_samples_are_images(models):
    labels = np.array([3, 7])
    a = diffusion.sample(models.ddpm, labels, guidance=1.0, seed=4)
    assert a.shape == (2, 8, 8) and 0 <= a.min() and a.max() <= 1
    b = diffusion.sample(models.ddpm, labels, guidance=1.0 + 1e-12, seed=4)   # the two-pass path, w ~ 1
    np.testing.assert_allclose(a, b, atol=1e-4)


def test_starter_samples_look_like_their_class(models):
    labels = np.arange(100) % 10
    samples = diffusion.sample(models.ddpm, labels, guidance=3.0)
    assert (models.classifier.predict(samples) == labels).mean() > 0.5


def test_time_embedding_is_sin_cos():
    e = diffusion.time_embedding(torch.tensor([0, 5]), 8)
    assert e.shape == (2, 8)
    torch.testing.assert_close(e[0], torch.tensor([0.0] * 4 + [1.0] * 4))
