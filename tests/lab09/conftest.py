"""lab-09 tests read the spans of the calls they make, so the gateway keeps every trace here
(LAB09_SAMPLE_RATE=1: errors and slow traces are kept anyway, and p=1 keeps the rest). The tail
sampling tests set their own policy through PUT /admin/sampling."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _keep_every_trace(monkeypatch):
    monkeypatch.setenv("LAB09_SAMPLE_RATE", "1")
