"""The chapter's worked exercises: `python -m labs.lab02_pytorch.exercises` (`--json` for one JSON object).

1. broadcasting: what (8, 1, 6, 1) and (7, 1, 5) broadcast to
2. einsum as matmul: attention scores 'bhqd,bhkd->bhqk' as permute/reshape/bmm
3. log-sum-exp: cross-entropy of logits (1000, 1001, 1002), naive vs stable
4. AdamW parameter groups: which tensors of the lab's MLP decay, and how many parameters each way
5. warmup -> cosine: the learning rate at chosen steps of a 1000-step schedule
6. bit-exact resume: 40 straight steps vs 20 + checkpoint + 20 in a fresh trainer, per AMP mode
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

import torch

from labs.lab02_pytorch import checkpoint, losses, schedule, shapes
from labs.lab02_pytorch.model import MLP, describe_groups, param_groups
from labs.lab02_pytorch.train import TrainConfig, Trainer


def broadcasting() -> dict[str, Any]:
    a, b = (8, 1, 6, 1), (7, 1, 5)
    return {"a": list(a), "b": list(b), "answer": list(shapes.broadcast_shape(a, b))}


def einsum_as_matmul() -> dict[str, Any]:
    spec, sa, sb = "bhqd,bhkd->bhqk", (2, 4, 5, 8), (2, 4, 6, 8)
    e = shapes.parse_einsum(spec)
    out, size = shapes.einsum_shape(e, [sa, sb])
    g = torch.Generator().manual_seed(0)
    q, k = torch.randn(*sa, generator=g), torch.randn(*sb, generator=g)
    diff = (shapes.einsum_via_matmul(spec, q, k) - q @ k.transpose(-1, -2)).abs().max().item()
    return {"spec": spec, "shapes": [list(sa), list(sb)], "answer": {
        "output_shape": list(out), "roles": shapes.roles(e), "matmul": shapes.matmul_recipe(e, size),
        "same_as": "q @ k.transpose(-1, -2)", "max_abs_diff": diff}}


def log_sum_exp() -> dict[str, Any]:
    z, y = torch.tensor([[1000.0, 1001.0, 1002.0]]), torch.tensor([2])
    naive = losses.naive_cross_entropy(z, y).item()
    return {"logits": [1000.0, 1001.0, 1002.0], "target": 2, "answer": {
        "naive": str(naive), "stable": round(losses.cross_entropy(z, y).item(), 6),
        "torch": round(torch.nn.functional.cross_entropy(z, y).item(), 6)}}


def adamw_groups() -> dict[str, Any]:
    groups = describe_groups(param_groups(MLP(hidden=64, depth=2), weight_decay=0.05))
    return {"model": "MLP(hidden=64, depth=2)", "weight_decay": 0.05, "answer": groups}


def warmup_cosine() -> dict[str, Any]:
    lr, W, T, r = 3e-4, 100, 1000, 0.1
    at = [0, 49, 99, 100, 550, 999]
    return {"lr_max": lr, "W": W, "T": T, "r": r, "steps": at,
            "answer": {str(t): round(lr * schedule.multiplier(t, W, T, r), 10) for t in at}}


def bit_exact_resume() -> dict[str, Any]:
    answer = {}
    for amp in ("off", "bf16", "fp16"):
        cfg = TrainConfig(steps=40, amp=amp, eval_every=0)
        straight = Trainer(cfg)
        straight.run()
        first = Trainer(cfg)
        first.run(until=20)
        with tempfile.TemporaryDirectory() as tmp:
            checkpoint.save(first, Path(tmp))
            resumed = checkpoint.resume(Path(tmp))
        resumed.run()
        a, b = straight.parameters(), resumed.parameters()
        answer[amp] = {"torch_equal": all(torch.equal(a[k], b[k]) for k in a), "max_abs_diff": checkpoint.max_drift(a, b)}
    return {"steps": 40, "split": 20, "answer": answer}


def solve() -> dict[str, dict[str, Any]]:
    return {"broadcasting": broadcasting(), "einsum_as_matmul": einsum_as_matmul(), "log_sum_exp": log_sum_exp(),
            "adamw_param_groups": adamw_groups(), "warmup_cosine": warmup_cosine(),
            "bit_exact_resume": bit_exact_resume()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    out = solve()
    if args.json:
        print(json.dumps(out))
        return 0
    for name, item in out.items():
        inputs = {k: v for k, v in item.items() if k != "answer"}
        print(f"== {name}")
        print(f"   inputs: {json.dumps(inputs)}")
        answer = json.dumps(item["answer"])
        print(f"   answer: {answer if len(answer) < 100 else json.dumps(item['answer'], indent=2)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
