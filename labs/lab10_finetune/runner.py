"""Training jobs in their own process, queued, persisted in SQLite: `curl -s localhost:8010/jobs`.

The API process validates a request and queues the job (a row in the shared.jobs table). At most
`max_running` trainers run at once; at most `max_queued` more wait, and beyond that POST /jobs is a 429,
so a burst of requests cannot start a trainer each (six at once held 1.8 GB and growing). A trainer is
`python -m labs.lab10_finetune.runner <job_id> <parent pid>`: it writes progress and metrics to the
same row, and trains into DATA_DIR/lab10/models/.partial-<job_id>, renamed to the adapter's name only
when it finished and its job is still running; then the job succeeds. Cancel terminates the child.

Children die with their server: each asks the kernel for SIGKILL when its parent dies
(prctl PR_SET_PDEATHSIG), and checks at start that the parent it was given is still its parent. The
kernel sends that signal when the *thread* that forked the child exits, so every child is started
from one long-lived launcher thread. On start the service reconciles what a kill -9 may have left:
jobs that were queued or running are failed (shared.jobs), a trainer still alive is killed, partial
outputs are removed, and so is an adapter whose job did not succeed. Job state and artifacts agree.
"""

from __future__ import annotations

import collections
import ctypes
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from shared.config import get_settings
from shared.jobs import TERMINAL, JobStore

DATASETS = ("addition_train", "successor_train", "prefs_train", "rm_train")
EVAL = {"sft": {"addition": "addition_test", "successor": "successor_test"}, "dpo": {"addition": "addition_test"}}
PR_SET_PDEATHSIG = 1
PARTIAL = ".partial-"
MARKER = "job.json"  # in each output folder: the job that made it


class QueueFull(Exception):
    """Every trainer slot and queue place is taken."""


class Runner:
    def __init__(self, jobs: JobStore, models_dir: Path, max_running: int = 1, max_queued: int = 4):
        self.jobs, self.models_dir = jobs, models_dir
        self.max_running, self.max_queued = max_running, max_queued
        self._procs: dict[str, subprocess.Popen] = {}
        self._queue: collections.deque[str] = collections.deque()
        self._cond = threading.Condition()
        self._closed = False
        self._launcher: threading.Thread | None = None

    def start(self, kind: str, params: dict[str, Any]) -> str:
        """Queue a job; QueueFull when max_running + max_queued jobs are already waiting or running."""
        with self._cond:
            if len(self._queue) + len(self._procs) >= self.max_running + self.max_queued:
                raise QueueFull(f"{len(self._procs)} trainer(s) running and {len(self._queue)} queued "
                                f"(limits {self.max_running} + {self.max_queued}); retry when one finishes")
            job_id = self.jobs.create(kind, params)
            self.jobs.update(job_id, message=f"queued (position {len(self._queue) + 1})")
            self._queue.append(job_id)
            self._ensure_launcher()
            self._cond.notify_all()
        return job_id

    def _ensure_launcher(self) -> None:
        if self._launcher is None or not self._launcher.is_alive():
            self._launcher = threading.Thread(target=self._launch_loop, name="lab10-launcher", daemon=True)
            self._launcher.start()

    def _launch_loop(self) -> None:
        """The one thread that starts trainers (PR_SET_PDEATHSIG fires when the forking thread exits)."""
        while True:
            with self._cond:
                while not self._closed and not (self._queue and len(self._procs) < self.max_running):
                    self._cond.wait()
                if self._closed:
                    return
                job_id = self._queue.popleft()
                job = JobStore.get(self.jobs, job_id)
                if job is None or job["status"] in TERMINAL:  # cancelled while queued
                    continue
                env = {**os.environ, "DATA_DIR": str(self.models_dir.parent.parent)}
                proc = subprocess.Popen(self.argv(job_id), env=env, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.PIPE, cwd=Path(__file__).resolve().parents[2])
                self._procs[job_id] = proc
                self.jobs.update(job_id, status="running", message="starting", metrics={"pid": proc.pid})
            threading.Thread(target=self._reap, args=(job_id, proc), daemon=True).start()

    def argv(self, job_id: str) -> list[str]:
        """The trainer's command line: this module as a program, given the job and its parent."""
        return [sys.executable, "-m", "labs.lab10_finetune.runner", job_id, str(os.getpid())]

    def _reap(self, job_id: str, proc: subprocess.Popen) -> None:
        """A child that died without recording an outcome (crash, OOM kill) fails its job."""
        _, err = proc.communicate()
        with self._cond:
            self._procs.pop(job_id, None)
            self._cond.notify_all()
        job = JobStore.get(self.jobs, job_id)
        if job and job["status"] not in TERMINAL:
            tail = (err or b"").decode(errors="replace").strip().splitlines()[-1:] or [""]
            self.jobs.update(job_id, status="failed", error=f"worker exited with {proc.returncode}: {tail[0]}"[:2000])
        if job is None or job["status"] != "succeeded":
            remove_outputs(self.models_dir, job_id, (job or {}).get("params", {}).get("name"))

    def cancel(self, job_id: str) -> None:
        with self._cond:
            proc = self._procs.get(job_id)
            if job_id in self._queue:
                self._queue.remove(job_id)
        self.jobs.update(job_id, status="cancelled", message="cancelled")
        if proc is not None:
            proc.terminate()

    def running(self) -> dict[str, int]:
        with self._cond:
            return {"running": len(self._procs), "queued": len(self._queue), "max_running": self.max_running,
                    "max_queued": self.max_queued}

    def close(self) -> None:
        with self._cond:
            self._closed = True
            procs = list(self._procs.items())
            queued = list(self._queue)
            self._queue.clear()
            self._cond.notify_all()
        for job_id, proc in procs:
            proc.terminate()
            self.jobs.update(job_id, status="failed", error="interrupted: the service stopped")
        for job_id in queued:
            self.jobs.update(job_id, status="failed", error="interrupted: the service stopped before it started")


