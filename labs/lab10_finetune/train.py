"""SFT, DPO, a reward model and GRPO with trl + peft, and LoRA merge: `python -m labs.lab10_finetune pipeline`.

Every stage takes a base checkpoint, a dataset (rows of dicts) and hyper-parameters, reports
progress through `on_progress(step, total, metrics)`, saves a LoRA adapter (or a reward model)
under out_dir, and returns its measured metrics. Device and precision flags
come from model.device_plan() (trl's configs default to bf16 and activation checkpointing, even on
a CPU).

SFT loss on completions only (prompt masking):  L = -Σ_t m_t log π(y_t | y_<t, x) / Σ_t m_t,
m_t = 1 on completion tokens.  LoRA: W' = W + (α/r)·B·A, B initialised to 0, so W' = W at step 0.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from labs.lab10_finetune import forgetting as F
from labs.lab10_finetune import model as M

Progress = Callable[[int, int, dict[str, Any]], None]

COLUMNS = {"sft": {"prompt", "completion"}, "dpo": {"prompt", "chosen", "rejected"},
           "reward": {"prompt", "chosen", "rejected"}, "grpo": {"prompt", "completion"},
           "ppo": {"prompt", "completion"}}
DEFAULTS: dict[str, dict[str, Any]] = {
    "sft": {"epochs": 30, "lr": 5e-3, "rank": 16, "alpha": 32, "dropout": 0.0, "batch_size": 16,
            "target_modules": "all-linear", "replay": 0, "method": "lora", "l2sp": 0.0},
    "dpo": {"epochs": 4, "lr": 5e-4, "rank": 8, "alpha": 16, "dropout": 0.0, "batch_size": 16, "beta": 0.1,
            "target_modules": "all-linear"},
    "reward": {"epochs": 10, "lr": 1e-3, "batch_size": 16},
    "grpo": {"steps": 20, "lr": 5e-4, "rank": 8, "alpha": 16, "dropout": 0.0, "batch_size": 16,
             "num_generations": 8, "beta": 0.04, "target_modules": "all-linear"},
    # ppo.py, from scratch: beta weighs the per-token KL folded into the reward; lam is GAE's λ
    "ppo": {"steps": 20, "lr": 5e-4, "rank": 8, "alpha": 16, "dropout": 0.0, "batch_size": 16, "beta": 0.04,
            "clip_eps": 0.2, "ppo_epochs": 4, "lam": 0.95, "vf_coef": 0.5, "target_modules": "all-linear",
            "reward": "rule"},
}


def check_rows(kind: str, rows: list[dict[str, Any]]) -> None:
    """ValueError unless every row carries the columns the kind needs, as non-empty strings."""
    if not rows:
        raise ValueError("the dataset is empty")
    need = COLUMNS[kind]
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise ValueError(f"row {i} is not an object")
        missing = need - set(row)
        if missing:
            raise ValueError(f"row {i} lacks column(s) {sorted(missing)}; {kind} needs {sorted(need)}")
        for col in need:
            if not isinstance(row[col], str) or not row[col]:
                raise ValueError(f"row {i}: {col!r} must be a non-empty string")


def _common(out: Path, lr: float, batch_size: int, epochs: float | None = None) -> dict[str, Any]:
    """Arguments every stage's trl config shares; device and precision flags from model.device_plan()."""
    kw = dict(output_dir=str(out / "trainer"), learning_rate=lr, per_device_train_batch_size=batch_size,
              logging_steps=1, save_strategy="no", seed=0, disable_tqdm=True,
              lr_scheduler_type="constant", warmup_steps=0, **M.device_plan()["trainer_flags"])
    if epochs is not None:
        kw["num_train_epochs"] = epochs
    return kw


def _lora(hp: dict[str, Any]):
    from peft import LoraConfig

    return LoraConfig(r=int(hp["rank"]), lora_alpha=int(hp["alpha"]), lora_dropout=float(hp["dropout"]),
                      target_modules=hp["target_modules"], task_type="CAUSAL_LM")


