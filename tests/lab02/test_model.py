"""Parameter groups, gradient checkpointing (same gradients, fewer saved bytes)."""

import torch

from labs.lab02_pytorch.model import MLP, activation_bytes, describe_groups, param_groups


def test_norms_and_biases_get_no_weight_decay():
    model = MLP(hidden=16, depth=3)
    decay, no_decay = param_groups(model, 0.1)
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    assert all(n.endswith(".weight") and "norm" not in n for n in decay["names"])
    assert all(n.endswith(".bias") or "norm" in n for n in no_decay["names"])
    names = dict(model.named_parameters())
    assert set(decay["names"]) | set(no_decay["names"]) == set(names)
    described = describe_groups([decay, no_decay])
    assert sum(g["n_params"] for g in described) == sum(p.numel() for p in model.parameters())


def test_gradient_checkpointing_gives_the_same_gradients_and_keeps_less():
    x = torch.randn(32, 64, generator=torch.Generator().manual_seed(0))
    grads, saved = [], []
    for gc in (False, True):
        torch.manual_seed(0)
        model = MLP(hidden=64, depth=4, dropout=0.1, grad_checkpoint=gc)
        torch.manual_seed(1)  # same dropout masks: checkpoint stashes and replays the RNG state
        model(x).pow(2).mean().backward()
        grads.append({n: p.grad.clone() for n, p in model.named_parameters()})
        saved.append(activation_bytes(model, x))
    assert all(torch.allclose(grads[0][n], grads[1][n], atol=1e-7) for n in grads[0])
    assert saved[1] < 0.5 * saved[0]


def test_eval_mode_is_deterministic_and_train_mode_is_not():
    torch.manual_seed(0)
    model = MLP(hidden=32, depth=2, dropout=0.5)
    x = torch.randn(8, 64)
    with torch.no_grad():
        assert not torch.equal(model.train()(x), model(x))
        assert torch.equal(model.eval()(x), model(x))
