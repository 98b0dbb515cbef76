"""Heavy fits as jobs: the cost estimate, the sync route's refusal naming POST /fit/jobs, a fit job's
progress and result (the sync route's, exactly), cancel between fits, bad bodies, the queue cap."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient

from labs.lab03_classical import app as lab_app
from labs.lab03_classical import models
from labs.lab03_classical.app import create_app
from shared.config import get_settings

HEAVY = {"dataset": "digits", "model": "gradient_boosting", "cv_folds": 3}
LIGHT = {"dataset": "iris_versicolor", "model": "logistic", "cv_folds": 2, "seed": 3}
SLOW = {"dataset": "digits", "model": "random_forest", "cv_folds": 5}  # ~0.6 s a fit: time to cancel between




def _until(client, job_id: str, done, timeout_s: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout_s
    while True:
        job = client.get(f"/jobs/{job_id}").json()
        if done(job) or time.monotonic() > deadline:
            return job
        time.sleep(0.02)


def _finished(job: dict) -> bool:
    return job["status"] in ("succeeded", "failed", "cancelled")


def test_cost_estimate_grows_with_folds_and_size_and_splits_light_from_heavy():
    for model in ("logistic", "random_forest", "gradient_boosting"):
        costs = [models.fit_cost_s("digits", model, k) for k in (0, 2, 3, 4, 5)]
        assert costs == sorted(costs) and len(set(costs)) == 5
        assert models.fit_cost_s("iris", model) < models.fit_cost_s("digits", model)
    assert models.fit_cost_s(**HEAVY) > models.SYNC_FIT_BUDGET_S
    # what the README and the other tests fit synchronously stays under the budget
    for dataset, model, k in [("iris_versicolor", "logistic", 0), ("iris_versicolor", "gradient_boosting", 0),
                              ("wine", "logistic", 0), ("breast_cancer", "logistic", 3)]:
        assert models.fit_cost_s(dataset, model, k) < models.SYNC_FIT_BUDGET_S


def test_fit_report_reports_every_step_in_order():
    calls = []
    models.fit_report("iris", "logistic", cv_folds=2, progress=lambda *a: calls.append(a))
    assert [c[0] for c in calls] == [0, 1, 2, 3, 4, 5] and {c[1] for c in calls} == {5}
    assert "held-out fit" in calls[1][2] and "baseline" in calls[2][2] and "bootstrap" in calls[3][2]
    assert calls[5][2].startswith("CV fold 2/2")


def test_heavy_sync_fit_is_a_422_naming_the_job_route(client):
    before = len(client.get("/jobs").json())
    r = client.post("/fit", json=HEAVY)
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["type"] == "too_heavy_for_a_request" and "POST /fit/jobs" in error["message"]
    assert "gradient_boosting on digits" in error["message"]
    assert len(client.get("/jobs").json()) == before  # refused, not started


def test_fit_job_runs_to_the_sync_result_with_progress(client):
    r = client.post("/fit/jobs", json=LIGHT)
    assert r.status_code == 202, r.text
    started = r.json()
    assert started["kind"] == "fit" and started["params"] == {**LIGHT, "test_size": 0.25}
    job = _until(client, started["id"], _finished)
    assert job["status"] == "succeeded", job
    assert job["progress"]["step"] == job["progress"]["total"] == 3 + LIGHT["cv_folds"]
    assert job["progress"]["message"].startswith("done: 5/5 steps")
    assert job["metrics"]["test_accuracy"] == job["result"]["test"]["accuracy"]["estimate"]
    sync = client.post("/fit", json=LIGHT)
    assert sync.status_code == 200 and job["result"] == sync.json()
    assert job["result"]["cv_accuracy"]["k"] == 2


def test_cancel_stops_a_fit_job_between_fits(client):
    job_id = client.post("/fit/jobs", json=SLOW).json()["id"]
    queued_id = client.post("/fit/jobs", json=LIGHT).json()["id"]  # one worker: it waits behind SLOW
    _until(client, job_id, lambda j: j["progress"]["step"] >= 1 or _finished(j))
    assert client.post(f"/jobs/{queued_id}/cancel").status_code == 200
    assert client.post(f"/jobs/{job_id}/cancel").json()["cancel_requested"] is True
    job = _until(client, job_id, _finished)
    assert job["status"] == "cancelled" and 1 <= job["progress"]["step"] < job["progress"]["total"]
    assert job["result"] is None
    queued = _until(client, queued_id, _finished)
    assert queued["status"] == "cancelled" and queued["result"] is None
    assert client.post(f"/jobs/{job_id}/cancel").status_code == 409  # already cancelled


def test_fit_jobs_are_capped(client, monkeypatch):
    monkeypatch.setattr(lab_app, "MAX_FIT_JOBS", 1)
    job_id = client.post("/fit/jobs", json=SLOW).json()["id"]
    r = client.post("/fit/jobs", json=LIGHT)
    assert r.status_code == 429 and r.json()["error"]["type"] == "too_many_jobs"
    client.post(f"/jobs/{job_id}/cancel")
    assert _until(client, job_id, _finished)["status"] == "cancelled"


@pytest.mark.parametrize("body, needle", [
    ({"dataset": "mnist"}, "dataset"),
    ({"dataset": "iris", "cv_folds": 1}, "cv_folds"),
    ({"dataset": "iris", "cv_folds": 9}, "cv_folds"),
    ({"dataset": "iris", "epochs": 3}, "epochs"),
    ({"dataset": "iris", "test_size": 0.9}, "test_size"),
])
def test_bad_fit_job_body_is_a_422_and_starts_nothing(client, body, needle):
    before = len(client.get("/jobs").json())
    r = client.post("/fit/jobs", json=body)
    assert r.status_code == 422, r.text
    assert needle in r.json()["error"]["message"]
    assert len(client.get("/jobs").json()) == before


def test_shutdown_cancels_this_process_unfinished_fits(tmp_path):
    app = create_app(get_settings(data_dir=tmp_path))
    with TestClient(app) as c:
        running = c.post("/fit/jobs", json=SLOW).json()["id"]
        waiting = c.post("/fit/jobs", json=SLOW).json()["id"]
    # leaving the client shut the app down; a second app on the same DATA_DIR reads the jobs' fate (this
    # process's first JobStore is still alive, so the start-up sweep leaves its jobs alone)
    deadline = time.monotonic() + 30
    with TestClient(create_app(get_settings(data_dir=tmp_path))) as again:
        while time.monotonic() < deadline:
            jobs = {i: again.get(f"/jobs/{i}").json()["status"] for i in (running, waiting)}
            if "queued" not in jobs.values() and "running" not in jobs.values():
                break
            time.sleep(0.02)
    assert jobs == {running: "cancelled", waiting: "cancelled"}
