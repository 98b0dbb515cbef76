"""BatchNorm, LayerNorm, RMSNorm forward and backward vs torch; gradcheck; pre- vs post-norm."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from labs.lab04_dl import normalization as N


def _torch_grads(fn, x, gamma, beta, dy):
    t = [torch.tensor(a, requires_grad=True) for a in (x, gamma, beta)]
    out = fn(*t)
    out.backward(torch.tensor(dy))
    return out.detach().numpy(), [a.grad.numpy() if a.grad is not None else np.zeros_like(a.detach().numpy()) for a in t]


@pytest.mark.parametrize("seed", range(4))
def test_layer_norm(seed):
    rng = np.random.default_rng(seed)
    n, d = int(rng.integers(2, 9)), int(rng.integers(2, 17))
    x, g, b, dy = rng.normal(size=(n, d)) * 3 + 1, rng.normal(size=d), rng.normal(size=d), rng.normal(size=(n, d))
    y, cache = N.layer_norm(x, g, b)
    ref, grads = _torch_grads(lambda x, g, b: F.layer_norm(x, (d,), g, b, 1e-5), x, g, b, dy)
    np.testing.assert_allclose(y, ref, atol=1e-12)
    for ours, theirs in zip(N.layer_norm_backward(dy, cache), grads, strict=True):
        np.testing.assert_allclose(ours, theirs, atol=1e-11)


@pytest.mark.parametrize("seed", range(4))
def test_batch_norm_training_and_running_stats(seed):
    rng = np.random.default_rng(seed)
    n, d = int(rng.integers(2, 9)), int(rng.integers(2, 17))
    x, g, b, dy = rng.normal(size=(n, d)) * 2 - 1, rng.normal(size=d), rng.normal(size=d), rng.normal(size=(n, d))
    running = {"mean": np.zeros(d), "var": np.ones(d)}
    y, cache = N.batch_norm(x, g, b, running=running)
    rm, rv = torch.zeros(d, dtype=torch.float64), torch.ones(d, dtype=torch.float64)
    ref, grads = _torch_grads(lambda x, g, b: F.batch_norm(x, rm, rv, g, b, training=True), x, g, b, dy)
    np.testing.assert_allclose(y, ref, atol=1e-12)
    np.testing.assert_allclose(running["mean"], rm.numpy(), atol=1e-14)
    np.testing.assert_allclose(running["var"], rv.numpy(), atol=1e-14)
    for ours, theirs in zip(N.batch_norm_backward(dy, cache), grads, strict=True):
        np.testing.assert_allclose(ours, theirs, atol=1e-11)


@pytest.mark.parametrize("seed", range(4))
def test_rms_norm(seed):
    rng = np.random.default_rng(seed)
    x, g, dy = rng.normal(size=(5, 12)), rng.normal(size=12), rng.normal(size=(5, 12))
    y, cache = N.rms_norm(x, g)
    t = [torch.tensor(a, requires_grad=True) for a in (x, g)]
    out = F.rms_norm(t[0], (12,), t[1], eps=1e-6)
    out.backward(torch.tensor(dy))
    np.testing.assert_allclose(y, out.detach().numpy(), atol=1e-12)
    dx, dg = N.rms_norm_backward(dy, cache)
    np.testing.assert_allclose(dx, t[0].grad.numpy(), atol=1e-11)
    np.testing.assert_allclose(dg, t[1].grad.numpy(), atol=1e-11)


def test_layer_norm_backward_passes_gradcheck():
    rng = np.random.default_rng(0)
    args = tuple(torch.tensor(a, requires_grad=True) for a in (rng.normal(size=(3, 7)), rng.normal(size=7), rng.normal(size=7)))
    assert torch.autograd.gradcheck(N.LayerNormFunction.apply, args)


def test_pre_and_post_norm_gradients_are_finite_per_block():
    for placement in ("pre", "post"):
        norms = N.residual_gradients(depth=8, width=16, placement=placement)
        assert len(norms) == 8 and all(np.isfinite(norms)) and min(norms) > 0
    with pytest.raises(ValueError):
        N.residual_gradients(placement="middle")
