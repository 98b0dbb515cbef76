"""Our reverse-mode autodiff vs torch autograd on random MLPs; reused nodes; deep graphs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from labs.lab04_dl.autograd import Tensor, cross_entropy, mlp


@pytest.mark.parametrize("seed", range(5))
def test_mlp_cross_entropy_gradients_equal_torch(seed):
    rng = np.random.default_rng(seed)
    sizes = [int(rng.integers(2, 9)) for _ in range(4)]
    X, y = rng.normal(size=(7, sizes[0])), rng.integers(0, sizes[-1], 7)
    raw = [(rng.normal(size=(b, a)), rng.normal(size=b)) for a, b in zip(sizes[:-1], sizes[1:], strict=True)]
    ours = [(Tensor(W, requires_grad=True), Tensor(b, requires_grad=True)) for W, b in raw]
    cross_entropy(mlp(Tensor(X), ours), y).backward()
    ref = [(torch.tensor(W, requires_grad=True), torch.tensor(b, requires_grad=True)) for W, b in raw]
    h = torch.tensor(X)
    for i, (W, b) in enumerate(ref):
        h = h @ W.T + b
        h = torch.relu(h) if i < len(ref) - 1 else h
    torch.nn.functional.cross_entropy(h, torch.tensor(y)).backward()
    for (W, b), (tW, tb) in zip(ours, ref, strict=True):
        np.testing.assert_allclose(W.grad, tW.grad.numpy(), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(b.grad, tb.grad.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("seed", range(3))
def test_elementwise_ops_and_broadcasting_equal_torch(seed):
    rng = np.random.default_rng(seed)
    a, b = rng.uniform(0.5, 2, (4, 3)), rng.uniform(0.5, 2, (1, 3))
    A, B = Tensor(a, requires_grad=True), Tensor(b, requires_grad=True)
    ((A * B - B / A + (A ** 2).tanh()).exp().log().sum(axis=1).mean() + A.max(axis=1).sum()).backward()
    ta, tb = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    ((ta * tb - tb / ta + (ta ** 2).tanh()).exp().log().sum(1).mean() + ta.max(1).values.sum()).backward()
    np.testing.assert_allclose(A.grad, ta.grad.numpy(), rtol=1e-10)
    np.testing.assert_allclose(B.grad, tb.grad.numpy(), rtol=1e-10)


def test_reused_node_accumulates():
    a = Tensor(np.array(3.0), requires_grad=True)
    b = a + a  # the classic bug: a recursive backward gives 1 here, or double-counts a shared subtree
    b.backward()
    assert a.grad == 2.0
    c = Tensor(np.array(2.0), requires_grad=True)
    d = c * c
    e = d + d  # e = 2c², de/dc = 4c = 8: d's gradient must be summed before it flows to c
    e.backward()
    assert c.grad == 8.0


def test_deep_chain_has_no_recursion_limit():
    x = Tensor(np.array(1.0), requires_grad=True)
    h = x
    for _ in range(5_000):  # each step is 2 nodes: 10,000 deep, ten times the recursion limit
        h = h * 1.0 + 0.0
    h.backward()
    assert x.grad == 1.0


def test_backward_needs_a_scalar_or_a_gradient():
    with pytest.raises(ValueError):
        (Tensor(np.ones(3), requires_grad=True) * 2).backward()
