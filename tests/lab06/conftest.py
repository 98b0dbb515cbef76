"""One knowledge base over the fixture corpus per session: MiniLM embeds it once (cached on disk)."""

from __future__ import annotations

import pytest

from labs.lab06_rag.kb import fixture_kb


@pytest.fixture(scope="session")
def eval_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("lab06-eval")


@pytest.fixture(scope="session")
def kb(eval_dir):
    return fixture_kb(eval_dir)
