"""sampling.py against Hugging Face's logits warpers and torch.softmax on random logits."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers.generation.logits_process import (
    TemperatureLogitsWarper,
    TopKLogitsWarper,
    TopPLogitsWarper,
)

from labs.lab05_patterns.sampling import (
    SamplingError,
    SamplingParams,
    apply_penalties,
    distribution,
    entropy_bits,
    sample,
    softmax,
)


def reference(z: np.ndarray, temperature: float, top_k: int | None, top_p: float,
              counts: np.ndarray | None = None, alpha_freq: float = 0.0, alpha_pres: float = 0.0) -> np.ndarray:
    scores = torch.tensor(z, dtype=torch.float64)[None, :]
    if counts is not None:  # the OpenAI penalties, written in torch (transformers has only the multiplicative one)
        c = torch.tensor(counts, dtype=torch.float64)[None, :]
        scores = scores - alpha_freq * c - alpha_pres * (c > 0).to(torch.float64)
    ids = torch.zeros((1, 1), dtype=torch.long)
    scores = TemperatureLogitsWarper(temperature)(ids, scores)
    if top_k is not None:
        scores = TopKLogitsWarper(top_k)(ids, scores)
    if top_p < 1:
        scores = TopPLogitsWarper(top_p)(ids, scores)
    return torch.softmax(scores, dim=-1)[0].numpy()


@pytest.mark.parametrize("seed", range(40))
def test_matches_transformers_warpers(seed):
    rng = np.random.default_rng(seed)
    v = int(rng.integers(2, 60))
    z = rng.normal(0, 3, v)
    temperature = float(rng.uniform(0.1, 2.5))
    top_k = int(rng.integers(1, v + 1)) if rng.random() < 0.5 else None
    top_p = float(rng.uniform(0.05, 1.0)) if rng.random() < 0.7 else 1.0
    ours = distribution(z, SamplingParams(temperature, top_k, top_p))
    np.testing.assert_allclose(ours, reference(z, temperature, top_k, top_p), atol=1e-9)


@pytest.mark.parametrize("seed", range(20))
def test_penalties_then_warpers_match_the_torch_reference(seed):
    rng = np.random.default_rng(100 + seed)
    v = int(rng.integers(2, 40))
    z, counts = rng.normal(0, 2, v), rng.integers(0, 5, v) * (rng.random(v) < 0.4)
    freq, pres = float(rng.uniform(-2, 2)), float(rng.uniform(-2, 2))
    temperature, top_p = float(rng.uniform(0.2, 2.0)), float(rng.uniform(0.1, 1.0))
    top_k = int(rng.integers(1, v + 1))
    ours = distribution(z, SamplingParams(temperature, top_k, top_p, freq, pres), counts)
    np.testing.assert_allclose(ours, reference(z, temperature, top_k, top_p, counts, freq, pres), atol=1e-9)


@pytest.mark.parametrize("logits, temperature", [([1e308, -1e308], 0.5), ([1e308, 1e308, 0.0], 0.01),
                                                 ([1.0, 2.0], 5e-324), ([3.0, 3.0, 1.0], 1e-300)])
def test_tiny_temperatures_and_huge_logits_tend_to_greedy_without_overflow(logits, temperature):
    probs = distribution(logits, SamplingParams(temperature))
    best = np.flatnonzero(np.asarray(logits) == max(logits))
    np.testing.assert_allclose(probs[best], 1 / len(best))
    assert probs.sum() == pytest.approx(1.0)


def test_softmax_matches_torch_and_survives_huge_logits():
    z = np.array([1000.0, 999.0, -5.0])
    np.testing.assert_allclose(softmax(z), torch.softmax(torch.tensor(z), 0).numpy(), atol=1e-12)


def test_penalties_follow_the_openai_formula():
    rng = np.random.default_rng(3)
    z, counts = rng.normal(size=20), rng.integers(0, 4, 20)
    out = apply_penalties(z, counts, 0.5, 0.7)
    np.testing.assert_allclose(out, z - 0.5 * counts - 0.7 * (counts > 0))
    unseen = counts == 0
    np.testing.assert_array_equal(out[unseen], z[unseen])


def test_temperature_zero_is_greedy_and_low_temperature_sharpens():
    z = [0.1, 2.0, 1.9]
    assert distribution(z, SamplingParams(temperature=0)).tolist() == [0.0, 1.0, 0.0]
    cold, hot = distribution(z, SamplingParams(0.2)), distribution(z, SamplingParams(5.0))
    assert entropy_bits(cold) < entropy_bits(hot)


def test_presence_penalty_can_flip_the_argmax():
    z, counts = [2.0, 1.5], [3, 0]
    assert distribution(z, SamplingParams(temperature=0)).argmax() == 0
    assert distribution(z, SamplingParams(temperature=0, presence_penalty=1.0), counts).argmax() == 1


def test_sampling_frequencies_match_the_distribution():
    probs = distribution([1.0, 0.0, -1.0], SamplingParams(1.0))
    rng = np.random.default_rng(0)
    draws = np.bincount([sample(probs, rng) for _ in range(20000)], minlength=3) / 20000
    np.testing.assert_allclose(draws, probs, atol=0.015)


@pytest.mark.parametrize("params", [SamplingParams(temperature=-0.1), SamplingParams(top_p=0.0),
                                    SamplingParams(top_p=1.01), SamplingParams(top_k=0),
                                    SamplingParams(frequency_penalty=3)])
def test_invalid_params_raise(params):
    with pytest.raises(SamplingError):
        distribution([1.0, 2.0], params)


def test_non_finite_logits_raise():
    with pytest.raises(SamplingError):
        distribution([1.0, float("nan")])
