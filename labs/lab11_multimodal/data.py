"""The bundled data: scikit-learn's 8x8 digits with captions made from their labels and ink.

    python -m labs.lab11_multimodal.data      # a few images with their captions

Each image is scaled to [0, 1] (the digits ship as 0..16). A caption names the digit (as a word or a
numeral) and, for some templates, an attribute measured on the image itself: "thick" or "thin" by the
amount of ink compared with the other images of the same digit. The split is fixed (seeded) so every
run, test and README example talks about the same held-out images.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from sklearn.datasets import load_digits

WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
TEMPLATES = ["a photo of the digit {word}", "a handwritten {word}", "the number {num}",
             "a {ink} handwritten {word}", "a {ink} digit {num}", "{word}"]
PROMPT = "a photo of the digit {word}"  # the zero-shot prompt: one caption per class
TOKEN = re.compile(r"[a-z]+|\d")
VOCAB = ["<pad>", "<unk>", "a", "photo", "of", "the", "digit", "handwritten", "number", "thick", "thin",
         *WORDS, *[str(d) for d in range(10)]]
STOI = {w: i for i, w in enumerate(VOCAB)}
MAX_TOKENS = 8


@dataclass(frozen=True)
class Digits:
    images: np.ndarray   # (n, 8, 8) float32 in [0, 1]
    labels: np.ndarray   # (n,) int64
    ink: np.ndarray      # (n,) "thick" = 1, "thin" = 0, relative to the digit's median ink
    train: np.ndarray    # indices
    test: np.ndarray


@lru_cache(maxsize=1)
def digits() -> Digits:
    bunch = load_digits()
    images = (bunch.images / 16.0).astype(np.float32)
    labels = bunch.target.astype(np.int64)
    total = images.reshape(len(images), -1).sum(1)
    medians = np.array([np.median(total[labels == d]) for d in range(10)])
    ink = (total > medians[labels]).astype(np.int64)
    order = np.random.default_rng(0).permutation(len(images))
    n_test = 360
    return Digits(images, labels, ink, np.sort(order[n_test:]), np.sort(order[:n_test]))


def caption(label: int, ink: int, template: int) -> str:
    return TEMPLATES[template].format(word=WORDS[label], num=label, ink="thick" if ink else "thin")


def prompts() -> list[str]:
    return [PROMPT.format(word=w) for w in WORDS]


def tokenize(texts: list[str]) -> np.ndarray:
    """Lower-case words and single digits -> ids, padded (0) or cut to MAX_TOKENS; unknown words -> 1."""
    out = np.zeros((len(texts), MAX_TOKENS), dtype=np.int64)
    for i, text in enumerate(texts):
        ids = [STOI.get(t, 1) for t in TOKEN.findall(text.lower())][:MAX_TOKENS]
        out[i, : len(ids)] = ids
    return out


def known_tokens(text: str) -> int:
    return sum(t in STOI for t in TOKEN.findall(text.lower()))


if __name__ == "__main__":
    d = digits()
    print(f"{len(d.images)} digits, {len(d.train)} train / {len(d.test)} test")
    for i in d.test[:5]:
        print(i, d.labels[i], [caption(int(d.labels[i]), int(d.ink[i]), t) for t in (0, 3)])
