import copy

import pytest

from labs.lab10_finetune import train as T


@pytest.mark.parametrize("kind,rows,needle", [
    ("sft", [], "empty"),
    ("sft", [{"prompt": "1+1="}], "lacks column"),
    ("dpo", [{"prompt": "1+1=", "chosen": "2"}], "rejected"),
    ("reward", [{"prompt": "1+1=", "chosen": "2", "rejected": ""}], "non-empty"),
    ("grpo", ["1+1=2"], "not an object"),
])
def test_check_rows_names_what_is_wrong(kind, rows, needle):
    with pytest.raises(ValueError, match=needle):
        T.check_rows(kind, rows)


def test_check_rows_accepts_extra_columns():
    T.check_rows("sft", [{"prompt": "1+1=", "completion": "2", "source": "hand"}])


def test_sum_reward_rule():
    got = T.sum_reward(["5", " 5", "6", "five", ""], ["5", "5", "5", "5", "5"])
    assert got == [1.0, 1.0, 0.1, 0.0, 0.0]


def test_every_kind_has_defaults_and_columns():
    assert set(T.DEFAULTS) == set(T.COLUMNS) == {"sft", "dpo", "reward", "grpo", "ppo"}
    assert all(T.DEFAULTS[k]["rank"] >= 1 for k in ("sft", "dpo", "grpo", "ppo"))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from labs.lab10_finetune import model as M

    return M.load(M.build_base(tmp_path_factory.mktemp("base"), pretrain_epochs=1), device="cpu")


def test_sft_labels_only_the_completion_tokens(tiny, tmp_path):
    model, tok = tiny
    rows = [{"prompt": "12+7=", "completion": "19"}, {"prompt": "next 3:", "completion": "4"}]
    trainer = T.sft_trainer(copy.deepcopy(model), tok, rows, tmp_path, {"batch_size": 2})
    batch = next(iter(trainer.get_train_dataloader()))
    seen = set()
    for ids, labels in zip(batch["input_ids"], batch["labels"], strict=True):
        learned = tok.decode(ids[labels != -100])
        masked = tok.decode(ids[(labels == -100) & (ids != tok.pad_token_id)])
        seen.add((masked, learned))
    assert seen == {("12+7=", "19<|eos|>"), ("next 3:", "4<|eos|>")}
    assert sum(p.numel() for p in trainer.model.parameters() if p.requires_grad) > 0
    assert any("lora_A" in n for n, _ in trainer.model.named_parameters())


def test_advantage_check_compares_group_by_group():
    rewards = [1.0, 0.1, 0.0, 1.0, 0.1, 0.1, 0.1, 0.1]
    from labs.lab10_finetune.objectives import grpo_advantages

    theirs = grpo_advantages(rewards[:4]) + grpo_advantages(rewards[4:])
    assert T.advantage_check([(rewards, theirs)], 4) == {"groups": 2, "max_abs_diff": 0.0}
    theirs[5] += 0.5
    assert T.advantage_check([(rewards, theirs)], 4)["max_abs_diff"] == pytest.approx(0.5)
    # normalising over all 8 at once is not what GRPO does: the check notices
    whole = grpo_advantages(rewards)
    assert T.advantage_check([(rewards, whole)], 4)["max_abs_diff"] > 0.1


def test_readme_accelerate_commands_parse_for_accelerate_and_for_the_cli():
    import shlex
    from pathlib import Path

    from accelerate.commands.launch import launch_command_parser

    from labs.lab10_finetune.__main__ import build_parser

    readme = (Path(T.__file__).parent / "README.md").read_text()
    lines = [ln.strip() for ln in readme.splitlines() if "accelerate launch" in ln and ln.startswith("    ")]
    assert len(lines) >= 2
    for line in lines:
        words = [w for w in shlex.split(line) if "=" not in w or w.startswith("-")]
        assert words[:2] == ["accelerate", "launch"], line
        args = launch_command_parser().parse_args(words[2:])
        assert args.module and args.multi_gpu and args.training_script == "labs.lab10_finetune", line
        build_parser().parse_args(args.training_script_args)


@pytest.mark.parametrize("beta", [0.1, 0.5])
def test_from_scratch_dpo_loss_equals_trls_on_random_pairs_and_random_adapter_weights(tiny, tmp_path, beta):
    import random

    import torch

    model, tok = tiny
    rng = random.Random(int(beta * 10))
    digits = lambda n: "".join(rng.choice("0123456789+=: ") for _ in range(n))  # noqa: E731
    rows = [{"prompt": digits(rng.randint(2, 6)), "chosen": digits(rng.randint(1, 4)),
             "rejected": digits(rng.randint(1, 4))} for _ in range(12)]
    trainer = T.dpo_trainer(copy.deepcopy(model), tok, rows, rows, tmp_path, {"beta": beta, "rank": 4})
    torch.manual_seed(int(beta * 10))
    with torch.no_grad():  # B starts at 0 (policy = reference); random B makes them differ
        for name, p in trainer.model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.5)
    check = T.loss_check(trainer)
    assert abs(check["trl"] - 0.693147) > 1e-3  # not the policy = reference value
    assert check["abs_diff"] < 1e-5


def test_bradley_terry_loss_equals_reward_trainers_on_a_random_batch(tmp_path):
    import random

    import torch

    from labs.lab10_finetune import model as M
    from labs.lab10_finetune.objectives import bradley_terry_loss

    base = M.build_base(tmp_path / "base", pretrain_epochs=1)
    model, tok = T.reward_model(str(base))
    rng = random.Random(7)
    digits = lambda n: "".join(rng.choice("0123456789+=") for _ in range(n))  # noqa: E731
    rows = [{"prompt": digits(4), "chosen": digits(rng.randint(1, 3)), "rejected": digits(rng.randint(1, 3))}
            for _ in range(8)]
    trainer = T.reward_trainer(model, tok, rows, tmp_path, {"batch_size": 8})
    with torch.no_grad():
        model.score.weight.normal_(0, 1.0)
    batch = next(iter(trainer.get_train_dataloader()))
    with torch.no_grad():
        theirs = float(trainer.compute_loss(model, dict(batch)))
        scores = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits.squeeze(-1)
    r_w, r_l = scores.chunk(2)
    assert theirs == pytest.approx(float(bradley_terry_loss(r_w, r_l)), abs=1e-6)
    assert abs(theirs - 0.693147) > 1e-3
