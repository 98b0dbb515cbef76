"""Weight initialisation: Xavier, He, PyTorch's Linear default, GPT-2's residual scaling.

    python -m labs.lab04_dl.init            # activation std through 24 ReLU layers of width 512

A layer y = W x with W ~ (0, σ²) and fan_in inputs gives Var(y) = fan_in σ² Var(x): the std of the
signal is multiplied by √fan_in σ per layer, so across depth it explodes or dies unless that factor
is 1 for the activation in use.

    Xavier / Glorot   σ² = 2 / (fan_in + fan_out)        (uniform: ±√(6 / (fan_in + fan_out)))
    He / Kaiming      σ² = 2 / fan_in                    (ReLU zeroes half the signal, so ×2)
    torch Linear      U(±1/√fan_in), σ² = 1 / (3 fan_in)  (kaiming_uniform with a = √5)
    GPT-2             σ = 0.02, and the projections that write into the residual stream × 1/√(2L)

Here fan_in is W's second dimension, as torch.nn.Linear stores W as (out, in).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from shared.plots import OUTSIDE, png

SCHEMES = ("xavier", "he", "torch_default")


def fans(shape: tuple[int, int]) -> tuple[int, int]:
    fan_out, fan_in = shape
    return fan_in, fan_out


def xavier_std(shape: tuple[int, int], gain: float = 1.0) -> float:
    fan_in, fan_out = fans(shape)
    return gain * math.sqrt(2.0 / (fan_in + fan_out))


def xavier_bound(shape: tuple[int, int], gain: float = 1.0) -> float:
    return math.sqrt(3.0) * xavier_std(shape, gain)  # a uniform on ±a has std a/√3


def he_std(shape: tuple[int, int]) -> float:
    return math.sqrt(2.0 / fans(shape)[0])


def torch_default_bound(shape: tuple[int, int]) -> float:
    """kaiming_uniform_(a=√5): gain √(2/(1+a²)) = √(1/3), bound = gain·√(3/fan_in) = 1/√fan_in."""
    return 1.0 / math.sqrt(fans(shape)[0])


def gpt2_std(n_layers: int, residual_proj: bool = True, base: float = 0.02) -> float:
    """0.02, divided by √(2L) for the two projections per block that add into the residual stream."""
    return base / math.sqrt(2 * n_layers) if residual_proj else base


def sample(scheme: str, shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """Draw W (float32) with the scheme's σ or bound."""
    if scheme == "xavier":
        return rng.standard_normal(shape, dtype=np.float32) * np.float32(xavier_std(shape))
    if scheme == "he":
        return rng.standard_normal(shape, dtype=np.float32) * np.float32(he_std(shape))
    if scheme == "torch_default":
        b = np.float32(torch_default_bound(shape))
        return (rng.random(shape, dtype=np.float32) * 2 - 1) * b
    raise ValueError(f"unknown init {scheme!r}; choose from {', '.join(SCHEMES)}")


def depth_stds(scheme: str, depth: int = 24, width: int = 512, batch: int = 64, seed: int = 0) -> list[float]:
    """The std of the activations after each of `depth` Linear + ReLU layers, input ~ N(0, 1).

    Biases are zero, except for torch's default, which draws them from U(±1/√fan_in) as nn.Linear does
    (they are what keeps its signal from vanishing entirely: each layer adds a little fresh variance).
    """
    rng = np.random.default_rng(seed)
    h = rng.normal(size=(batch, width)).astype(np.float32)
    stds = []
    for _ in range(depth):
        W = sample(scheme, (width, width), rng).astype(np.float32)
        b = (rng.uniform(-1, 1, width) * torch_default_bound((width, width)) if scheme == "torch_default"
             else np.zeros(width)).astype(np.float32)
        h = np.maximum(h @ W.T + b, 0)
        stds.append(float(h.std()))
    return stds


def residual_stream_stds(n_layers: int = 24, width: int = 256, scaled: bool = True, batch: int = 128,
                         seed: int = 0) -> list[float]:
    """The residual stream's std after each block h ← h + ReLU(h W_inᵀ) W_outᵀ, GPT-2 style init:
    W_in ~ N(0, 0.02²), W_out ~ N(0, (0.02/√(2L))²) when scaled, N(0, 0.02²) when not. Each block adds
    its variance to the stream, so without the 1/√(2L) the stream's variance grows L times faster."""
    rng = np.random.default_rng(seed)
    h = rng.normal(size=(batch, width)).astype(np.float32)
    stds = []
    for _ in range(n_layers):
        W_in = rng.normal(0, gpt2_std(n_layers, residual_proj=False), (4 * width, width)).astype(np.float32)
        W_out = rng.normal(0, gpt2_std(n_layers, residual_proj=scaled), (width, 4 * width)).astype(np.float32)
        h = h + np.maximum(h @ W_in.T, 0) @ W_out.T
        stds.append(float(h.std()))
    return stds


def depth_table(depth: int = 24, width: int = 512, seed: int = 0) -> dict[str, Any]:
    return {s: {"stds": (stds := depth_stds(s, depth, width, seed=seed)), "last": stds[-1]} for s in SCHEMES}


def plot_depth(table: dict[str, Any]) -> bytes:

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4))
    for name, r in table.items():
        ax.semilogy(range(1, len(r["stds"]) + 1), r["stds"], marker=".", label=f"{name} (last {r['last']:.3g})")
    ax.set_xlabel("ReLU layer")
    ax.set_ylabel("activation std")
    ax.set_title("Activation std through depth, by initialisation")
    ax.legend(fontsize=8, **OUTSIDE)  # the request's depth and width decide where the curves run
    return png(fig, dpi=110)


def torch_reference(scheme: str, shape: tuple[int, int], seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(torch.nn.init's tensor, the same RNG stream drawn with our σ or bound): equal iff our formula is."""
    ref, ours = torch.empty(shape), torch.empty(shape)
    torch.manual_seed(seed)
    if scheme == "xavier":
        torch.nn.init.xavier_normal_(ref)
        torch.manual_seed(seed)
        ours.normal_(0, xavier_std(shape))
    elif scheme == "xavier_uniform":
        torch.nn.init.xavier_uniform_(ref)
        torch.manual_seed(seed)
        ours.uniform_(-xavier_bound(shape), xavier_bound(shape))
    elif scheme == "he":
        torch.nn.init.kaiming_normal_(ref, nonlinearity="relu")
        torch.manual_seed(seed)
        ours.normal_(0, he_std(shape))
    elif scheme == "torch_default":
        ref = torch.nn.Linear(shape[1], shape[0], bias=False).weight.data
        torch.manual_seed(seed)
        ours.uniform_(-torch_default_bound(shape), torch_default_bound(shape))
    else:
        raise ValueError(scheme)
    return ref, ours


if __name__ == "__main__":
    table = depth_table()
    print("activation std after each of 24 ReLU layers of width 512 (input std 1):")
    for name, r in table.items():
        print(f"  {name:<14} layer 1: {r['stds'][0]:.3f}   layer 12: {r['stds'][11]:.3g}   layer 24: {r['last']:.3g}")
    for scaled in (False, True):
        stds = residual_stream_stds(scaled=scaled)
        print(f"GPT-2 residual stream, 24 blocks, W_out std {'0.02/√48' if scaled else '0.02'}: "
              f"std {stds[0]:.3f} after block 1, {stds[-1]:.3f} after block 24")
