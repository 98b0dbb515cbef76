"""Warmup -> cosine against torch's SequentialLR(LinearLR, CosineAnnealingLR) on random settings."""

import numpy as np
import pytest
import torch

from labs.lab02_pytorch import schedule


def _torch_lrs(lr, W, T, r):
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr)
    warm = torch.optim.lr_scheduler.LinearLR(opt, start_factor=1 / W, end_factor=1.0, total_iters=max(W - 1, 1))
    cos = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=T - W, eta_min=lr * r)
    sched = torch.optim.lr_scheduler.SequentialLR(opt, [warm, cos], milestones=[W])
    out = []
    for _ in range(T):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


def test_matches_torch_schedulers_on_random_settings():
    rng = np.random.default_rng(0)
    for _ in range(15):
        W = int(rng.integers(2, 30))
        T = W + int(rng.integers(5, 200))
        lr, r = float(rng.uniform(1e-4, 1e-1)), float(rng.uniform(0, 0.5))
        ours = schedule.lr_curve(lr, W, T, r)
        assert np.allclose(ours, _torch_lrs(lr, W, T, r), rtol=1e-9, atol=1e-12), (W, T, lr, r)


@pytest.mark.parametrize("W, T", [(1, 10), (10, 10), (5, 100)])
def test_edges(W, T):
    m = [schedule.multiplier(t, W, T, 0.1) for t in range(T)]
    assert m[0] == pytest.approx(1 / W)
    assert max(m) == pytest.approx(1.0)
    assert min(m) >= 0.1 - 1e-12


def test_plot_is_a_png():
    assert schedule.plot(1e-3, 10, 100).startswith(b"\x89PNG")
