"""One dependency audit of this repository per session: the probe of its virtual environment costs seconds."""

from __future__ import annotations

import pytest

from labs.lab14_audit import dependencies
from shared.config import REPO_ROOT


@pytest.fixture(scope="session")
def repo_report():
    return dependencies.audit(REPO_ROOT)
