"""Dot products both ways, cosine and norms against torch on random vectors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from labs.lab01_math import vectors

finite = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False)


def pair(draw_len=st.integers(1, 40)):
    return draw_len.flatmap(lambda n: st.tuples(st.lists(finite, min_size=n, max_size=n),
                                                st.lists(finite, min_size=n, max_size=n)))


@settings(max_examples=60, deadline=None)
@given(pair())
def test_both_views_of_the_dot_product_agree_with_torch(ab):
    a, b = ab
    ref = float(torch.dot(torch.tensor(a, dtype=torch.float64), torch.tensor(b, dtype=torch.float64)))
    scale = 1 + vectors.l2(a) * vectors.l2(b)
    assert vectors.dot_algebraic(a, b) == pytest.approx(ref, abs=1e-9 * scale)
    if vectors.l2(a) > 1e-3 and vectors.l2(b) > 1e-3:
        # the law of cosines loses digits when |a − b| is tiny next to |a|, |b|: compare at that scale
        assert vectors.dot_geometric(a, b) == pytest.approx(ref, abs=1e-6 * scale)
        cos = float(torch.nn.functional.cosine_similarity(torch.tensor(a, dtype=torch.float64),
                                                          torch.tensor(b, dtype=torch.float64), dim=0))
        assert vectors.cosine(a, b) == pytest.approx(cos, abs=1e-9)


@settings(max_examples=60, deadline=None)
@given(st.lists(finite, min_size=1, max_size=50))
def test_norms_match_torch_linalg(x):
    t = torch.tensor(x, dtype=torch.float64)
    for p in (1, 2, 3, math.inf):
        assert vectors.norm(x, p) == pytest.approx(float(torch.linalg.vector_norm(t, p)), rel=1e-9, abs=1e-12)


def test_frobenius_matches_torch_on_random_matrices():
    rng = np.random.default_rng(0)
    for _ in range(20):
        A = rng.normal(size=tuple(rng.integers(1, 12, 2))) * 10
        ref = float(torch.linalg.matrix_norm(torch.from_numpy(A), "fro"))
        assert vectors.frobenius(A.tolist()) == pytest.approx(ref, rel=1e-12)


def test_projection_leaves_an_orthogonal_remainder():
    rng = np.random.default_rng(1)
    for _ in range(20):
        a, b = rng.normal(size=(2, 7))
        p = np.array(vectors.projection(a.tolist(), b.tolist()))
        assert abs(np.dot(a - p, b)) < 1e-10


def test_zero_vectors_and_length_mismatch_are_refused():
    with pytest.raises(ValueError):
        vectors.cosine([0, 0], [1, 2])
    with pytest.raises(ValueError):
        vectors.dot_algebraic([1, 2], [1, 2, 3])
    with pytest.raises(ValueError):
        vectors.norm([1, 2], 0.5)
