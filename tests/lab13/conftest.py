"""Lab-13 fixtures: one app per session (its start-up renders the incidents), and the optional references."""

from __future__ import annotations

import importlib.util

import pytest

from labs.lab13_sre.promtool import binary as promtool_binary
from tests.services import warm_client

require_promtool = pytest.mark.skipif(promtool_binary() is None,
                                      reason="promtool is absent (Debian: apt-get install prometheus; or set PROMTOOL)")
require_promql_parser = pytest.mark.skipif(importlib.util.find_spec("promql_parser") is None,
                                           reason="promql-parser is not installed (pip install promql-parser)")


@pytest.fixture(scope="session")
def client(session_settings):
    from labs.lab13_sre.app import create_app

    with warm_client(create_app(session_settings)) as c:
        yield c
