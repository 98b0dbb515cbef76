"""Each anti-pattern check fires on runs built to show it, and stays quiet on runs built not to."""

from __future__ import annotations

import json

import numpy as np
import pytest

from labs.lab08_eval import antipatterns
from labs.lab08_eval.runner import import_run, import_tide, open_store, summarize


@pytest.fixture
def store(tmp_path):
    st = open_store(tmp_path / "lab08.db")
    import_tide(st)
    return st


def runs(store, a, b, dataset="classification", slices=None, seed=0):
    """Two imported runs with per-item pass/fail arrays a and b (slice tags cycle through `slices`)."""
    slices = slices or ["plain"]
    for run_id, scores in (("A", a), ("B", b)):
        import_run(store, run_id, dataset, "mock/assistant", [
            {"id": f"cls-{i:03d}", "slices": [slices[i % len(slices)]], "scores": {"exact": float(s)}}
            for i, s in enumerate(scores)])


def found(store, a="A", b="B"):
    return {c["n"]: c["found"] for c in antipatterns.check(store, a, b)["checks"]}


def test_the_tide_runs_show_the_average_tide_trap_and_nothing_else(store):
    out = antipatterns.check(store, "tide-a", "tide-b")
    assert out["found"] == ["average-tide trap"]
    assert [c["n"] for c in out["checks"]] == list(range(1, 13))
    assert {c["n"] for c in out["checks"] if c["found"] is None} == {10, 11, 12}  # no 'tide' dataset on file


def test_a_small_null_result_is_called_underpowered_and_a_large_one_is_not(store):
    rng = np.random.default_rng(0)
    a = rng.random(40) < 0.7
    runs(store, a, a ^ (rng.random(40) < 0.05))
    assert found(store)[5] is True
    big_a = rng.random(1000) < 0.7
    runs(store, big_a, big_a.copy())  # Δ = 0 on 1,000 items: a real null, nothing to power
    assert found(store)[5] is True  # Δ = 0 needs an infinite set: any null is underpowered for Δ → 0
    runs(store, big_a, big_a | (rng.random(1000) < 0.3))  # a large, significant change
    assert found(store)[5] is False


def test_tiny_slices_saturation_and_errors(store):
    runs(store, [1] * 40, [1] * 40)
    got = found(store)
    assert got[7] is False and got[8] is True  # one slice of 40; everything passes
    runs(store, [1, 0] * 50, [0, 1] * 50, slices=["plain"] * 9 + ["sarcasm"])
    got = found(store)
    assert got[7] is True and got[8] is False and got[9] is False
    store.execute("UPDATE runs SET summary=? WHERE id='B'", (json.dumps({**summarize(store, "B"), "errors": 3}),))
    assert found(store)[9] is True


def test_version_mismatch_and_a_biased_judge_are_caught(store):
    runs(store, [1, 0] * 20, [1, 0] * 20)
    assert found(store)[4] is False
    store.execute("UPDATE runs SET version='abc123' WHERE id='B'")
    assert found(store)[4] is True
    audit = {"options": {"length_bias": 0.8}, "rows": [{"bias": "length", "before": 1.0, "after": 0.0}]}
    store.execute("UPDATE runs SET summary=? WHERE id='B'", (json.dumps({**summarize(store, "B"), "judge_bias": audit}),))
    assert found(store)[2] is True


def test_slice_fishing_is_a_raw_p_that_holm_takes_away(store):
    # six slices of 60; one has 7 fixed and none broken: exact McNemar p = 2·½⁷ = 0.016 alone, 0.094 after Holm
    a, b, tags = [], [], []
    for s in range(6):
        a += [0] * 7 + [1] * 53
        b += ([1] * 7 if s == 0 else [0] * 7) + [1] * 53
        tags += [f"s{s}"] * 60
    for run_id, scores in (("A", a), ("B", b)):
        import_run(store, run_id, "classification", "mock/assistant",
                   [{"id": f"x{i}", "slices": [tags[i]], "scores": {"exact": float(v)}} for i, v in enumerate(scores)])
    assert found(store)[6] is True


def test_the_judge_family_check_reads_the_model_name():
    assert antipatterns.family("mock/assistant?variant=v2") == "mock"
    assert antipatterns.family("openai/mock/assistant") == "mock"
    assert antipatterns.family("openai/gpt-4o-mini") == "gpt"
    assert antipatterns.family("anthropic/claude-3-5-haiku") == "claude"


def test_the_golden_sets_have_no_duplicate_inputs(store):
    runs(store, [1, 0] * 20, [1, 0] * 20)
    assert found(store)[10] is False
