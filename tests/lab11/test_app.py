import base64
import io

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from labs.lab11_multimodal import audio, data
from labs.lab11_multimodal.app import create_app
from shared.config import get_settings


def png(img: Image.Image, fmt: str = "PNG") -> str:
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    return base64.b64encode(buf.getvalue()).decode()


def test_ready_and_classify_an_index(client):
    assert client.get("/readyz").status_code == 200
    d = data.digits()
    i = int(d.test[0])
    r = client.post("/clip/classify", json={"index": i}).json()
    assert r["label"] == d.labels[i] and len(r["top"]) == 3


def test_classify_an_uploaded_photo_of_dark_ink_on_paper(client):
    """A large dark-on-white picture of test digits is inverted and shrunk to 8x8 before CLIP sees it."""
    d = data.digits()
    right = 0
    for i in d.test[:10]:
        big = Image.fromarray((255 - np.kron(d.images[i], np.ones((30, 30))) * 255).astype(np.uint8))
        right += client.post("/clip/classify", json={"image": png(big.convert("RGB"))}).json()["prediction"] == d.labels[i]
    assert right >= 6


@pytest.mark.parametrize("image,why", [
    ("not base64 !!", "base64"),
    (base64.b64encode(b"hello, not an image").decode(), "decoded"),
    (png(Image.new("CMYK", (8, 8)), "JPEG"), "mode"),
    (png(Image.new("I;16", (8, 8))), "mode"),
    (png(Image.new("L", (5000, 2))), "at most"),
])
def test_bad_images_are_422(client, image, why):
    r = client.post("/clip/classify", json={"image": image})
    assert r.status_code == 422 and why in r.json()["error"]["message"]


def test_classify_needs_exactly_one_input(client):
    assert client.post("/clip/classify", json={}).status_code == 422
    assert client.post("/clip/classify", json={"index": 1, "image": "AAAA"}).status_code == 422


@pytest.mark.parametrize("text", ["", "   ", "zebra crossing"])
def test_search_refuses_empty_or_unknown_text(client, text):
    assert client.post("/clip/search", json={"text": text}).status_code == 422


@pytest.mark.parametrize("body", [{"T": 0}, {"T": -1}, {"T": 11}, {"T": 2, "beta": [0.1]}, {"T": 1, "beta": [1.5]}])
def test_walk_validates_T_and_beta(client, body):
    assert client.post("/diffusion/walk", json=body).status_code == 422


def test_sample_is_a_png(client):
    r = client.post("/diffusion/sample", json={"n": 4, "digit": 3})
    assert r.status_code == 200 and r.content[:4] == b"\x89PNG"


def test_audio_inputs(client):
    r = client.post("/audio/logmel", json={"wav": base64.b64encode(audio.write_wav(audio.synth("chirp", 1.0))).decode()})
    assert r.json()["shape"] == [80, 100]
    assert client.post("/audio/logmel", json={"wav": base64.b64encode(b"junk").decode()}).status_code == 422
    assert client.post("/audio/logmel", json={"wav": "ÀÀÀÀ"}).status_code == 422  # non-ASCII was a 500
    assert client.post("/audio/logmel", json={"text": "  "}).status_code == 422
    assert client.post("/audio/logmel", json={}).status_code == 422
    assert client.post("/audio/logmel.png", json={"signal": "chord"}).content[:4] == b"\x89PNG"


def test_speech_is_503_without_espeak(client, monkeypatch):
    monkeypatch.setattr(audio.shutil, "which", lambda name: None)
    r = client.post("/audio/logmel", json={"text": "hello"})
    assert r.status_code == 503 and "espeak-ng" in r.json()["error"]["message"]


def test_cost_and_vit_routes(client):
    assert client.post("/cost/image", json={"width": 10, "height": 10, "schemes": ["nope"]}).status_code == 422
    assert client.post("/vit/patches", json={"height": 8, "width": 8, "patch": 16}).status_code == 422
    assert client.post("/vit/embed", json={"size": 8, "patch": 16}).status_code == 422
    assert client.post("/vit/embed", json={}).json()["equal_to_1e-5"] is True


def test_training_job_one_at_a_time_and_it_survives_a_restart(tmp_path):
    """Its own data dir: the 1-epoch model it trains must not replace the session's served model."""
    settings = get_settings(data_dir=tmp_path)
    app = create_app(settings)
    with TestClient(app, raise_server_exceptions=False) as client:
        assert app.state.warmup.wait(300)
        served, app.state.models.clip = app.state.models.clip, None   # as before start-up training ends
        r = client.post("/clip/classify", json={"index": 0})
        assert r.status_code == 503 and r.headers["retry-after"] == "5"
        app.state.models.clip = served
        job = client.post("/clip/train", json={"epochs": 1}).json()
        busy = client.post("/diffusion/train", json={"steps": 10})
        assert busy.status_code == 409 and busy.json()["error"]["job_id"] == job["id"]
        done = app.state.models.jobs.wait(job["id"], 300)
        assert done["status"] == "succeeded" and done["metrics"]["history"]
        assert client.get(f"/jobs/{job['id']}/plot.png").content[:4] == b"\x89PNG"
        assert client.get("/jobs/nope/plot.png").status_code == 404
    again = create_app(settings)
    with TestClient(again, raise_server_exceptions=False) as c2:
        assert again.state.warmup.wait(120)
        assert c2.get(f"/jobs/{job['id']}").json()["status"] == "succeeded"
        assert again.state.models.origin["clip"] == "trained (loaded from disk)"
        assert c2.post("/clip/classify", json={"index": 0}).status_code == 200
