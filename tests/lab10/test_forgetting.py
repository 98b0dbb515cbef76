"""forgetting.py: WiSE-FT interpolation against torch.lerp, L2-SP against its formula and autograd,
and the LoRA update ΔW = (α/r)·B·A against what peft's own merge adds to the weights."""

import copy

import numpy as np
import pytest
import torch
from peft import LoraConfig, get_peft_model

from labs.lab10_finetune import forgetting as F


def random_state(rng, shapes):
    return {f"w{i}": torch.tensor(rng.normal(size=s), dtype=torch.float32) for i, s in enumerate(shapes)}


@pytest.mark.parametrize("seed", range(5))
def test_interpolation_matches_torch_lerp_and_is_exact_at_the_ends(seed):
    rng = np.random.default_rng(seed)
    shapes = [tuple(rng.integers(1, 6, size=rng.integers(1, 3))) for _ in range(3)]
    theta0, theta1 = random_state(rng, shapes), random_state(rng, shapes)
    a = float(rng.uniform())
    got = F.interpolate(theta0, theta1, a)
    for k in theta0:
        torch.testing.assert_close(got[k], torch.lerp(theta0[k], theta1[k], a), rtol=1e-6, atol=1e-6)
        assert torch.equal(F.interpolate(theta0, theta1, 0.0)[k], theta0[k])
        assert torch.equal(F.interpolate(theta0, theta1, 1.0)[k], theta1[k])


def test_interpolation_keeps_integer_buffers_and_refuses_bad_input():
    theta0 = {"w": torch.zeros(2), "steps": torch.tensor([3])}
    theta1 = {"w": torch.ones(2), "steps": torch.tensor([7])}
    assert F.interpolate(theta0, theta1, 0.5)["steps"].item() == 7
    with pytest.raises(ValueError, match="keys"):
        F.interpolate(theta0, {"w": torch.ones(2)}, 0.5)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        F.interpolate(theta0, theta1, 1.5)


@pytest.mark.parametrize("seed", range(3))
def test_l2sp_penalty_is_its_formula_zero_at_the_base_and_pulls_back(seed):
    torch.manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Linear(5, 4), torch.nn.Linear(4, 3))
    anchor = F.anchors(net)
    assert F.l2sp_penalty(net, 0.3, anchor).item() == 0.0
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn_like(p))
    lam = 0.3
    want = lam / 2 * sum(((p.detach().numpy() - anchor[n].numpy()) ** 2).sum() for n, p in net.named_parameters())
    pen = F.l2sp_penalty(net, lam, anchor)
    assert pen.item() == pytest.approx(want, rel=1e-5)
    pen.backward()  # ∂/∂W (λ/2)‖W − W⁰‖² = λ(W − W⁰): a pull towards the base, not towards zero
    for n, p in net.named_parameters():
        torch.testing.assert_close(p.grad, lam * (p.detach() - anchor[n]))


