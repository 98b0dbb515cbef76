"""The fine-tuning CLI, with a progress bar per stage.

    python -m labs.lab10_finetune pipeline            # build → SFT → DPO → merge → generate, prints the gains
    python -m labs.lab10_finetune sft --replay 30     # one SFT run on the addition task
    python -m labs.lab10_finetune generate "2+3=" --adapter DATA_DIR/lab10/cli/sft/adapter

Multi-GPU: `accelerate launch --multi_gpu --num_processes 4 -m labs.lab10_finetune sft` (README, "GPU").
"""

from __future__ import annotations

import argparse
import json
import os

from tqdm import tqdm

from labs.lab10_finetune import model as M
from labs.lab10_finetune import pipeline
from labs.lab10_finetune import train as T
from shared.config import get_settings


def _quiet() -> None:
    import datasets
    from transformers.utils import logging

    datasets.disable_progress_bars()
    logging.disable_progress_bar()
    logging.set_verbosity_error()


def _main_process() -> bool:
    """Under `accelerate launch` every process runs this CLI; only rank 0 draws bars and prints."""
    return os.environ.get("RANK", "0") == "0"


class Bars:
    """One tqdm bar per stage, advanced to the trainer's step, with the latest loss beside it."""

    def __init__(self, enabled: bool = True, file=None):
        self.bar: tqdm | None = None
        self.enabled = enabled
        self.file = file

    def __call__(self, stage: str):
        if not self.enabled:
            return None

        def progress(step: int, total: int, row: dict) -> None:
            if self.bar is None or self.bar.desc != stage:
                if self.bar is not None:
                    self.bar.close()
                self.bar = tqdm(total=total, desc=stage, unit="step", file=self.file)
            self.bar.update(step - self.bar.n)
            self.bar.set_postfix(loss=row.get("loss"))
        return progress

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m labs.lab10_finetune", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("pipeline", help="build → SFT → DPO → merge → generate")
    sft = sub.add_parser("sft", help="LoRA SFT on the addition task")
    sft.add_argument("--epochs", type=int, default=T.DEFAULTS["sft"]["epochs"])
    sft.add_argument("--rank", type=int, default=T.DEFAULTS["sft"]["rank"])
    sft.add_argument("--replay", type=int, default=0)
    sft.add_argument("--l2sp", type=float, default=0.0, help="λ of the pull towards the base weights")
    gen = sub.add_parser("generate", help="greedy completions from the base (+ an adapter)")
    gen.add_argument("prompts", nargs="+")
    gen.add_argument("--adapter")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _quiet()
    out = get_settings().lab_dir("lab10") / "cli"
    bars = Bars(enabled=_main_process())
    if args.cmd == "pipeline":
        report = pipeline.run(out, bars)
    elif args.cmd == "sft":
        if args.rank < 1 or args.epochs < 1:
            parser.error("--rank and --epochs must be at least 1")
        evals = {"addition": M.fixture("addition_test"), "successor": M.fixture("successor_test")}
        report = T.sft(M.base_path(out), M.fixture("addition_train"), out / "sft",
                       {"epochs": args.epochs, "rank": args.rank, "replay": args.replay, "l2sp": args.l2sp},
                       bars("sft"), evals)
        report.pop("history")
    else:
        model, tok = M.load(M.base_path(out), args.adapter)
        report = dict(zip(args.prompts, M.generate(model, tok, args.prompts), strict=True))
    bars.close()
    if _main_process():
        print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
