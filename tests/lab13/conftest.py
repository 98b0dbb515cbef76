"""Lab-13 fixtures: one app per session (its start-up renders the incidents), and the optional references."""

from __future__ import annotations

import importlib.util

import pytest
from fastapi.testclient import TestClient

from labs.lab13_sre.promtool import binary as promtool_binary

require_promtool = pytest.mark.skipif(promtool_binary() is None,
                                      reason="promtool is absent (Debian: apt-get install prometheus; or set PROMTOOL)")
require_promql_parser = pytest.mark.skipif(importlib.util.find_spec("promql_parser") is None,
                                           reason="promql-parser is not installed (pip install promql-parser)")


@pytest.fixture(scope="session")
def client(session_settings):
    from labs.lab13_sre.app import create_app

    app = create_app(session_settings)
    with TestClient(app, raise_server_exceptions=False) as c:
        assert app.state.warmup.wait(120)
        yield c
