"""The service: audit jobs on the orbit fixture, bad input as 4xx, and the HTML report in headless Chromium."""

from __future__ import annotations

import shutil

import httpx
import pytest
from fastapi.testclient import TestClient

from labs.lab14_audit.app import create_app
from shared.config import FIXTURES
from tests.browser import ARGS, CHROMIUM, needs_chromium, offline
from tests.services import serve_in_thread

SAMPLE = FIXTURES / "lab14" / "sample_project"


@pytest.fixture
def orbit(tmp_path):
    root = tmp_path / "root"
    shutil.copytree(SAMPLE, root / "orbit")
    (root / "plain").mkdir()
    return root


@pytest.fixture
def client(settings, orbit):
    with TestClient(create_app(settings, roots=[orbit]), raise_server_exceptions=False) as c:
        yield c


def test_audit_job_progress_result_and_reports(client, orbit):
    repo = orbit / "orbit"
    before = sorted(p.relative_to(repo) for p in repo.rglob("*"))
    started = client.post("/audit", json={"path": str(repo), "deprecations": "import", "index": "orbit", "answers": {"drop": "ledgerline"},
                                          "signals": {"benchmark_regression_pct": 12.5}})
    assert started.status_code == 202 and started.json()["kind"] == "audit"
    job = client.app.state.lab14.jobs.wait(started.json()["id"], 120)
    assert job["status"] == "succeeded", job["error"]
    assert job["progress"] == {**job["progress"], "step": 5, "total": 5, "fraction": 1.0}
    result = client.get(f"/audit/{job['id']}").json()["result"]
    assert result["deprecations"]["total"] == 1 and result["signals"]["deprecation_warnings"] == 1
    statuses = {i["id"]: i["status"] for i in result["items"]}
    assert statuses["drop"] == "answered" and statuses["bet"] == "open" and statuses["deprecations"] == "fail"
    fired = {r["name"] for r in result["tripwires"]["rules"] if r["fired"]}
    assert "benchmark regression" in fired and "a pin blocks an upgrade" in fired
    html = client.get(f"/audit/{job['id']}/report.html")
    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    assert f'data-score="{result["score"]}"' in html.text
    md = client.get(f"/audit/{job['id']}/quarterly.md", params={"quarter": "2026-Q4"})
    assert md.text.startswith("# Quarterly audit 2026-Q4") and f"Score: {result['score']}" in md.text
    evaluated = client.post("/tripwires/evaluate", json={"audit_id": job["id"], "signals": {"libyear_total": 0}}).json()
    assert evaluated["rules"][0]["value"] == 0 and evaluated["fired"] >= 1
    yearly = client.post("/adr/yearly", json={"audit_id": job["id"], "year": 2026})
    assert yearly.status_code == 201 and yearly.json()["number"] == 5
    assert sorted(p.relative_to(repo) for p in repo.rglob("*")) == before, "nothing written into the audited repo"


@pytest.mark.parametrize(("body", "status", "type_"), [
    ({"path": "/etc"}, 403, "outside_roots"),
    ({"path": "relative/path"}, 422, "bad_path"),
    ({"path": "{root}/missing"}, 404, "not_found"),
    ({"path": "{root}/plain"}, 422, "no_pyproject"),
    ({"path": "{root}/orbit/../../.."}, 403, "outside_roots"),
    ({"path": "{root}/orbit", "suite_paths": ["../secrets"]}, 422, "bad_path"),
    ({"path": "{root}/orbit", "deprecations": "all"}, 422, "validation_error"),
    ({"path": "{root}/orbit", "answers": {"mood": "fine"}}, 422, "validation_error"),
    ({"path": "{root}/orbit", "surprise": 1}, 422, "validation_error"),
])
def test_bad_audit_requests_are_4xx(client, orbit, body, status, type_):
    body = {k: v.replace("{root}", str(orbit)) if isinstance(v, str) else v for k, v in body.items()}
    response = client.post("/audit", json=body)
    assert response.status_code == status, response.text
    assert response.json()["error"]["type"] == type_
    assert client.app.state.lab14.jobs.list() == [], "a refused request starts no job"


def test_unfinished_or_unknown_audits(client):
    assert client.get("/audit/abcdefabcdef/report.html").status_code == 404
    assert client.get("/audit/not-an-id/report.html").status_code == 422
    jobs = client.app.state.lab14.jobs
    job_id = jobs.create("audit", {})
    response = client.get(f"/audit/{job_id}/report.html")
    assert response.status_code == 409 and response.json()["error"]["type"] == "not_finished"
    assert client.post("/tripwires/evaluate", json={"audit_id": job_id}).status_code == 409


def test_plan_and_adr_bad_input(client):
    assert client.post("/plan", json={"hours_per_week": 0}).status_code == 422
    assert client.post("/plan", json={"hours_per_week": 5, "weeks": 520}).status_code == 422
    assert client.post("/adr", json={"title": "x"}).status_code == 422
    assert client.post("/adr", json={"title": "Ghost", "context": "c", "decision": "d", "supersedes": 77}).status_code == 404
    assert client.get("/adr/77").status_code == 404
    bad = client.post("/tripwires/evaluate", json={"rules_yaml": "- {name: x, op: '>'}"})
    assert bad.status_code == 422 and "rule 0" in bad.json()["error"]["message"]


@pytest.mark.browser
@needs_chromium
def test_report_in_headless_chromium(settings, orbit, tmp_path):
    from playwright.sync_api import sync_playwright

    app = create_app(settings, roots=[orbit])
    with serve_in_thread(app) as base:
        job = httpx.post(f"{base}/audit", json={"path": str(orbit / "orbit"), "deprecations": "import",
                                                "index": "orbit", "wait": True}, timeout=120).json()
        result = job["result"]
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = browser.new_page()
            outside, failed_requests, errors = offline(page)
            page.goto(f"{base}/audit/{job['id']}/report.html")
            page.wait_for_selector("body[data-loaded='1']", timeout=20_000)
            score = page.inner_text("#score")
            rows = page.locator("#checklist tbody tr").count()
            failed = page.locator("#checklist td.fail").count()
            libyear = page.inner_text("#libyear")
            deps = page.inner_text("#deps tbody")
            deprecations = page.inner_text("#deprecations")
            page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
            browser.close()
    assert outside == failed_requests == errors == []  # the report renders offline, with no script error
    assert float(score) == result["score"]
    assert rows == len(result["items"]) and failed == result["status_counts"]["fail"]
    assert f"libyear {result['dependencies']['libyear_total']}" in libyear
    assert "quasar-http" in deps and "tessera-client (quasar-http<2,>=1.1)" in deps
    assert deprecations.startswith("1 warnings")
    assert (tmp_path / "report.png").stat().st_size > 5000
