"""Init formulas vs torch.nn.init (same RNG stream, bit-identical); the activation-std table."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from labs.lab04_dl import init


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("scheme", ["xavier", "xavier_uniform", "he", "torch_default"])
def test_formula_equals_torch_init(scheme, seed):
    rng = np.random.default_rng(seed)
    shape = (int(rng.integers(1, 300)), int(rng.integers(1, 300)))
    ref, ours = init.torch_reference(scheme, shape, seed)
    assert torch.equal(ref, ours)


@pytest.mark.parametrize("scheme", init.SCHEMES)
def test_numpy_sampler_has_the_formula_std(scheme):
    shape = (400, 300)
    W = init.sample(scheme, shape, np.random.default_rng(0))
    expected = {"xavier": init.xavier_std(shape), "he": init.he_std(shape),
                "torch_default": init.torch_default_bound(shape) / np.sqrt(3)}[scheme]
    assert W.std() == pytest.approx(expected, rel=0.02)


def test_depth_table_he_keeps_the_signal_and_defaults_shrink_it():
    table = init.depth_table(depth=24, width=256)
    assert 0.3 < table["he"]["last"] < 1.5
    assert table["xavier"]["last"] < 0.01
    assert table["torch_default"]["last"] < 0.05


def test_gpt2_residual_scaling():
    assert init.gpt2_std(24) == pytest.approx(0.02 / np.sqrt(48))
    unscaled = init.residual_stream_stds(12, 64, scaled=False)[-1]
    scaled = init.residual_stream_stds(12, 64, scaled=True)[-1]
    assert scaled < unscaled


def test_unknown_scheme():
    with pytest.raises(ValueError):
        init.sample("lecun", (2, 2), np.random.default_rng(0))
