"""Shared fixtures. Tests never call a real provider: LLM_MODEL is forced to the mock here."""

from __future__ import annotations

import os
import tempfile

os.environ["LLM_MODEL"] = "mock/assistant"
os.environ["EMBED_MODEL"] = "mock/embedding"
for key in ("LLM_API_BASE", "OTEL_EXPORTER_OTLP_ENDPOINT", "OPENAI_API_KEY", "ANTHROPIC_API_KEY"):
    os.environ.pop(key, None)
# Nothing a test writes lands in the checkout: settings read without an explicit data_dir (the span
# store, CLIs run in-process) get a fresh folder per test run.
os.environ["DATA_DIR"] = tempfile.mkdtemp(prefix="aieng-tests-")

import pytest  # noqa: E402

import shared  # noqa: E402,F401  (offline environment before anything else loads)
from shared.config import Settings, get_settings  # noqa: E402


@pytest.fixture
def settings(tmp_path) -> Settings:
    """Settings with a private DATA_DIR, so tests never share or leave state."""
    return get_settings(data_dir=tmp_path / "data")


@pytest.fixture(scope="session")
def session_settings(tmp_path_factory) -> Settings:
    """One DATA_DIR for tests that share an expensive app (a lab built once per session)."""
    return get_settings(data_dir=tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="session")
def live_mock(tmp_path_factory):
    """The mock provider served over real HTTP on a free loopback port, for clients that need a URL."""
    from shared.mockllm.server import create_app
    from tests.services import serve_in_thread

    with serve_in_thread(create_app(get_settings(data_dir=tmp_path_factory.mktemp("live-mock")))) as base:
        yield base
