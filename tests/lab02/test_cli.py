"""The CLI: a progress bar, argument errors, and a run killed with SIGKILL that resumes bit-exactly."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from labs.lab02_pytorch import __main__ as cli
from labs.lab02_pytorch import checkpoint
from labs.lab02_pytorch.train import TrainConfig, Trainer
from shared.config import REPO_ROOT


def test_train_draws_a_progress_bar_and_reports(tmp_path, capsys):
    assert cli.main(["train", "--steps", "30", "--warmup-steps", "5", "--eval-every", "30",
                     "--ckpt-dir", str(tmp_path), "--ckpt-every", "10"]) == 0
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert report["steps"] == 30 and report["val_acc"] is not None
    assert "train: 100%" in captured.err and "30/30" in captured.err and "loss=" in captured.err
    assert [c["step"] for c in checkpoint.list_checkpoints(tmp_path)] == [10, 20, 30]


@pytest.mark.parametrize("argv", [["train", "--steps", "0"], ["train", "--lr", "-1"], ["train", "--resume"],
                                  ["train", "--amp", "fp8"], ["bestiary", "not_a_bug"]])
def test_bad_arguments_stop_before_any_work(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    assert exc.value.code == 2


@pytest.mark.slow
def test_a_run_killed_with_sigkill_resumes_with_no_lost_or_repeated_step(tmp_path):
    steps = 40
    cmd = [sys.executable, "-m", "labs.lab02_pytorch", "train", "--steps", str(steps), "--warmup-steps", "5",
           "--eval-every", "0", "--ckpt-dir", str(tmp_path), "--ckpt-every", "5", "--throttle-ms", "40"]
    proc = subprocess.Popen(cmd, cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not (tmp_path / "ckpt-000015.pt").exists():
            assert proc.poll() is None and time.monotonic() < deadline, "the run ended before it could be killed"
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    killed_at = checkpoint.list_checkpoints(tmp_path)[-1]["step"]
    assert 15 <= killed_at < steps
    done = subprocess.run([sys.executable, "-m", "labs.lab02_pytorch", "train", "--ckpt-dir", str(tmp_path),
                           "--ckpt-every", "5", "--resume"], cwd=REPO_ROOT, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout)
    assert report["steps"] == steps and report["logged_steps"] == report["distinct_steps"] == steps
    resumed = checkpoint.load(checkpoint.list_checkpoints(tmp_path)[-1]["path"])
    straight = Trainer(TrainConfig(steps=steps, warmup_steps=5, eval_every=0))
    straight.run()
    assert [h["step"] for h in resumed["history"]] == list(range(1, steps + 1))
    assert all(torch.equal(v, resumed["model"][k]) for k, v in straight.parameters().items())
