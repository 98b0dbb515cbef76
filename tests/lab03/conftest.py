"""One lab-03 service per test module, started and warmed (its datasets loaded) before the first test."""

from __future__ import annotations

import pytest

from labs.lab03_classical.app import create_app
from shared.config import get_settings
from tests.services import warm_client


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    with warm_client(create_app(get_settings(data_dir=tmp_path_factory.mktemp("lab03"))), 60) as c:
        yield c
