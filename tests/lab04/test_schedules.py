"""Warmup + cosine from the formula vs torch's SequentialLR(LinearLR, CosineAnnealingLR)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labs.lab04_dl.schedules import WarmupCosine, max_relative_gap


@settings(max_examples=15, deadline=None)
@given(peak=st.floats(1e-5, 1.0), warmup=st.integers(1, 50), extra=st.integers(1, 200),
       min_frac=st.floats(0, 0.5), start=st.floats(0.01, 1.0))
def test_equals_torch_schedulers(peak, warmup, extra, min_frac, start):
    s = WarmupCosine(peak, warmup, warmup + extra, peak * min_frac, start)
    assert max_relative_gap(s) < 1e-9


def test_shape():
    s = WarmupCosine(1.0, 10, 110, 0.1)
    assert s(0) == pytest.approx(0.01)
    assert s(10) == 1.0
    assert s(60) == pytest.approx(0.1 + 0.45 * (1 + math.cos(math.pi / 2)))
    assert s(109) > 0.1


def test_bad_arguments():
    with pytest.raises(ValueError):
        WarmupCosine(1.0, 10, 5)
