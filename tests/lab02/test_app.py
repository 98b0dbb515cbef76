"""The service: training jobs (progress, curve, checkpoints, cancel, resume, restart), bestiary, shapes."""

import time

import pytest
import torch
from fastapi.testclient import TestClient

from labs.lab02_pytorch import checkpoint
from labs.lab02_pytorch.app import create_app
from labs.lab02_pytorch.train import TrainConfig, Trainer
from shared.config import get_settings
from shared.jobs import JobStore
from tests.services import warm_client

SMALL = {"steps": 40, "warmup_steps": 5, "eval_every": 20, "ckpt_every": 10}


@pytest.fixture(scope="module")
def settings(tmp_path_factory):
    return get_settings(data_dir=tmp_path_factory.mktemp("lab02"))


@pytest.fixture(scope="module")
def client(settings):
    with warm_client(create_app(settings)) as c:
        yield c


def _wait_for(client, job_id, predicate, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/jobs/{job_id}").json()
        if predicate(job):
            return job
        time.sleep(0.02)
    raise AssertionError(f"job {job_id} never got there: {job}")


def _final_params(settings, job):
    run = job["params"]["run"] or job["id"]
    folder = settings.lab_dir("lab02") / "runs" / run
    return checkpoint.load(checkpoint.list_checkpoints(folder)[-1]["path"])["model"]


def _straight(**change):
    cfg = TrainConfig(steps=SMALL["steps"], warmup_steps=SMALL["warmup_steps"], eval_every=SMALL["eval_every"],
                      **change)
    t = Trainer(cfg)
    t.run()
    return t.parameters()


def test_ready_after_warmup(client):
    assert client.get("/readyz").json()["status"] == "ready"


def test_a_training_job_reports_progress_curve_and_checkpoints(client):
    r = client.post("/train", json={**SMALL, "wait": True})
    assert r.status_code == 202
    job = r.json()
    assert job["status"] == "succeeded", job
    assert job["progress"]["step"] == 40 and job["progress"]["fraction"] == 1.0
    assert job["result"]["val_acc"] > 0.5 and job["result"]["checkpoints"][-1] == "ckpt-000040.pt"
    assert [c["step"] for c in client.get(f"/jobs/{job['id']}/checkpoints").json()] == [20, 30, 40]
    png = client.get(f"/jobs/{job['id']}/curve.png")
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    assert any(j["id"] == job["id"] for j in client.get("/jobs").json())


@pytest.mark.parametrize("body, field", [({"lr": -0.1}, "lr"), ({"batch_size": 0}, "batch_size"),
                                         ({"optimizer": "adam"}, "optimizer"), ({"amp": "fp8"}, "amp"),
                                         ({"steps": 10, "warmup_steps": 20}, "warmup_steps"),
                                         ({"epochs": 3}, "epochs"), ({"lr": "fast"}, "lr")])
def test_bad_configs_are_422_before_any_job(client, body, field):
    before = len(client.get("/jobs").json())
    r = client.post("/train", json=body)
    assert r.status_code == 422 and field in r.json()["error"]["message"]
    assert len(client.get("/jobs").json()) == before


def test_cancel_then_resume_is_bit_exact(client, settings):
    job = client.post("/train", json={**SMALL, "throttle_ms": 30}).json()
    _wait_for(client, job["id"], lambda j: j["progress"]["step"] >= 12)
    assert client.post(f"/jobs/{job['id']}/cancel").json()["cancel_requested"] is True
    cancelled = _wait_for(client, job["id"], lambda j: j["status"] == "cancelled")
    assert cancelled["progress"]["step"] < 40
    r = client.post(f"/jobs/{job['id']}/resume?wait=true")
    assert r.status_code == 202
    resumed = r.json()
    assert resumed["status"] == "succeeded", resumed
    assert resumed["params"]["resume_of"] == job["id"] and resumed["result"]["resumed_from_step"] >= 10
    final = _final_params(settings, resumed)
    assert all(torch.equal(v, final[k]) for k, v in _straight().items())
    assert client.post(f"/jobs/{resumed['id']}/resume").status_code == 409  # all steps trained


def test_a_job_survives_a_service_restart_and_resumes(settings, tmp_path):
    """A job left 'running' by a process that died: the next service start marks it interrupted, and resume
    finishes it from its checkpoint, bit-exactly."""
    folder = settings.lab_dir("lab02")
    params = {"config": {**TrainConfig(steps=40, warmup_steps=5, eval_every=20).__dict__}, "ckpt_every": 10,
              "throttle_ms": 0, "resume_of": None, "run": None}
    jobs = JobStore(folder / "jobs.db")
    job_id = jobs.create("train", params)
    jobs.update(job_id, status="running", step=23, total=40)
    dead = Trainer(TrainConfig(**params["config"]))
    dead.run(until=20)
    checkpoint.save(dead, folder / "runs" / job_id)
    app = create_app(settings)  # the restart
    with TestClient(app, raise_server_exceptions=False) as c:
        job = c.get(f"/jobs/{job_id}").json()
        assert job["status"] == "failed" and "interrupted" in job["error"]
        resumed = c.post(f"/jobs/{job_id}/resume?wait=true").json()
    assert resumed["status"] == "succeeded" and resumed["result"]["resumed_from_step"] == 20
    final = _final_params(settings, resumed)
    assert all(torch.equal(v, final[k]) for k, v in _straight().items())


def test_resume_refusals(client):
    assert client.post("/jobs/nope/resume").status_code == 404
    job = client.post("/train", json={**SMALL, "ckpt_every": 40, "throttle_ms": 50}).json()
    _wait_for(client, job["id"], lambda j: j["progress"]["step"] >= 2)
    client.post(f"/jobs/{job['id']}/cancel")
    _wait_for(client, job["id"], lambda j: j["status"] == "cancelled")
    r = client.post(f"/jobs/{job['id']}/resume")
    assert r.status_code == 409 and "no checkpoint" in r.json()["error"]["message"]
    assert client.get("/jobs/nope/checkpoints").status_code == 404
    assert client.get("/jobs/nope/curve.png").status_code == 404


def test_bestiary_routes(client):
    listed = client.get("/bestiary").json()
    assert len(listed) >= 20
    out = client.post("/bestiary/softmax_before_cross_entropy/run").json()
    assert out["reproduces"] is True and out["bug"] > 0.5 and out["fix"] < 1e-3
    assert client.post("/bestiary/naive_softmax_overflow/run").json()["bug"] == "nan"
    assert client.post("/bestiary/no_such_bug/run").status_code == 404


def test_shapes_routes(client):
    ok = client.post("/shapes/broadcast", json={"shapes": [[8, 1, 6, 1], [7, 1, 5]]}).json()
    assert ok["result"] == ok["torch"] == [8, 7, 6, 5]
    clash = client.post("/shapes/broadcast", json={"shapes": [[3], [4]]})
    assert clash.status_code == 422 and "dimension -1" in clash.json()["error"]["message"]
    assert client.post("/shapes/broadcast", json={"shapes": [[-1]]}).status_code == 422
    e = client.post("/shapes/einsum", json={"spec": "bij,bjk->bik", "shapes": [[2, 3, 4], [2, 4, 5]]}).json()
    assert e["output_shape"] == [2, 3, 5] and e["max_abs_diff_vs_torch_einsum"] < 1e-12
    for body in ({"spec": "ij,jk->ik->", "shapes": [[2, 3], [3, 4]]}, {"spec": "ij,jk->ik", "shapes": [[2, 3], [4, 4]]},
                 {"spec": "ij->i", "shapes": [[5000, 5000]]}, {"spec": "ij,jk->ik", "shapes": [[2, 3]]}):
        r = client.post("/shapes/einsum", json=body)
        assert r.status_code == 422, (body, r.text)


def test_schedule_and_param_groups(client):
    png = client.get("/schedule.png?lr=0.001&warmup=10&steps=100")
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG")
    assert client.get("/schedule.png?warmup=300&steps=100").status_code == 422
    groups = client.get("/param-groups?hidden=16&depth=1").json()
    assert groups[1]["weight_decay"] == 0.0 and "blocks.0.norm.weight" in groups[1]["tensors"]


def test_stop_at_then_resume_by_name_is_bit_exact(client, settings):
    first = client.post("/train", json={**SMALL, "name": "half-run", "stop_at": 20, "wait": True}).json()
    assert first["status"] == "succeeded" and first["result"]["steps"] == 20 and first["result"]["of"] == 40
    again = client.post("/train", json={**SMALL, "name": "half-run"})
    assert again.status_code == 409
    assert client.post("/train", json={**SMALL, "stop_at": 40}).status_code == 422
    resumed = client.post("/jobs/half-run/resume?wait=true").json()
    assert resumed["result"]["resumed_from_step"] == 20 and resumed["result"]["steps"] == 40
    assert client.get("/jobs/half-run/checkpoints").json()[-1]["step"] == 40
    final = _final_params(settings, resumed)
    assert all(torch.equal(v, final[k]) for k, v in _straight().items())
