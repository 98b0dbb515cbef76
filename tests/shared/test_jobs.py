import time

from fastapi.testclient import TestClient

from shared.jobs import JobStore, jobs_router
from shared.service import create_service


def test_job_progress_result_and_http(tmp_path, settings):
    jobs = JobStore(tmp_path / "jobs.db")

    def work(ctx):
        for i in range(1, 6):
            ctx.progress(i, 5, f"step {i}", metrics={"loss": 1 / i})
        return {"answer": 42}

    job_id = jobs.submit("demo", {"n": 5}, work)
    done = jobs.wait(job_id, 10)
    assert done["status"] == "succeeded" and done["result"] == {"answer": 42}
    assert done["progress"]["fraction"] == 1.0 and done["metrics"]["loss"] == 0.2

    app = create_service("t", lab="jobs", settings=settings)
    app.include_router(jobs_router(jobs))
    client = TestClient(app)
    assert client.get(f"/jobs/{job_id}").json()["status"] == "succeeded"
    assert client.get("/jobs/nope").status_code == 404
    assert client.post(f"/jobs/{job_id}/cancel").status_code == 409


def test_cancel_and_failure(tmp_path):
    jobs = JobStore(tmp_path / "jobs.db")

    def slow(ctx):
        for i in range(1000):
            time.sleep(0.01)
            ctx.progress(i, 1000)

    job_id = jobs.submit("slow", {}, slow)
    time.sleep(0.1)
    jobs.cancel(job_id)
    assert jobs.wait(job_id, 10)["status"] == "cancelled"

    def broken(ctx):
        raise ValueError("bad input data")

    failed = jobs.wait(jobs.submit("broken", {}, broken), 10)
    assert failed["status"] == "failed" and "bad input data" in failed["error"]


def test_orphaned_jobs_are_marked_failed_on_restart(tmp_path):
    path = tmp_path / "jobs.db"
    first = JobStore(path)
    job_id = first.create("train", {})
    first.update(job_id, status="running")
    restarted = JobStore(path)
    job = restarted.get(job_id)
    assert job["status"] == "failed" and "restarted" in job["error"]
