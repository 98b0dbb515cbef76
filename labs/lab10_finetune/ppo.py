"""PPO's clipped objective and a tiny PPO loop written from scratch:
`curl -s localhost:8010/jobs -H 'content-type: application/json' -d '{"kind": "ppo", "dataset": "addition_train", "steps": 4, "wait": true}'`.

Per completion token t, with the policy π_θ, the policy that sampled the batch π_old and the frozen
reference π_ref:
    ρ_t = π_θ(y_t|s_t) / π_old(y_t|s_t)                                   (the ratio)
    L_clip = −E_t[ min(ρ_t·A_t, clip(ρ_t, 1 − ε, 1 + ε)·A_t) ]            (the clipped surrogate)
    clip fraction = share of tokens with |ρ_t − 1| > ε                     (how often the clip bites)
The KL penalty keeps π_θ near π_ref. `clipped_objective` adds it to the loss as trl's GRPO does, with
the k3 estimator  KL_t ≈ exp(q_t) − q_t − 1,  q_t = log π_ref(y_t) − log π_θ(y_t)  (≥ 0), which is
unbiased for tokens drawn from π_θ; the tokens were drawn from π_old, so each is weighted by ρ_t
(importance sampling; trl's `use_bias_correction_kl`, on by default).
tests/lab10/test_ppo.py checks loss and gradients against trl's GRPOTrainer._compute_loss.
The PPO loop (`train`) folds it into the reward instead, as InstructGPT did: each token earns
−β·(log π_old(y_t) − log π_ref(y_t)) and the last one also earns the task reward. A value head
V(s_t) on the policy's last hidden state is the critic; GAE (γ = 1, λ) turns rewards into
advantages  A_t = Σ_k λ^k·δ_{t+k},  δ_t = r_t + V(s_{t+1}) − V(s_t),  returns R_t = A_t + V(s_t);
the value loss is ½·(V(s_t) − R_t)². Each rollout is reused for `ppo_epochs` updates, which is what
makes ρ ≠ 1 and the clip matter.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from labs.lab10_finetune import model as M
from labs.lab10_finetune import reward_hacking as RH
from labs.lab10_finetune import train as T

Progress = Callable[[int, int, dict[str, Any]], None]


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return (x * mask).sum() / mask.sum().clamp(min=1.0)


def clipped_objective(logp: torch.Tensor, logp_old: torch.Tensor, advantages: torch.Tensor, mask: torch.Tensor,
                      eps: float = 0.2, beta: float = 0.0, logp_ref: torch.Tensor | None = None,
                      kl_importance_weight: bool = True) -> dict[str, torch.Tensor]:
    """The clipped surrogate (+ β·k3 KL to the reference when β > 0) as a token mean over `mask`.
    `advantages` is per token (B, T) or per sequence (B,), broadcast over the tokens."""
    A = advantages if advantages.dim() == logp.dim() else advantages.unsqueeze(-1)
    ratio = torch.exp(logp - logp_old)
    surrogate = torch.min(ratio * A, torch.clamp(ratio, 1 - eps, 1 + eps) * A)
    per_token = -surrogate
    out: dict[str, torch.Tensor] = {}
    if beta:
        q = logp_ref - logp
        kl = torch.exp(q) - q - 1
        if kl_importance_weight:
            kl = kl * ratio
        per_token = per_token + beta * kl
        out["kl_ref"] = masked_mean(kl, mask).detach()
    # the clip only changes the gradient where it caps a gain: ρ above 1+ε with A > 0, below 1−ε with A < 0
    active = ((ratio > 1 + eps) & (A > 0)) | ((ratio < 1 - eps) & (A < 0))
    return {"loss": masked_mean(per_token, mask), "ratio_mean": masked_mean(ratio, mask).detach(),
            "clip_fraction": masked_mean(((ratio - 1).abs() > eps).float(), mask),
            "clip_active": masked_mean(active.float(), mask),
            "approx_kl_old": masked_mean((ratio - 1) - (logp - logp_old), mask).detach(), **out}


def gae(rewards: torch.Tensor, values: torch.Tensor, mask: torch.Tensor, lam: float, gamma: float = 1.0
        ) -> tuple[torch.Tensor, torch.Tensor]:
    """Advantages and returns by generalised advantage estimation over each row's unmasked tokens
    (completions are right-padded: the value after the last token is 0)."""
    B, T = rewards.shape
    A = torch.zeros_like(rewards)
    last = torch.zeros(B, dtype=rewards.dtype)
    for t in reversed(range(T)):
        next_v = values[:, t + 1] * mask[:, t + 1] if t + 1 < T else torch.zeros(B, dtype=rewards.dtype)
        delta = rewards[:, t] + gamma * next_v - values[:, t]
        last = (delta + gamma * lam * last) * mask[:, t]
        A[:, t] = last
    return A, A + values


def whiten(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    mean = masked_mean(x, mask)
    var = masked_mean((x - mean) ** 2, mask)
    return (x - mean) * torch.rsqrt(var + 1e-8) * mask


def token_logps_and_values(policy, value_head, input_ids: torch.Tensor, attention_mask: torch.Tensor, P: int
                           ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """log π(y_t) of each completion token (positions P.. of input_ids) and V(s_t), the value of the state
    the token was chosen in. Positions follow the attention mask, as generate() assigned them to the
    left-padded prompts."""
    position_ids = (attention_mask.cumsum(-1) - 1).clamp(min=0)
    out = policy(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
                 output_hidden_states=value_head is not None)
    logits = out.logits[:, P - 1:-1].float()
    logp = torch.log_softmax(logits, -1).gather(-1, input_ids[:, P:].unsqueeze(-1)).squeeze(-1)
    if value_head is None:
        return logp, None
    return logp, value_head(out.hidden_states[-1][:, P - 1:-1].float()).squeeze(-1)


def completion_mask(completion_ids: torch.Tensor, eos_id: int) -> torch.Tensor:
    """1 up to and including the first eos, 0 after it."""
    is_eos = completion_ids == eos_id
    after = (is_eos.cumsum(-1) - is_eos.long()) > 0
    return (~after).float()


def train(base: str, rows: list[dict[str, Any]], out_dir: str | Path, hp: dict[str, Any] | None = None,
          on_progress: Progress | None = None,
          reward_fn: Callable[[list[str], list[str]], list[float]] | None = None) -> dict[str, Any]:
    """PPO with a LoRA policy, its adapter-disabled self as π_ref, a linear value head, GAE and the clip.
    `reward_fn(completions, answers)` scores each completion (default: the one hp["reward"] names in
    reward_hacking.REWARDS); each step also logs the true rule's reward and the length, so a proxy
    reward's exploitation shows."""
    from peft import get_peft_model  # heavy: loaded where a policy is built, as train.py does

    hp = {**T.DEFAULTS["ppo"], **(hp or {})}
    T.check_rows("ppo", rows)
    reward_fn = reward_fn or RH.REWARDS[hp["reward"]]
    out = Path(out_dir)
    torch.manual_seed(0)
    base_model, tok = M.load(base, device="cpu")
    policy = get_peft_model(base_model, T._lora(hp))
    value_head = torch.nn.Linear(policy.config.hidden_size, 1)
    torch.nn.init.zeros_(value_head.weight)
    torch.nn.init.zeros_(value_head.bias)
    params = [p for p in policy.parameters() if p.requires_grad] + list(value_head.parameters())
    opt = torch.optim.AdamW(params, lr=float(hp["lr"]))
    gen = torch.Generator().manual_seed(0)
    steps, B, eps, beta = int(hp["steps"]), int(hp["batch_size"]), float(hp["clip_eps"]), float(hp["beta"])
    history: list[dict[str, Any]] = []
    n_tokens = 0
    t0 = time.perf_counter()
    for step in range(1, steps + 1):
        idx = torch.randint(len(rows), (B,), generator=gen).tolist()
        batch = [rows[i] for i in idx]
        ids, mask, P, texts = _rollout(policy, tok, [r["prompt"] for r in batch])
        cmask = mask[:, P:].float()
        answers = [r["completion"] for r in batch]
        task = torch.tensor(reward_fn(texts, answers), dtype=torch.float32)
        with torch.no_grad():
            logp_old, values = token_logps_and_values(policy, value_head, ids, mask, P)
            with policy.disable_adapter():
                logp_ref, _ = token_logps_and_values(policy, None, ids, mask, P)
        kl_tok = (logp_old - logp_ref) * cmask
        rewards = -beta * kl_tok
        last = (cmask.sum(-1) - 1).clamp(min=0).long()
        rewards[torch.arange(B), last] += task
        A, R = gae(rewards, values, cmask, float(hp["lam"]))
        A = whiten(A, cmask)
        stats: list[dict[str, float]] = []
        policy.train()
        for _ in range(int(hp["ppo_epochs"])):
            logp, V = token_logps_and_values(policy, value_head, ids, mask, P)
            obj = clipped_objective(logp, logp_old, A, cmask, eps)
            v_loss = 0.5 * masked_mean((V - R) ** 2, cmask)
            loss = obj["loss"] + float(hp["vf_coef"]) * v_loss
            opt.zero_grad()
            loss.backward()
            grad_norm = torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            stats.append({"loss": loss.item(), "policy_loss": obj["loss"].item(), "value_loss": v_loss.item(),
                          "clip_fraction": float(obj["clip_fraction"]), "approx_kl_old": float(obj["approx_kl_old"]),
                          "grad_norm": float(grad_norm)})
        policy.eval()
        n_tokens += int(mask.sum())
        row = {k: round(sum(s[k] for s in stats) / len(stats), 6) for k in stats[0]}
        row.update(step=step, reward=round(float(task.mean()), 6),
                   true_reward=round(sum(T.sum_reward(texts, answers)) / B, 6),
                   chars=round(sum(len(t) for t in texts) / B, 3),
                   kl=round(float(kl_tok.sum() / cmask.sum().clamp(min=1)), 6),
                   completion_length=round(float(cmask.sum(-1).mean()), 3),
                   tokens_per_s=round(n_tokens / max(time.perf_counter() - t0, 1e-9), 1),
                   learning_rate=float(hp["lr"]))
        history.append(row)
        if on_progress:
            on_progress(step, steps, row)
    wall = time.perf_counter() - t0
    policy.save_pretrained(str(out / "adapter"))
    tok.save_pretrained(str(out / "adapter"))
    torch.save(value_head.state_dict(), out / "value_head.pt")
    k = max(1, len(history) // 4)
    mean = lambda key, rows_: round(sum(r[key] for r in rows_) / len(rows_), 6)  # noqa: E731
    return {"kind": "ppo", "base": base, "adapter": str(out / "adapter"), "wall_s": round(wall, 2), "steps": steps,
            "reward": hp["reward"] if reward_fn is RH.REWARDS.get(hp["reward"]) else getattr(reward_fn, "__name__", "custom"),
            "reward_first_quarter": mean("reward", history[:k]), "reward_last_quarter": mean("reward", history[-k:]),
            "true_reward_first_quarter": mean("true_reward", history[:k]),
            "true_reward_last_quarter": mean("true_reward", history[-k:]),
            "chars_first_quarter": mean("chars", history[:k]), "chars_last_quarter": mean("chars", history[-k:]),
            "kl_mean": mean("kl", history), "clip_fraction_mean": mean("clip_fraction", history),
            "clip_fraction_max": max(r["clip_fraction"] for r in history),
            "completion_length_mean": mean("completion_length", history), "history": history}


@torch.no_grad()
def _rollout(policy, tok, prompts: list[str], max_new_tokens: int = 4):
    """Sample one completion per prompt (temperature 1). Returns prompt+completion ids, the attention mask
    (left-padded prompt, completion cut after its first eos), the prompt width P and the texts."""
    tok.padding_side = "left"
    enc = tok(prompts, return_tensors="pt", padding=True)
    out = policy.generate(**enc, max_new_tokens=max_new_tokens, do_sample=True, temperature=1.0, top_k=0,
                          top_p=1.0, pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id)
    P = enc["input_ids"].shape[1]
    completion = out[:, P:]
    cmask = completion_mask(completion, tok.eos_token_id).long()
    completion = completion.masked_fill(cmask == 0, tok.pad_token_id)
    ids = torch.cat([enc["input_ids"], completion], 1)
    mask = torch.cat([enc["attention_mask"], cmask], 1)
    texts = [s.strip() for s in tok.batch_decode(completion, skip_special_tokens=True)]
    return ids, mask, P, texts
