"""The training loop learns, refuses bad configs, and does what the annotated steps say."""

import pytest
import torch

from labs.lab02_pytorch.data import ResumableSampler, digits
from labs.lab02_pytorch.train import TrainConfig, Trainer, evaluate


def test_it_learns_the_digits():
    t = Trainer(TrainConfig(steps=120, eval_every=120))
    before = evaluate(t.model, t.val_set)
    t.run()
    after = t.history[-1]
    assert before["val_acc"] < 0.3 and after["val_acc"] > 0.85
    assert [h["step"] for h in t.history] == list(range(1, 121))


@pytest.mark.parametrize("amp", ["bf16", "fp16"])
def test_amp_modes_train_too(amp):
    t = Trainer(TrainConfig(steps=60, amp=amp, eval_every=60))
    t.run()
    assert t.history[-1]["val_acc"] > 0.6
    assert t.scaler.is_enabled() == (amp == "fp16")


@pytest.mark.parametrize("change, message", [({"steps": 0}, "steps"), ({"batch_size": 0}, "batch_size"),
                                             ({"lr": -1.0}, "lr"), ({"optimizer": "adam"}, "optimizer"),
                                             ({"warmup_steps": 500, "steps": 100}, "warmup"),
                                             ({"amp": "fp8"}, "amp"), ({"batch_size": 100_000}, "larger")])
def test_bad_configs_are_refused_before_any_work(change, message):
    with pytest.raises(ValueError, match=message):
        Trainer(TrainConfig(**change))


def test_evaluation_leaves_parameters_mode_and_graph_alone():
    t = Trainer(TrainConfig(steps=5, warmup_steps=2))
    t.run()
    before = t.parameters()
    t.model.train()
    evaluate(t.model, t.val_set)
    assert t.model.training
    assert all(torch.equal(before[k], v) for k, v in t.parameters().items())


def test_the_schedule_reaches_the_optimizer():
    t = Trainer(TrainConfig(steps=30, warmup_steps=10, lr=1e-2, eval_every=0))
    t.run()
    lrs = [h["lr"] for h in t.history]
    assert lrs[0] == pytest.approx(1e-3) and lrs[9] == pytest.approx(1e-2) and lrs[-1] < 2e-3


def test_gradients_are_clipped():
    t = Trainer(TrainConfig(steps=3, warmup_steps=1, clip_norm=1e-3, lr=1e-3, eval_every=0))
    t.run()
    assert all(h["grad_norm"] > 1e-3 for h in t.history)  # the norm before clipping, as torch returns it
    total = torch.sqrt(sum(p.grad.pow(2).sum() for p in t.model.parameters()))
    assert total.item() == pytest.approx(1e-3, rel=1e-4)


def test_resumable_sampler_is_a_permutation_and_resumes_mid_epoch():
    n = len(digits("train"))
    s = ResumableSampler(n, seed=3)
    first = list(s)
    assert sorted(first) == list(range(n))
    state = s.state_dict()
    other = ResumableSampler(n, seed=99)
    other.load_state_dict(state, start=100)
    assert list(other) == first[100:]
    assert list(other) == list(s)  # and the next epoch continues identically


def test_other_users_of_the_global_rngs_do_not_change_a_run():
    """A service draws from the process-wide RNGs between steps (span ids, other requests): no effect."""
    import random

    import numpy as np

    cfg = TrainConfig(steps=20, warmup_steps=5, eval_every=0)
    quiet = Trainer(cfg)
    quiet.run()
    busy = Trainer(cfg)

    def draw(_row):
        torch.rand(5)
        random.random()
        np.random.rand()

    busy.run(on_step=draw)
    assert all(torch.equal(v, busy.parameters()[k]) for k, v in quiet.parameters().items())
