import random

import pytest
import torch
from peft import LoraConfig, get_peft_model
from transformers import LlamaConfig, LlamaForCausalLM

from labs.lab10_finetune import budget as B


def test_llama_7b_has_6_74_billion_parameters_and_lora_qv_r16_trains_0_12_pct():
    assert B.LLAMA_7B.n_params() == 6_738_415_616
    got = B.lora_params(B.LLAMA_7B, 16, ["q_proj", "v_proj"])
    assert got["trainable_params"] == 8_388_608
    assert got["trainable_pct"] == pytest.approx(0.1245, abs=1e-4)


def test_parameter_and_lora_counts_match_transformers_and_peft_on_random_small_archs():
    rng = random.Random(1)
    for _ in range(3):
        heads = rng.choice([2, 4])
        d = heads * rng.choice([8, 16])
        arch = B.Arch(V=rng.randint(50, 300), d=d, L=rng.randint(1, 3), f=rng.choice([32, 48]))
        cfg = LlamaConfig(vocab_size=arch.V, hidden_size=d, intermediate_size=arch.f, num_hidden_layers=arch.L,
                          num_attention_heads=heads, num_key_value_heads=heads, tie_word_embeddings=False)
        model = LlamaForCausalLM(cfg)
        assert sum(p.numel() for p in model.parameters()) == arch.n_params()
        r, targets = rng.randint(1, 8), rng.sample(list(arch.shapes()), 3)
        peft = get_peft_model(model, LoraConfig(r=r, target_modules=targets))
        trainable = sum(p.numel() for p in peft.parameters() if p.requires_grad)
        assert trainable == B.lora_params(arch, r, targets)["trainable_params"]


def test_unknown_target_module_is_rejected():
    with pytest.raises(ValueError, match="unknown target"):
        B.lora_params(B.LLAMA_7B, 16, ["wq"])


def test_70b_fits_48gb_only_with_qlora():
    got = B.memory(B.LLAMA_70B, gpu_gb=48)
    assert not got["full"]["fits"] and not got["lora"]["fits"] and got["qlora"]["fits"]
    assert got["full"]["gb"] > 1000


def test_nf4_levels_from_normal_quantiles_match_the_published_table():
    levels = B.nf4_levels()
    assert len(levels) == 16 and levels[7] == 0.0
    assert levels == pytest.approx(B.PUBLISHED_NF4, abs=1e-6)
    assert torch.tensor(levels).diff().min() > 0
