"""lab-05 fixtures: the one model handle domain code is given, as create_app builds it."""

from __future__ import annotations

import pytest

from shared.llm import Model


@pytest.fixture
def model(settings) -> Model:
    return Model.from_settings(settings)
