"""One lab-03 service per test module, started and warmed (its datasets loaded) before the first test."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from labs.lab03_classical.app import create_app
from shared.config import get_settings


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    app = create_app(get_settings(data_dir=tmp_path_factory.mktemp("lab03")))
    with TestClient(app, raise_server_exceptions=False) as c:
        assert app.state.warmup.wait(60)
        yield c
