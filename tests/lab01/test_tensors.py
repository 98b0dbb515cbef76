"""The attention walk against torch's scaled_dot_product_attention; MLP shapes and parameter counts."""

from __future__ import annotations

import pytest
import torch

from labs.lab01_math import tensors


@pytest.mark.parametrize("B,S,H,heads,causal", [(1, 1, 4, 1, True), (2, 5, 8, 2, True), (3, 7, 12, 3, False),
                                                (2, 16, 32, 8, True), (4, 3, 6, 6, False)])
def test_attention_walk_matches_sdpa(B, S, H, heads, causal):
    w = tensors.attention_walk(B, S, H, heads, causal, seed=B * 100 + S)
    ref = tensors.attention_reference(w)
    torch.testing.assert_close(w["tensors"]["Y"], ref, atol=1e-10, rtol=1e-10)
    shapes = {s["step"]: s["shape"] for s in w["steps"]}
    d = H // heads
    assert shapes["heads first"] == [B, heads, S, d]
    assert shapes["scores"] == [B, heads, S, S]
    assert shapes["output"] == [B, S, H]
    A = w["tensors"]["A"]
    torch.testing.assert_close(A.sum(-1), torch.ones(B, heads, S, dtype=A.dtype))
    if causal:
        assert float(A.triu(diagonal=1).abs().max()) == 0.0  # no position attends to a later one


def test_heads_must_divide_H():
    with pytest.raises(ValueError, match="divisible"):
        tensors.attention_walk(1, 2, 10, 3)


@pytest.mark.parametrize("sizes", [[4, 3], [784, 256, 10], [5, 7, 7, 2, 9]])
def test_mlp_walk_counts_parameters_like_torch(sizes):
    r = tensors.mlp_walk(6, sizes)
    layers = [torch.nn.Linear(n, m) for n, m in zip(sizes[:-1], sizes[1:], strict=True)]
    assert r["parameters"] == sum(p.numel() for layer in layers for p in layer.parameters())
    assert r["output_shape"] == [6, sizes[-1]]
    assert sum(1 for layer in r["layers"] if layer["layer"].startswith("relu")) == len(sizes) - 2
