"""The bundled data: scikit-learn's 8x8 digits with captions made from their labels and ink.

    python -m labs.lab11_multimodal.data      # a few images with their captions

Each image is scaled to [0, 1] (the digits ship as 0..16). A caption names the digit (as a word or a
numeral) and, for some templates, an attribute measured on the image itself: "thick" or "thin" by the
amount of ink compared with the other images of the same digit. The split is fixed (seeded) so every
run, test and README example talks about the same held-out images.
"""

from __future__ import annotations

import base64
import binascii
import io
import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import Image, UnidentifiedImageError
from sklearn.datasets import load_digits

from labs.lab11_multimodal.vit import resize

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


MAX_SIDE = 4096
MODES = {"1", "L", "LA", "P", "RGB", "RGBA"}


class ImageError(ValueError):
    """An image the service cannot use (a 4xx)."""


def image_from_base64(text: str) -> np.ndarray:
    """A base64 PNG/JPEG -> an 8x8 digit in [0, 1], ink bright on dark like the training set.

    Photos of digits are usually dark ink on white paper: when the border is brighter than the
    centre the image is inverted, so both conventions work.
    """
    try:
        blob = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ImageError(f"image is not valid base64: {exc}") from exc
    try:
        with Image.open(io.BytesIO(blob)) as img:
            w, h = img.size
            if w == 0 or h == 0:
                raise ImageError("image is empty (0 pixels)")
            if w > MAX_SIDE or h > MAX_SIDE:
                raise ImageError(f"image is {w}x{h}; at most {MAX_SIDE}x{MAX_SIDE}")
            if img.mode not in MODES:
                raise ImageError(f"image mode {img.mode} is not supported; send {', '.join(sorted(MODES))}")
            img = img.convert("RGBA")
            rgba = np.asarray(img, dtype=np.float64) / 255.0
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError, SyntaxError) as exc:
        raise ImageError(f"image could not be decoded: {exc}") from exc
    alpha = rgba[..., 3]
    gray = (rgba[..., :3] @ np.array([0.299, 0.587, 0.114])) * alpha + (1 - alpha)  # transparent -> paper
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]]).mean()
    if border > gray.mean():
        gray = 1 - gray
    small = resize(gray, 8, 8)
    span = small.max() - small.min()
    return ((small - small.min()) / span if span > 0 else np.zeros_like(small)).astype(np.float32)


def png_base64(image: np.ndarray) -> str:
    """An image in [0, 1] as a base64 grayscale PNG (what a client sends to /clip/classify)."""
    buf = io.BytesIO()
    Image.fromarray((np.clip(image, 0, 1) * 255).astype(np.uint8), mode="L").save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


if __name__ == "__main__":
    d = digits()
    print(f"{len(d.images)} digits, {len(d.train)} train / {len(d.test)} test")
    for i in d.test[:5]:
        print(i, d.labels[i], [caption(int(d.labels[i]), int(d.ink[i]), t) for t in (0, 3)])
