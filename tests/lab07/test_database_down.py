"""A runs database that cannot be reached at start (issue 27): the app starts anyway, /readyz says 503 and why,
every route that needs the database answers a JSON 503, and no SQLite file is made in its place."""

from fastapi.testclient import TestClient

from labs.lab07_agents.app import create_app
from shared.config import get_settings

DOWN = "postgresql://lab@127.0.0.1:1/labs"  # nothing listens on port 1: connection refused at once


def test_an_unreachable_database_url_starts_the_app_and_answers_503(tmp_path):
    app = create_app(get_settings(data_dir=tmp_path, database_url=DOWN))
    with TestClient(app, raise_server_exceptions=False) as client:
        ready = client.get("/readyz")
        assert ready.status_code == 503
        checks = ready.json()["error"]["checks"]
        assert "PostgreSQL unavailable" in checks["runs_db"]["detail"] and checks["world_db"]["ok"]
        assert not checks["workers"]["ok"] and "database" in app.state.warmup.steps, "workers wait for the database"
        for r in (client.get("/runs"), client.post("/runs", json={"task": "book-13"})):
            assert r.status_code == 503, r.text
            assert "PostgreSQL unavailable" in r.json()["error"]["message"] and r.headers["retry-after"]
        assert client.get("/tasks").status_code == 200, "what needs no database still works"
    assert not (tmp_path / "lab07" / "runs.db").exists(), "no silent fallback to SQLite"
