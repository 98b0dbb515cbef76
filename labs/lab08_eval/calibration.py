"""The classification stack: accuracy, macro-F1 and the confusion matrix, plus calibration of the model's
stated confidence (ECE, MCE, Brier, a reliability diagram), overall and per slice.

    curl -s localhost:8008/tasks/classification -H 'content-type: application/json' -d '{"variant": "v1"}'
    python -m labs.lab08_eval.calibration      # v1 and v2 on the whole set, per slice

A classifier that says "90% sure" should be right 90% of the time when it says so. With the confidences
split into B equal-width bins (bin b holds the c_i in ((b−1)/B, b/B], the first also 0):

    ECE   = Σ_b (n_b / n)·|acc(b) − conf(b)|       (acc: share right in the bin; conf: mean confidence)
    MCE   = max_b |acc(b) − conf(b)|
    Brier = (1/n) Σ_i (c_i − 1[right_i])²
    macro-F1 = mean over labels of 2·P·R/(P + R)

The tests check ECE against scikit-learn's `calibration_curve` bins and macro-F1 against `f1_score`.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from labs.lab08_eval import datasets, mock_plugin, stats
from shared import llm

CONFIDENCE = re.compile(r"confidence:\s*([0-9]*\.?[0-9]+)", re.IGNORECASE)


def bins_of(confidence: np.ndarray, n_bins: int) -> np.ndarray:
    """Bin index of each confidence: (lo, hi] bins, the first closed at 0 (scikit-learn's convention)."""
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    return np.digitize(confidence, edges[1:-1], right=True)


def reliability(confidence: Sequence[float], correct: Sequence[bool], n_bins: int = 10) -> list[dict[str, float]]:
    """Per non-empty bin: its range, size, mean confidence and accuracy."""
    c, y = np.asarray(confidence, dtype=float), np.asarray(correct, dtype=float)
    if c.size == 0 or c.size != y.size:
        raise stats.StatsError("confidence and correct must be non-empty and of equal length")
    if (c < 0).any() or (c > 1).any():
        raise stats.StatsError("confidences must be in [0, 1]")
    if n_bins < 1:
        raise stats.StatsError("n_bins must be >= 1")
    idx = bins_of(c, n_bins)
    rows = []
    for b in range(n_bins):
        mask = idx == b
        if mask.any():
            rows.append({"low": b / n_bins, "high": (b + 1) / n_bins, "n": int(mask.sum()),
                         "confidence": float(c[mask].mean()), "accuracy": float(y[mask].mean())})
    return rows


def ece(confidence: Sequence[float], correct: Sequence[bool], n_bins: int = 10) -> float:
    rows = reliability(confidence, correct, n_bins)
    n = sum(r["n"] for r in rows)
    return float(sum(r["n"] / n * abs(r["accuracy"] - r["confidence"]) for r in rows))


def mce(confidence: Sequence[float], correct: Sequence[bool], n_bins: int = 10) -> float:
    return float(max(abs(r["accuracy"] - r["confidence"]) for r in reliability(confidence, correct, n_bins)))


def brier(confidence: Sequence[float], correct: Sequence[bool]) -> float:
    c, y = np.asarray(confidence, dtype=float), np.asarray(correct, dtype=float)
    return float(np.mean((c - y) ** 2))


def macro_f1(truth: Sequence[str], predicted: Sequence[str], labels: Sequence[str]) -> float:
    scores = []
    for label in labels:
        tp = sum(t == label and p == label for t, p in zip(truth, predicted, strict=True))
        fp = sum(t != label and p == label for t, p in zip(truth, predicted, strict=True))
        fn = sum(t == label and p != label for t, p in zip(truth, predicted, strict=True))
        scores.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return float(np.mean(scores))


def parse(text: str, labels: Sequence[str]) -> tuple[str, float | None]:
    """(label, confidence) from a reply: the first line that names a label, and a `confidence: c` line."""
    lines = [line.strip().strip(".").lower() for line in (text or "").splitlines() if line.strip()]
    label = next((line for line in lines if line in labels), lines[0] if lines else "")
    match = CONFIDENCE.search(text or "")
    conf = float(match.group(1)) if match else None
    return label, (min(1.0, max(0.0, conf)) if conf is not None else None)


def prompt(item: dict) -> str:
    return (f"Classify the support ticket as one of: {', '.join(item['labels'])}. Reply with the label on the "
            f"first line and your confidence that it is right on the second, as `confidence: <0-1>`."
            f"\n\n{item['input']}")


def summarize(records: list[dict[str, Any]], labels: list[str], n_bins: int = 10) -> dict[str, Any]:
    """The whole stack for records {id, slice, truth, predicted, confidence}."""
    truth, pred = [r["truth"] for r in records], [r["predicted"] for r in records]
    conf = [r["confidence"] if r["confidence"] is not None else 0.5 for r in records]
    right = [t == p for t, p in zip(truth, pred, strict=True)]
    confusion = {t: {p: sum(1 for a, b in zip(truth, pred, strict=True) if a == t and b == p) for p in labels}
                 for t in labels}
    out: dict[str, Any] = {"n": len(records), "accuracy": round(float(np.mean(right)), 4),
                           "macro_f1": round(macro_f1(truth, pred, labels), 4),
                           "mean_confidence": round(float(np.mean(conf)), 4),
                           "ece": round(ece(conf, right, n_bins), 4), "mce": round(mce(conf, right, n_bins), 4),
                           "brier": round(brier(conf, right), 4),
                           "missing_confidence": sum(r["confidence"] is None for r in records),
                           "confusion": confusion, "reliability": reliability(conf, right, n_bins), "slices": {}}
    for s in sorted({r["slice"] for r in records}):
        idx = [i for i, r in enumerate(records) if r["slice"] == s]
        c, y = [conf[i] for i in idx], [right[i] for i in idx]
        out["slices"][s] = {"n": len(idx), "accuracy": round(float(np.mean(y)), 4),
                            "mean_confidence": round(float(np.mean(c)), 4),
                            "overconfidence": round(float(np.mean(c) - np.mean(y)), 4),
                            "ece": round(ece(c, y, n_bins), 4)}
    return out


async def evaluate(model: llm.Model, candidate: str = "mock/assistant?variant=v1", limit: int | None = None,
                   n_bins: int = 10, concurrency: int = 16) -> dict[str, Any]:
    """Ask the candidate for label and confidence on each classification item; the stack's summary."""
    mock_plugin.install()  # the golden-set skill answers the mock candidate (as the runner installs it)
    items = datasets.load("classification").items[:limit]
    handle = model.with_model(candidate)
    sem = asyncio.Semaphore(concurrency)

    async def one(item: dict) -> dict[str, Any]:
        async with sem:
            reply = await handle.acomplete(prompt(item), temperature=0, seed=0)
        label, conf = parse(reply.text or "", item["labels"])
        return {"id": item["id"], "slice": item["slices"][0], "truth": item["answer"], "predicted": label,
                "confidence": conf}

    records = await asyncio.gather(*(one(i) for i in items))
    labels = sorted({lab for i in items for lab in i["labels"]})
    return {"candidate": candidate, "n_bins": n_bins, **summarize(list(records), labels, n_bins)}


def reliability_png(rows: list[dict[str, float]], title: str) -> bytes:
    """The reliability diagram: accuracy per confidence bin against the diagonal, bar width by share."""
    import matplotlib  # lazy: matplotlib costs ~0.5 s to import and only the plot needs it

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from shared.plots import OUTSIDE, png

    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.plot([0, 1], [0, 1], "--", color="grey", label="perfect calibration")
    total = sum(r["n"] for r in rows)
    for r in rows:
        ax.bar((r["low"] + r["high"]) / 2, r["accuracy"], width=(r["high"] - r["low"]) * 0.9,
               color="#4c72b0", alpha=0.3 + 0.7 * r["n"] / total)
        ax.plot(r["confidence"], r["accuracy"], "o", color="#c44e52")
    ax.set_xlabel("stated confidence")
    ax.set_ylabel("accuracy")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_title(title)
    ax.legend(**OUTSIDE)  # a run's bins can put a point in any corner
    return png(fig)


def main() -> None:
    model = llm.Model.from_settings()
    for variant in ("v1", "v2"):
        out = asyncio.run(evaluate(model, f"mock/assistant?variant={variant}"))
        print(f"{out['candidate']}: accuracy {out['accuracy']:.3f}, macro-F1 {out['macro_f1']:.3f}, "
              f"mean confidence {out['mean_confidence']:.3f}, ECE {out['ece']:.3f}, MCE {out['mce']:.3f}, "
              f"Brier {out['brier']:.3f}")
        for name, s in out["slices"].items():
            print(f"  {name:8} n={s['n']:3}  accuracy {s['accuracy']:.3f}  confidence {s['mean_confidence']:.3f}  "
                  f"overconfidence {s['overconfidence']:+.3f}  ECE {s['ece']:.3f}")


if __name__ == "__main__":
    main()
