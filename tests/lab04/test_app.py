"""The lab-04 service: each route answers, bad input is a clear 4xx, training runs as a job."""

from __future__ import annotations

import pytest

from labs.lab04_dl.app import create_app
from tests.services import warm_client


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    from shared.config import get_settings

    with warm_client(create_app(get_settings(data_dir=tmp_path_factory.mktemp("lab04"))), 60) as c:
        yield c


def test_ready_after_warmup(client):
    body = client.get("/readyz").json()
    assert body["status"] == "ready" and body["checks"]["digits"]["detail"].startswith("digits: 1437 train")


def test_train_job_with_progress_and_png(client):
    r = client.post("/train", json={"hidden": [16], "epochs": 2, "batch_size": 256, "wait": True})
    assert r.status_code == 202
    job = r.json()
    assert job["status"] == "succeeded" and job["progress"]["step"] == 2
    assert len(job["result"]["history"]) == 2
    png = client.get(f"/train/{job['id']}/curves.png")
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    assert client.get(f"/jobs/{job['id']}").json()["status"] == "succeeded"


@pytest.mark.parametrize("body,field", [({"hidden": [0]}, "hidden"), ({"hidden": [10_000]}, "hidden"),
                                        ({"lr": 0}, "lr"), ({"lr": -1}, "lr"), ({"optimizer": "lion"}, "optimizer"),
                                        ({"epochs": 10_000}, "epochs"), ({"hidden": [8] * 5}, "hidden"),
                                        ({"epochs": 2, "epoch": 3}, "epoch")])
def test_train_bad_input(client, body, field):
    r = client.post("/train", json=body)
    assert r.status_code == 422
    assert field in r.json()["error"]["message"]


def test_curves_of_unknown_job(client):
    assert client.get("/train/nope/curves.png").status_code == 404


@pytest.mark.parametrize("body", [{"depth": 0}, {"depth": 10_000}, {"width": 4}, {"width": 100_000},
                                  {"schemes": ["lecun"]}])
def test_init_depth_bad_input(client, body):
    assert client.post("/init/depth", json=body).status_code == 422


def test_init_depth(client):
    r = client.post("/init/depth", json={"depth": 6, "width": 64, "schemes": ["he"]}).json()
    assert len(r["he"]["stds"]) == 6


def test_optim_compare(client):
    r = client.post("/optim/compare", json={"optimizers": ["adam"], "steps": 50}).json()["results"][0]
    assert r["exact"]["bit_exact"] and "textbook" in r
    assert client.post("/optim/compare", json={"steps": 0}).status_code == 422
    assert client.post("/optim/compare", json={"lr": 0}).status_code == 422


def test_nan_and_backprop_and_schedule(client):
    assert client.post("/nan/diagnose", json={"scenario": "log_of_zero"}).json()["finding"]["cause"] == "log of 0"
    assert client.post("/nan/diagnose", json={"scenario": "nope"}).status_code == 422
    bad = client.post("/backprop/worked", json={"W1": [[1, 2]], "b1": [0], "W2": [[1]], "b2": [0], "x": [1], "target": [1]})
    assert bad.status_code == 422 and "x has 1 entries" in bad.json()["error"]["message"]
    ragged = client.post("/backprop/worked", json={"W1": [[1, 2], [1]], "b1": [0, 0], "W2": [[1, 1]], "b2": [0],
                                                   "x": [1, 2], "target": [1]})
    assert ragged.status_code == 422
    assert client.post("/schedule", json={"warmup": 10, "total": 10}).status_code == 422


@pytest.mark.parametrize("path", ["/optim/paths.png?steps=50", "/init/depth.png?depth=4&width=32",
                                  "/gradients/depth.png?depth=5"])
def test_pngs(client, path):
    r = client.get(path)
    assert r.status_code == 200 and r.content.startswith(b"\x89PNG")
