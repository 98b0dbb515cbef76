"""The triplet backward vs torch autograd on random MLPs; the worked 2-layer example."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from labs.lab04_dl import backprop


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("activation", backprop.ACTIVATIONS)
def test_batched_backward_equals_torch(seed, activation):
    rng = np.random.default_rng(seed)
    sizes = [int(rng.integers(2, 10)) for _ in range(int(rng.integers(2, 5)))]
    params = [(rng.normal(size=(b, a)), rng.normal(size=b)) for a, b in zip(sizes[:-1], sizes[1:], strict=True)]
    X, y = rng.normal(size=(6, sizes[0])), rng.integers(0, sizes[-1], 6)
    logits, cache = backprop.forward(params, X, activation)
    _, delta = backprop.cross_entropy(logits, y)
    grads = backprop.backward(params, cache, delta, activation)
    tp = [(torch.tensor(W, requires_grad=True), torch.tensor(b, requires_grad=True)) for W, b in params]
    h = torch.tensor(X)
    for i, (W, b) in enumerate(tp):
        h = h @ W.T + b
        if i < len(tp) - 1:
            h = torch.relu(h) if activation == "relu" else torch.tanh(h)
    torch.nn.functional.cross_entropy(h, torch.tensor(y)).backward()
    for (dW, db), (W, b) in zip(grads, tp, strict=True):
        np.testing.assert_allclose(dW, W.grad.numpy(), rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(db, b.grad.numpy(), rtol=1e-9, atol=1e-12)
    assert cache.shapes()[0]["x"] == [6, sizes[0]]


def test_worked_example_numbers():
    out = backprop.worked_example()
    steps = {s["name"].split(" =")[0]: s["value"] for s in out["steps"]}
    assert steps["z2"] == [1.12, 1.48]
    assert steps["L"] == pytest.approx(0.5 * (0.12**2 + 1.48**2))
    assert steps["∂L/∂W1"] == [[1.096, 2.192], [1.256, 2.512]]
    assert out["torch_autograd_max_abs_diff"] < 1e-12


@pytest.mark.parametrize("seed", range(3))
def test_worked_random_inputs_match_torch(seed):
    rng = np.random.default_rng(seed)
    W1, b1, W2, b2, x = rng.normal(size=(4, 3)), rng.normal(size=4), rng.normal(size=(3, 4)), rng.normal(size=3), rng.normal(size=3)
    for loss, target in (("mse", rng.normal(size=3)), ("ce", 1)):
        for act in backprop.ACTIVATIONS:
            assert backprop.worked(W1, b1, W2, b2, x, target, loss, act)["torch_autograd_max_abs_diff"] < 1e-12


def test_worked_from_lists_names_the_shape_error():
    with pytest.raises(ValueError, match="x has 3 entries but W1 has 2 columns"):
        backprop.worked_from_lists([[1, 2], [3, 4]], [0, 0], [[1, 1]], [0], [1, 2, 3], [1.0])
    with pytest.raises(ValueError, match="class index"):
        backprop.worked_from_lists([[1, 2]], [0], [[1], [2]], [0, 0], [1, 2], 5, loss="ce")
