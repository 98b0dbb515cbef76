"""Every lab that keeps jobs or runs honours DATABASE_URL (issue 27): with a database that cannot be reached
the app is still built, /readyz says 503 with the reason, its list of jobs (or runs) answers a JSON 503, and no SQLite file
stands in for the database (that would split a user's data in two)."""

import importlib
import threading

import pytest
from fastapi.testclient import TestClient

from labs.lab02_pytorch.runs import Runs
from shared import store as store_mod
from shared.config import get_settings
from shared.store import StoreUnavailable

DOWN = "postgresql://lab@127.0.0.1:1/labs"  # nothing listens on port 1: connection refused at once
JOBS = {"lab02_pytorch": "/jobs", "lab03_classical": "/jobs", "lab04_dl": "/jobs", "lab06_rag": "/jobs", "lab07_agents": "/runs",
        "lab08_eval": "/jobs", "lab10_finetune": "/jobs", "lab11_multimodal": "/jobs",
        "lab12_safety": "/redteam/runs", "lab13_sre": "/jobs", "lab14_audit": "/audit"}  # its list of jobs
STATE = {"jobs.db", "jobs.sqlite", "runs.db", "lab08.db"}  # what DATABASE_URL moves (world.db, kb.sqlite stay)


@pytest.mark.parametrize("lab", JOBS)
def test_a_lab_on_an_unreachable_database_starts_and_says_503(tmp_path, lab):
    create_app = importlib.import_module(f"labs.{lab}.app").create_app
    app = create_app(get_settings(data_dir=tmp_path, database_url=DOWN))
    client = TestClient(app, raise_server_exceptions=False)  # not started: no warm-up work runs here
    ready = client.get("/readyz")
    assert ready.status_code == 503
    details = [c["detail"] for c in ready.json()["error"]["checks"].values()]
    assert any("PostgreSQL unavailable" in d for d in details), details
    jobs = client.get(JOBS[lab])
    assert jobs.status_code == 503 and "PostgreSQL unavailable" in jobs.json()["error"]["message"]
    assert not [p for p in tmp_path.rglob("*") if p.name in STATE], "no silent fallback to SQLite"


def test_lab02_finds_a_run_by_name_on_both_backends(tmp_path, store_url):
    """lab-02 looks a run up by the name inside its JSON params (json_extract, translated for PostgreSQL)."""
    runs = Runs(tmp_path / "lab02", url=store_url)
    job_id = runs.jobs.create("train", {"name": "baseline", "config": {}})
    runs.jobs.create("train", {"name": "other", "config": {}})
    assert runs.get("baseline")["id"] == job_id
    with pytest.raises(Exception, match="not found"):
        runs.get("missing")


def test_start_up_work_waits_for_the_database_then_runs_once(monkeypatch):
    monkeypatch.setattr(store_mod, "RETRY_S", 0.01)
    calls, stop = [], threading.Event()

    def work():
        calls.append(1)
        if len(calls) < 3:
            raise StoreUnavailable("PostgreSQL unavailable: down")
        return "reconciled"

    assert store_mod.when_available(lambda: "done now", stop) == {}, "a database that answers: no warm-up step"
    steps = store_mod.when_available(work, stop)
    assert list(steps) == ["database"] and len(calls) == 1
    assert steps["database"]() == "reconciled" and len(calls) == 3, "retried until the database answered"
    stop.set()
    with pytest.raises(StoreUnavailable):  # shutdown: the step gives up instead of waiting forever
        store_mod.when_available(lambda: (_ for _ in ()).throw(StoreUnavailable("down")), stop)["database"]()
