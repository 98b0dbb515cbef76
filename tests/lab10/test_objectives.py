import math
import random

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from trl.trainer.utils import nanstd

from labs.lab10_finetune import objectives as O


def test_grpo_advantages_match_trl_group_normalisation_on_random_rewards():
    rng = random.Random(3)
    for _ in range(50):
        G = rng.randint(2, 16)
        rewards = [rng.uniform(-2, 2) for _ in range(G)]
        t = torch.tensor(rewards, dtype=torch.float64)
        want = (t - t.mean()) / (nanstd(t) + 1e-4)
        assert O.grpo_advantages(rewards) == pytest.approx(want.tolist(), abs=1e-6)


def test_grpo_chapter_convention_is_the_population_std_on_random_rewards():
    rng = np.random.default_rng(4)
    for _ in range(50):
        r = rng.uniform(-2, 2, size=int(rng.integers(2, 17)))
        want = (r - r.mean()) / r.std(ddof=0)
        assert O.grpo_advantages(r.tolist(), "chapter") == pytest.approx(want.tolist(), abs=1e-9)
        t = torch.tensor(r)
        assert O.grpo_advantages(r.tolist(), "chapter") == pytest.approx(
            ((t - t.mean()) / t.std(correction=0)).tolist(), abs=1e-9)


def test_the_two_conventions_differ_by_the_bessel_factor():
    rewards = [0.8, 0.5, 0.3, 0.7]
    ch, trl_ = O.grpo_advantages(rewards, "chapter"), O.grpo_advantages(rewards, "trl")
    assert [round(a, 4) for a in trl_] == [1.0143, -0.3381, -1.2397, 0.5635]
    assert [round(a, 4) for a in ch] == [1.1717, -0.3906, -1.4321, 0.6509]
    # without ε the ratio is exactly √(G/(G−1)); ε = 1e-4 moves it in the 4th digit at most
    assert all(c / t == pytest.approx(math.sqrt(4 / 3), rel=1e-3) for c, t in zip(ch, trl_, strict=True))


def test_a_group_of_equal_rewards_has_zero_advantage_in_both_conventions():
    assert O.grpo_advantages([0.5] * 4, "chapter") == [0.0] * 4
    assert O.grpo_advantages([0.5] * 4, "trl") == [0.0] * 4


def test_dpo_loss_equals_the_logsigmoid_form_and_rewards_on_random_batches():
    g = torch.Generator().manual_seed(0)
    for _ in range(20):
        pi_w, pi_l, ref_w, ref_l = (-torch.rand(8, generator=g) * 10 for _ in range(4))
        beta = float(torch.rand(1, generator=g)) + 0.01
        out = O.dpo_loss(pi_w, pi_l, ref_w, ref_l, beta)
        z = beta * ((pi_w - ref_w) - (pi_l - ref_l))
        assert float(out["loss"]) == pytest.approx(float(F.softplus(-z).mean()), rel=1e-6)
        assert float(out["rewards/margins"]) == pytest.approx(float(z.mean()), rel=1e-5, abs=1e-7)


def test_dpo_loss_is_log2_when_policy_equals_reference():
    x = torch.tensor([-3.0, -5.0])
    assert float(O.dpo_loss(x, x, x, x, 0.1)["loss"]) == pytest.approx(0.693147, abs=1e-6)


def test_sequence_logps_sums_only_completion_tokens():
    logits = torch.randn(2, 5, 7)
    ids = torch.randint(0, 7, (2, 5))
    mask = torch.tensor([[0, 0, 1, 1, 1], [0, 0, 0, 1, 0]])
    got = O.sequence_logps(logits, ids, mask)
    logp = torch.log_softmax(logits, -1)
    want0 = sum(float(logp[0, t - 1, ids[0, t]]) for t in (2, 3, 4))
    assert float(got[0]) == pytest.approx(want0, abs=1e-5)
    assert float(got[1]) == pytest.approx(float(logp[1, 2, ids[1, 3]]), abs=1e-5)


def test_bradley_terry_is_cross_entropy_on_the_reward_gap():
    r_w, r_l = torch.tensor([1.0, 0.2]), torch.tensor([0.5, 0.9])
    want = F.binary_cross_entropy_with_logits(r_w - r_l, torch.ones(2))
    assert float(O.bradley_terry_loss(r_w, r_l)) == pytest.approx(float(want), rel=1e-6)
