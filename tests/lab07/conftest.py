"""Helpers for lab-07 tests: a fresh world and runtime in a temp dir."""

from __future__ import annotations

import pytest

from labs.lab07_agents.checkpoint import RUNS_SCHEMA
from labs.lab07_agents.injection import Defenses
from labs.lab07_agents.runtime import Runtime
from labs.lab07_agents.tools import ToolBox, ToolFaults
from labs.lab07_agents.world import World
from shared.resilience import Breakers
from shared.store import Store


@pytest.fixture
def world(tmp_path) -> World:
    return World(tmp_path / "world.db")


@pytest.fixture
def make_runtime(tmp_path, world):
    def make(faults: ToolFaults | None = None, defenses: Defenses | None = None, registry: Breakers | None = None,
             injections: dict[str, str] | None = None) -> Runtime:
        return Runtime(Store(tmp_path / "runs.db", migrations=[RUNS_SCHEMA]), ToolBox(world, faults, injections),
                       registry or Breakers(cooldown_s=0.05), defenses)

    return make


@pytest.fixture(scope="session")
def shared_client(session_settings):
    """One lab-07 app for the route tests that only add runs of their own (unique ids): built once."""
    from fastapi.testclient import TestClient

    from labs.lab07_agents.app import create_app

    with TestClient(create_app(session_settings), raise_server_exceptions=False) as c:
        assert c.app.state.warmup.wait(120), "the model layer did not load"
        yield c
