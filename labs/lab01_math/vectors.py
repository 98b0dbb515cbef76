"""Vectors, both views: a list of numbers and an arrow with a length and a direction.

    python -m labs.lab01_math.exercises      # (cosine of (3, 4) and (4, 3))
    curl -s localhost:8001/vectors/cosine -H 'content-type: application/json' -d '{"a": [3, 4], "b": [4, 3]}'

    algebraic  a·b = Σᵢ aᵢ bᵢ
    geometric  a·b = |a| |b| cos θ
    cosine     cos θ = a·b / (|a| |b|)
    norms      |x|₁ = Σ|xᵢ|   |x|₂ = √Σxᵢ²   |x|_∞ = maxᵢ|xᵢ|   |A|_F = √Σᵢⱼ Aᵢⱼ²

The geometric view is computed here without a dot product, so the two views are independent: the
angle θ comes from the triangle a, b, a − b and the law of cosines,
|a − b|² = |a|² + |b|² − 2|a||b| cos θ, which only needs lengths. That the two numbers agree is the
cosine identity, checked numerically (and against torch's cosine_similarity in the tests).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

Vector = Sequence[float]


def dot_algebraic(a: Vector, b: Vector) -> float:
    """Σᵢ aᵢ bᵢ: multiply matching coordinates and add."""
    if len(a) != len(b):
        raise ValueError(f"vectors of different lengths: {len(a)} and {len(b)}")
    return math.fsum(ai * bi for ai, bi in zip(a, b, strict=True))


def l2(x: Vector) -> float:
    """|x|₂ = √Σ xᵢ² (math.hypot scales first, so huge or tiny coordinates do not overflow)."""
    return math.hypot(*x)


def angle_from_lengths(a: Vector, b: Vector) -> float:
    """θ from the law of cosines: cos θ = (|a|² + |b|² − |a − b|²) / (2|a||b|). No dot product used."""
    na, nb = l2(a), l2(b)
    if na == 0 or nb == 0:
        raise ValueError("the angle with a zero vector is undefined")
    nd = l2([ai - bi for ai, bi in zip(a, b, strict=True)])
    cos = (na * na + nb * nb - nd * nd) / (2 * na * nb)
    return math.acos(max(-1.0, min(1.0, cos)))  # round-off can push |cos| a hair past 1


def dot_geometric(a: Vector, b: Vector) -> float:
    """|a| |b| cos θ, with θ measured from the triangle's side lengths."""
    return l2(a) * l2(b) * math.cos(angle_from_lengths(a, b))


def cosine(a: Vector, b: Vector) -> float:
    """cos θ = a·b / (|a||b|): 1 same direction, 0 orthogonal, −1 opposite; blind to length."""
    na, nb = l2(a), l2(b)
    if na == 0 or nb == 0:
        raise ValueError("cosine similarity with a zero vector is undefined")
    return dot_algebraic(a, b) / (na * nb)


def projection(a: Vector, b: Vector) -> list[float]:
    """The part of a along b: (a·b / b·b) b, the shadow a casts on b's line."""
    bb = dot_algebraic(b, b)
    if bb == 0:
        raise ValueError("cannot project onto the zero vector")
    scale = dot_algebraic(a, b) / bb
    return [scale * bi for bi in b]


def norm(x: Vector, p: float) -> float:
    """|x|_p = (Σ|xᵢ|^p)^(1/p); p = inf gives maxᵢ|xᵢ| (the limit as p grows)."""
    if p == math.inf:
        return max((abs(v) for v in x), default=0.0)
    if p == 2:
        return l2(x)
    if p < 1:
        raise ValueError("p < 1 is not a norm (the triangle inequality fails)")
    m = max((abs(v) for v in x), default=0.0)
    if m == 0:
        return 0.0
    # factor out the largest |xᵢ| so |xᵢ/m|^p stays in [0, 1]: no overflow for large p or values
    return m * math.fsum((abs(v) / m) ** p for v in x) ** (1 / p)


def frobenius(A: Sequence[Vector]) -> float:
    """|A|_F = √Σᵢⱼ Aᵢⱼ²: the L2 norm of the matrix read as one long vector."""
    return l2([v for row in A for v in row])


def norms(x: Vector) -> dict[str, float]:
    return {"l1": norm(x, 1), "l2": norm(x, 2), "linf": norm(x, math.inf)}


def cosine_report(a: Vector, b: Vector) -> dict:
    """Both views of a·b, the angle, and how far apart the two views came out."""
    alg, geo = dot_algebraic(a, b), dot_geometric(a, b)
    theta = angle_from_lengths(a, b)
    return {"dot_algebraic": alg, "dot_geometric": geo, "norm_a": l2(a), "norm_b": l2(b),
            "cosine": cosine(a, b), "angle_deg": math.degrees(theta), "projection_of_a_on_b": projection(a, b),
            "identity_error": abs(alg - geo)}
