"""pass^k, the agent suite's reliability measure, against brute force over every k-subset."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labs.lab07_agents.suite import pass_hat_k


@settings(max_examples=60, deadline=None)
@given(outcomes=st.lists(st.booleans(), min_size=1, max_size=9), data=st.data())
def test_pass_hat_k_equals_the_mean_over_all_k_subsets(outcomes, data):
    k = data.draw(st.integers(1, len(outcomes)))
    subsets = list(itertools.combinations(outcomes, k))
    brute = sum(all(s) for s in subsets) / len(subsets)
    assert pass_hat_k(len(outcomes), sum(outcomes), k) == pytest.approx(brute)


def test_pass_hat_k_rejects_impossible_counts():
    with pytest.raises(ValueError):
        pass_hat_k(3, 4, 1)
