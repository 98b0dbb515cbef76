"""Tensors with named axes: an attention layer walked through with the shape at every step.

    curl -s localhost:8001/tensors/attention -H 'content-type: application/json' -d '{"B": 2, "S": 5, "H": 8, "heads": 2}'
    python -m labs.lab01_math.exercises        # (the MLP shape walk-through)

    B batch, S sequence length, H hidden size, h heads, d = H / h per head
    Q = X W_q, K = X W_k, V = X W_v                     (B, S, H) @ (H, H) -> (B, S, H)
    split heads: (B, S, H) -> (B, S, h, d) -> (B, h, S, d)
    scores = Q Kᵀ / √d                                   (B, h, S, d) @ (B, h, d, S) -> (B, h, S, S)
    weights = softmax(scores + causal mask) over the last axis
    out = weights V, heads merged, then W_o              (B, h, S, d) -> (B, S, H)

Matmul on tensors multiplies the last two axes and broadcasts the rest, so every leading axis is a
batch of independent matrices. The walk below runs each step on real tensors and records the shape
it produced; the tests hold its output to torch's scaled_dot_product_attention.
"""

from __future__ import annotations

import math

import torch


def _step(steps: list[dict], name: str, formula: str, t: torch.Tensor, axes: str) -> torch.Tensor:
    steps.append({"step": name, "formula": formula, "shape": list(t.shape), "axes": axes})
    return t


def attention_walk(B: int, S: int, H: int, heads: int, causal: bool = True, seed: int = 0) -> dict:
    """Multi-head self-attention on random inputs; every intermediate's shape, and the output."""
    if H % heads:
        raise ValueError(f"H = {H} must be divisible by heads = {heads} (each head gets H / heads features)")
    d = H // heads
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(B, S, H, generator=g, dtype=torch.float64)
    W = {k: torch.randn(H, H, generator=g, dtype=torch.float64) / math.sqrt(H) for k in ("q", "k", "v", "o")}
    steps: list[dict] = []
    _step(steps, "input", "X", X, "(B, S, H)")
    Q = _step(steps, "queries", "Q = X W_q", X @ W["q"], "(B, S, H)")
    K = _step(steps, "keys", "K = X W_k", X @ W["k"], "(B, S, H)")
    V = _step(steps, "values", "V = X W_v", X @ W["v"], "(B, S, H)")

    def split(t: torch.Tensor) -> torch.Tensor:
        return t.view(B, S, heads, d).transpose(1, 2)

    _step(steps, "split heads", "Q.view(B, S, h, d)", Q.view(B, S, heads, d), "(B, S, h, d)")
    Qh = _step(steps, "heads first", "Q.transpose(1, 2)", split(Q), "(B, h, S, d)")
    Kh, Vh = split(K), split(V)
    Kt = _step(steps, "keys transposed", "Kᵀ = K.transpose(-2, -1)", Kh.transpose(-2, -1), "(B, h, d, S)")
    scores = _step(steps, "scores", "Q Kᵀ / √d", Qh @ Kt / math.sqrt(d), "(B, h, S, S)")
    if causal:
        mask = torch.triu(torch.ones(S, S, dtype=torch.bool), diagonal=1)  # position i may not see j > i
        scores = _step(steps, "causal mask", "scores[j > i] = −inf", scores.masked_fill(mask, -math.inf),
                       "(B, h, S, S)")
    A = _step(steps, "attention weights", "softmax over the last axis (rows sum to 1)", scores.softmax(-1),
              "(B, h, S, S)")
    Z = _step(steps, "mix values", "A V", A @ Vh, "(B, h, S, d)")
    merged = _step(steps, "merge heads", "transpose(1, 2).reshape(B, S, H)", Z.transpose(1, 2).reshape(B, S, H),
                   "(B, S, H)")
    Y = _step(steps, "output", "Y = merged W_o", merged @ W["o"], "(B, S, H)")
    return {"B": B, "S": S, "H": H, "heads": heads, "d_head": d, "causal": causal, "steps": steps,
            "parameters": 4 * H * H, "score_entries": B * heads * S * S,
            "tensors": {"X": X, "W": W, "Y": Y, "A": A}}


def attention_reference(walk: dict) -> torch.Tensor:
    """The same layer through torch's fused kernel, for comparison."""
    t = walk["tensors"]
    X, W = t["X"], t["W"]
    B, S, H, h = walk["B"], walk["S"], walk["H"], walk["heads"]

    def split(z: torch.Tensor) -> torch.Tensor:
        return z.view(B, S, h, H // h).transpose(1, 2)

    Z = torch.nn.functional.scaled_dot_product_attention(split(X @ W["q"]), split(X @ W["k"]), split(X @ W["v"]),
                                                         is_causal=walk["causal"])
    return Z.transpose(1, 2).reshape(B, S, H) @ W["o"]


def mlp_walk(batch: int, sizes: list[int], seed: int = 0) -> dict:
    """An MLP x -> Linear -> ReLU -> ... -> Linear on a real batch: shapes, parameters, FLOPs per layer.

    A Linear layer from n to m holds W (m, n) and b (m,); on a batch (N, n) it computes x Wᵀ + b,
    (N, n) @ (n, m) -> (N, m), at 2·N·n·m FLOPs (one multiply and one add per term).
    """
    if len(sizes) < 2:
        raise ValueError("sizes needs at least an input and an output size")
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, sizes[0], generator=g)
    layers, total = [{"layer": "input", "shape": list(x.shape)}], 0
    for i, (n, m) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        lin = torch.nn.Linear(n, m)
        params = sum(p.numel() for p in lin.parameters())
        with torch.no_grad():
            x = lin(x)
        total += params
        layers.append({"layer": f"linear{i + 1}", "W": [m, n], "b": [m],
                       "matmul": f"({batch}, {n}) @ ({n}, {m}) -> ({batch}, {m})", "shape": list(x.shape),
                       "parameters": params, "formula": f"{n}·{m} + {m}", "flops": 2 * batch * n * m})
        if i < len(sizes) - 2:
            x = torch.relu(x)
            layers.append({"layer": f"relu{i + 1}", "shape": list(x.shape), "parameters": 0})
    return {"batch": batch, "sizes": sizes, "layers": layers, "parameters": total,
            "parameters_formula": " + ".join(f"({n}·{m} + {m})" for n, m in zip(sizes[:-1], sizes[1:], strict=True)),
            "output_shape": list(x.shape)}
