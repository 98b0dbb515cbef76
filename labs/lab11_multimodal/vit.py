"""ViT patch arithmetic, the image transforms and a patch embedding (strided conv = unfold + linear).

    curl -s localhost:8011/vit/patches -d '{"height": 224, "width": 224, "patch": 16}'

    tokens = (H // P) * (W // P) + 1          (the +1 is the CLS token; edges that do not fill a
                                               whole patch are cropped, as a stride-P conv does)
    values per patch = P * P * C              (the length of one flattened patch before projection)

A patch embedding is one linear map applied to every non-overlapping P x P patch. Written as a
Conv2d with kernel = stride = P, or as "cut into patches (unfold), flatten, multiply by W": the same
numbers, which `embed_by_unfold` and the tests show on random weights and images.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
from sklearn.datasets import load_sample_images
from torch import nn


def patch_count(height: int, width: int, patch: int, channels: int = 3, cls: bool = True) -> dict:
    if min(height, width, patch, channels) <= 0:
        raise ValueError("height, width, patch and channels must be positive")
    if patch > min(height, width):
        raise ValueError(f"patch {patch} is larger than the image ({height}x{width})")
    rows, cols = height // patch, width // patch
    return {"height": height, "width": width, "patch": patch, "channels": channels,
            "grid": [rows, cols], "patches": rows * cols, "tokens": rows * cols + int(cls),
            "values_per_patch": patch * patch * channels,
            "cropped_pixels": height * width - rows * cols * patch * patch,
            "attention_pairs": (rows * cols + int(cls)) ** 2}


# --- transforms: what a ViT/CLIP preprocessor does, written out -------------------------------------

def resize_bilinear(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bilinear resize of (H, W) or (H, W, C), pixel centres aligned (align_corners=False, no antialias).

    Output pixel i samples the input at x = (i + 0.5) * in / out - 0.5, clamped to the image, and
    mixes its two neighbours by the fractional part.
    """
    img = np.asarray(image, dtype=np.float64)
    squeeze = img.ndim == 2
    if squeeze:
        img = img[:, :, None]
    h, w = img.shape[:2]

    def axis(n_out: int, n_in: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        x = np.clip((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0, n_in - 1)
        lo = np.floor(x).astype(int)
        hi = np.minimum(lo + 1, n_in - 1)
        return lo, hi, x - lo

    y0, y1, fy = axis(height, h)
    x0, x1, fx = axis(width, w)
    top = img[y0][:, x0] * (1 - fx)[None, :, None] + img[y0][:, x1] * fx[None, :, None]
    bottom = img[y1][:, x0] * (1 - fx)[None, :, None] + img[y1][:, x1] * fx[None, :, None]
    out = top * (1 - fy)[:, None, None] + bottom * fy[:, None, None]
    return out[:, :, 0] if squeeze else out


def box_downsample(image: np.ndarray, factor: int) -> np.ndarray:
    """Average factor x factor blocks: the antialiasing step before a large reduction."""
    img = np.asarray(image, dtype=np.float64)
    h, w = (img.shape[0] // factor) * factor, (img.shape[1] // factor) * factor
    img = img[:h, :w]
    return img.reshape(h // factor, factor, w // factor, factor, *img.shape[2:]).mean(axis=(1, 3))


def resize(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Box-average down to at most twice the target, then bilinear: large reductions do not alias."""
    factor = min(image.shape[0] // (2 * height), image.shape[1] // (2 * width))
    if factor >= 2:
        image = box_downsample(image, factor)
    return resize_bilinear(image, height, width)


def center_crop(image: np.ndarray, size: int) -> np.ndarray:
    h, w = image.shape[:2]
    top, left = max(0, (h - size) // 2), max(0, (w - size) // 2)
    return image[top: top + size, left: left + size]


CLIP_MEAN = np.array([0.48145466, 0.4578275, 0.40821073])
CLIP_STD = np.array([0.26862954, 0.26130258, 0.27577711])


def preprocess(image: np.ndarray, size: int = 224) -> np.ndarray:
    """CLIP's recipe: shortest side -> size, centre crop size x size, scale to [0, 1], normalise per channel."""
    h, w = image.shape[:2]
    scale = size / min(h, w)
    resized = resize(image, max(size, round(h * scale)), max(size, round(w * scale)))
    return (center_crop(resized, size) / 255.0 - CLIP_MEAN) / CLIP_STD


@lru_cache(maxsize=1)
def sample_photos() -> dict[str, np.ndarray]:
    """scikit-learn's two bundled photos (427 x 640 x 3, uint8)."""
    bunch = load_sample_images()
    return {name.rsplit("/", 1)[-1].split(".")[0]: img for name, img in zip(bunch.filenames, bunch.images, strict=True)}


def photo_patches(patch: int = 16, size: int = 224) -> list[dict]:
    """Patch counts of the sample photos at native resolution and after CLIP's preprocessing."""
    out = []
    for name, img in sample_photos().items():
        native = patch_count(img.shape[0], img.shape[1], patch, img.shape[2])
        prepped = preprocess(img, size)
        at_size = patch_count(prepped.shape[0], prepped.shape[1], patch, prepped.shape[2])
        out.append({"photo": name, "native": native, "preprocessed": at_size,
                    "preprocessed_mean": [round(float(v), 4) for v in prepped.reshape(-1, 3).mean(0)]})
    return out


# --- the patch embedding -------------------------------------------------------------------------

class PatchEmbed(nn.Module):
    """(B, C, H, W) -> (B, 1 + N, D): a stride-P conv, a learned CLS token, learned positions."""

    def __init__(self, image: int, patch: int, channels: int, dim: int):
        super().__init__()
        self.patch = patch
        self.n = (image // patch) ** 2
        self.proj = nn.Conv2d(channels, dim, kernel_size=patch, stride=patch)
        self.cls = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos = nn.Parameter(torch.randn(1, self.n + 1, dim) * 0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = self.proj(x).flatten(2).transpose(1, 2)           # (B, N, D)
        cls = self.cls.expand(x.shape[0], -1, -1)
        return torch.cat([cls, tokens], dim=1) + self.pos


def patchify(x: torch.Tensor, patch: int) -> torch.Tensor:
    """(B, C, H, W) -> (B, N, C*P*P), patches in row-major order, each flattened channel-first."""
    b, c, h, w = x.shape
    rows, cols = h // patch, w // patch
    x = x[:, :, : rows * patch, : cols * patch]
    x = x.reshape(b, c, rows, patch, cols, patch).permute(0, 2, 4, 1, 3, 5)
    return x.reshape(b, rows * cols, c * patch * patch)


def embed_by_unfold(x: torch.Tensor, conv: nn.Conv2d) -> torch.Tensor:
    """The conv's own weights used as a plain linear layer on flattened patches: tokens = patches @ W.T + b."""
    w = conv.weight.reshape(conv.out_channels, -1)
    return patchify(x, conv.kernel_size[0]) @ w.T + conv.bias


def vit_params(image: int, patch: int, channels: int, dim: int, depth: int, mlp_ratio: int = 4) -> int:
    """Parameters of a plain ViT encoder (no head): embedding + depth x (attention + MLP + 2 LayerNorms)."""
    n = (image // patch) ** 2
    embed = patch * patch * channels * dim + dim + dim + (n + 1) * dim
    block = 4 * (dim * dim + dim) + 2 * dim * mlp_ratio * dim + mlp_ratio * dim + dim + 4 * dim
    return embed + depth * block + 2 * dim


def attention_flops(tokens: int, dim: int) -> int:
    """Multiply-adds in one attention layer's QK^T and AV: quadratic in the token count."""
    return 2 * tokens * tokens * dim
