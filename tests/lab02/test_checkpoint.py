"""Bit-exact resume (torch.equal) for every AMP mode, the ablation, and the two pitfalls."""

import pytest
import torch

from labs.lab02_pytorch import checkpoint
from labs.lab02_pytorch.train import TrainConfig, Trainer


def _equal(a, b):
    return all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("amp", ["off", "bf16", "fp16"])
@pytest.mark.parametrize("split", [17, 44])  # mid-epoch, and exactly at the end of epoch 1 (44 batches)
def test_resume_from_a_file_in_a_fresh_trainer_is_bit_exact(amp, split, tmp_path):
    cfg = TrainConfig(steps=50, amp=amp, eval_every=25)
    straight = Trainer(cfg)
    straight.run()
    first = Trainer(cfg)
    first.run(until=split)
    checkpoint.save(first, tmp_path)
    del first
    resumed = checkpoint.resume(tmp_path)
    assert resumed.step == split
    resumed.run()
    assert _equal(straight.parameters(), resumed.parameters())
    assert resumed.history == straight.history
    assert _equal(straight.opt.state_dict()["state"][0], resumed.opt.state_dict()["state"][0])


def test_the_ablation_every_piece_matters():
    drift = checkpoint.ablation(TrainConfig(steps=40, amp="fp16", eval_every=0), split=20, extra=10)
    assert drift.pop("nothing") == 0.0
    assert set(drift) == set(checkpoint.PIECES)
    assert all(v > 1e-4 for v in drift.values()), drift


def test_a_global_rng_sampler_makes_resume_diverge():
    drift = checkpoint.ablation(TrainConfig(steps=40, sampler="global", eval_every=0), split=20, extra=10)
    assert drift["nothing"] > 1e-4


def test_numpy_legacy_state_is_refused_by_the_default_torch_load(tmp_path):
    out = checkpoint.numpy_legacy_state_rejected(tmp_path)
    assert out["np.random.get_state()"].startswith("refused")
    assert out["Generator.bit_generator.state"] == "loads"


def test_saves_are_atomic_and_keep_the_newest_three(tmp_path):
    t = Trainer(TrainConfig(steps=5, warmup_steps=2, eval_every=0))
    for _ in range(5):
        t.run(until=t.step + 1)
        checkpoint.save(t, tmp_path)
    assert [c["step"] for c in checkpoint.list_checkpoints(tmp_path)] == [3, 4, 5]
    assert not list(tmp_path.glob("*.tmp"))
    with pytest.raises(FileNotFoundError):
        checkpoint.resume(tmp_path / "empty")