def _callback(on_progress: Progress | None, n_tokens: int = 0):
    """A TrainerCallback that turns trainer logs into progress rows: the logged loss, grad_norm, lr and
    the kind's own metrics, plus tokens/s and peak memory. tokens/s uses trl's cumulative `num_tokens`
    where the trainer logs it (SFT, GRPO: prompts and generated completions), else `n_tokens`, the
    tokens of one pass over the data times the passes, spread evenly over the steps."""
    from transformers import TrainerCallback

    class Report(TrainerCallback):
        def __init__(self):
            self.t0 = time.perf_counter()
            self.history: list[dict[str, Any]] = []

        def on_train_begin(self, args, state, control, **kw):
            self.t0 = time.perf_counter()

        def on_log(self, args, state, control, logs=None, **kw):
            if not logs or "loss" not in logs:
                return
            elapsed = max(time.perf_counter() - self.t0, 1e-9)
            row = {k: float(f"{float(v):.6g}") for k, v in logs.items() if isinstance(v, int | float)}  # 6 significant digits: a small KL is not 0
            row["step"] = state.global_step
            if "num_tokens" in logs:
                row["tokens_per_s"] = round(float(logs["num_tokens"]) / elapsed, 1)
            elif n_tokens and state.max_steps:
                row["tokens_per_s"] = round(n_tokens * state.global_step / state.max_steps / elapsed, 1)
            row["peak_memory_mb"] = _peak_mb()
            self.history.append(row)
            if on_progress:
                on_progress(state.global_step, state.max_steps, row)

    return Report()


def _quiet(trainer) -> None:
    """The job reports its own progress; trainer's printed log dicts would only be noise."""
    from transformers.trainer_callback import PrinterCallback

    trainer.remove_callback(PrinterCallback)


def _save(trainer, path: Path) -> None:
    """Model (or adapter) and tokenizer, written once: under `accelerate launch` every process runs
    this code, Trainer.save_model writes from the main one, and the others wait until it has."""
    trainer.save_model(str(path))
    trainer.accelerator.wait_for_everyone()


def _peak_mb() -> float:
    if torch.cuda.is_available():
        return round(torch.cuda.max_memory_allocated() / 2**20, 1)
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _tokens(tok, rows: list[dict[str, Any]], cols: tuple[str, ...]) -> int:
    return sum(len(tok(" ".join(r[c] for c in cols))["input_ids"]) for r in rows)


def sft(base: str, rows: list[dict[str, Any]], out_dir: str | Path, hp: dict[str, Any] | None = None,
        on_progress: Progress | None = None, eval_sets: dict[str, list[dict[str, Any]]] | None = None
        ) -> dict[str, Any]:
    """LoRA SFT on prompt/completion rows, loss on completions only; exact match before and after."""
    hp = {**DEFAULTS["sft"], **(hp or {})}
    check_rows("sft", rows)
    out = Path(out_dir)
    model, tok = M.load(base)
    train = list(rows)
    if hp["replay"]:
        train += M.fixture("successor_train")[: int(hp["replay"])]
    before = {name: M.exact_match(model, tok, s) for name, s in (eval_sets or {}).items()}
    report = _callback(on_progress, _tokens(tok, train, ("prompt", "completion")) * int(hp["epochs"]))
    trainer = sft_trainer(model, tok, train, out, hp, [report])
    if hp["l2sp"]:  # (λ/2)·Σ‖W − W⁰‖², the pull towards the base weights (forgetting.py)
        F.add_l2sp(trainer, float(hp["l2sp"]))
    t0 = time.perf_counter()
    trainer.train()
    wall = time.perf_counter() - t0
    trained = trainer.model.eval()
    after = {name: M.exact_match(trained, tok, s) for name, s in (eval_sets or {}).items()}
    _save(trainer, out / "adapter")
    return {"kind": "sft", "base": base, "adapter": str(out / "adapter"), "method": hp["method"], "wall_s": round(wall, 2),
            "trainable_params": sum(p.numel() for p in trained.parameters() if p.requires_grad),
            "exact_match_before": before, "exact_match_after": after, "history": report.history}


