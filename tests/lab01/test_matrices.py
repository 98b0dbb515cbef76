"""Matmul's three views, (AB)ᵀ = BᵀAᵀ, rank, SVD and Eckart-Young, against torch on random matrices."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from labs.lab01_math import matrices

RNG_SEEDS = range(12)


def shapes(rng):
    m, k, n = rng.integers(1, 9, 3)
    return rng.normal(size=(m, k)), rng.normal(size=(k, n))


@pytest.mark.parametrize("seed", RNG_SEEDS)
def test_three_views_equal_torch_matmul_and_transpose_identity(seed):
    rng = np.random.default_rng(seed)
    A, B = shapes(rng)
    ref = (torch.from_numpy(A) @ torch.from_numpy(B)).numpy()
    r = matrices.matmul_views(A, B)
    for view in r["views"].values():
        np.testing.assert_allclose(view, ref, atol=1e-12)
    assert r["transpose_error"] < 1e-12
    x = rng.normal(size=B.shape[1])
    np.testing.assert_allclose(A @ (B @ x), ref @ x, atol=1e-12)  # AB is "first B, then A"


def test_shape_mismatch_is_a_value_error():
    with pytest.raises(ValueError, match="cannot multiply"):
        matrices.matmul_views(np.ones((2, 3)), np.ones((2, 3)))


@pytest.mark.parametrize("seed", RNG_SEEDS)
def test_rank_and_bases_on_random_low_rank_matrices(seed):
    rng = np.random.default_rng(seed)
    m, n = rng.integers(2, 10, 2)
    r = int(rng.integers(0, min(m, n) + 1))
    A = rng.normal(size=(m, r)) @ rng.normal(size=(r, n))
    out = matrices.rank_and_bases(A)
    assert out["rank"] == int(torch.linalg.matrix_rank(torch.from_numpy(A))) == np.linalg.matrix_rank(A) == r
    assert out["rank"] + len(out["null_basis"]) == n
    for v in out["null_basis"]:
        assert np.max(np.abs(A @ np.asarray(v))) < 1e-9
    if out["column_basis"]:
        C = np.asarray(out["column_basis"]).T
        assert np.linalg.matrix_rank(C) == r  # independent, and span the column space:
        assert np.linalg.matrix_rank(np.hstack([C, A])) == r


@pytest.mark.parametrize("seed", RNG_SEEDS)
def test_svd_via_eigh_matches_torch(seed):
    rng = np.random.default_rng(seed)
    m, n = rng.integers(1, 9, 2)
    A = rng.normal(size=(m, n))
    if seed % 3 == 0 and min(m, n) > 1:
        A[:, 0] = A[:, 1]  # rank-deficient: the null directions must still give orthonormal U
    U, s, Vt = matrices.svd_via_eigh(A)
    np.testing.assert_allclose(s, torch.linalg.svdvals(torch.from_numpy(A)).numpy(), atol=1e-7)
    np.testing.assert_allclose((U * s) @ Vt, A, atol=1e-7)
    np.testing.assert_allclose(U.T @ U, np.eye(U.shape[1]), atol=1e-7)
    np.testing.assert_allclose(Vt @ Vt.T, np.eye(Vt.shape[0]), atol=1e-7)


@pytest.mark.parametrize("seed", RNG_SEEDS)
def test_eckart_young_error_is_the_dropped_singular_values_and_optimal(seed):
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(6, 5))
    s = np.linalg.svd(A, compute_uv=False)
    for k in range(0, 6):
        r = matrices.eckart_young(A, k)
        assert r["frobenius_error"] == pytest.approx(np.sqrt(np.sum(s[k:] ** 2)), abs=1e-9)
        assert r["spectral_error"] == pytest.approx(s[k] if k < 5 else 0.0, abs=1e-9)
    best = matrices.eckart_young(A, 2)["frobenius_error"]
    for _ in range(50):  # no random rank-2 matrix does better
        B = rng.normal(size=(6, 2)) @ rng.normal(size=(2, 5))
        assert np.linalg.norm(A - B, "fro") > best


@pytest.mark.parametrize("seed", range(6))
def test_svd_steps_rotate_scale_rotate_reproduce_A(seed):
    A = np.random.default_rng(seed).normal(size=(2, 2))
    st = matrices.svd_steps(A)
    assert st["steps_vs_A_error"] < 1e-12
    for name in ("U_is", "Vt_is"):
        assert abs(abs(st[name]["det"]) - 1) < 1e-9  # orthogonal: no stretching in U or Vᵀ
    radii = np.linalg.norm(st["stages"]["Vt x"], axis=0)
    np.testing.assert_allclose(radii, 1.0, atol=1e-12)  # Vᵀ keeps the circle a unit circle
    with pytest.raises(ValueError, match="2x2"):
        matrices.svd_steps(np.ones((2, 3)))
