"""The lab's base model, built offline the way a real checkpoint is used: `python -m labs.lab10_finetune build`.

A byte-level BPE tokenizer is trained on fixtures/lab10/corpus.txt and wrapped as a
PreTrainedTokenizerFast (pad, eos, and a chat template whose assistant turns sit inside
{% generation %} so assistant-only loss can find them). A Llama-style config sized for a CPU
(hidden 128, 2 layers, 4 heads, tied embeddings, ~0.4M parameters) is initialised with
initializer_range=0.1 (at 0.02 a LoRA update could not move the logits), taught one skill
("next n:" -> n+1, all 40 rows) by a short full fine-tune so forgetting has something to forget, saved,
and reloaded through `from_pretrained`. BASE_MODEL=<path or hub id> replaces it.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
from pathlib import Path
from typing import Any

import torch

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "lab10"
BASE_NAME = "tiny-llama"
SMALL = 10_000_000
CHAT_TEMPLATE = (
    "{% for m in messages %}"
    "{% if m['role'] == 'assistant' %}<|assistant|>{% generation %}{{ m['content'] }}<|eos|>{% endgeneration %}"
    "{% else %}<|{{ m['role'] }}|>{{ m['content'] }}{% endif %}"
    "{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


_IMPORTS = threading.Lock()


def import_libraries() -> None:
    """The first import of transformers and peft, behind one lock: transformers' lazy module is not safe to
    initialise from two threads at once (the warmup thread and a request's thread raced under load:
    "cannot import name 'LlamaConfig' from 'transformers'", a 500)."""
    with _IMPORTS:
        import peft  # noqa: F401  (heavy: paid once, here)
        from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig, LlamaForCausalLM  # noqa: F401


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def fixture(name: str) -> list[dict[str, Any]]:
    return read_jsonl(FIXTURES / f"{name}.jsonl")


def device_plan() -> dict[str, Any]:
    """Where to train and the trainer flags that follow, decided in one place.

    cuda when there is one (the local rank's GPU under `accelerate launch`), with bf16 mixed precision
    where the GPU supports it and fp32 where it does not; Apple mps in fp32; else the CPU in fp32.
    Weights stay fp32 (the master copy); bf16 is autocast compute. trl's configs default to bf16=True
    and activation checkpointing even on a CPU, where bf16 made DPO ~5x slower here, so every flag
    is set explicitly.
    """
    if torch.cuda.is_available():
        device = f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}"
        bf16 = bool(torch.cuda.is_bf16_supported())
    elif getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        device, bf16 = "mps", False
    else:
        device, bf16 = "cpu", False
    return {"device": device, "precision": "bf16" if bf16 else "fp32",
            "trainer_flags": {"bf16": bf16, "fp16": False, "use_cpu": device == "cpu",
                              "activation_checkpointing": False, "report_to": "none",
                              # under DDP every LoRA (or full) parameter takes part in each step
                              "ddp_find_unused_parameters": False}}


def pick_device() -> str:
    return device_plan()["device"]


def build_tokenizer(texts: list[str], vocab_size: int = 512):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    special = ["<|pad|>", "<|eos|>", "<|user|>", "<|assistant|>", "<|system|>"]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(texts, trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=special, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<|pad|>", eos_token="<|eos|>",
                                   bos_token=None, unk_token=None)
    fast.chat_template = CHAT_TEMPLATE
    return fast


def build_base(out_dir: str | Path, *, pretrain_epochs: int = 30, seed: int = 0) -> Path:
    """Train the tokenizer, initialise the Llama config, teach it the successor skill, save it."""
    import_libraries()
    from transformers import LlamaConfig, LlamaForCausalLM

    out = Path(out_dir)
    torch.manual_seed(seed)
    tok = build_tokenizer((FIXTURES / "corpus.txt").read_text().splitlines())
    config = LlamaConfig(vocab_size=len(tok), hidden_size=128, intermediate_size=256, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=64,
                         tie_word_embeddings=True, initializer_range=0.1,
                         pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id, bos_token_id=None)
    model = LlamaForCausalLM(config)
    _threads_for(model, "cpu")
    rows = fixture("successor_train") + fixture("successor_test")
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    batch = tok([r["prompt"] + r["completion"] + tok.eos_token for r in rows], return_tensors="pt", padding=True)
    labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
    model.train()
    for _ in range(pretrain_epochs):
        loss = model(**batch, labels=labels).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
    model.eval()
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


def base_path(models_dir: str | Path) -> str:
    """BASE_MODEL if set, else the tiny base under models_dir (built on first use)."""
    chosen = os.environ.get("BASE_MODEL")
    if chosen:
        return chosen
    path = Path(models_dir) / BASE_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    # two jobs started together must not both write the base; the second waits and reuses it
    with open(path.parent / ".build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (path / "config.json").is_file():
            build_base(path)
    return str(path)


def load(path: str | Path, adapter: str | Path | None = None, device: str | None = None):
    """(model, tokenizer) from a checkpoint, optionally with a LoRA adapter applied on top."""
    import_libraries()
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(path))
    if tok.pad_token is None:  # released base checkpoints (Llama 3, Mistral) often ship without one
        tok.pad_token = tok.eos_token
    model = AutoModelForCausalLM.from_pretrained(str(path))
    if adapter:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, str(adapter))
    device = device or pick_device()
    _threads_for(model, device)
    return model.to(device).eval(), tok


def _threads_for(model, device: str) -> None:
    """One torch thread for a tiny model on CPU: its matmuls finish before a second thread pays off,
    and on a loaded CPU the extra threads spin (the 2-core smoke run took 23.5 s instead of 13.5 s)."""
    if device == "cpu" and model.num_parameters() < SMALL:
        torch.set_num_threads(1)


@torch.no_grad()
def generate(model, tok, prompts: list[str], max_new_tokens: int = 4) -> list[str]:
    """Greedy completions, cut at eos."""
    tok.padding_side = "left"
    enc = tok(prompts, return_tensors="pt", padding=True).to(model.device)
    out = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False,
                         pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id)
    return [s.strip() for s in tok.batch_decode(out[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)]


def exact_match(model, tok, rows: list[dict[str, Any]]) -> float:
    """Share of rows whose greedy completion equals the reference."""
    got = generate(model, tok, [r["prompt"] for r in rows])
    return sum(g == r["completion"] for g, r in zip(got, rows, strict=True)) / len(rows)
