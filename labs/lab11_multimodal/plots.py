"""The lab's pictures (matplotlib, Agg): loss curves, image grids, spectrograms, guidance sweeps.

    curl -s localhost:8011/diffusion/sample -d '{"n": 20}' -o samples.png
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
from matplotlib import pyplot as plt  # noqa: E402

from labs.lab11_multimodal.audio import HOP, SAMPLE_RATE  # noqa: E402
from shared.plots import png


def curve(history: list[dict], x: str, ys: list[str], title: str) -> bytes:
    fig, axes = plt.subplots(1, len(ys), figsize=(4 * len(ys), 3), dpi=100, squeeze=False)
    for ax, y in zip(axes[0], ys, strict=True):
        pts = [(r[x], r[y]) for r in history if r.get(y) is not None]
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker=".")
        ax.set_xlabel(x)
        ax.set_ylabel(y)
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    return png(fig)


def grid(images: np.ndarray, labels: list[str] | None = None, cols: int = 10, title: str = "") -> bytes:
    rows = max(1, int(np.ceil(len(images) / cols)))
    # shared axes, no ticks: the one pair of axis labels (bottom-left) says what every panel's rows
    # and columns are, without repeating it under each small picture
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 0.8, rows * 0.9 + 0.6), dpi=100, squeeze=False,
                             sharex=True, sharey=True)
    for i, ax in enumerate(axes.flat):
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_visible(False)
        if i < len(images):
            ax.imshow(images[i], cmap="gray_r", vmin=0, vmax=1)
            if labels:
                ax.set_title(labels[i], fontsize=7)
    axes[-1, 0].set_xlabel("pixel column", fontsize=7)
    axes[-1, 0].set_ylabel("pixel row", fontsize=7)
    fig.suptitle(title, fontsize=9)
    return png(fig)


def spectrogram(logm: np.ndarray, title: str) -> bytes:
    fig, ax = plt.subplots(figsize=(8, 3), dpi=100)
    im = ax.imshow(logm, origin="lower", aspect="auto", cmap="magma",
                   extent=(0, logm.shape[1] * HOP / SAMPLE_RATE, 0, logm.shape[0]))
    ax.set_xlabel("seconds")
    ax.set_ylabel("mel bin")
    ax.set_title(title)
    fig.colorbar(im, ax=ax)
    return png(fig)


def sweep(rows: list[dict], title: str) -> bytes:
    fig, ax = plt.subplots(figsize=(5, 3), dpi=100)
    w = [r["guidance"] for r in rows]
    ax.plot(w, [r["class_accuracy"] for r in rows], marker="o", label="class accuracy")
    ax.set_xlabel("guidance scale w")
    ax.set_ylabel("accuracy")
    twin = ax.twinx()
    twin.plot(w, [r["fid"] for r in rows], marker="s", color="tab:red", label="FID")
    twin.set_ylabel("FID", color="tab:red")
    ax.set_title(title)
    return png(fig)
