import time

import pytest
from fastapi.testclient import TestClient

from labs.lab10_finetune.app import create_app
from shared.config import get_settings
from shared.jobs import JobStore


@pytest.fixture(scope="module")
def settings(tmp_path_factory):
    return get_settings(data_dir=str(tmp_path_factory.mktemp("lab10app")))


@pytest.fixture(scope="module")
def client(settings):
    with TestClient(create_app(settings)) as c:
        yield c


@pytest.mark.parametrize("body,status,needle", [
    ({"kind": "rloo", "dataset": "addition_train"}, 422, "kind"),
    ({"kind": "ppo", "dataset": "prefs_train"}, 422, "lacks column"),
    ({"kind": "ppo", "dataset": "addition_train", "clip_eps": 1.5}, 422, "clip_eps"),
    ({"kind": "sft", "dataset": "addition_train", "reward": "length_biased"}, 422, "reward"),
    ({"kind": "sft"}, 422, "exactly one of dataset"),
    ({"kind": "sft", "dataset": "nope"}, 404, "dataset 'nope'"),
    ({"kind": "sft", "dataset": "addition_train", "rank": 0}, 422, "rank"),
    ({"kind": "sft", "dataset": "addition_train", "rank": -3}, 422, "rank"),
    ({"kind": "dpo", "dataset": "addition_train"}, 422, "lacks column"),
    ({"kind": "sft", "rows": [{"prompt": "1+1=", "answer": "2"}]}, 422, "lacks column"),
    ({"kind": "sft", "rows": [{"prompt": "1+1=", "completion": 2}]}, 422, "non-empty string"),
    ({"kind": "sft", "dataset": "addition_train", "beta": 0.1}, 422, "beta"),
    ({"kind": "sft", "dataset": "addition_train", "base": "missing-model"}, 404, "model"),
    ({"kind": "grpo", "dataset": "addition_train", "num_generations": 3}, 422, "multiple"),
    ({"kind": "sft", "dataset": "addition_train", "lr": -1}, 422, "lr"),
])
def test_bad_job_requests_get_a_4xx_and_start_nothing(client, body, status, needle):
    before = len(client.get("/jobs").json())
    r = client.post("/jobs", json=body)
    assert r.status_code == status, r.text
    assert needle in r.text
    assert len(client.get("/jobs").json()) == before


@pytest.mark.slow
def test_sft_job_trains_in_a_child_process_with_progress_metrics_and_curve(client):
    r = client.post("/jobs", json={"kind": "sft", "dataset": "addition_train", "wait": True, "timeout_s": 120})
    assert r.status_code == 202, r.text
    job = r.json()
    assert job["status"] == "succeeded", job["error"]
    assert job["progress"]["step"] == job["progress"]["total"] == 150
    for key in ("loss", "grad_norm", "learning_rate", "tokens_per_s", "peak_memory_mb"):
        assert key in job["metrics"]
    assert job["result"]["exact_match_after"]["addition"] >= 0.7
    assert job["steps_logged"] == 150
    png = client.get(f"/jobs/{job['id']}/curve.png")
    assert png.status_code == 200 and png.content[:8] == b"\x89PNG\r\n\x1a\n"
    adapters = {a["name"] for a in client.get("/models").json()["adapters"]}
    assert job["id"] in adapters


@pytest.mark.slow
def test_two_adapters_on_one_base_chosen_per_request_and_merge(client):
    jobs = [j for j in client.get("/jobs").json() if j["kind"] == "sft" and j["status"] == "succeeded"]
    add = jobs[0]["id"]
    r = client.post("/jobs", json={"kind": "sft", "rows": [{"prompt": f"{a}+{b}=", "completion": "0"}
                                                          for a in range(5) for b in range(5)],
                                   "epochs": 20, "wait": True, "timeout_s": 120})
    zero = r.json()["id"]
    assert r.json()["status"] == "succeeded"
    prompts = ["2+3=", "4+4="]
    by = {a: client.post("/generate", json={"prompt": prompts, "adapter": a}).json()["completions"]
          for a in (add, zero)}
    assert [c["completion"] for c in by[add]] == ["5", "8"]
    assert [c["completion"] for c in by[zero]] == ["0", "0"]
    merged = client.post("/models/merge", json={"adapter": add}).json()["name"]
    out = client.post("/generate", json={"model": merged, "prompt": prompts}).json()["completions"]
    assert [c["completion"] for c in out] == ["5", "8"]
    r = client.post("/generate", json={"model": merged, "prompt": "1+1=", "adapter": zero})
    assert r.status_code == 422 and "trained on" in r.text


