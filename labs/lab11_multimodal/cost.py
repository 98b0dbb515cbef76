"""Tokens per image under the common provider schemes, and what a batch of images costs.

    curl -s localhost:8011/cost/image -d '{"width": 1920, "height": 1080, "images": 1000}'

    tiles  (OpenAI high): fit in 2048 x 2048, shortest side -> 768, tokens = 85 + 170 * ceil(w/512) * ceil(h/512)
    pixels (Anthropic):   long edge <= 1568 (and <= ~1.15 MP), tokens = ceil(w * h / 750)
    gemini:               both sides <= 384 -> 258 tokens; else 258 per 768 x 768 tile
    patches (open ViT):   resized to S x S, tokens = (S / P)^2 (+ nothing for CLS: the projector drops it)
    cost = tokens * images * usd_per_mtok / 1e6

The rules and prices live in fixtures/lab11/image_tiling.json, each marked "verify": they change.
"""

from __future__ import annotations

import json
import math
from functools import lru_cache

from shared.config import REPO_ROOT

TILING = REPO_ROOT / "fixtures" / "lab11" / "image_tiling.json"


@lru_cache(maxsize=1)
def schemes() -> dict[str, dict]:
    return json.loads(TILING.read_text())["schemes"]


def _scale_to_fit(w: int, h: int, limit: int) -> tuple[int, int]:
    s = min(1.0, limit / max(w, h))
    return max(1, math.floor(w * s)), max(1, math.floor(h * s))


def tokens(scheme: str, width: int, height: int) -> dict:
    """Tokens for one width x height image, with the size the provider actually sees."""
    if width <= 0 or height <= 0:
        raise ValueError("width and height must be positive")
    if scheme not in schemes():
        raise KeyError(scheme)
    s = schemes()[scheme]
    w, h = width, height
    if s["kind"] == "fixed":
        n, detail = s["tokens"], "fixed"
    elif s["kind"] == "tiles":
        w, h = _scale_to_fit(w, h, s["fit_within"])
        if min(w, h) > s["shortest_side"]:
            f = s["shortest_side"] / min(w, h)
            w, h = round(w * f), round(h * f)
        tiles = math.ceil(w / s["tile"]) * math.ceil(h / s["tile"])
        n, detail = s["base_tokens"] + s["tokens_per_tile"] * tiles, f"{tiles} tiles"
    elif s["kind"] == "pixels":
        w, h = _scale_to_fit(w, h, s["long_edge"])
        if w * h > s["max_pixels"]:
            f = math.sqrt(s["max_pixels"] / (w * h))
            w, h = math.floor(w * f), math.floor(h * f)
        n, detail = math.ceil(w * h / s["pixels_per_token"]), f"{w * h} pixels"
    elif s["kind"] == "gemini_tiles":
        if max(w, h) <= s["small_max"]:
            n, detail = s["small_tokens"], "one small image"
        else:
            tiles = math.ceil(w / s["tile"]) * math.ceil(h / s["tile"])
            n, detail = s["tokens_per_tile"] * tiles, f"{tiles} tiles"
    elif s["kind"] == "patches":
        w = h = s["size"]
        n, detail = (s["size"] // s["patch"]) ** 2, f"{s['size'] // s['patch']}^2 patches"
    else:
        raise ValueError(f"unknown scheme kind {s['kind']!r}")
    return {"scheme": scheme, "provider": s["provider"], "seen_as": [w, h], "tokens": n, "detail": detail,
            "verify": s["verify"]}


def cost(width: int, height: int, images: int = 1, only: list[str] | None = None) -> list[dict]:
    """Every scheme side by side for `images` images of one size, cheapest first."""
    rows = []
    for name in only or list(schemes()):
        t = tokens(name, width, height)
        usd = t["tokens"] * images * schemes()[name]["usd_per_mtok"] / 1e6
        rows.append({**t, "images": images, "total_tokens": t["tokens"] * images,
                     "usd_per_mtok": schemes()[name]["usd_per_mtok"], "usd": round(usd, 4)})
    return sorted(rows, key=lambda r: (r["usd"], r["total_tokens"]))