def remove_outputs(models_dir: Path, job_id: str, name: str | None) -> bool:
    """Delete what a job that did not succeed left: its partial folder, and an output it marked as its own
    (never another job's adapter of the same name). True if anything was removed."""
    partial, out = models_dir / f"{PARTIAL}{job_id}", models_dir / (name or job_id)
    found = partial.exists()
    shutil.rmtree(partial, ignore_errors=True)
    marker = out / MARKER
    if marker.is_file() and json.loads(marker.read_text()).get("job_id") == job_id:
        shutil.rmtree(out, ignore_errors=True)
        found = True
    return found


def reconcile(jobs: JobStore, models_dir: Path) -> dict[str, int]:
    """At start-up, after JobStore has failed the jobs no process owns: kill trainers a killed server left
    (a kernel without PR_SET_PDEATHSIG, or a child started before it asked), and remove every artifact
    whose job did not succeed. Returns what it did."""
    killed = removed = 0
    for job in JobStore.list(jobs, 1000):  # as stored: the trainer's pid is in its metrics
        if job["status"] == "succeeded":
            continue
        pid = (job["metrics"] or {}).get("pid")
        if isinstance(pid, int) and _is_trainer(pid, job["id"]):
            os.kill(pid, signal.SIGKILL)
            killed += 1
        removed += remove_outputs(models_dir, job["id"], (job["params"] or {}).get("name"))
    for partial in models_dir.glob(f"{PARTIAL}*"):
        shutil.rmtree(partial, ignore_errors=True)
    return {"killed": killed, "removed": removed}


def _is_trainer(pid: int, job_id: str) -> bool:
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"labs.lab10_finetune.runner" in argv and job_id.encode() in argv


class _ChildJobs(JobStore):
    """The child writes to the service's table; sweeping 'running' jobs is the service's job, not its."""

    def _mark_orphans(self) -> None:
        return None


