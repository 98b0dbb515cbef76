import json

import torch

from labs.lab10_finetune import model as M


def test_tokenizer_has_pad_eos_and_a_chat_template_marking_assistant_turns():
    tok = M.build_tokenizer((M.FIXTURES / "corpus.txt").read_text().splitlines())
    assert tok.pad_token == "<|pad|>" and tok.eos_token == "<|eos|>"
    msgs = [{"role": "user", "content": "2+3="}, {"role": "assistant", "content": "5"}]
    enc = tok.apply_chat_template(msgs, tokenize=True, return_dict=True, return_assistant_tokens_mask=True)
    marked = [t for t, m in zip(enc["input_ids"], enc["assistant_masks"], strict=True) if m]
    assert tok.decode(marked) == "5<|eos|>"
    assert tok.decode(tok("12+7=19")["input_ids"]) == "12+7=19"


def test_base_is_saved_and_reloaded_through_from_pretrained(tmp_path):
    path = M.build_base(tmp_path / "base", pretrain_epochs=2)
    cfg = json.loads((path / "config.json").read_text())
    assert cfg["hidden_size"] == 128 and cfg["num_hidden_layers"] == 2 and cfg["tie_word_embeddings"]
    model, tok = M.load(path, device="cpu")
    assert 300_000 < sum(p.numel() for p in model.parameters()) < 500_000
    assert len(M.generate(model, tok, ["1+1=", "next 3:"])) == 2


def _machine(monkeypatch, cuda: bool, bf16: bool = False, mps: bool = False) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: bf16)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)


def test_device_plan_on_a_gpu_with_bf16(monkeypatch):
    _machine(monkeypatch, cuda=True, bf16=True)
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    plan = M.device_plan()
    assert plan["device"] == "cuda:0" and plan["precision"] == "bf16"
    assert plan["trainer_flags"] == {"bf16": True, "fp16": False, "use_cpu": False,
                                     "activation_checkpointing": False, "report_to": "none",
                                     "ddp_find_unused_parameters": False}


def test_device_plan_under_accelerate_launch_uses_the_local_rank(monkeypatch):
    _machine(monkeypatch, cuda=True, bf16=True)
    monkeypatch.setenv("LOCAL_RANK", "3")
    assert M.device_plan()["device"] == "cuda:3"


def test_device_plan_on_a_gpu_without_bf16_stays_fp32(monkeypatch):
    _machine(monkeypatch, cuda=True, bf16=False)
    plan = M.device_plan()
    assert plan["device"].startswith("cuda") and plan["precision"] == "fp32"
    assert plan["trainer_flags"]["bf16"] is False and plan["trainer_flags"]["use_cpu"] is False


def test_device_plan_on_mps_and_on_cpu(monkeypatch):
    _machine(monkeypatch, cuda=False, mps=True)
    assert M.device_plan()["device"] == "mps" and M.device_plan()["trainer_flags"]["use_cpu"] is False
    _machine(monkeypatch, cuda=False, mps=False)
    plan = M.device_plan()
    assert plan["device"] == "cpu" and plan["precision"] == "fp32"
    assert plan["trainer_flags"]["bf16"] is False and plan["trainer_flags"]["use_cpu"] is True


def test_every_trl_config_gets_the_plans_flags(monkeypatch, tmp_path):
    from trl import DPOConfig, GRPOConfig, RewardConfig, SFTConfig

    from labs.lab10_finetune import train as T

    _machine(monkeypatch, cuda=True, bf16=True)
    gpu = T._common(tmp_path, 1e-3, 4, 1)
    assert gpu["bf16"] is True and gpu["use_cpu"] is False and gpu["activation_checkpointing"] is False
    _machine(monkeypatch, cuda=False)
    cpu = T._common(tmp_path, 1e-3, 4, 1)
    for cls in (SFTConfig, DPOConfig, RewardConfig, GRPOConfig):
        cfg = cls(**cpu, **({"num_generations": 2} if cls is GRPOConfig else {}))
        assert cfg.bf16 is False and cfg.use_cpu is True and cfg.activation_checkpointing is False, cls.__name__


def test_base_model_env_selects_another_checkpoint_and_a_missing_pad_falls_back_to_eos(tmp_path, monkeypatch):
    other = M.build_base(tmp_path / "other", pretrain_epochs=1)
    cfg = json.loads((other / "tokenizer_config.json").read_text())
    cfg["pad_token"] = None  # as in a released base checkpoint without a pad token
    (other / "tokenizer_config.json").write_text(json.dumps(cfg))
    monkeypatch.setenv("BASE_MODEL", str(other))
    assert M.base_path(tmp_path / "models") == str(other)
    assert not (tmp_path / "models" / M.BASE_NAME).exists()
    model, tok = M.load(M.base_path(tmp_path / "models"), device="cpu")
    assert tok.pad_token == tok.eos_token == "<|eos|>"
    assert len(M.generate(model, tok, ["1+1=", "next 12:"])) == 2


def test_concurrent_first_use_builds_the_base_once(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(2) as pool:
        paths = list(pool.map(M.base_path, [tmp_path, tmp_path]))
    assert paths[0] == paths[1]
    model, _ = M.load(paths[0], device="cpu")
    assert model.num_parameters() > 300_000
