"""An eval database that cannot be reached at start (issue 27): reconciling interrupted runs and loading the
tide runs wait in a warm-up step instead of stopping the app from starting; /readyz says 503 and why, the
routes that need the database answer a JSON 503, and no SQLite file is made in its place."""

from fastapi.testclient import TestClient

from labs.lab08_eval.app import create_app
from shared.config import get_settings

DOWN = "postgresql://lab@127.0.0.1:1/labs"  # nothing listens on port 1: connection refused at once


def test_an_unreachable_database_url_starts_the_app_and_answers_503(tmp_path):
    app = create_app(get_settings(data_dir=tmp_path, database_url=DOWN))
    assert "database" in app.state.warmup.steps, "start-up work deferred to a warm-up step"
    with TestClient(app, raise_server_exceptions=False) as client:
        ready = client.get("/readyz")
        assert ready.status_code == 503
        checks = ready.json()["error"]["checks"]
        assert "PostgreSQL unavailable" in checks["store"]["detail"]
        assert not checks["database"]["ok"], "the start-up work waits for the database"
        for r in (client.get("/runs"), client.get("/runs/tide-a"), client.get("/compare/tide-a/tide-b"),
                  client.get("/jobs")):
            assert r.status_code == 503, r.text
            assert "PostgreSQL unavailable" in r.json()["error"]["message"]
        assert client.get("/datasets").status_code == 200, "what needs no database still works"
    assert [p.name for p in tmp_path.rglob("*.db")] == ["telemetry.db"], "no silent fallback to SQLite"


def test_a_reachable_database_does_the_start_up_work_before_the_first_request(tmp_path):
    app = create_app(get_settings(data_dir=tmp_path))
    assert "database" not in app.state.warmup.steps
    client = TestClient(app)  # no startup: the tide runs are there already
    assert client.get("/compare/tide-a/tide-b").json()["verdict"] == "regression"
