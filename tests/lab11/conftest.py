"""One lab-11 app per test session: its start-up trains the starter models once (a few seconds)."""

from __future__ import annotations

import pytest
import torch
from fastapi.testclient import TestClient

from labs.lab11_multimodal.app import create_app
from shared.config import get_settings

torch.set_num_threads(1)


@pytest.fixture(scope="session")
def lab11_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("lab11-data")


@pytest.fixture(scope="session")
def client(lab11_dir):
    app = create_app(get_settings(data_dir=lab11_dir))
    with TestClient(app, raise_server_exceptions=False) as c:
        assert app.state.warmup.wait(300), "start-up training did not finish"
        yield c


@pytest.fixture(scope="session")
def models(client):
    return client.app.state.models
