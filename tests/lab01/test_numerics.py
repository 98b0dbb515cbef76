"""Finite differences against autograd and torch.autograd.gradcheck; the measured best step sizes."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from labs.lab01_math import numerics


@pytest.fixture(scope="module")
def curve():
    return numerics.error_curve()


def test_best_h_is_within_a_decade_of_theory(curve):
    for dtype in ("float32", "float64"):
        for scheme in ("central", "forward"):
            measured, theory = curve["best_h"][dtype][scheme], curve["best_h"][dtype][f"{scheme}_theory"]
            assert abs(math.log10(measured / theory)) <= 1.0, (dtype, scheme, measured, theory)
    assert 1e-3 <= curve["best_h"]["float32"]["central"] <= 3e-2
    assert 1e-6 <= curve["best_h"]["float64"]["central"] <= 3e-5


def test_the_curve_is_u_shaped_and_float32_breaks_at_tiny_h(curve):
    for dtype in ("float32", "float64"):
        err = np.asarray(curve["relative_error"][dtype]["central"])
        i = int(np.argmin(err))
        assert err[0] > 100 * err[i] and err[-1] > 100 * err[i]  # both ends far worse than the bottom
    assert curve["float32_at_1e-8"]["x_plus_h_equals_x"]
    assert curve["float32_at_1e-8"]["relative_error"] == pytest.approx(1.0)  # the "derivative" is 0
    assert curve["best_h"]["float64"]["central_error"] < 1e-9 < curve["best_h"]["float32"]["central_error"]


@pytest.mark.parametrize("seed", range(4))
def test_fd_gradient_matches_autograd_and_gradcheck(seed):
    g = torch.Generator().manual_seed(seed)
    W = torch.randn(5, 4, generator=g, dtype=torch.float64)

    def f(x):
        return torch.tanh(W @ x).pow(2).sum() + x.exp().sum()

    x = torch.randn(4, generator=g, dtype=torch.float64, requires_grad=True)
    (auto,) = torch.autograd.grad(f(x), x)
    torch.testing.assert_close(numerics.fd_gradient(f, x), auto, atol=1e-8, rtol=1e-7)
    assert torch.autograd.gradcheck(f, (x,))  # torch's own finite-difference check agrees


def test_float32_finite_differences_cannot_check_gradients_tightly():
    x = torch.tensor([0.3, -1.2, 0.8], dtype=torch.float32)
    fd = numerics.fd_gradient(lambda t: (t.sin() * t.exp()).sum(), x)
    exact = (x.double().cos() + x.double().sin()) * x.double().exp()
    err = float((fd.double() - exact).abs().max())
    assert 1e-7 < err < 1e-2