def sft_trainer(model, tok, rows: list[dict[str, Any]], out: Path, hp: dict[str, Any], callbacks=()):
    """trl's SFTTrainer on prompt/completion rows: completion_only_loss masks the prompt tokens'
    labels to -100, and a peft LoraConfig wraps the model unless hp["method"] is "full"."""
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    hp = {**DEFAULTS["sft"], **hp}
    config = SFTConfig(**_common(out, hp["lr"], hp["batch_size"], hp["epochs"]), max_length=32,
                       completion_only_loss=True, packing=False)
    trainer = SFTTrainer(model=model, args=config, processing_class=tok, callbacks=list(callbacks),
                         peft_config=_lora(hp) if hp["method"] == "lora" else None,
                         train_dataset=Dataset.from_list([{"prompt": r["prompt"], "completion": r["completion"]}
                                                          for r in rows]))
    _quiet(trainer)
    return trainer


def merge(base: str, adapter: str | Path, out_dir: str | Path) -> str:
    """W ← W + (α/r)·B·A folded into the base weights (merge_and_unload), saved as a plain checkpoint."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:  # under `accelerate launch`: rank 0 writes, the rest wait
        from accelerate import PartialState

        state = PartialState()
        if state.is_main_process:
            _merge(base, adapter, out_dir)
        state.wait_for_everyone()
    else:
        _merge(base, adapter, out_dir)
    return str(out_dir)


def _merge(base: str, adapter: str | Path, out_dir: str | Path) -> None:
    model, tok = M.load(base, adapter, device="cpu")
    merged = model.merge_and_unload()
    merged.save_pretrained(out_dir)
    tok.save_pretrained(out_dir)


def dpo(base: str, rows: list[dict[str, Any]], out_dir: str | Path, hp: dict[str, Any] | None = None,
        on_progress: Progress | None = None, eval_rows: list[dict[str, Any]] | None = None,
        eval_sets: dict[str, list[dict[str, Any]]] | None = None) -> dict[str, Any]:
    """DPO with a fresh LoRA on `base` (an SFT model merged into its base): the reference is the
    adapter-disabled model. Held-out rewards/margins/accuracies before and after; the from-scratch
    loss checked against trl's on one held-out batch."""
    hp = {**DEFAULTS["dpo"], **(hp or {})}
    check_rows("dpo", rows)
    out = Path(out_dir)
    model, tok = M.load(base)
    report = _callback(on_progress, _tokens(tok, rows, ("prompt", "chosen", "rejected")) * int(hp["epochs"]))
    trainer = dpo_trainer(model, tok, rows, eval_rows or rows, out, hp, [report])
    em_before = {name: M.exact_match(trainer.model, tok, s) for name, s in (eval_sets or {}).items()}
    before = _eval_rewards(trainer)
    t0 = time.perf_counter()
    trainer.train()
    wall = time.perf_counter() - t0
    after = _eval_rewards(trainer)
    trainer.model.eval()
    em_after = {name: M.exact_match(trainer.model, tok, s) for name, s in (eval_sets or {}).items()}
    check = loss_check(trainer)
    _save(trainer, out / "adapter")
    return {"kind": "dpo", "base": base, "adapter": str(out / "adapter"), "wall_s": round(wall, 2),
            "heldout_before": before, "heldout_after": after, "exact_match_before": em_before,
            "exact_match_after": em_after, "loss_check": check, "history": report.history}


def dpo_trainer(model, tok, rows: list[dict[str, Any]], eval_rows: list[dict[str, Any]], out: Path,
                hp: dict[str, Any], callbacks=()):
    """trl's DPOTrainer with a fresh LoRA (peft_config), so the reference is the adapter-disabled model."""
    from datasets import Dataset
    from trl import DPOConfig, DPOTrainer

    hp = {**DEFAULTS["dpo"], **hp}
    cols = ("prompt", "chosen", "rejected")
    config = DPOConfig(**_common(out, hp["lr"], hp["batch_size"], hp["epochs"]), beta=float(hp["beta"]),
                       max_length=32, per_device_eval_batch_size=64)
    trainer = DPOTrainer(model=model, args=config, processing_class=tok, peft_config=_lora(hp),
                         callbacks=list(callbacks),
                         train_dataset=Dataset.from_list([{c: r[c] for c in cols} for r in rows]),
                         eval_dataset=Dataset.from_list([{c: r[c] for c in cols} for r in eval_rows]))
    _quiet(trainer)
    return trainer


