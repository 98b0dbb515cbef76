"""The service: every route answers with its check line, PNGs are PNGs, bad input is a clear 4xx."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from labs.lab01_math.app import create_app


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    from shared.config import get_settings

    with TestClient(create_app(get_settings(data_dir=tmp_path_factory.mktemp("lab01"))),
                    raise_server_exceptions=False) as c:
        yield c


def test_ready_once_identities_hold(client):
    assert client.app.state.warmup.wait(120)
    r = client.get("/readyz")
    assert r.status_code == 200 and "derivations hold" in r.json()["checks"]["identities"]["detail"]


@pytest.mark.parametrize("path", ["/matrices/svd.png?A=3,1,1,2", "/numerics/fd-error.png",
                                  "/calculus/descent.png?expression=x**2%2B10*y**2&x=3&y=1&lr=0.09&steps=30"])
def test_pngs(client, path):
    r = client.get(path)
    assert r.status_code == 200 and r.headers["content-type"] == "image/png" and r.content[:4] == b"\x89PNG"


def test_every_answer_says_what_it_checked(client):
    r = client.post("/matrices/svd", json={"A": [[3, 1], [1, 2]], "k": 1})
    body = r.json()
    assert body["checked"].startswith("UΣVᵀ = A") and body["png"] == "/matrices/svd.png?A=3,1,1,2"
    assert body["low_rank"]["frobenius_error"] == pytest.approx(body["S"][1])


@pytest.mark.parametrize("path,body,status,words", [
    ("/calculus/gradient", {"expression": "__import__('os').getcwd()"}, 422, "unknown function"),
    ("/calculus/gradient", {"expression": "x.real"}, 422, "Attribute"),
    ("/calculus/gradient", {"expression": "log(x)", "point": {"x": -1}}, 422, "not a finite real"),
    ("/calculus/gradient", {"expression": "x", "point": {"q": 1}}, 422, "point"),
    ("/matrices/matmul", {"A": [[1, 2]], "B": [[1, 2]]}, 422, "cannot multiply"),
    ("/matrices/matmul", {"A": [[1, 2], [3]], "B": [[1]]}, 422, "different lengths"),
    ("/matrices/svd", {"A": [[1, 2, 3], [4, 5, 6]], "circle": True}, 422, "2x2"),
    ("/matrices/rank", {"A": [[1.0] * 65]}, 422, "A"),
    ("/vectors/cosine", {"a": [0, 0], "b": [1, 1]}, 422, "zero vector"),
    ("/vectors/cosine", {"a": [1, 2], "b": [1, 2], "c": 1}, 422, "c"),
    ("/probability/bayes", {"prior": [1.2, -0.2], "likelihood": [0.5, 0.5]}, 422, "prior"),
    ("/probability/bayes", {"prior": [0.5, 0.6], "likelihood": [0.5, 0.5]}, 422, "sum to 1"),
    ("/probability/kl", {"family": "bernoulli", "p": [1.3], "q": [0.5]}, 422, "probability"),
    ("/probability/kl", {"family": "categorical", "p": [0.5, 0.5], "q": [1.0]}, 422, "outcomes"),
    ("/probability/expectation", {"family": "gaussian", "params": {"mu": 0}, "n": 10}, 422, "sigma"),
    ("/tensors/attention", {"H": 10, "heads": 3}, 422, "divisible"),
    ("/tensors/attention", {"S": 100000}, 422, "S"),
])
def test_bad_input_is_a_clear_4xx(client, path, body, status, words):
    r = client.post(path, json=body)
    assert r.status_code == status, r.text
    assert words in r.json()["error"]["message"], r.json()


def test_bad_png_queries(client):
    assert client.get("/matrices/svd.png?A=1,2,3").status_code == 422
    r = client.get("/calculus/descent.png?expression=x*z")
    assert r.status_code == 422 and "x and y" in r.json()["error"]["message"]
