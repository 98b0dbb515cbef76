"""Every bug in the bestiary shows its symptom on the pinned torch, and its fix does not."""

import math

import pytest
import torch

from labs.lab02_pytorch import bestiary


def test_at_least_twenty_bugs():
    assert len(bestiary.BUGS) >= 20
    assert sum(b.reproduces_on_pinned_torch for b in bestiary.BUGS.values()) >= 20


@pytest.mark.parametrize("name", list(bestiary.BUGS))
def test_symptom_as_recorded_for_the_pinned_torch(name):
    out = bestiary.run(name)
    assert out["reproduces"] is bestiary.BUGS[name].reproduces_on_pinned_torch, out
    if not out["reproduces"]:
        assert "does not reproduce on torch" in out["note"]
    for value in (out["bug"], out["fix"]):
        assert isinstance(value, float) or value in ("nan", "inf", "-inf")


def test_the_pinned_torch_is_the_one_the_notes_describe():
    assert torch.__version__.startswith("2.13")


def test_running_a_bug_leaves_the_callers_rng_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    bestiary.run("dropout_in_eval")
    assert torch.equal(torch.rand(3), expected)


def test_non_finite_numbers_are_named_for_json():
    assert bestiary.run("naive_softmax_overflow")["bug"] == "nan"
    assert math.isfinite(bestiary.run("naive_softmax_overflow")["fix"])