def _eval_rewards(trainer) -> dict[str, float]:
    got = trainer.evaluate()
    keys = ("eval_loss", "eval_rewards/chosen", "eval_rewards/rejected", "eval_rewards/margins",
            "eval_rewards/accuracies")
    return {k.removeprefix("eval_"): round(float(got[k]), 6) for k in keys if k in got}


@torch.no_grad()
def loss_check(trainer) -> dict[str, float]:
    """trl's DPO loss and ours (objectives.dpo_loss) on the same collated held-out batch."""
    from labs.lab10_finetune.objectives import dpo_loss, sequence_logps

    model = trainer.model.eval()
    batch = next(iter(trainer.get_eval_dataloader()))
    batch = {k: v.to(model.device) if hasattr(v, "to") else v for k, v in batch.items()}
    theirs = float(trainer.compute_loss(model, batch))
    ids, mask = batch["input_ids"], batch["attention_mask"]
    pi = sequence_logps(model(input_ids=ids, attention_mask=mask).logits, ids, batch["completion_mask"])
    with model.disable_adapter():
        ref = sequence_logps(model(input_ids=ids, attention_mask=mask).logits, ids, batch["completion_mask"])
    pi_w, pi_l = pi.chunk(2)
    ref_w, ref_l = ref.chunk(2)
    ours = float(dpo_loss(pi_w, pi_l, ref_w, ref_l, trainer.beta)["loss"])
    return {"trl": round(theirs, 6), "ours": round(ours, 6), "abs_diff": abs(theirs - ours)}


