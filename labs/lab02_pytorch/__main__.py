"""The lab-02 CLI, with a progress bar: `python -m labs.lab02_pytorch train --steps 300`.

    python -m labs.lab02_pytorch train --steps 300 --amp bf16 --ckpt-dir runs/a   # checkpoints every 50 steps
    python -m labs.lab02_pytorch train --ckpt-dir runs/a --resume                  # continue from the newest one
    python -m labs.lab02_pytorch ablation            # drift when one piece of state is left out of a checkpoint
    python -m labs.lab02_pytorch bestiary            # every bug: its measured symptom and the fix's
    python -m labs.lab02_pytorch ddp                 # 2 processes on gloo vs one process on the joint batch
"""

from __future__ import annotations

import argparse
import json
import tempfile
from dataclasses import asdict
from pathlib import Path

import torch
import torch.multiprocessing as mp
from tqdm import tqdm

from labs.lab02_pytorch import bestiary, checkpoint, ddp
from labs.lab02_pytorch.train import TrainConfig, Trainer


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m labs.lab02_pytorch", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    train = sub.add_parser("train", help="train the digits MLP with the annotated loop")
    for name, default in (("steps", 300), ("batch-size", 32), ("warmup-steps", 20), ("seed", 0), ("hidden", 64),
                          ("depth", 2), ("eval-every", 50)):
        train.add_argument(f"--{name}", type=int, default=default)
    train.add_argument("--lr", type=float, default=3e-3)
    train.add_argument("--amp", choices=["off", "bf16", "fp16"], default="off")
    train.add_argument("--optimizer", choices=["adamw", "sgd"], default="adamw")
    train.add_argument("--grad-checkpoint", action="store_true")
    train.add_argument("--compile", action="store_true", help="torch.compile the model (slow first step)")
    train.add_argument("--ckpt-dir", type=Path, help="save checkpoints here")
    train.add_argument("--ckpt-every", type=int, default=50)
    train.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in --ckpt-dir")
    train.add_argument("--throttle-ms", type=int, default=0, help="sleep per step (to watch, or kill, a short run)")
    ablation = sub.add_parser("ablation", help="resume with one piece of state left out at a time")
    ablation.add_argument("--amp", choices=["off", "bf16", "fp16"], default="fp16")
    ablation.add_argument("--split", type=int, default=30)
    ablation.add_argument("--extra", type=int, default=10)
    best = sub.add_parser("bestiary", help="run every bug's reproducer and fix")
    best.add_argument("names", nargs="*", help="only these bugs")
    dist = sub.add_parser("ddp", help="DDP on 2 CPU processes (gloo) vs single-process on the joint batch")
    dist.add_argument("--steps", type=int, default=20)
    dist.add_argument("--batch-size", type=int, default=16)
    return parser


def cmd_train(args: argparse.Namespace, parser: argparse.ArgumentParser) -> dict:
    if args.resume:
        if args.ckpt_dir is None:
            parser.error("--resume needs --ckpt-dir")
        trainer = checkpoint.resume(args.ckpt_dir)
    else:
        cfg = TrainConfig(steps=args.steps, batch_size=args.batch_size, lr=args.lr, warmup_steps=args.warmup_steps,
                          amp=args.amp, optimizer=args.optimizer, hidden=args.hidden, depth=args.depth,
                          grad_checkpoint=args.grad_checkpoint, compile=args.compile, seed=args.seed,
                          eval_every=args.eval_every)
        try:
            cfg.check()
        except ValueError as exc:
            parser.error(str(exc))
        trainer = Trainer(cfg)
    bar = tqdm(total=trainer.cfg.steps, initial=trainer.step, desc="train", unit="step")

    def on_step(row: dict) -> None:
        if args.ckpt_dir is not None and (trainer.step % args.ckpt_every == 0 or trainer.step == trainer.cfg.steps):
            checkpoint.save(trainer, args.ckpt_dir)
        bar.update(1)
        bar.set_postfix(loss=f"{row['loss']:.4f}", lr=f"{row['lr']:.2e}")

    trainer.run(on_step=on_step, throttle_s=args.throttle_ms / 1000)
    bar.close()
    last = trainer.history[-1]
    return {"config": asdict(trainer.cfg), "steps": trainer.step, "final_loss": last["loss"],
            "val_loss": last.get("val_loss"), "val_acc": last.get("val_acc"),
            "logged_steps": len(trainer.history), "distinct_steps": len({h["step"] for h in trainer.history})}


def cmd_ablation(args: argparse.Namespace) -> dict:
    cfg = TrainConfig(steps=args.split + args.extra + 20, amp=args.amp, eval_every=0)
    drift = checkpoint.ablation(cfg, args.split, args.extra)
    pitfall = checkpoint.ablation(TrainConfig(steps=cfg.steps, amp=args.amp, eval_every=0, sampler="global"),
                                  args.split, args.extra)["nothing"]
    with tempfile.TemporaryDirectory() as tmp:
        numpy_state = checkpoint.numpy_legacy_state_rejected(Path(tmp))
    print(f"max |Δθ| after {args.extra} resumed steps (amp={args.amp}), one piece left out:")
    for piece, value in drift.items():
        print(f"  without {piece:<10} {value:.6f}")
    print(f"  global-RNG sampler, everything saved: {pitfall:.6f}")
    print(f"torch.load(weights_only=True): {numpy_state}")
    return {"drift": drift, "global_rng_sampler": pitfall, "numpy_state": numpy_state}


def cmd_bestiary(args: argparse.Namespace, parser: argparse.ArgumentParser) -> list:
    unknown = [n for n in args.names if n not in bestiary.BUGS]
    if unknown:
        parser.error(f"unknown bug(s) {unknown}; known: {', '.join(bestiary.BUGS)}")
    rows = [bestiary.run(n) for n in tqdm(args.names or list(bestiary.BUGS), desc="bestiary", unit="bug")]
    for r in rows:
        mark = "reproduces" if r["reproduces"] else "does NOT reproduce"
        print(f"{r['name']:<38} bug={r['bug']!s:<12.10} fix={r['fix']!s:<12.10} {mark}  ({r['metric']})")
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.cmd == "train":
        out = cmd_train(args, parser)
    elif args.cmd == "ablation":
        out = cmd_ablation(args)
    elif args.cmd == "bestiary":
        cmd_bestiary(args, parser)
        return 0
    else:
        out = run_ddp(args.steps, args.batch_size)
    print(json.dumps(out, indent=2))
    return 0


def run_ddp(steps: int, batch_size: int, world: int = 2) -> dict:
    """Fork `world` ranks (gloo), then train one process on the concatenated batches and compare."""
    if steps < 1 or batch_size < 1:
        raise SystemExit("--steps and --batch-size must be at least 1")
    torch.set_num_threads(1)
    single = ddp.train_single_on_global(world, steps, batch_size)  # also warms torch before the fork
    with tempfile.TemporaryDirectory() as tmp:
        mp.start_processes(ddp.spawn_target, args=(world, steps, batch_size, tmp, ddp.free_port()), nprocs=world,
                           start_method="fork")
        ranks = [torch.load(Path(tmp) / f"rank{r}.pt") for r in range(world)]
    return {"world_size": world, "steps": steps, "batch_size_per_rank": batch_size,
            "ranks_identical": all(torch.equal(ranks[0][k], r[k]) for r in ranks for k in r),
            "max_abs_diff_vs_single_process": checkpoint.max_drift(ranks[0], single)}


if __name__ == "__main__":
    raise SystemExit(main())
