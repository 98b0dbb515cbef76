"""Each worked exercise, checked against an independent computation."""

from __future__ import annotations

import math

import pytest

from labs.lab01_math import exercises


def test_cosine():
    r = exercises.cosine_of_34_and_43()
    assert r["answer"]["cosine"] == pytest.approx(24 / 25)
    assert r["answer"]["angle_deg"] == pytest.approx(math.degrees(math.acos(0.96)), abs=1e-4)
    assert r["torch_cosine"] == pytest.approx(0.96, abs=1e-12)


def test_mlp_shapes():
    r = exercises.mlp_shapes()
    assert r["answer"]["parameters"] == 784 * 256 + 256 + 256 * 128 + 128 + 128 * 10 + 10
    assert r["answer"]["output_shape"] == [32, 10]


def test_sigmoid_mse_gradient():
    r = exercises.sigmoid_mse_gradient()
    s = 1 / (1 + math.exp(-1.0))
    assert r["answer"]["dL_dw"] == pytest.approx(-2 * (1 - s) * s * (1 - s) * 2, rel=1e-12)
    assert r["sympy"]["dL_dw"] == pytest.approx(r["answer"]["dL_dw"], rel=1e-12)
    assert r["max_error_vs_autograd"] < 1e-12


def test_spam_posterior():
    r = exercises.spam_posterior()
    assert r["answer"]["p_spam_given_free"] == pytest.approx(0.12 / 0.16)
    odds = (0.2 * 0.6 * 0.3) / (0.8 * 0.05 * 0.01)
    assert r["answer"]["p_spam_given_free_and_winner"] == pytest.approx(odds / (1 + odds))
    assert r["simulated_p_spam_given_free"] == pytest.approx(0.75, abs=0.01)


def test_gaussian_mle_equals_mse():
    r = exercises.gaussian_mle_equals_mse()
    assert r["answer"]["max_difference"] < 1e-6
    assert r["answer"]["sigma_mle"] == pytest.approx(r["answer"]["sqrt_mse"], rel=1e-6)


def test_kl_bernoulli():
    r = exercises.kl_bernoulli_03_05()
    nats = 0.3 * math.log(0.6) + 0.7 * math.log(1.4)
    assert r["answer"]["nats"] == pytest.approx(nats, rel=1e-12)
    assert r["answer"]["bits"] == pytest.approx(nats / math.log(2), rel=1e-12)
    assert r["torch_kl"] == pytest.approx(nats, rel=1e-12)
    assert r["answer"]["reverse_nats"] == pytest.approx(0.5 * math.log(0.5 / 0.3) + 0.5 * math.log(0.5 / 0.7))
