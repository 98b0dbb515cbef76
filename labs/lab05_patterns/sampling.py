"""Sampling from logits: penalties, temperature, top-k, top-p, derived from softmax.

    curl -s localhost:8005/sampling -H 'content-type: application/json' \
      -d '{"logits": [2.0, 1.0, 0.5, -1.0], "temperature": 0.7, "top_p": 0.9}'

Given logits z over a vocabulary and the counts c_i of each token already generated:

    z_i' = z_i - alpha_freq * c_i - alpha_pres * [c_i > 0]        (frequency / presence penalties)
    p_i  = exp(z_i' / T) / sum_j exp(z_j' / T)                     (temperature T; T -> 0 is argmax)
    top-k: keep the k largest z_i', renormalise
    top-p: sort p descending, keep the smallest prefix whose mass reaches p, renormalise

The order (penalties, temperature, top-k, top-p) is the one Hugging Face's logits processors and
the hosted APIs apply; the test checks this module against transformers' warpers on random logits.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


class SamplingError(ValueError):
    """A sampling parameter outside its domain (the service answers 422)."""


@dataclass(frozen=True)
class SamplingParams:
    temperature: float = 1.0
    top_k: int | None = None
    top_p: float = 1.0
    frequency_penalty: float = 0.0
    presence_penalty: float = 0.0

    def check(self) -> SamplingParams:
        if not np.isfinite(self.temperature) or self.temperature < 0:
            raise SamplingError("temperature must be >= 0")
        if not 0 < self.top_p <= 1:
            raise SamplingError("top_p must be in (0, 1]")
        if self.top_k is not None and self.top_k < 1:
            raise SamplingError("top_k must be >= 1")
        for name in ("frequency_penalty", "presence_penalty"):
            if not -2 <= getattr(self, name) <= 2:
                raise SamplingError(f"{name} must be in [-2, 2]")
        return self


def softmax(z: np.ndarray) -> np.ndarray:
    """exp(z - max z) / sum: subtracting the max changes nothing mathematically and avoids overflow."""
    z = np.asarray(z, dtype=np.float64)
    finite = np.isfinite(z)
    out = np.zeros_like(z)
    shifted = z[finite] - z[finite].max()
    e = np.exp(shifted)
    out[finite] = e / e.sum()
    return out


def apply_penalties(z: np.ndarray, counts: np.ndarray, alpha_freq: float, alpha_pres: float) -> np.ndarray:
    counts = np.asarray(counts, dtype=np.float64)
    return np.asarray(z, dtype=np.float64) - alpha_freq * counts - alpha_pres * (counts > 0)


def top_k_mask(z: np.ndarray, k: int) -> np.ndarray:
    """Logits with all but the k largest set to -inf (ties at the k-th value are kept)."""
    if k >= z.size:
        return z
    kth = np.sort(z)[-k]
    return np.where(z >= kth, z, -np.inf)


def top_p_mask(z: np.ndarray, p: float) -> np.ndarray:
    """Nucleus: keep the most probable tokens until their mass reaches p (always at least one)."""
    probs = softmax(z)
    order = np.argsort(-probs, kind="stable")
    mass_before = np.cumsum(probs[order]) - probs[order]
    keep = np.zeros(z.size, dtype=bool)
    keep[order[mass_before < p]] = True
    keep[order[0]] = True
    return np.where(keep, z, -np.inf)


def distribution(logits, params: SamplingParams = SamplingParams(), counts=None) -> np.ndarray:
    """The probability of each token under these sampling settings."""
    params.check()
    z = np.asarray(logits, dtype=np.float64)
    if z.ndim != 1 or z.size == 0 or not np.isfinite(z).all():
        raise SamplingError("logits must be a non-empty list of finite numbers")
    if counts is not None:
        z = apply_penalties(z, np.asarray(counts), params.frequency_penalty, params.presence_penalty)
    if params.temperature == 0:
        greedy = np.zeros_like(z)
        greedy[int(np.argmax(z))] = 1.0
        return greedy
    # shift by the max first: softmax, top-k and top-p are unchanged by it, and z / T can no longer
    # overflow to +inf when T is tiny or the logits huge (the max becomes 0, the rest at most -inf)
    with np.errstate(over="ignore"):
        z = (z - z.max()) / params.temperature
    if params.top_k is not None:
        z = top_k_mask(z, params.top_k)
    if params.top_p < 1:
        z = top_p_mask(z, params.top_p)
    return softmax(z)


def sample(probs: np.ndarray, rng: np.random.Generator) -> int:
    """Inverse-CDF draw: the first index whose cumulative probability exceeds u ~ U(0, 1)."""
    cdf = np.cumsum(probs)
    return int(min(np.searchsorted(cdf, rng.random() * cdf[-1], side="right"), len(probs) - 1))


def entropy_bits(probs: np.ndarray) -> float:
    nz = probs[probs > 0]
    return float(-(nz * np.log2(nz)).sum())
