"""The service: runs as jobs with progress, reports, comparison, and a clear 4xx for every kind of bad input."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from labs.lab08_eval.app import create_app


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    from shared.config import get_settings

    app = create_app(get_settings(data_dir=tmp_path_factory.mktemp("data")))
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def test_a_run_is_a_job_with_progress_and_a_report(client):
    r = client.post("/runs", json={"dataset": "extraction", "run_id": "ext", "wait": True})
    assert r.status_code == 202
    body = r.json()
    assert body["job"]["status"] == "succeeded" and body["job"]["progress"]["fraction"] == 1.0
    run = client.get("/runs/ext").json()
    assert run["done"] == run["n_items"] == 40 and set(run["summary"]["scores"]) == {"json_schema", "json_fields"}
    assert client.get(f"/jobs/{body['job']['id']}").json()["status"] == "succeeded"
    page = client.get("/runs/ext/report")
    assert page.headers["content-type"].startswith("text/html") and "data:image/png" in page.text
    assert client.get("/runs/ext/report?format=json").json()["summary"] == run["summary"]
    assert any(r["id"] == "ext" for r in client.get("/runs").json())


def test_rerunning_with_another_configuration_conflicts(client):
    client.post("/runs", json={"dataset": "classification", "run_id": "c1", "limit": 5, "wait": True})
    r = client.post("/runs", json={"dataset": "classification", "run_id": "c1", "limit": 6})
    assert r.status_code == 409 and r.json()["error"]["type"] == "conflict"


@pytest.mark.parametrize("path,body,status", [
    ("/runs", {"dataset": "nope"}, 404),
    ("/runs", {"dataset": "qa", "concurrency": 0}, 422),
    ("/runs", {"dataset": "qa", "scorers": ["json_schema"]}, 422),
    ("/runs", {"dataset": "qa", "run_id": "../etc"}, 422),
    ("/runs", {"dataset": "qa", "model": "nope/nope"}, 422),
    ("/runs", {"dataset": "qa", "model": "mock/nosuch"}, 422),
    ("/runs", {"dataset": "qa", "limit": True}, 422),  # lax pydantic ran it as limit 1
    ("/stats/passk", {"n": 3, "c": True, "k": 1}, 422),
    ("/stats/kappa", {"rater1": [1, 2], "rater2": [1]}, 422),
    ("/stats/kappa", {"rater1": [], "rater2": []}, 422),
    ("/stats/fleiss", {"counts": [[1, 2], [3]]}, 422),
    ("/stats/fleiss", {"counts": [[1], [1]]}, 422),
    ("/stats/alpha", {"data": [[1, 2], [1]]}, 422),
    ("/stats/alpha", {"data": [[1, 1], [1, 1]]}, 422),
    ("/stats/alpha", {"data": [[1, 2]]}, 422),
    ("/stats/bootstrap", {"a": []}, 422),
    ("/stats/bootstrap", {"a": [1, 2], "b": [1]}, 422),
    ("/stats/bootstrap", {"a": [1e308, 1e308]}, 422),
    ("/stats/alpha", {"data": [[1e308, -1e308], [1e308, 1e308]], "level": "interval"}, 422),
    ("/stats/mcnemar", {"fixed": -1, "broken": 2}, 422),
    ("/stats/power", {"p": 0.95, "delta": 0.1}, 422),
    ("/stats/passk", {"n": 3, "c": 1, "k": 5}, 422),
    ("/stats/passk", {"n": 3, "c": 4, "k": 1}, 422),
])
def test_bad_input_gets_a_clear_4xx(client, path, body, status):
    r = client.post(path, json=body)
    assert r.status_code == status, r.text
    assert r.json()["error"]["message"]


def test_unknown_runs_and_datasets_are_404(client):
    assert client.get("/runs/missing").status_code == 404
    assert client.get("/runs/missing/report").status_code == 404
    assert client.get("/compare/tide-a/missing").status_code == 404
    assert client.get("/datasets/missing").status_code == 404


def test_comparing_runs_without_shared_items_is_a_422(client):
    client.post("/runs", json={"dataset": "classification", "run_id": "few", "limit": 3, "wait": True})
    r = client.get("/compare/few/tide-a")
    assert r.status_code == 422 and r.json()["error"]["type"] == "not_comparable"


def test_the_tide_runs_are_loaded_at_start(client):
    assert client.get("/compare/tide-a/tide-b").json()["verdict"] == "regression"


def test_progress_is_visible_while_a_run_works(client):
    import time

    r = client.post("/runs", json={"dataset": "code", "limit": 8, "n_samples": 5, "concurrency": 1,
                                   "run_id": "slow"})
    job_id = r.json()["job"]["id"]
    seen = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        job = client.get(f"/jobs/{job_id}").json()
        run = client.get("/runs/slow").json()
        seen.append(((job.get("progress") or {}).get("fraction"), run["done"]))
        if job["status"] in ("succeeded", "failed", "cancelled"):
            break
        time.sleep(0.02)
    assert job["status"] == "succeeded" and run["done"] == 8
    assert any(f is not None and 0 < f < 1 for f, _ in seen), seen  # the job reports partial progress ...
    assert any(0 < done < 8 for _, done in seen), seen  # ... and so does the run's row count


def test_readiness_says_what_holds_generated_code(client):
    from labs.lab08_eval import sandbox

    checks = client.get("/readyz").json()["checks"]
    line = checks["sandbox"]["detail"]
    assert "audit hook" in line and ("namespace" in line) == ("namespace" in sandbox.network_isolation())


def test_readiness_fails_closed_when_generated_code_could_only_run_as_root(client, monkeypatch, tmp_path):
    import os
    import sys

    from labs.lab08_eval import sandbox

    if os.geteuid() != 0:
        pytest.skip("a harness that is not root runs code as itself")
    hidden = tmp_path / "root-only"
    hidden.mkdir(mode=0o700)
    (hidden / "python").symlink_to(sys.executable)
    monkeypatch.setattr(sandbox, "candidates", lambda: [str(hidden / "python")])
    sandbox.identity.cache_clear()
    try:
        r = client.get("/readyz")
        assert r.status_code == 503 and "sandbox" in r.json()["error"]["message"]
        assert "never runs as root" in r.json()["error"]["checks"]["sandbox"]["detail"]
        run = client.post("/runs", json={"dataset": "code", "limit": 1, "n_samples": 1, "k": [1],
                                         "run_id": "refused", "wait": True}).json()["run"]
        assert run["summary"]["errors"] == 1 and run["summary"]["scores"] == {}
    finally:
        monkeypatch.undo()
        sandbox.identity.cache_clear()
    assert client.get("/readyz").status_code == 200


def test_after_a_restart_a_run_has_one_status_everywhere(tmp_path):
    """Issue 25 #12: the job said failed (interrupted) and GET /runs/{id} said running until a re-POST."""
    from labs.lab08_eval.runner import RunConfig, Runner
    from shared.config import get_settings

    settings = get_settings(data_dir=tmp_path)
    lab = create_app(settings).state.context
    from labs.lab08_eval.app import JudgeOptions

    config = RunConfig("classification", limit=3, run_id="cut", judge_mock=JudgeOptions().model_dump())
    run_id, _, _ = Runner(lab.store).start(config)  # as POST /runs does
    job_id = lab.jobs.create("eval-run", {"run_id": run_id})
    lab.jobs.update(job_id, status="running")  # ... and then the process is killed
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        run, job = c.get("/runs/cut").json(), c.get(f"/jobs/{job_id}").json()
        assert run["status"] == job["status"] == "failed"
        assert run["error"].startswith("interrupted") and job["error"].startswith("interrupted")
        assert [r["status"] for r in c.get("/runs").json() if r["id"] == "cut"] == ["failed"]
        again = c.post("/runs", json={"dataset": "classification", "limit": 3, "run_id": "cut", "wait": True})
        assert again.json()["run"]["status"] == "finished" and again.json()["run"]["error"] is None
