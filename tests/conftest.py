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
# The xdist workers share the machine's cores. By default torch (OpenMP) and the BLAS libraries start one
# thread per core in every worker, so two workers on two cores run four threads that spin-wait for each
# other on small operations: lab-04's gradient-depth study took 4.5 s with two threads beside a busy
# core and 0.15 s with one, and lab-04's fuzz 101 s instead of 70. Set before torch or numpy load
# (nothing has imported them yet); subprocesses a test starts inherit it. A value set outside wins (the
# xdist controller's own setting, which its workers inherit, is marked as ours so a worker redoes it).
_threads = str(max(1, (os.cpu_count() or 1) // int(os.environ.get("PYTEST_XDIST_WORKER_COUNT") or 1)))
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    if _var not in os.environ or os.environ.get(f"AIENG_TESTS_SET_{_var}"):
        os.environ[_var] = os.environ[f"AIENG_TESTS_SET_{_var}"] = _threads

import pytest  # noqa: E402

import shared  # noqa: E402,F401  (offline environment before anything else loads)
from shared.config import Settings, get_settings  # noqa: E402

# The long tests (make up end to end, the fuzz of every service's schema, README examples, exercise
# scripts) live in tests/test_*.py, which sort after every tests/labNN/ folder. Run in that order, the two
# xdist workers end the suite on a few minute-long tests, one of them idle. Started first, the long ones
# spread over both workers and the short lab tests fill the gaps (longest first, as a scheduler packs jobs).
# Whole modules move, so a module-scoped fixture (an app with its warm-up) is still built once.
_FIRST = "tests/test_cli.py::test_up_serves_everything"  # the longest: about 3 minutes on a busy 2-core box
_LONG_MODULES = ("tests/test_contract.py",)  # the fuzz of each schema: up to a minute per service


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    rank: dict[str, int] = {}
    for item in items:
        module = item.nodeid.split("::", 1)[0]
        mine = (0 if item.nodeid.startswith(_FIRST)
                else 1 if item.get_closest_marker("slow") is not None or module in _LONG_MODULES else 2)
        rank[module] = min(rank.get(module, 2), mine)
    # stable: each module keeps pytest's own order, but for the one test that must start first
    items.sort(key=lambda item: (rank[item.nodeid.split("::", 1)[0]], not item.nodeid.startswith(_FIRST)))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Let every service's warm-up thread finish before the interpreter exits.

    A test may end while an app it built is still importing in its warm-up thread (a daemon: lab-05's
    SDK step imports anthropic). CPython stops daemon threads where they stand when it finalizes, so
    one stopped inside an import keeps the import lock, and the next import at exit (a LiteLLM client's
    __del__ imports a module) waits for it forever: the worker passes every test and never exits
    (twice in 19 runs of tests/shared/test_postgres_instances.py).
    """
    import threading

    from shared.service import WARMUP_THREAD

    for thread in threading.enumerate():
        if thread.name == WARMUP_THREAD:
            thread.join(timeout=300)


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
