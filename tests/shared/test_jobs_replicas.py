"""shared.jobs with two replicas on one database (SQLite file or PostgreSQL): a job runs once, a starting
replica leaves the other's running jobs alone, either replica can cancel, orphans are found."""

import threading
import time

from shared.jobs import JobStore


def test_a_job_is_claimed_once_however_many_replicas_try(tmp_path, store_url):
    a, b = JobStore(tmp_path / "jobs.db", url=store_url), JobStore(tmp_path / "jobs.db", url=store_url)
    ids = [a.create("work", {"i": i}) for i in range(20)]
    wins: list[tuple[str, str]] = []
    lock = threading.Lock()

    def race(store):
        for job_id in ids:
            if store.claim(job_id):
                with lock:
                    wins.append((job_id, store.owner))

    threads = [threading.Thread(target=race, args=(s,)) for s in (a, b, a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(j for j, _ in wins) == sorted(ids), "every job claimed exactly once"
    assert {o for _, o in wins} <= {a.owner, b.owner}
    assert all(a.get(j)["status"] == "running" for j in ids)


def test_a_starting_replica_leaves_running_jobs_alone_and_can_cancel_them(tmp_path, store_url):
    # replicas: on PostgreSQL each has its own DATA_DIR and meets the other in the database; on SQLite they
    # share the file
    a = JobStore(tmp_path / "r1" / "lab" / "jobs.db", workers=2, url=store_url)
    release = threading.Event()

    def slow(ctx):
        for i in range(400):
            release.wait(0.02)
            ctx.progress(i, 400)
        return {"done": True}

    def quick(ctx):
        ctx.progress(1, 1)
        return {"ok": 1}

    long_job, short_job = a.submit("slow", {}, slow), None
    time.sleep(0.1)
    b = JobStore(tmp_path / ("r2" if store_url else "r1") / "lab" / "jobs.db", url=store_url)
    assert b.get(long_job)["status"] == "running", "B's start-up sweep did not fail A's live job"
    short_job = a.submit("quick", {}, quick)
    assert a.wait(short_job, 10)["status"] == "succeeded"
    b.cancel(long_job)  # through the other replica: a flag in the row, seen at A's next progress report
    assert a.wait(long_job, 10)["status"] == "cancelled"


def test_jobs_whose_owner_is_gone_are_failed(tmp_path, store_url):
    a = JobStore(tmp_path / "jobs.db", url=store_url)
    now = time.time()
    stale, fresh = a.create("x", {}), a.create("y", {})
    for job_id, beat in ((stale, now - 120), (fresh, now)):
        a.store.execute("UPDATE jobs SET status='running', owner=?, heartbeat_at=? WHERE id=?",
                        ("another-host:1:abcd", beat, job_id))
    JobStore(tmp_path / "jobs.db", url=store_url)  # a replica starts
    assert a.get(stale)["status"] == "failed" and "interrupted" in a.get(stale)["error"]
    assert a.get(fresh)["status"] == "running", "a replica elsewhere that beat recently still owns its job"
