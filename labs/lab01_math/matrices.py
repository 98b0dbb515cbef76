"""Matrices as maps: matmul is composition, rank is how many directions survive, SVD is rotate-scale-rotate.

    curl -s localhost:8001/matrices/svd -H 'content-type: application/json' -d '{"A": [[3, 1], [1, 2]]}'
    curl -s 'localhost:8001/matrices/svd.png?A=3,1,1,2' -o svd.png

    matmul      C = AB,  Cᵢⱼ = Σₖ Aᵢₖ Bₖⱼ,  and (AB)x = A(Bx): first B, then A
      rows·columns       Cᵢⱼ = (row i of A) · (column j of B)
      column mixtures    column j of C = Σₖ Bₖⱼ (column k of A)
      outer products     C = Σₖ (column k of A)(row k of B)
    transpose   (AB)ᵀ = BᵀAᵀ
    rank        r = number of pivots after elimination = dim column space; r + dim null space = n
    SVD         A = U Σ Vᵀ, U and V orthogonal, Σ = diag(σ₁ ≥ σ₂ ≥ … ≥ 0)
    Eckart-Young  A_k = Σ_{i≤k} σᵢ uᵢ vᵢᵀ is the best rank-k approximation, and
                  |A − A_k|_F = √Σ_{i>k} σᵢ²,   |A − A_k|₂ = σ_{k+1}

The SVD here is built from the eigen-decomposition of AᵀA (its eigenvalues are σᵢ², its eigenvectors
are V), then uᵢ = A vᵢ / σᵢ: the route a derivation takes. Squaring A squares its condition number,
so a library SVD (bidiagonalisation) is what production code calls; the tests hold this one to
torch.linalg.svd on random matrices.
"""

from __future__ import annotations

import math

import numpy as np


def as_matrix(A, name: str = "A") -> np.ndarray:
    M = np.asarray(A, dtype=np.float64)
    if M.ndim != 2 or M.shape[0] == 0 or M.shape[1] == 0:
        raise ValueError(f"{name} must be a non-empty 2-D matrix (rows of equal length), got shape {M.shape}")
    return M


def check_matmul_shapes(A: np.ndarray, B: np.ndarray) -> None:
    if A.shape[1] != B.shape[0]:
        raise ValueError(f"cannot multiply {A.shape[0]}x{A.shape[1]} by {B.shape[0]}x{B.shape[1]}: "
                         f"A has {A.shape[1]} columns but B has {B.shape[0]} rows")


