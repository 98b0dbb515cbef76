"""One lab-11 app per test session: its start-up trains the starter models once (a few seconds)."""

from __future__ import annotations

import pytest
import torch

from labs.lab11_multimodal.app import create_app
from shared.config import get_settings
from tests.services import warm_client

torch.set_num_threads(1)


@pytest.fixture(scope="session")
def lab11_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("lab11-data")


@pytest.fixture(scope="session")
def client(lab11_dir):
    with warm_client(create_app(get_settings(data_dir=lab11_dir)), 300, "start-up training did not finish") as c:
        yield c


@pytest.fixture(scope="session")
def models(client):
    return client.app.state.models