def reward(base: str, rows: list[dict[str, Any]], out_dir: str | Path, hp: dict[str, Any] | None = None,
           on_progress: Progress | None = None, eval_rows: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A Bradley-Terry reward model (trl RewardTrainer: a scalar head on the base), with held-out
    pairwise accuracy (share of pairs where r(chosen) > r(rejected)) before and after."""
    hp = {**DEFAULTS["reward"], **(hp or {})}
    check_rows("reward", rows)
    out = Path(out_dir)
    model, tok = reward_model(base)
    held = eval_rows or rows
    report = _callback(on_progress, _tokens(tok, rows, ("prompt", "chosen", "rejected")) * int(hp["epochs"]))
    trainer = reward_trainer(model, tok, rows, out, hp, [report])
    before = pairwise_accuracy(trainer.model, tok, held)
    t0 = time.perf_counter()
    trainer.train()
    wall = time.perf_counter() - t0
    after = pairwise_accuracy(trainer.model, tok, held)
    _save(trainer, out / "reward")
    return {"kind": "reward", "base": base, "path": str(out / "reward"), "wall_s": round(wall, 2),
            "pairwise_accuracy_before": before, "pairwise_accuracy_after": after, "history": report.history}


def reward_model(base: str):
    """The base with a fresh scalar head (AutoModelForSequenceClassification, num_labels=1)."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(base)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(base, num_labels=1)
    model.config.pad_token_id = tok.pad_token_id
    return model, tok


def reward_trainer(model, tok, rows: list[dict[str, Any]], out: Path, hp: dict[str, Any], callbacks=()):
    from datasets import Dataset
    from trl import RewardConfig, RewardTrainer

    hp = {**DEFAULTS["reward"], **hp}
    cols = ("prompt", "chosen", "rejected")
    config = RewardConfig(**_common(out, hp["lr"], hp["batch_size"], hp["epochs"]), max_length=32)
    trainer = RewardTrainer(model=model, args=config, processing_class=tok, callbacks=list(callbacks),
                            train_dataset=Dataset.from_list([{c: r[c] for c in cols} for r in rows]))
    _quiet(trainer)
    return trainer


@torch.no_grad()
def pairwise_accuracy(model, tok, rows: list[dict[str, Any]]) -> float:
    model.eval()
    tok.padding_side = "right"

    def score(key: str) -> torch.Tensor:
        enc = tok([r["prompt"] + r[key] + tok.eos_token for r in rows], return_tensors="pt", padding=True)
        return model(**enc.to(model.device)).logits.squeeze(-1)

    return round(float((score("chosen") > score("rejected")).float().mean()), 4)


def sum_reward(completions: list[str], answer: list[str], **_: Any) -> list[float]:
    """The rule: 1 for the exact sum, 0.1 for some other number, 0 for anything else."""
    out = []
    for text, want in zip(completions, answer, strict=True):
        got = text.strip()
        out.append(1.0 if got == want else 0.1 if got.isdigit() else 0.0)
    return out


def grpo(base: str, rows: list[dict[str, Any]], out_dir: str | Path, hp: dict[str, Any] | None = None,
         on_progress: Progress | None = None) -> dict[str, Any]:
    """GRPO (trl GRPOTrainer, no vLLM) with `sum_reward`: G sampled completions per prompt, advantages
    normalised within the group, a KL penalty β to the adapter-disabled reference."""
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    hp = {**DEFAULTS["grpo"], **(hp or {})}
    check_rows("grpo", rows)
    out = Path(out_dir)
    model, tok = M.load(base)
    report = _callback(on_progress)
    G = int(hp["num_generations"])
    kw = _common(out, hp["lr"], hp["batch_size"])
    config = GRPOConfig(**kw, max_steps=int(hp["steps"]), num_generations=G, scale_rewards="group",
                        max_completion_length=4, beta=float(hp["beta"]), temperature=1.0)
    seen: list[tuple[list[float], list[float]]] = []  # (rewards, trl's advantages) per generation batch
    rewarded: list[list[float]] = []

    def reward_rule(completions: list[str], answer: list[str], **_: Any) -> list[float]:
        got = sum_reward(completions, answer)
        rewarded.append(got)
        return got

    reward_rule.__name__ = "sum_reward"
    trainer = GRPOTrainer(model=model, args=config, processing_class=tok, reward_funcs=[reward_rule],
                          peft_config=_lora(hp), callbacks=[report],
                          train_dataset=Dataset.from_list([{"prompt": r["prompt"], "answer": r["completion"]}
                                                           for r in rows]))
    _quiet(trainer)
    score = trainer._generate_and_score_completions

    def recorded(inputs):
        batch = score(inputs)
        seen.append((rewarded[-1], batch["advantages"].detach().float().cpu().tolist()))
        return batch

    trainer._generate_and_score_completions = recorded
    t0 = time.perf_counter()
    trainer.train()
    wall = time.perf_counter() - t0
    h = report.history
    k = max(1, len(h) // 4)
    summary = {"reward_first_quarter": _mean(r["reward"] for r in h[:k]),
               "reward_last_quarter": _mean(r["reward"] for r in h[-k:]),
               "reward_std_mean": _mean(r["reward_std"] for r in h), "kl_mean": _mean(r["kl"] for r in h),
               "kl_max": max(r["kl"] for r in h),
               "completion_length_mean": _mean(r["completions/mean_length"] for r in h)}
    _save(trainer, out / "adapter")
    return {"kind": "grpo", "base": base, "adapter": str(out / "adapter"), "wall_s": round(wall, 2),
            "steps": len(h), **summary, "advantage_check": advantage_check(seen, G, trainer.accelerator.num_processes),
            "history": h}


def advantage_check(seen: list[tuple[list[float], list[float]]], G: int, processes: int = 1) -> dict[str, Any]:
    """objectives.grpo_advantages on each group of G rewards the trainer scored, against the advantages
    trl computed from the same rewards. One process only: with several, each sees a slice of the groups."""
    if processes != 1:
        return {"groups": 0, "max_abs_diff": None, "skipped": f"{processes} processes"}
    from labs.lab10_finetune.objectives import grpo_advantages

    diff, groups = 0.0, 0
    for rewards, theirs in seen:
        for i in range(0, len(rewards), G):
            ours = grpo_advantages(rewards[i:i + G])
            diff = max(diff, max(abs(a - b) for a, b in zip(ours, theirs[i:i + G], strict=True)))
            groups += 1
    return {"groups": groups, "max_abs_diff": diff}


def _mean(values) -> float:
    v = list(values)
    return round(sum(v) / len(v), 6)
