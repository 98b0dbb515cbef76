"""The from-scratch digits MLP tracks its torch twin (same init, batches, schedule) for every norm."""

from __future__ import annotations

import pytest

from labs.lab04_dl import train


@pytest.mark.parametrize("norm,optimizer", [("none", "sgd"), ("layernorm", "adamw"), ("batchnorm", "momentum"),
                                            ("rmsnorm", "rmsprop")])
def test_ours_tracks_torch(norm, optimizer):
    cfg = train.Config(hidden=[32], norm=norm, optimizer=optimizer, lr=0.2 if optimizer in ("sgd", "momentum") else 1e-2,
                       schedule="constant", epochs=2, batch_size=128)
    seen = []
    r = train.train(cfg, lambda e, n, m: seen.append(e))
    assert seen == [1, 2]
    last = r["final"]
    assert last["max_step_loss_gap"] < 1e-4
    assert abs(last["test_acc"] - last["torch_test_acc"]) <= 0.01
    assert last["test_acc"] > 0.5
    assert len(last["grad_norm_per_layer"]) == 2


def test_bad_config_is_refused():
    with pytest.raises(ValueError, match="optimizer"):
        train.train(train.Config(optimizer="lion"))


def test_plot_is_png():
    r = train.train(train.Config(hidden=[8], epochs=1, batch_size=256))
    assert train.plot(r["history"]).startswith(b"\x89PNG")
