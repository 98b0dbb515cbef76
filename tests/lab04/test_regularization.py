"""Dropout, DropPath, label smoothing, clip-by-norm and L2 decay, each vs torch on random inputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from labs.lab04_dl import regularization as R


@pytest.mark.parametrize("seed", range(4))
def test_dropout_bit_identical_to_torch(seed):
    rng = np.random.default_rng(seed)
    x, p = rng.normal(size=(7, 13)).astype(np.float32), float(rng.uniform(0.05, 0.9))
    torch.manual_seed(seed)
    ref = F.dropout(torch.from_numpy(x), p, training=True).numpy()
    torch.manual_seed(seed)
    np.testing.assert_array_equal(R.dropout(x, p), ref)
    assert R.dropout(x, p, training=False) is x


def test_dropout_keeps_the_expectation():
    x = np.ones((200, 500), np.float32)
    assert R.dropout(x, 0.3, generator=torch.Generator().manual_seed(0)).mean() == pytest.approx(1.0, abs=0.01)


@pytest.mark.parametrize("seed", range(3))
def test_drop_path_is_dropout_on_a_per_example_mask(seed):
    x = np.random.default_rng(seed).normal(size=(6, 4, 5)).astype(np.float32)
    torch.manual_seed(seed)
    mask = F.dropout(torch.ones(6, 1, 1), 0.4, training=True).numpy()
    torch.manual_seed(seed)
    out = R.drop_path(x, 0.4)
    np.testing.assert_array_equal(out, x * mask)
    kept = np.abs(out).reshape(6, -1).max(1) > 0
    assert all(np.all(out[i] != 0) == kept[i] for i in range(6))


@pytest.mark.parametrize("seed", range(4))
def test_label_smoothing_equals_torch(seed):
    rng = np.random.default_rng(seed)
    z, y, eps = rng.normal(size=(9, 6)) * 3, rng.integers(0, 6, 9), float(rng.uniform(0, 0.5))
    ref = F.cross_entropy(torch.tensor(z), torch.tensor(y), label_smoothing=eps).item()
    assert R.label_smoothing_ce(z, y, eps) == pytest.approx(ref, rel=1e-12)


@pytest.mark.parametrize("seed", range(4))
def test_clip_by_norm_equals_torch(seed):
    rng = np.random.default_rng(seed)
    grads = [rng.normal(size=(int(rng.integers(1, 9)), 3)) * rng.uniform(0.1, 5) for _ in range(3)]
    max_norm = float(rng.uniform(0.1, 10))
    params = [torch.zeros(g.shape, dtype=torch.float64, requires_grad=True) for g in grads]
    for p, g in zip(params, grads, strict=True):
        p.grad = torch.tensor(g)
    ref_total = torch.nn.utils.clip_grad_norm_(params, max_norm).item()
    clipped, total = R.clip_by_norm(grads, max_norm)
    assert total == pytest.approx(ref_total, rel=1e-12)
    for c, p in zip(clipped, params, strict=True):
        np.testing.assert_allclose(c, p.grad.numpy(), rtol=1e-12)


def test_l2_decay_equals_torch_sgd_weight_decay():
    rng = np.random.default_rng(0)
    theta, g = rng.normal(size=5), rng.normal(size=5)
    p = torch.tensor(theta, requires_grad=True)
    p.grad = torch.tensor(g)
    torch.optim.SGD([p], lr=0.1, weight_decay=0.01).step()
    np.testing.assert_allclose(theta - 0.1 * R.l2_decay(g, theta, 0.01), p.detach().numpy(), rtol=1e-14)