class Block(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.q, self.v, self.o = torch.nn.Linear(6, 6), torch.nn.Linear(6, 4), torch.nn.Linear(4, 2)

    def forward(self, x):
        return self.o(self.v(self.q(x)))


@pytest.fixture(scope="module")
def lora_block():
    torch.manual_seed(0)
    base = Block()
    base_w = {k: v.clone() for k, v in base.state_dict().items()}
    model = get_peft_model(base, LoraConfig(r=2, lora_alpha=6, target_modules=["q", "v"]))
    return model, base_w


def test_lora_penalty_is_zero_at_init_and_its_delta_is_what_peft_merges(lora_block):
    model, base_w = lora_block
    assert F.l2sp_penalty(model, 1.0).item() == 0.0  # B starts at 0, so W' = W: no pull yet
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.copy_(torch.randn_like(p))
    deltas = dict(F.lora_deltas(model))
    assert len(deltas) == 2
    lam = 0.7
    want = lam / 2 * sum(d.pow(2).sum().item() for d in deltas.values())
    assert F.l2sp_penalty(model, lam).item() == pytest.approx(want, rel=1e-6)
    merged = copy.deepcopy(model).merge_and_unload().state_dict()  # merge_and_unload changes the model it merges
    for name in ("q", "v"):
        delta = next(d for k, d in deltas.items() if k.endswith(f".{name}.default"))
        torch.testing.assert_close(merged[f"{name}.weight"] - base_w[f"{name}.weight"], delta.detach(),
                                   rtol=1e-5, atol=1e-6)
        # WiSE-FT of the merged model at a equals the base plus a times the adapter's update
        got = F.interpolate(base_w, merged, 0.25)[f"{name}.weight"]
        torch.testing.assert_close(got, base_w[f"{name}.weight"] + 0.25 * delta.detach(), rtol=1e-5, atol=1e-6)


class FakeTrainer:
    def __init__(self, model):
        self.model = model

    def compute_loss(self, model, inputs, return_outputs=False, **kw):
        loss = torch.tensor(1.5)
        return (loss, {"logits": None}) if return_outputs else loss


def test_add_l2sp_adds_the_penalty_to_the_trainers_loss():
    torch.manual_seed(1)
    net = torch.nn.Linear(3, 3)
    trainer = FakeTrainer(net)
    F.add_l2sp(trainer, 2.0)
    assert trainer.compute_loss(net, {}).item() == pytest.approx(1.5)  # at the anchors the penalty is 0
    with torch.no_grad():
        net.weight.add_(1.0)
    want = 1.5 + 2.0 / 2 * net.weight.numel()
    assert trainer.compute_loss(net, {}).item() == pytest.approx(want)
    loss, outputs = trainer.compute_loss(net, {}, return_outputs=True)
    assert loss.item() == pytest.approx(want) and outputs == {"logits": None}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from labs.lab10_finetune import model as M

    return M.load(M.build_base(tmp_path_factory.mktemp("base"), pretrain_epochs=1), device="cpu")


@pytest.mark.parametrize("method", ["lora", "full"])
def test_l2sp_on_trls_sft_trainer_adds_exactly_the_penalty(tiny, tmp_path, method):
    from labs.lab10_finetune import train as T

    model, tok = tiny
    rows = [{"prompt": "12+7=", "completion": "19"}, {"prompt": "next 3:", "completion": "4"}]
    trainer = T.sft_trainer(copy.deepcopy(model), tok, rows, tmp_path, {"batch_size": 2, "method": method})
    batch = next(iter(trainer.get_train_dataloader()))
    F.add_l2sp(trainer, 0.5)  # anchors (full) are taken here, before the weights move
    torch.manual_seed(0)
    with torch.no_grad():
        for name, p in trainer.model.named_parameters():
            if p.requires_grad and ("lora_B" in name or method == "full"):
                p.add_(0.01 * torch.randn_like(p))
    plain = type(trainer).compute_loss(trainer, trainer.model, batch)
    with_penalty = trainer.compute_loss(trainer.model, batch)
    anchor = None if method == "lora" else F.anchors(model)  # the untouched base: W⁰
    want = F.l2sp_penalty(trainer.model, 0.5, anchor).item()
    assert want > 0
    assert (with_penalty - plain).item() == pytest.approx(want, rel=1e-4)


@pytest.mark.parametrize("body,needle", [
    ({"kind": "dpo", "dataset": "prefs_train", "l2sp": 0.02}, "l2sp do(es) not apply to kind 'dpo'"),
    ({"kind": "sft", "dataset": "addition_train", "l2sp": -1}, "l2sp"),
])
def test_l2sp_job_option_is_sft_only_and_non_negative(tmp_path, body, needle):
    from fastapi.testclient import TestClient

    from labs.lab10_finetune.app import create_app
    from shared.config import get_settings

    client = TestClient(create_app(get_settings(data_dir=str(tmp_path))))  # no start-up: refused before any job
    r = client.post("/jobs", json=body)
    assert r.status_code == 422 and needle in r.json()["error"]["message"]
