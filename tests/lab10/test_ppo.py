"""PPO's clipped objective against trl's (GRPOTrainer._compute_loss is the same token-level clipped
surrogate plus β·k3 KL), GAE against a direct sum, and one tiny PPO job end to end."""

import copy

import pytest
import torch

from labs.lab10_finetune import ppo
from labs.lab10_finetune import train as T


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from labs.lab10_finetune import model as M

    path = M.build_base(tmp_path_factory.mktemp("base"), pretrain_epochs=1)
    return str(path), *M.load(path, device="cpu")


@pytest.fixture(scope="module")
def trl_trainer(tiny, tmp_path_factory):
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    _, model, tok = tiny
    config = GRPOConfig(**T._common(tmp_path_factory.mktemp("grpo"), 1e-3, 4), max_steps=1, num_generations=2,
                        max_completion_length=4, loss_type="bnpo", beta=0.04, epsilon=0.2, temperature=1.0)
    return GRPOTrainer(model=copy.deepcopy(model), args=config, processing_class=tok,
                       reward_funcs=[lambda completions, **_: [0.0] * len(completions)],
                       train_dataset=Dataset.from_list([{"prompt": "1+1="}] * 4))


@pytest.mark.parametrize("seed,weighted", [(0, True), (1, True), (2, False)])
def test_clipped_objective_loss_and_gradients_equal_trls_on_random_batches(trl_trainer, seed, weighted):
    trl_trainer.args.use_bias_correction_kl = weighted
    g = torch.Generator().manual_seed(seed)
    model = trl_trainer.model.eval()  # eval: trl divides by no accumulation steps
    B, P, Tc = 6, 5, 4
    prompt_ids = torch.randint(10, 300, (B, P), generator=g)  # unpadded prompts: positions agree with trl's
    completion_ids = torch.randint(10, 300, (B, Tc), generator=g)
    cmask = torch.ones(B, Tc)
    cmask[0, 2:] = 0
    cmask[3, 1:] = 0
    ids, mask = torch.cat([prompt_ids, completion_ids], 1), torch.cat([torch.ones(B, P), cmask], 1).long()
    with torch.no_grad():
        logp_now, _ = ppo.token_logps_and_values(model, None, ids, mask, P)
    # an older policy and a reference that differ from the current one, enough that some ratios leave [0.8, 1.2]
    logp_old = logp_now + 0.3 * torch.randn(B, Tc, generator=g)
    logp_ref = logp_now + 0.3 * torch.randn(B, Tc, generator=g)
    A = torch.randn(B, generator=g)

    model.zero_grad()
    theirs = trl_trainer._compute_loss(model, {
        "prompt_ids": prompt_ids, "prompt_mask": torch.ones(B, P).long(), "completion_ids": completion_ids,
        "completion_mask": cmask.long(), "advantages": A, "old_per_token_logps": logp_old,
        "ref_per_token_logps": logp_ref})
    theirs.backward()
    grads_trl = [p.grad.clone() for p in model.parameters() if p.grad is not None]

    model.zero_grad()
    logp, _ = ppo.token_logps_and_values(model, None, ids, mask, P)
    ours = ppo.clipped_objective(logp, logp_old, A, cmask, eps=0.2, beta=0.04, logp_ref=logp_ref,
                                 kl_importance_weight=weighted)
    ours["loss"].backward()
    grads_ours = [p.grad.clone() for p in model.parameters() if p.grad is not None]

    assert float(ours["loss"].detach()) == pytest.approx(float(theirs.detach()), abs=1e-6)
    assert len(grads_ours) == len(grads_trl) > 0
    assert max(float((a - b).abs().max()) for a, b in zip(grads_ours, grads_trl, strict=True)) < 1e-6
    # trl logs the share where the clip is active as clip_ratio/region_mean
    assert float(ours["clip_active"]) == pytest.approx(trl_trainer._metrics["eval"]["clip_ratio/region_mean"][-1],
                                                       abs=1e-6)
    assert 0 < float(ours["clip_fraction"]) < 1


def test_clip_fraction_and_ratio_on_hand_values():
    logp = torch.log(torch.tensor([[1.5, 1.0, 0.5, 1.1]]))
    out = ppo.clipped_objective(logp, torch.zeros(1, 4), torch.tensor([1.0]), torch.ones(1, 4), eps=0.2)
    # ρ = 1.5, 1, 0.5, 1.1: two outside [0.8, 1.2]; with A = +1 only ρ = 1.5 is capped (ρ = 0.5 is not a gain)
    assert float(out["clip_fraction"]) == pytest.approx(0.5)
    assert float(out["clip_active"]) == pytest.approx(0.25)
    assert float(out["loss"]) == pytest.approx(-(1.2 + 1.0 + 0.5 + 1.1) / 4, abs=1e-6)


def test_gae_equals_the_discounted_sum_of_td_errors():
    g = torch.Generator().manual_seed(0)
    r, v = torch.randn(3, 5, generator=g), torch.randn(3, 5, generator=g)
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0], [1, 0, 0, 0, 0]]).float()
    lam = 0.9
    A, R = ppo.gae(r, v, mask, lam)
    for b in range(3):
        n = int(mask[b].sum())
        vv = torch.cat([v[b, :n], torch.zeros(1)])
        delta = [float(r[b, t] + vv[t + 1] - vv[t]) for t in range(n)]
        want = [sum(lam ** k * delta[t + k] for k in range(n - t)) for t in range(n)]
        assert A[b, :n].tolist() == pytest.approx(want, abs=1e-5)
        assert A[b, n:].abs().sum() == 0
    assert torch.allclose(R, A + v)


def test_completion_mask_keeps_the_first_eos_and_drops_what_follows():
    ids = torch.tensor([[5, 1, 7, 7], [5, 6, 7, 8], [1, 1, 9, 9]])
    assert ppo.completion_mask(ids, eos_id=1).tolist() == [[1, 1, 0, 0], [1, 1, 1, 1], [1, 0, 0, 0]]


def test_a_tiny_ppo_run_logs_clip_fraction_kl_and_saves_an_adapter(tiny, tmp_path):
    base, _, _ = tiny
    rows = [{"prompt": f"{a}+{b}=", "completion": str(a + b)} for a in range(4) for b in range(4)]
    seen = []
    out = ppo.train(base, rows, tmp_path, {"steps": 2, "batch_size": 8, "ppo_epochs": 2},
                    on_progress=lambda s, t, row: seen.append((s, t)))
    assert seen == [(1, 2), (2, 2)]
    assert out["steps"] == 2 and len(out["history"]) == 2
    for key in ("loss", "clip_fraction", "kl", "value_loss", "reward", "approx_kl_old"):
        assert key in out["history"][-1]
    assert 0 <= out["clip_fraction_mean"] <= 1
    assert (tmp_path / "adapter" / "adapter_config.json").is_file() and (tmp_path / "value_head.pt").is_file()
