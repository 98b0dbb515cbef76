"""The service: every route answers, bad input is a clear 4xx, jobs report progress and the tool trace."""

from __future__ import annotations

import pytest

from labs.lab13_sre.promtool import binary as promtool_binary


def test_incidents_list_and_reveal(client):
    ids = [i["id"] for i in client.get("/incidents").json()]
    assert len(ids) == 14 and ids[0] == "INC-2041"
    plain = client.get("/incidents/INC-2042").json()
    assert "truth" not in plain and plain["alerts"]
    assert client.get("/incidents/INC-2042?reveal=true").json()["truth"]["service"] == "psp"
    assert client.get("/incidents/GEN-002-003").status_code == 200


@pytest.mark.parametrize("method,path,body,status,kind", [
    ("GET", "/incidents/INC-9999", None, 404, "not_found"),
    ("GET", "/incidents/../../etc", None, 404, None),
    ("POST", "/incidents/triage", {"incident": "INC-9999"}, 404, "not_found"),
    ("POST", "/incidents/triage", {"incident": "rm -rf"}, 422, "validation_error"),
    ("POST", "/incidents/triage", {"incident": "INC-2041", "clasifier": "llm"}, 422, "validation_error"),
    ("POST", "/anomaly/detect", {"series": [1, 2, 3]}, 422, "validation_error"),
    ("POST", "/anomaly/detect", {"series": [1.0] * 20, "detector": "seasonal", "period": 24}, 422, "series_too_short"),
    ("POST", "/change-risk", {"source": "repo", "path": "../../etc"}, 403, "path_not_allowed"),
    ("POST", "/change-risk", {"source": "repo", "path": "../../no-such-folder-anywhere"}, 403, "path_not_allowed"),
    ("POST", "/change-risk", {"source": "repo", "path": "labs/lab13_sre/nope"}, 422, "path_not_allowed"),
    ("POST", "/canary", {"baseline": "v1", "candidate": "v9"}, 404, "not_found"),
    ("POST", "/nl2query", {"question": "x"}, 422, "validation_error"),
    ("POST", "/postmortem", {"incident": "INC-0000"}, 404, "not_found"),
    ("GET", "/slo?day=99", None, 422, "validation_error"),
])
def test_bad_input_is_a_clear_4xx(client, method, path, body, status, kind):
    r = client.request(method, path, json=body)
    assert r.status_code == status, r.text
    if kind:
        assert r.json()["error"]["type"] == kind


def test_change_risk_scores_this_repository(client):
    r = client.post("/change-risk", json={"source": "repo", "limit": 30}).json()
    assert r["history"] == "repository" and r["commits"] == 30 and len(r["riskiest"]) == 5
    assert all(0 <= c["risk"] <= 1 for c in r["riskiest"])


def test_nan_in_a_series_is_refused(client):
    r = client.post("/anomaly/detect", content=b'{"series": [1, 2, 3, 4, 5, 6, 7, NaN]}',
                    headers={"content-type": "application/json"})
    assert r.status_code == 422 and "finite" in r.text


def test_rca_is_a_job_with_progress_and_trace(client):
    job = client.post("/rca", json={"incident": "INC-2046", "anchor_rate": 0, "wander_rate": 0, "wait": True}).json()
    assert job["status"] == "succeeded" and job["kind"] == "rca"
    result = job["result"]
    assert result["answer"]["service"] == "psp" and result["answer"]["cause"] == "cert_expiry"
    assert job["progress"]["step"] == len(result["trace"]) and job["metrics"]["trace"] == result["trace"]
    assert client.get(f"/jobs/{job['id']}").json()["status"] == "succeeded"


def test_nl2query_with_execution(client):
    r = client.post("/nl2query", json={"question": "Memory per service", "execute": True, "paraphrase_rate": 0,
                                       "mistake_rate": 0}).json()
    assert r["query"] == "sum by (service) (process_resident_memory_bytes)" and r["parses"]
    assert r["execution"]["ok"] and len(r["execution"]["result"]) == 13


def test_eval_job_reports_three_accuracies(client):
    job = client.post("/eval/nl2query", json={"limit": 10, "wait": True}).json()
    acc = job["result"]["accuracy"]
    assert set(acc) == {"exact", "ast", "execution"} and acc["exact"] <= acc["ast"] <= acc["execution"]
    if promtool_binary() is None:
        r = client.post("/eval/nl2query", json={"engine": "promtool"})
        assert r.status_code == 422 and r.json()["error"]["type"] == "promtool_missing"


def test_postmortem_markdown(client):
    r = client.post("/postmortem", json={"incident": "INC-2046", "format": "markdown"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/markdown")
    assert "## Action items" in r.text


def test_canary_with_a_custom_prompt_is_registered(client):
    r = client.post("/canary", json={"candidate_prompt": "Triage it. Be brief and skip the rubric.",
                                     "max_incidents": 10}).json()
    assert r["candidate"].startswith("p-") and r["decision"] in {"promote", "rollback", "inconclusive"}
    assert r["candidate"] in client.get("/prompts").json()["versions"]


def test_plot_is_a_png(client):
    r = client.get("/anomaly/plot.png?detector=ewma")
    assert r.status_code == 200 and r.content[:4] == b"\x89PNG"


def test_slo_route_shows_the_regression(client):
    firing = client.get("/slo?day=20.25").json()["firing"]
    assert any(f["alert"] == "page-slow" for f in firing)
