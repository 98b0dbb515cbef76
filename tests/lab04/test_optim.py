"""Each optimizer vs torch.optim: exact variants bit-identical over 1,000 steps; textbook Adam drifts."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from labs.lab04_dl import optim


@pytest.mark.parametrize("name", optim.OPTIMIZERS)
def test_bit_exact_over_1000_steps(name):
    r = optim.compare(name, steps=1000, weight_decay=0.01 if name in ("adamw", "sgd") else 0.0)
    assert r["exact"]["bit_exact"], r["exact"]
    assert r["loss_last"] < r["loss_first"]


@pytest.mark.parametrize("name", ["adam", "adamw"])
def test_textbook_order_drifts_but_stays_close(name):
    r = optim.compare(name, steps=200, checkpoints=(200,))
    gap = r["textbook"]["max_abs_diff"]["200"]
    assert 0 < gap < 1e-5


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("name", optim.OPTIMIZERS)
def test_random_shapes_and_gradients(seed, name):
    rng = np.random.default_rng(seed)
    shapes = [tuple(int(s) for s in rng.integers(1, 40, size=rng.integers(1, 3))) for _ in range(3)]
    ps = [rng.normal(size=s).astype(np.float32) for s in shapes]
    ref = [torch.from_numpy(p.copy()).requires_grad_(True) for p in ps]
    lr = float(rng.uniform(1e-4, 1e-1))
    ours, theirs = optim.make(name, lr, 0.05), optim.make_torch(name, ref, lr, 0.05)
    for _ in range(30):
        gs = [(rng.normal(size=p.shape) * rng.uniform(1e-3, 10)).astype(np.float32) for p in ps]
        for r, g in zip(ref, gs, strict=True):
            r.grad = torch.from_numpy(g.copy())
        theirs.step()
        ours.step(ps, gs)
    for p, r in zip(ps, ref, strict=True):
        np.testing.assert_array_equal(p, r.detach().numpy())


def test_unknown_optimizer_is_refused():
    with pytest.raises(ValueError, match="unknown optimizer"):
        optim.make("lion", 1e-3)


def test_paths_reach_toward_the_minimum():
    start = np.array([-1.5, 2.0])
    for name in ("momentum", "adam"):
        end = optim.path(name, 500)[-1]
        assert np.linalg.norm(end - 1) < np.linalg.norm(start - 1)
