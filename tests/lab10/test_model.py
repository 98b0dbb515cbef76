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


def test_device_is_chosen_automatically():
    device = M.pick_device()
    assert device == ("cuda" if torch.cuda.is_available() else device)
    assert M.use_bf16("cpu") is False


def test_concurrent_first_use_builds_the_base_once(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(2) as pool:
        paths = list(pool.map(M.base_path, [tmp_path, tmp_path]))
    assert paths[0] == paths[1]
    model, _ = M.load(paths[0], device="cpu")
    assert model.num_parameters() > 300_000