def matmul_rows_columns(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Cᵢⱼ = (row i of A) · (column j of B): one dot product per entry."""
    check_matmul_shapes(A, B)
    C = np.empty((A.shape[0], B.shape[1]))
    for i in range(A.shape[0]):
        for j in range(B.shape[1]):
            C[i, j] = math.fsum(A[i, k] * B[k, j] for k in range(A.shape[1]))
    return C


def matmul_column_mixtures(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Column j of C is a mixture of A's columns, with weights from column j of B."""
    check_matmul_shapes(A, B)
    C = np.zeros((A.shape[0], B.shape[1]))
    for j in range(B.shape[1]):
        for k in range(A.shape[1]):
            C[:, j] += B[k, j] * A[:, k]
    return C


def matmul_outer_products(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """C is a sum of rank-1 matrices: (column k of A)(row k of B), one per inner index k."""
    check_matmul_shapes(A, B)
    C = np.zeros((A.shape[0], B.shape[1]))
    for k in range(A.shape[1]):
        C += np.outer(A[:, k], B[k, :])
    return C


def matmul_views(A: np.ndarray, B: np.ndarray) -> dict:
    """The three views computed separately, their largest disagreement, and the transpose identity."""
    views = {"rows_columns": matmul_rows_columns(A, B), "column_mixtures": matmul_column_mixtures(A, B),
             "outer_products": matmul_outer_products(A, B)}
    C = views["rows_columns"]
    spread = max(float(np.max(np.abs(v - C))) for v in views.values())
    transpose_error = float(np.max(np.abs(C.T - B.T @ A.T)))
    return {"C": C, "views": views, "views_max_difference": spread, "transpose_error": transpose_error}


def rref(A: np.ndarray, tol: float | None = None) -> tuple[np.ndarray, list[int]]:
    """Reduced row echelon form by Gauss-Jordan with partial pivoting; returns (R, pivot columns).

    A column whose best remaining pivot is below `tol` counts as zero: in floating point "is this
    exactly zero" is never the question, "is it zero at the size of the round-off" is.
    """
    R = np.array(A, dtype=np.float64)
    m, n = R.shape
    if tol is None:
        tol = max(m, n) * np.finfo(np.float64).eps * max(1.0, float(np.max(np.abs(R))) if R.size else 1.0)
    pivots: list[int] = []
    row = 0
    for col in range(n):
        if row == m:
            break
        best = row + int(np.argmax(np.abs(R[row:, col])))
        if abs(R[best, col]) <= tol:
            R[row:, col] = 0.0
            continue
        R[[row, best]] = R[[best, row]]
        R[row] /= R[row, col]
        others = [i for i in range(m) if i != row]
        R[others] -= np.outer(R[others, col], R[row])
        pivots.append(col)
        row += 1
    return R, pivots


def rank_and_bases(A: np.ndarray) -> dict:
    """Rank, a basis of the column space (the pivot columns of A), and one of the null space.

    Each free column j of the RREF gives a null vector: x_j = 1, x_pivot = −R[row, j], others 0.
    """
    A = as_matrix(A)
    R, pivots = rref(A)
    n = A.shape[1]
    free = [j for j in range(n) if j not in pivots]
    null = []
    for j in free:
        x = np.zeros(n)
        x[j] = 1.0
        for row, p in enumerate(pivots):
            x[p] = -R[row, j]
        null.append(x)
    return {"rank": len(pivots), "pivot_columns": pivots, "column_basis": A[:, pivots].T.tolist(),
            "null_basis": [v.tolist() for v in null], "rref": R.tolist(),
            "rank_nullity": f"{len(pivots)} + {len(free)} = {n} columns"}


def svd_via_eigh(A: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Thin SVD (U: m×r, σ: r, Vᵀ: r×n with r = min(m, n)) from the eigen-decomposition of AᵀA or AAᵀ.

    Work on the smaller Gram matrix. Directions with σ ≈ 0 have no u = Av/σ to speak of; they are
    completed to an orthonormal set by QR, so U always has orthonormal columns.
    """
    A = as_matrix(A)
    m, n = A.shape
    if m < n:
        U, s, Vt = svd_via_eigh(A.T)
        return Vt.T, s, U.T
    lam, V = np.linalg.eigh(A.T @ A)  # ascending; AᵀA is symmetric, so eigh (real, orthonormal V)
    order = np.argsort(lam)[::-1]
    lam, V = lam[order], V[:, order]
    s = np.sqrt(np.clip(lam, 0.0, None))
    U = np.zeros((m, n))
    # decide "σ = 0" on the λ = σ² scale: round-off in AᵀA is about ε·λ_max, and its square root
    # (≈ 1e-8·σ_max) would pass for a real singular value and give a garbage u = Av/σ
    keep = lam > max(m, n) * np.finfo(np.float64).eps * (lam[0] if lam.size else 0.0) * 10
    U[:, keep] = (A @ V[:, keep]) / s[keep]
    if not keep.all():
        # fill the null directions: QR of [kept u's | random] gives orthonormal completions
        rng = np.random.default_rng(0)
        Q, _ = np.linalg.qr(np.hstack([U[:, keep], rng.standard_normal((m, int((~keep).sum())))]))
        U[:, ~keep] = Q[:, int(keep.sum()):]
        s[~keep] = 0.0
    return U, s, V.T


def fix_signs(U: np.ndarray, Vt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(uᵢ, vᵢ) and (−uᵢ, −vᵢ) give the same A: pick the sign that makes each vᵢ's largest entry positive."""
    U, Vt = U.copy(), Vt.copy()
    for i in range(Vt.shape[0]):
        if Vt[i, np.argmax(np.abs(Vt[i]))] < 0:
            Vt[i] *= -1
            U[:, i] *= -1
    return U, Vt


def low_rank(U: np.ndarray, s: np.ndarray, Vt: np.ndarray, k: int) -> np.ndarray:
    """A_k = Σ_{i<k} σᵢ uᵢ vᵢᵀ: keep the k largest singular directions."""
    return (U[:, :k] * s[:k]) @ Vt[:k]


def eckart_young(A: np.ndarray, k: int) -> dict:
    """The rank-k approximation error, measured, next to what the dropped singular values predict."""
    A = as_matrix(A)
    U, s, Vt = svd_via_eigh(A)
    if not 0 <= k <= len(s):
        raise ValueError(f"k must be between 0 and {len(s)} for a {A.shape[0]}x{A.shape[1]} matrix")
    Ak = low_rank(U, s, Vt, k)
    dropped = s[k:]
    return {"k": k, "A_k": Ak, "frobenius_error": float(np.linalg.norm(A - Ak, "fro")),
            "predicted_frobenius": float(math.sqrt(float(np.sum(dropped ** 2)))),
            "spectral_error": float(np.linalg.norm(A - Ak, 2)) if k < len(s) else 0.0,
            "predicted_spectral": float(dropped[0]) if dropped.size else 0.0}


def rotation_angle(Q: np.ndarray) -> dict:
    """A 2×2 orthogonal matrix is a rotation (det +1) or a reflection (det −1); name it and its angle."""
    det = float(np.linalg.det(Q))
    kind = "rotation" if det > 0 else "reflection"
    angle = math.degrees(math.atan2(Q[1, 0], Q[0, 0]))
    return {"kind": kind, "angle_deg": angle if kind == "rotation" else angle / 2, "det": det}


def unit_circle(n: int = 200) -> np.ndarray:
    t = np.linspace(0, 2 * math.pi, n)
    return np.vstack([np.cos(t), np.sin(t)])


def svd_steps(A: np.ndarray, points: np.ndarray | None = None) -> dict:
    """Apply Vᵀ, then Σ, then U to the unit circle (2×2 A): rotate, stretch along the axes, rotate.

    Returns each stage's points and what each factor does; the last stage equals A applied directly.
    """
    A = as_matrix(A)
    if A.shape != (2, 2):
        raise ValueError(f"the unit-circle picture needs a 2x2 matrix, got {A.shape[0]}x{A.shape[1]}")
    U, s, Vt = svd_via_eigh(A)
    U, Vt = fix_signs(U, Vt)
    X = unit_circle() if points is None else points
    after_vt = Vt @ X
    after_sigma = np.diag(s) @ after_vt
    after_u = U @ after_sigma
    return {"U": U, "S": s, "Vt": Vt, "stages": {"circle": X, "Vt x": after_vt, "Σ Vt x": after_sigma,
                                                  "U Σ Vt x": after_u},
            "Vt_is": rotation_angle(Vt), "U_is": rotation_angle(U),
            "stretch": f"x-axis by σ₁ = {s[0]:.4g}, y-axis by σ₂ = {s[1]:.4g}",
            "steps_vs_A_error": float(np.max(np.abs(after_u - A @ X)))}
