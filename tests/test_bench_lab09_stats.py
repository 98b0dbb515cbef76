"""The lab-09 overhead bench's verdict arithmetic: per-round added-p50 ratios and their median, checked
against numpy on random rounds, and the committed run's verdicts recomputed from its own per-round p50s."""

from __future__ import annotations

import json

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.test_bench_plots import BENCH, bench_module

RATIOS = st.lists(st.floats(-50, 50, allow_nan=False), min_size=1, max_size=12)


@settings(max_examples=300, deadline=None)
@given(RATIOS)
def test_the_median_of_finite_ratios_is_numpys(ratios):
    b = bench_module("bench_lab09_overhead")
    assert abs(b.median_ratio(ratios) - float(np.median(ratios))) < 1e-3  # the bench rounds to 3 places


@settings(max_examples=300, deadline=None)
@given(RATIOS, st.integers(1, 12))
def test_an_unbounded_round_ranks_above_every_number(ratios, unbounded):
    b = bench_module("bench_lab09_overhead")
    mixed = ratios + [None] * unbounded
    as_inf = np.median([float("inf") if x is None else x for x in mixed])
    got = b.median_ratio(mixed)
    assert (got is None) == bool(np.isinf(as_inf))
    if got is not None:
        assert abs(got - as_inf) < 1e-3


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.floats(1, 100), st.floats(-5, 50), st.floats(-5, 50)), min_size=1, max_size=8))
def test_each_round_is_its_own_paired_ratio(rounds):
    b = bench_module("bench_lab09_overhead")
    row = {"direct": {"p50_ms_by_round": [d for d, _, _ in rounds]},
           "gateway": {"p50_ms_by_round": [d + g for d, g, _ in rounds]},
           "passthrough": {"p50_ms_by_round": [d + f for d, _, f in rounds]}}
    for got, (d, g, f) in zip(b.round_ratios(row, "gateway", "passthrough"), rounds, strict=True):
        added, floor = (d + g) - d, (d + f) - d  # as the bench computes them, from the stored p50s
        if floor > 0:
            assert abs(got - added / floor) < 1e-3
        else:
            assert got == (0.0 if added <= 0 else None)


def test_the_committed_verdicts_follow_from_the_committed_rounds():
    b = bench_module("bench_lab09_overhead")
    result = json.loads((BENCH / "results" / "lab09_overhead.json").read_text())
    for r in result["results"]:
        for floor, key in (("passthrough", "within_2x_of_passthrough"),
                           ("passthrough_linear", "within_2x_of_same_pool_floor")):
            assert r[key] == b.within_2x(b.median_ratio(b.round_ratios(r, "gateway", floor)))