@pytest.mark.slow
def test_api_answers_while_a_job_trains_and_cancel_stops_it(client):
    job = client.post("/jobs", json={"kind": "sft", "dataset": "addition_train", "epochs": 200}).json()
    deadline = time.monotonic() + 60
    while client.get(f"/jobs/{job['id']}").json()["progress"]["step"] == 0 and time.monotonic() < deadline:
        t0 = time.perf_counter()
        assert client.get("/healthz").status_code == 200
        assert time.perf_counter() - t0 < 2.0
        time.sleep(0.2)
    running = client.get(f"/jobs/{job['id']}").json()
    assert running["status"] == "running" and running["progress"]["eta_s"] is not None
    r = client.post(f"/jobs/{job['id']}/cancel")
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    time.sleep(1.0)
    after = client.get(f"/jobs/{job['id']}").json()
    assert after["status"] == "cancelled"
    time.sleep(1.5)  # a child still training would keep writing its step
    assert client.get(f"/jobs/{job['id']}").json()["progress"]["step"] == after["progress"]["step"] < 1000
    assert client.post(f"/jobs/{job['id']}/cancel").status_code == 409


def test_a_job_running_at_restart_is_marked_failed(settings):
    jobs = JobStore(settings.lab_dir("lab10") / "jobs.db")
    job_id = jobs.create("sft", {"base": "tiny-llama", "dataset": "addition_train", "rows": None, "hp": {}})
    jobs.update(job_id, status="running", step=3, total=150)
    with TestClient(create_app(settings)) as c:
        job = c.get(f"/jobs/{job_id}").json()
    assert job["status"] == "failed" and "restarted" in job["error"]


def test_unknown_job_and_curve_before_any_step(client):
    assert client.get("/jobs/nope").status_code == 404
    assert client.get("/jobs/nope/curve.png").status_code == 404
    assert client.post("/jobs/nope/cancel").status_code == 404


def test_generate_validates_model_adapter_and_prompt(client):
    assert client.post("/generate", json={"model": "nope", "prompt": "1+1="}).status_code == 404
    assert client.post("/generate", json={"prompt": "1+1=", "adapter": "nope"}).status_code == 404
    assert client.post("/generate", json={"prompt": ""}).status_code == 422
    assert client.post("/generate", json={"prompt": "1+1=", "max_new_tokens": 0}).status_code == 422
    assert client.post("/models/merge", json={"adapter": "nope"}).status_code == 404


def test_calculators(client):
    lora = client.get("/calc/lora").json()
    assert lora["trainable_pct"] == pytest.approx(0.1245, abs=1e-4)
    assert client.get("/calc/lora?targets=wq").status_code == 422
    assert client.get("/calc/lora?r=0").status_code == 422
    mem = client.get("/calc/memory").json()
    assert mem["qlora"]["fits"] and not mem["lora"]["fits"]
    assert client.get("/calc/nf4").json()["max_abs_diff"] < 1e-6
    grpo = client.post("/calc/grpo", json={"rewards": [0.8, 0.5, 0.3, 0.7]}).json()
    assert grpo["advantages"][0] == grpo["trl"]["advantages"][0] == pytest.approx(1.0143, abs=1e-4)
    assert grpo["chapter"]["advantages"][0] == pytest.approx(1.1717, abs=1e-4)
    assert client.post("/calc/grpo", json={"rewards": [1.0]}).status_code == 422
