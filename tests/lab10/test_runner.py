"""Training jobs: a bounded queue (429 beyond it), trainers that die with their server, state and artifacts
that agree after a kill -9, and stored rows that never break the listing."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from labs.lab10_finetune import runner as R
from labs.lab10_finetune.app import create_app
from shared.config import get_settings
from shared.jobs import JobStore

ROOT = Path(__file__).resolve().parents[2]
SLEEPER = [sys.executable, "-c", "import time; time.sleep(60)"]


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def wait_for(predicate, timeout_s: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


@pytest.fixture
def client(tmp_path, monkeypatch):
    # trainers that only sleep: the queue is under test here, not training
    monkeypatch.setattr(R.Runner, "argv", lambda self, job_id: [*SLEEPER, "labs.lab10_finetune.runner", job_id])
    with TestClient(create_app(get_settings(data_dir=str(tmp_path))), raise_server_exceptions=False) as c:
        yield c
        for job in c.get("/jobs").json():
            if job["status"] in ("queued", "running"):
                c.post(f"/jobs/{job['id']}/cancel")


def test_jobs_queue_behind_a_concurrency_limit_and_a_full_queue_is_a_429(client):
    """Issue 25 #5: six POST /jobs started six trainers at once."""
    body = {"kind": "sft", "dataset": "addition_train"}
    answers = [client.post("/jobs", json=body) for _ in range(6)]
    assert [r.status_code for r in answers] == [202] * 5 + [429], [r.text[:200] for r in answers]
    assert answers[-1].json()["error"]["type"] == "queue_full"
    assert wait_for(lambda: client.get(f"/jobs/{answers[0].json()['id']}").json()["status"] == "running", 30)
    statuses = [client.get(f"/jobs/{r.json()['id']}").json()["status"] for r in answers[:5]]
    assert statuses == ["running"] + ["queued"] * 4
    assert len(client.get("/jobs").json()) == 5  # the refused one never became a job
    # a cancelled queued job frees its place; the next trainer starts only when the running one ends
    assert client.post(f"/jobs/{answers[3].json()['id']}/cancel").json()["status"] == "cancelled"
    assert client.post("/jobs", json=body).status_code == 202
    client.post(f"/jobs/{answers[0].json()['id']}/cancel")
    assert wait_for(lambda: client.get(f"/jobs/{answers[1].json()['id']}").json()["status"] == "running", 30)
    assert client.get(f"/jobs/{answers[2].json()['id']}").json()["status"] == "queued"


def test_a_lone_surrogate_is_a_422_and_creates_no_job(client):
    """Issue 25 #7 (and #10): a 500 that still created a job and started a trainer."""
    bad_row = '{"kind": "sft", "rows": [{"prompt": "1+1=\\ud800", "completion": "2"}]}'
    r = client.post("/jobs", content=bad_row, headers={"content-type": "application/json"})
    assert r.status_code == 422, r.text
    assert client.get("/jobs").json() == []
    r = client.post("/generate", content='{"prompt": "\\ud800"}', headers={"content-type": "application/json"})
    assert r.status_code == 422, r.text


def test_listing_never_fails_over_a_stored_row(tmp_path):
    """Poison then operate: a row stored before validation existed still lists, reads and cancels."""
    settings = get_settings(data_dir=str(tmp_path))
    jobs = JobStore(settings.lab_dir("lab10") / "jobs.db")
    job_id = jobs.create("sft", {"name": "bad\ud800", "rows": [{"prompt": "\udfff", "completion": "x"}], "hp": {}})
    jobs.update(job_id, status="failed", error="old error")
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        listed = c.get("/jobs")
        assert listed.status_code == 200 and listed.json()[0]["params"]["name"] == "bad\\ud800"
        assert c.get(f"/jobs/{job_id}").status_code == 200
        assert c.post(f"/jobs/{job_id}/cancel").status_code == 409


def test_a_trainer_dies_with_its_server(tmp_path):
    """Issue 25 #6: kill -9 of the server left the trainer running; it wrote its adapter while the job said
    failed, and the name was taken. Here a real server starts a real trainer, and is killed."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "DATA_DIR": str(tmp_path)}
    server = subprocess.Popen([sys.executable, "-m", "uvicorn", "labs.lab10_finetune.app:create_app", "--factory",
                               "--port", str(port), "--log-level", "warning"], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    db = tmp_path / "lab10" / "jobs.db"
    try:
        import httpx

        assert wait_for(lambda: _get(httpx, port), 120), "the server did not start"
        r = httpx.post(f"http://127.0.0.1:{port}/jobs", json={"kind": "sft", "dataset": "addition_train",
                                                              "name": "orphan", "epochs": 200}, timeout=30)
        assert r.status_code == 202, r.text
        job_id = r.json()["id"]
        assert wait_for(lambda: _pid(db, job_id) is not None, 60)
        child = _pid(db, job_id)
        assert wait_for(lambda: b"labs.lab10_finetune.runner" in Path(f"/proc/{child}/cmdline").read_bytes()
                        if alive(child) else False, 30)
        time.sleep(1.0)  # past the child's prctl, which runs first thing
        server.send_signal(signal.SIGKILL)
        server.wait(10)
        assert wait_for(lambda: not alive(child), 15), f"trainer {child} outlived its server"
    finally:
        if server.poll() is None:
            server.kill()
    with TestClient(create_app(get_settings(data_dir=str(tmp_path)))) as c:  # the restart reconciles
        job = c.get(f"/jobs/{job_id}").json()
        assert job["status"] == "failed" and "restarted" in job["error"]
        assert "orphan" not in {a["name"] for a in c.get("/models").json()["adapters"]}
        assert not (tmp_path / "lab10" / "models" / "orphan").exists()


def _get(httpx, port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _pid(db: Path, job_id: str) -> int | None:
    try:
        with sqlite3.connect(db) as conn:
            row = conn.execute("SELECT metrics FROM jobs WHERE id=?", (job_id,)).fetchone()
    except sqlite3.Error:
        return None
    return json.loads(row[0]).get("pid") if row else None


def test_a_restart_kills_a_left_trainer_and_removes_artifacts_of_jobs_that_did_not_succeed(tmp_path):
    """Where the parent-death signal did not fire (another kernel, a race), the restart reconciles."""
    settings = get_settings(data_dir=str(tmp_path))
    folder = settings.lab_dir("lab10")
    jobs = JobStore(folder / "jobs.db")
    job_id = jobs.create("sft", {"name": "left", "hp": {}})
    stray = subprocess.Popen([*SLEEPER, "labs.lab10_finetune.runner", job_id])
    # /proc shows its command line only once the exec is done (a trainer a dead server left is long past it)
    assert wait_for(lambda: job_id.encode() in Path(f"/proc/{stray.pid}/cmdline").read_bytes(), 10)
    jobs.update(job_id, status="running", metrics={"pid": stray.pid})
    out = folder / "models" / "left"
    (out / "adapter").mkdir(parents=True)
    (out / R.MARKER).write_text(json.dumps({"job_id": job_id}))  # it finished writing, then the kill came
    (folder / "models" / f"{R.PARTIAL}{job_id}").mkdir()
    keep = folder / "models" / "someone-elses"
    keep.mkdir()
    try:
        with TestClient(create_app(settings)) as c:
            assert c.get(f"/jobs/{job_id}").json()["status"] == "failed"
        assert stray.wait(10) == -signal.SIGKILL
        assert not out.exists() and not (folder / "models" / f"{R.PARTIAL}{job_id}").exists()
        assert keep.exists()  # an artifact no failed job marked as its own stays
    finally:
        if stray.poll() is None:
            stray.kill()
