"""Training runs as jobs with checkpoints on disk: `curl -s -X POST localhost:8002/train -d '{"steps": 100}'`.

A run trains in a job worker thread (shared.jobs: status, progress, cancel over HTTP) and saves a
checkpoint every `ckpt_every` steps under DATA_DIR/lab02/runs/<run>/. The job row lives in SQLite
and the checkpoints on disk, so both survive a restart: a job that was running when the service
died is marked failed ("interrupted") by JobStore on the next start, and `resume` continues it
from its newest checkpoint in a new job, bit-exactly where the straight run would have been.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from labs.lab02_pytorch import checkpoint
from labs.lab02_pytorch.train import TrainConfig, Trainer
from shared.jobs import JobContext, JobStore
from shared.plots import png
from shared.service import ServiceError, not_found

BUSY = {"queued", "running"}
PROGRESS_UPDATES = 100  # progress rows written per run at most (each rewrites the job's metrics)
LOG = "steps.jsonl"  # one line per step: what curve.png draws


class Runs:
    def __init__(self, folder: Path, url: str | None = None):
        self.folder = folder
        self.jobs = JobStore(folder / "jobs.db", url=url)  # url: Settings.database_url

    def run_dir(self, job: dict[str, Any]) -> Path:
        return self.folder / "runs" / (job["params"].get("run") or job["id"])

    def get(self, key: str) -> dict[str, Any]:
        """A job by id, or the newest job of the run with that name."""
        job = self.jobs.get(key)
        if job is None:
            row = self.jobs.store.one("SELECT id FROM jobs WHERE json_extract(params, '$.name') = ? "
                                      "ORDER BY created_at DESC LIMIT 1", (key,))
            job = self.jobs.get(row["id"]) if row else None
        if job is None:
            raise not_found("job", key)
        return job

    def start(self, cfg: TrainConfig, ckpt_every: int, throttle_ms: int, name: str | None = None,
              stop_at: int | None = None) -> str:
        if name is not None and self.jobs.store.one(
                "SELECT id FROM jobs WHERE json_extract(params, '$.name') = ? LIMIT 1", (name,)):
            raise ServiceError(409, f"a run named {name!r} already exists", "conflict")
        params = {"name": name, "config": asdict(cfg), "ckpt_every": ckpt_every, "throttle_ms": throttle_ms,
                  "stop_at": stop_at, "resume_of": None, "run": None}
        return self.jobs.submit("train", params, lambda ctx: self._train(ctx, params))

    def resume(self, key: str) -> str:
        """Continue a stopped run (cancelled, failed, interrupted by a restart, or stopped at `stop_at`)."""
        job = self.get(key)
        if job["status"] in BUSY:
            raise ServiceError(409, f"job {job['id']} is {job['status']}; cancel it first", "conflict")
        ckpts = checkpoint.list_checkpoints(self.run_dir(job))
        if not ckpts:
            raise ServiceError(409, f"job {job['id']} saved no checkpoint before it stopped", "conflict")
        steps = job["params"]["config"]["steps"]
        if ckpts[-1]["step"] >= steps:
            raise ServiceError(409, f"the run of job {job['id']} has trained all {steps} steps", "conflict")
        params = {**job["params"], "stop_at": None, "resume_of": job["id"], "run": job["params"].get("run") or job["id"]}
        return self.jobs.submit("train", params, lambda ctx: self._train(ctx, params))

    def checkpoints(self, job_id: str) -> list[dict[str, Any]]:
        folder = self.run_dir(self.get(job_id))
        return [{"step": c["step"], "file": c["path"].name, "bytes": c["bytes"]}
                for c in checkpoint.list_checkpoints(folder)]

    def losses(self, key: str) -> tuple[dict[str, Any], list[float]]:
        """The run's loss per step, from its step log. Steps redone after a resume are logged twice
        with identical values (the resume is bit-exact), so the last line for a step wins."""
        job = self.get(key)
        path = self.run_dir(job) / LOG
        by_step = {}
        if path.is_file():
            for line in path.read_text().splitlines():
                if line.strip():
                    row = json.loads(line)
                    by_step[row["step"]] = row["loss"]
        return job, [by_step[s] for s in sorted(by_step)]

    def _train(self, ctx: JobContext, params: dict[str, Any]) -> dict[str, Any]:
        folder = self.run_dir({"id": ctx.job_id, "params": params})
        folder.mkdir(parents=True, exist_ok=True)
        if params["resume_of"]:
            trainer = checkpoint.resume(folder)
        else:
            trainer = Trainer(TrainConfig(**params["config"]))
        total, every = trainer.cfg.steps, params["ckpt_every"]
        log_every = max(1, total // PROGRESS_UPDATES)
        started_at = trainer.step
        ctx.progress(trainer.step, total, f"resumed at step {trainer.step}" if started_at else "training")

        stop_at = params.get("stop_at") or total

        log = (folder / LOG).open("a")

        def on_step(row: dict[str, float]) -> None:
            step = trainer.step
            log.write(json.dumps(row) + "\n")
            log.flush()
            if step % every == 0 or step in (total, stop_at):
                checkpoint.save(trainer, folder)
            if step % log_every == 0 or step in (total, stop_at):
                # ctx.progress raises JobCancelled when a cancel came in: the run stops here,
                # after a completed step, with its last checkpoint on disk
                ctx.progress(step, total, "training", metrics=row)

        t0 = time.perf_counter()
        with log:
            trainer.run(until=stop_at, on_step=on_step, throttle_s=params["throttle_ms"] / 1000)
        last = trainer.history[-1]
        return {"steps": trainer.step, "of": total, "resumed_from_step": started_at or None,
                "val_loss": last.get("val_loss"), "val_acc": last.get("val_acc"), "final_loss": last["loss"],
                "seconds": round(time.perf_counter() - t0, 3),
                "checkpoints": [c["path"].name for c in checkpoint.list_checkpoints(folder)]}


def curve_png(job: dict[str, Any], losses: list[float]) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(range(1, len(losses) + 1), losses, lw=1)
    ax.set(xlabel="step", ylabel="training loss", title=f"job {job['id']} ({job['status']})")
    ax.set_yscale("log")
    return png(fig)
