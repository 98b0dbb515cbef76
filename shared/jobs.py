"""Long work as a job resource: status, progress (step / total, ETA), result, cancel; kept in SQLite.

    jobs = JobStore(settings.lab_dir("lab06") / "jobs.db")
    job_id = jobs.submit("rebuild", params, fn)          # fn(ctx) runs in a worker thread
    # inside fn: ctx.progress(done, total, "embedding"); if ctx.cancelled: return
    app.include_router(jobs_router(jobs))                 # GET /jobs, GET /jobs/{id}, POST /jobs/{id}/cancel

A job that was queued or running when the process died is marked failed with a reason on the next
start, so nobody waits forever on a job no process owns. Labs that must run work in a separate
process (training) use the same table through `create`/`update` and their own runner.

Several replicas may share one database (`url=postgresql://...`, shared.store). Then a job belongs to
the replica that submitted it (`owner`, host:pid:instance), which claims it with one conditional UPDATE
(queued -> running only if still queued and not cancelled: a job runs once however many try) and beats
a heartbeat on it while it runs. A starting replica fails only the jobs whose owner is gone: no owner
recorded (jobs driven through create/update), a process on this host that no longer exists, or a
heartbeat older than LEASE_S; a replica running jobs sweeps the same way every HEARTBEAT_S. Cancel is
a flag in the row, so any replica can cancel a job another one runs: the owner sees it at the job's
next progress report.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from fastapi import APIRouter

from shared.service import ServiceError, not_found
from shared.store import Store, StoreUnavailable, dumps

JOBS_SCHEMA = """
CREATE TABLE jobs (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    params TEXT NOT NULL,
    step INTEGER NOT NULL DEFAULT 0,
    total INTEGER,
    message TEXT,
    metrics TEXT NOT NULL DEFAULT '{}',
    result TEXT,
    error TEXT,
    created_at REAL NOT NULL,
    started_at REAL,
    updated_at REAL NOT NULL,
    finished_at REAL
);
CREATE INDEX jobs_created ON jobs (created_at);
"""

# The ETA is a moving average of recent step times, not elapsed/step since the start: the first steps of
# a training run (imports, warm-up, compilation) are slow and would make the estimate wrong for the rest.
JOBS_STEP_RATE = """
ALTER TABLE jobs ADD COLUMN step_s REAL;
ALTER TABLE jobs ADD COLUMN step_at REAL;
"""

# Who runs a job, so replicas sharing one database tell a live owner's job from an orphan.
JOBS_OWNERS = """
ALTER TABLE jobs ADD COLUMN owner TEXT;
ALTER TABLE jobs ADD COLUMN heartbeat_at REAL;
ALTER TABLE jobs ADD COLUMN cancel_requested INTEGER NOT NULL DEFAULT 0;
"""

MIGRATIONS = [JOBS_SCHEMA, JOBS_STEP_RATE, JOBS_OWNERS]
HEARTBEAT_S = 5.0  # how often an owner stamps its running jobs
LEASE_S = 30.0  # a job whose owner has not stamped it for this long is an orphan
_LIVE_OWNERS: set[str] = set()  # the JobStores of this process

ETA_ALPHA = 0.3  # weight of the newest step time in the moving average (about the last 5 updates count)

TERMINAL = {"succeeded", "failed", "cancelled"}


class JobCancelled(Exception):
    pass


class JobContext:
    def __init__(self, store: JobStore, job_id: str):
        self.store = store
        self.job_id = job_id
        self._cancel = threading.Event()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def progress(self, step: int, total: int | None = None, message: str | None = None,
                 metrics: dict[str, Any] | None = None) -> None:
        """Record progress; raises JobCancelled if a cancel was requested (a natural checkpoint)."""
        self.store.update(self.job_id, step=step, total=total, message=message, metrics=metrics)
        if self.cancelled:
            raise JobCancelled()


class JobStore:
    def __init__(self, path: str | Path, workers: int = 1, url: str | None = None):
        self.store = Store(path, migrations=MIGRATIONS, url=url)
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        _LIVE_OWNERS.add(self.owner)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="job")
        self._contexts: dict[str, JobContext] = {}
        self._beating = threading.Lock()
        try:
            self._mark_orphans()
        except StoreUnavailable:
            pass  # the database is down: readiness says so; the first replica to run a job sweeps later

    def _mark_orphans(self) -> None:
        self._sweep(ownerless=True)

    def _sweep(self, ownerless: bool) -> None:
        """Fail the queued and running jobs whose owner is gone; ownerless ones (driven through
        create/update by a lab's own runner) only at start-up, when no runner of this service can be left."""
        now = time.time()
        with self.store.tx() as db:
            rows = db.execute("SELECT id, owner, heartbeat_at FROM jobs WHERE status IN ('queued','running')"
                              ).fetchall()
            dead = [r["id"] for r in rows if (ownerless or r["owner"])
                    and not _owner_alive(r["owner"], r["heartbeat_at"], now)]
            for i in range(0, len(dead), 500):
                part = dead[i:i + 500]
                db.execute(
                    "UPDATE jobs SET status='failed', error='interrupted: the service restarted while this job was "
                    f"running', finished_at=?, updated_at=? WHERE id IN ({','.join('?' * len(part))}) "
                    "AND status IN ('queued','running')", (now, now, *part))

    def create(self, kind: str, params: dict[str, Any], owner: str | None = None) -> str:
        job_id = uuid.uuid4().hex[:12]
        now = time.time()
        self.store.execute("INSERT INTO jobs (id, kind, status, params, created_at, updated_at, owner, heartbeat_at) "
                           "VALUES (?, ?, 'queued', ?, ?, ?, ?, ?)", (job_id, kind, dumps(params), now, now, owner, now))
        return job_id

    def claim(self, job_id: str) -> bool:
        """queued -> running for this owner, atomically: False if it was cancelled, or taken, meanwhile."""
        now = time.time()
        with self.store.tx() as db:
            return db.execute("UPDATE jobs SET status='running', owner=?, heartbeat_at=?, started_at=COALESCE("
                              "started_at, ?), updated_at=? WHERE id=? AND status='queued' AND cancel_requested=0",
                              (self.owner, now, now, now, job_id)).rowcount == 1

    def _heartbeat(self) -> None:
        """Stamp this owner's running jobs (and sweep other owners' orphans) while any job runs here."""
        while True:
            while self._contexts:
                try:
                    self.store.execute("UPDATE jobs SET heartbeat_at=? WHERE owner=? AND status IN "
                                       "('queued','running')", (time.time(), self.owner))
                    self._sweep(ownerless=False)
                except StoreUnavailable:
                    pass  # the jobs cannot record progress either; stamping resumes with the database
                time.sleep(HEARTBEAT_S)
            self._beating.release()
            # a job submitted between the loop's last look and the release found the lock still held
            if not self._contexts or not self._beating.acquire(blocking=False):
                return

    def update(self, job_id: str, *, status: str | None = None, step: int | None = None,
               total: int | None = None, message: str | None = None, metrics: dict[str, Any] | None = None,
               result: Any = None, error: str | None = None) -> None:
        now = time.time()
        with self.store.tx() as db:
            row = db.execute("SELECT * FROM jobs WHERE id=?", (job_id,)).fetchone()
            if row is None:
                raise KeyError(job_id)
            ctx = self._contexts.get(job_id)
            if row["cancel_requested"] and ctx is not None:  # cancelled through another replica
                ctx._cancel.set()
            sets, params = ["updated_at=?"], [now]
            if status is not None:
                sets.append("status=?")
                params.append(status)
                if status == "running":
                    sets.append("started_at=COALESCE(started_at, ?)")
                    params.append(now)
                if status in TERMINAL:
                    sets.append("finished_at=?")
                    params.append(now)
                    if message is None:  # never leave a finished job saying what it was last doing
                        message = _final_message(status, row, step, error, now)
            if step is not None and step > row["step"]:
                sets += ["step_s=?", "step_at=?"]
                params += [_step_time(row, step, now), now]
            for col, value in (("step", step), ("total", total), ("message", message), ("error", error)):
                if value is not None:
                    sets.append(f"{col}=?")
                    params.append(value)
            if metrics:
                sets.append("metrics=?")
                params.append(dumps({**json.loads(row["metrics"]), **metrics}))
            if result is not None:
                sets.append("result=?")
                params.append(dumps(result))
            db.execute(f"UPDATE jobs SET {', '.join(sets)} WHERE id=?", [*params, job_id])

    def get(self, job_id: str) -> dict[str, Any] | None:
        row = self.store.one("SELECT * FROM jobs WHERE id=?", (job_id,))
        return _present(row) if row else None

    def list(self, limit: int = 50) -> list[dict[str, Any]]:
        return [_present(r) for r in self.store.query("SELECT * FROM jobs ORDER BY created_at DESC LIMIT ?",
                                                      (limit,))]

    def submit(self, kind: str, params: dict[str, Any], fn: Callable[[JobContext], Any]) -> str:
        """Run fn(ctx) in a worker thread; its return value (JSON-able) becomes the job's result."""
        job_id = self.create(kind, params, owner=self.owner)
        ctx = JobContext(self, job_id)
        self._contexts[job_id] = ctx
        if self._beating.acquire(blocking=False):
            threading.Thread(target=self._heartbeat, name="job-heartbeat", daemon=True).start()
        self._pool.submit(self._run, ctx, fn)
        return job_id

    def _run(self, ctx: JobContext, fn: Callable[[JobContext], Any]) -> None:
        try:
            claimed = self.claim(ctx.job_id)
        except Exception:
            self._contexts.pop(ctx.job_id, None)
            raise
        if not claimed:
            job = self.get(ctx.job_id)
            if job is not None and job["status"] == "queued":  # cancel requested before it started
                self.update(ctx.job_id, status="cancelled", message="cancelled before start")
            self._contexts.pop(ctx.job_id, None)
            return
        try:
            result = fn(ctx)
        except JobCancelled:
            self.update(ctx.job_id, status="cancelled")
        except Exception as exc:  # the job records its failure; the service stays up
            self.update(ctx.job_id, status="failed", error=f"{type(exc).__name__}: {exc}"[:2000])
        else:
            self.update(ctx.job_id, status="succeeded", result=result if result is not None else {})
        finally:
            self._contexts.pop(ctx.job_id, None)

    def cancel(self, job_id: str) -> dict[str, Any]:
        job = self.get(job_id)
        if job is None:
            raise not_found("job", job_id)
        if job["status"] in TERMINAL:
            raise ServiceError(409, f"job {job_id} is already {job['status']}", "conflict")
        self.store.execute("UPDATE jobs SET cancel_requested=1, updated_at=? WHERE id=?", (time.time(), job_id))
        ctx = self._contexts.get(job_id)
        if ctx is not None:
            ctx._cancel.set()
        return {**job, "cancel_requested": True}

    def wait(self, job_id: str, timeout_s: float = 60.0) -> dict[str, Any]:
        """Block until the job is finished (tests and the CLI use this)."""
        deadline = time.monotonic() + timeout_s
        while True:
            job = self.get(job_id)
            if job is None or job["status"] in TERMINAL or time.monotonic() > deadline:
                return job or {}
            time.sleep(0.05)


def _owner_alive(owner: str | None, heartbeat_at: float | None, now: float) -> bool:
    """Is the owner of a queued or running job still there? (see the module docstring)"""
    if not owner:
        return False
    host, _, rest = owner.partition(":")
    pid, _, _ = rest.partition(":")
    if host == socket.gethostname() and pid.isdigit():
        if int(pid) == os.getpid():
            return owner in _LIVE_OWNERS
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            pass  # a process of another user has that pid: it may be an owner
    return heartbeat_at is not None and now - heartbeat_at < LEASE_S


def _step_time(row: Any, step: int, now: float) -> float:
    """The moving average of seconds per step after progress from row["step"] to `step` at `now`."""
    since = row["step_at"] or row["started_at"] or row["created_at"]
    latest = max(now - since, 0.0) / (step - row["step"])
    previous = row["step_s"]
    return latest if previous is None else ETA_ALPHA * latest + (1 - ETA_ALPHA) * previous


def _final_message(status: str, row: Any, step: int | None, error: str | None, now: float) -> str:
    took = now - (row["started_at"] or row["created_at"])
    done = step if step is not None else row["step"]
    of = f"{done}/{row['total']} steps" if row["total"] else f"{done} steps"
    if status == "succeeded":
        return f"done: {of} in {took:.1f} s"
    if status == "failed":
        return f"failed after {of} in {took:.1f} s: {(error or row['error'] or 'unknown error')[:200]}"
    return f"cancelled after {of} in {took:.1f} s"


def eta_s(step: int, total: int | None, step_s: float | None, step_at: float | None, now: float) -> float | None:
    """Seconds left: the moving-average step time times the steps left, less the time already spent on
    the step in progress (never below zero); None before two progress reports give a step time."""
    if not total or step_s is None or step_at is None or step >= total:
        return None
    return round(max(step_s * (total - step) - (now - step_at), 0.0), 2)


def _present(row: dict[str, Any]) -> dict[str, Any]:
    step, total = row["step"], row["total"]
    fraction = (step / total) if total else (1.0 if row["status"] == "succeeded" else 0.0)
    eta = eta_s(step, total, row["step_s"], row["step_at"], time.time()) if row["status"] == "running" else None
    return {
        "id": row["id"], "kind": row["kind"], "status": row["status"],
        "params": json.loads(row["params"]),
        "progress": {"step": step, "total": total, "fraction": round(min(fraction, 1.0), 4),
                     "message": row["message"], "eta_s": eta},
        "metrics": json.loads(row["metrics"] or "{}"),
        "result": json.loads(row["result"]) if row["result"] else None,
        "error": row["error"],
        "created_at": row["created_at"], "started_at": row["started_at"], "finished_at": row["finished_at"],
    }


def jobs_router(jobs: JobStore | Callable[[], JobStore], prefix: str = "/jobs") -> APIRouter:
    """GET /jobs, GET /jobs/{id}, POST /jobs/{id}/cancel over a JobStore (or a function returning one)."""
    router = APIRouter(prefix=prefix, tags=["jobs"])
    get_store = jobs if callable(jobs) and not isinstance(jobs, JobStore) else (lambda: jobs)

    @router.get("")
    def list_jobs(limit: int = 50) -> list[dict[str, Any]]:
        """Recent jobs, newest first."""
        if not 1 <= limit <= 1000:
            raise ServiceError(422, "limit must be between 1 and 1000", "validation_error")
        return get_store().list(limit)

    @router.get("/{job_id}")
    def get_job(job_id: str) -> dict[str, Any]:
        """One job: status, progress (step / total / ETA), metrics, result or error."""
        job = get_store().get(job_id)
        if job is None:
            raise not_found("job", job_id)
        return job

    @router.post("/{job_id}/cancel")
    def cancel_job(job_id: str) -> dict[str, Any]:
        """Ask a queued or running job to stop at its next progress checkpoint."""
        return get_store().cancel(job_id)

    return router
