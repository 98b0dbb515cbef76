"""Training jobs in their own process, persisted in SQLite: `curl -s localhost:8010/jobs`.

The API process validates a request, creates the job row (shared.jobs table) and starts
`python -m labs.lab10_finetune.runner <job_id>`; the child trains, writes progress and metrics to
the same row, and leaves its adapter under DATA_DIR/lab10/models/<name or job_id>. Cancel terminates the
child. A job left running when the service restarts is marked failed by JobStore on start.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from shared.config import get_settings
from shared.jobs import TERMINAL, JobStore

DATASETS = ("addition_train", "successor_train", "prefs_train", "rm_train")
EVAL = {"sft": {"addition": "addition_test", "successor": "successor_test"}, "dpo": {"addition": "addition_test"}}


class Runner:
    def __init__(self, jobs: JobStore, models_dir: Path):
        self.jobs = jobs
        self.models_dir = models_dir
        self._procs: dict[str, subprocess.Popen] = {}
        self._lock = threading.Lock()

    def start(self, kind: str, params: dict[str, Any]) -> str:
        job_id = self.jobs.create(kind, params)
        env = {**os.environ, "DATA_DIR": str(self.models_dir.parent.parent)}
        proc = subprocess.Popen([sys.executable, "-m", "labs.lab10_finetune.runner", job_id],
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                cwd=Path(__file__).resolve().parents[2])
        with self._lock:
            self._procs[job_id] = proc
        threading.Thread(target=self._reap, args=(job_id, proc), daemon=True).start()
        return job_id

    def _reap(self, job_id: str, proc: subprocess.Popen) -> None:
        """A child that died without recording an outcome (crash, OOM kill) fails its job."""
        _, err = proc.communicate()
        with self._lock:
            self._procs.pop(job_id, None)
        job = self.jobs.get(job_id)
        if job and job["status"] not in TERMINAL:
            tail = (err or b"").decode(errors="replace").strip().splitlines()[-1:] or [""]
            self.jobs.update(job_id, status="failed", error=f"worker exited with {proc.returncode}: {tail[0]}"[:2000])

    def cancel(self, job_id: str) -> None:
        with self._lock:
            proc = self._procs.get(job_id)
        self.jobs.update(job_id, status="cancelled", message="cancelled")
        if proc is not None:
            proc.terminate()

    def close(self) -> None:
        with self._lock:
            procs = list(self._procs.items())
        for job_id, proc in procs:
            proc.terminate()
            self.jobs.update(job_id, status="failed", error="interrupted: the service stopped")


class _ChildJobs(JobStore):
    """The child writes to the service's table; sweeping 'running' jobs is the service's job, not its."""

    def _mark_orphans(self) -> None:
        return None


def run_job(job_id: str) -> None:
    from labs.lab10_finetune import model as M
    from labs.lab10_finetune import train as T

    settings = get_settings()
    folder = settings.lab_dir("lab10")
    jobs = _ChildJobs(folder / "jobs.db")
    job = jobs.get(job_id)
    params = job["params"]
    jobs.update(job_id, status="running", message="loading")
    history: list[dict[str, Any]] = []

    def progress(step: int, total: int, row: dict[str, Any]) -> None:
        history.append(row)
        jobs.update(job_id, step=step, total=total, message="training", metrics={"last": row, "history": history})

    try:
        base = resolve_model(folder / "models", params["base"])
        rows = params.get("rows") or M.fixture(params["dataset"])
        out = folder / "models" / (params.get("name") or job_id)
        evals = {name: M.fixture(f) for name, f in EVAL.get(job["kind"], {}).items()}
        kind, hp = job["kind"], params["hp"]
        if kind == "sft":
            result = T.sft(base, rows, out, hp, progress, eval_sets=evals)
        elif kind == "dpo":
            result = T.dpo(base, rows, out, hp, progress, eval_rows=M.fixture("prefs_test"), eval_sets=evals)
        elif kind == "reward":
            result = T.reward(base, rows, out, hp, progress, eval_rows=M.fixture("prefs_test"))
        else:
            result = T.grpo(base, rows, out, hp, progress)
        result.pop("history")
        if jobs.get(job_id)["status"] == "running":
            jobs.update(job_id, status="succeeded", message="done", result=result)
    except Exception as exc:
        jobs.update(job_id, status="failed", error=f"{type(exc).__name__}: {exc}"[:2000])


def resolve_model(models_dir: Path, name: str) -> str:
    """A model name from GET /models (the tiny base, a merged checkpoint) to its path."""
    from labs.lab10_finetune import model as M

    if name == M.BASE_NAME:
        return M.base_path(models_dir)
    path = models_dir / name
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"model {name!r} not found")
    return str(path)


if __name__ == "__main__":
    import datasets
    from transformers.utils import logging

    datasets.disable_progress_bars()
    logging.disable_progress_bar()
    run_job(sys.argv[1])