def die_with_parent(parent_pid: int) -> None:
    """SIGKILL this process when its parent dies; exit now if it already has (it raced the prctl)."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent_pid:
        os._exit(1)


def _final_paths(value: Any, partial: str, final: str) -> Any:
    if isinstance(value, str):
        return value.replace(partial, final)
    if isinstance(value, dict):
        return {k: _final_paths(v, partial, final) for k, v in value.items()}
    return value


def run_job(job_id: str) -> None:
    from labs.lab10_finetune import model as M  # noqa: I001  (torch and transformers: the child only)
    from labs.lab10_finetune import ppo
    from labs.lab10_finetune import train as T

    settings = get_settings()
    folder = settings.lab_dir("lab10")
    jobs = _ChildJobs(folder / "jobs.db", url=settings.database_url)
    job = jobs.get(job_id)
    if job is None or job["status"] in TERMINAL:
        return
    params = job["params"]
    jobs.update(job_id, status="running", message="loading")
    history: list[dict[str, Any]] = []

    def progress(step: int, total: int, row: dict[str, Any]) -> None:
        history.append(row)
        jobs.update(job_id, step=step, total=total, message="training", metrics={"last": row, "history": history})

    models = folder / "models"
    partial = models / f"{PARTIAL}{job_id}"
    final = models / (params.get("name") or job_id)
    try:
        base = resolve_model(models, params["base"])
        rows = params.get("rows") or M.fixture(params["dataset"])
        evals = {name: M.fixture(f) for name, f in EVAL.get(job["kind"], {}).items()}
        kind, hp = job["kind"], params["hp"]
        if kind == "sft":
            result = T.sft(base, rows, partial, hp, progress, eval_sets=evals)
        elif kind == "dpo":
            result = T.dpo(base, rows, partial, hp, progress, eval_rows=M.fixture("prefs_test"), eval_sets=evals)
        elif kind == "reward":
            result = T.reward(base, rows, partial, hp, progress, eval_rows=M.fixture("prefs_test"))
        elif kind == "ppo":
            result = ppo.train(base, rows, partial, hp, progress)
        else:
            result = T.grpo(base, rows, partial, hp, progress)
        result.pop("history")
        if jobs.get(job_id)["status"] != "running":  # cancelled meanwhile: leave nothing behind
            shutil.rmtree(partial, ignore_errors=True)
            return
        (partial / MARKER).write_text(json.dumps({"job_id": job_id}))
        partial.rename(final)  # atomic: the adapter appears whole or not at all
        jobs.update(job_id, status="succeeded", message="done", result=_final_paths(result, str(partial), str(final)))
    except Exception as exc:
        shutil.rmtree(partial, ignore_errors=True)
        jobs.update(job_id, status="failed", error=f"{type(exc).__name__}: {exc}"[:2000])


def resolve_model(models_dir: Path, name: str) -> str:
    """A model name from GET /models (the tiny base, a merged checkpoint) to its path."""
    from labs.lab10_finetune import model as M  # torch: loaded where a model is needed

    if name == M.BASE_NAME:
        return M.base_path(models_dir)
    path = models_dir / name
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"model {name!r} not found")
    return str(path)


if __name__ == "__main__":
    die_with_parent(int(sys.argv[2]))
    import datasets
    from transformers.utils import logging

    datasets.disable_progress_bars()
    logging.disable_progress_bar()
    run_job(sys.argv[1])


def printable(value: Any) -> Any:
    """A stored value made safe to answer with: a string that is not valid UTF-8 (a lone surrogate that got
    in before validation did) shows its escape instead of breaking the response for everyone."""
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, dict):
        return {printable(k): printable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [printable(v) for v in value]
    return value


class TrainingJobs(JobStore):
    """The shared job store as lab-10's API shows it (so shared.jobs' router serves GET /jobs, GET /jobs/{id}
    and cancel): a job is found by id or by its adapter's name, shown without its step history (curve.png
    draws that), every stored string made printable; cancelling terminates the trainer."""

    runner: Runner | None = None

    def record(self, job_id: str) -> dict[str, Any] | None:
        """The job as stored (full metrics, history included), by id or by the newest with that adapter name."""
        return JobStore.get(self, job_id) or next(
            (j for j in JobStore.list(self, 1000) if j["params"].get("name") == job_id), None)

    def get(self, job_id: str) -> dict[str, Any] | None:
        job = self.record(job_id)
        return brief(job) if job else None

    def list(self, limit: int = 50) -> list[dict[str, Any]]:
        return [brief(j) for j in JobStore.list(self, limit)]

    def cancel(self, job_id: str) -> dict[str, Any]:
        job = self.record(job_id)
        if job is not None and job["status"] not in TERMINAL and self.runner is not None:
            self.runner.cancel(job["id"])
        return super().cancel(job_id) if job is None or job["status"] in TERMINAL else self.get(job["id"])


def brief(job: dict[str, Any]) -> dict[str, Any]:
    """A job without its full step history (that is what curve.png draws)."""
    metrics = {k: v for k, v in job["metrics"].items() if k != "history"}
    return printable({**job, "metrics": metrics.get("last", {}), "steps_logged": len(job["metrics"].get("history") or [])})
