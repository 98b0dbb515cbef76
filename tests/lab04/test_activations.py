"""Activations and the softmax Jacobian vs torch on random inputs; gradient flow with residuals."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from labs.lab04_dl import activations as A


@pytest.mark.parametrize("seed", range(3))
def test_activations_equal_torch(seed):
    x = np.random.default_rng(seed).normal(0, 4, 1000)
    t = torch.tensor(x)
    np.testing.assert_array_equal(A.relu(x), F.relu(t).numpy())
    np.testing.assert_allclose(A.gelu(x), F.gelu(t).numpy(), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(A.gelu_tanh(x), F.gelu(t, approximate="tanh").numpy(), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(A.silu(x), F.silu(t).numpy(), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(A.softmax(x.reshape(10, 100)), torch.softmax(t.reshape(10, 100), -1).numpy(), rtol=1e-12)


def test_swiglu_equals_torch_composition():
    rng = np.random.default_rng(0)
    x, W, V = rng.normal(size=(5, 8)), rng.normal(size=(8, 16)), rng.normal(size=(8, 16))
    tx, tW, tV = (torch.tensor(a) for a in (x, W, V))
    np.testing.assert_allclose(A.swiglu(x, W, V), (F.silu(tx @ tW) * (tx @ tV)).numpy(), rtol=1e-12)


@pytest.mark.parametrize("seed", range(4))
def test_softmax_jacobian_equals_torch(seed):
    z = np.random.default_rng(seed).normal(size=7)
    ref = torch.autograd.functional.jacobian(lambda v: torch.softmax(v, 0), torch.tensor(z)).numpy()
    J = A.softmax_jacobian(z)
    np.testing.assert_allclose(J, ref, atol=1e-14)
    np.testing.assert_allclose(J.sum(axis=0), 0, atol=1e-14)  # softmax sums to 1: its Jacobian's columns sum to 0


def test_residuals_keep_gradient_norms_within_a_small_factor():
    plain = A.gradient_norms(30, 32, residual=False, activation="tanh", gain=0.5)
    res = A.gradient_norms(30, 32, residual=True, activation="tanh", gain=0.5)
    assert plain[0] / plain[-1] < 1e-6  # vanishes toward the input
    assert 0.5 < res[0] / res[-1] < 5
