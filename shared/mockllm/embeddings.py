"""Deterministic embeddings: hashed character n-grams (3 to 5) and words, signed, L2-normalized.

    python -c "from shared.mockllm.embeddings import embed_text; import numpy as np; \
a, b = embed_text('reset my password', 64), embed_text('password reset', 64); print(round(float(np.dot(a, b)), 2))"

Texts that share many character n-grams get a high cosine, so lexically similar texts are near:
enough for demos of vector search plumbing, not a semantic model (lab-06 uses MiniLM for that).
"""

from __future__ import annotations

import hashlib
import re
from functools import lru_cache

import numpy as np

_WORD = re.compile(r"\w+", re.UNICODE)


def _features(text: str) -> list[str]:
    text = " ".join(_WORD.findall(text.lower()))
    padded = f" {text} "
    grams = [padded[i:i + n] for n in (3, 4, 5) for i in range(max(len(padded) - n + 1, 0))]
    return grams + [f"w:{w}" for w in text.split()]


@lru_cache(maxsize=50_000)
def embed_text(text: str, dim: int = 256) -> list[float]:
    vec = np.zeros(dim, dtype=np.float64)
    for feat in _features(text):
        h = int.from_bytes(hashlib.blake2b(feat.encode(), digest_size=8).digest(), "little")
        vec[h % dim] += 1.0 if (h >> 63) & 1 else -1.0
    norm = np.linalg.norm(vec)
    if norm == 0:
        vec[0] = 1.0
        norm = 1.0
    return (vec / norm).round(7).tolist()
