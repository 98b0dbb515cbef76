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


class _Clock:
    """A hand-driven time.time for shared.jobs, so step times are exact."""

    def __init__(self, now: float = 1000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_eta_follows_recent_steps_not_the_slow_start(tmp_path, monkeypatch):
    import shared.jobs as jobs_module

    clock = _Clock()
    monkeypatch.setattr(jobs_module.time, "time", clock)
    jobs = JobStore(tmp_path / "jobs.db")
    job_id = jobs.create("train", {})
    jobs.update(job_id, status="running")
    assert jobs.get(job_id)["progress"]["eta_s"] is None  # no step yet: no estimate, not a guess
    for step in range(1, 4):  # a slow start: 10 s per step (warm-up, compilation)
        clock.now += 10.0
        jobs.update(job_id, step=step, total=200)
    for step in range(4, 41):  # then 0.1 s per step
        clock.now += 0.1
        jobs.update(job_id, step=step, total=200)
    eta = jobs.get(job_id)["progress"]["eta_s"]
    since_start = (clock.now - 1000.0) / 40 * 160  # what elapsed/step would have said: 22 s
    assert abs(eta - 0.1 * 160) < 0.5 and since_start > 20
    clock.now += 5.0  # time spent on the step in progress counts down; the estimate never goes negative
    assert jobs.get(job_id)["progress"]["eta_s"] == round(eta - 5.0, 2)
    clock.now += 60.0
    assert jobs.get(job_id)["progress"]["eta_s"] == 0.0


def test_a_finished_job_says_it_finished(tmp_path):
    jobs = JobStore(tmp_path / "jobs.db")

    def work(ctx):
        ctx.progress(1, 2, "embedding")
        ctx.progress(2, 2, "embedding")
        return {}

    def broken(ctx):
        ctx.progress(1, 3, "embedding")
        raise RuntimeError("disk full")

    done = jobs.wait(jobs.submit("rebuild", {}, work), 10)
    assert done["progress"]["message"].startswith("done: 2/2 steps in ") and done["progress"]["eta_s"] is None
    failed = jobs.wait(jobs.submit("rebuild", {}, broken), 10)
    assert failed["progress"]["message"].startswith("failed after 1/3 steps")
    assert "disk full" in failed["progress"]["message"]


def test_a_jobs_database_from_before_the_eta_columns_opens_and_keeps_its_jobs(tmp_path):
    from shared.jobs import JOBS_SCHEMA, MIGRATIONS
    from shared.store import Store

    old = Store(tmp_path / "jobs.db", migrations=[JOBS_SCHEMA])
    old.execute("INSERT INTO jobs (id, kind, status, params, created_at, updated_at) "
                "VALUES ('old1', 'x', 'succeeded', '{}', 1, 1)")
    jobs = JobStore(tmp_path / "jobs.db")
    assert jobs.get("old1")["status"] == "succeeded" and jobs.store.schema_version == len(MIGRATIONS)
