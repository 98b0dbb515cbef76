"""lab-11 at full size: CLIP 30 epochs, DDPM 3000 steps, FID table, guidance sweep, fusion comparison.

    .venv/bin/python bench/bench_lab11_training.py          # a few minutes on one thread

Single-threaded (torch.set_num_threads(1)) so times compare across machines. Writes
bench/results/lab11_training.json and lab11_training.png (CLIP curve, DDPM loss, guidance trade-off).
The README's numbers come from this file.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from labs.lab11_multimodal import clip, data, diffusion, fusion, rag
from labs.lab11_multimodal import eval as mm_eval
from shared.plots import plt, replot, save

OUT = Path(__file__).resolve().parent / "results"


def timed(fn, *args, **kw):
    t = time.perf_counter()
    out = fn(*args, **kw)
    return out, round(time.perf_counter() - t, 2)


def plot(result: dict, path: Path) -> None:
    """CLIP zero-shot accuracy per epoch, the DDPM loss curve and the guidance sweep, from the JSON."""
    clip_hist, ddpm_hist, sweep = result["clip"]["history"], result["ddpm"]["history"], result["guidance_sweep"]
    fig, ax = plt.subplots(1, 3, figsize=(14, 3.4), dpi=100)
    ax[0].plot([r["epoch"] for r in clip_hist], [r["zero_shot_acc"] for r in clip_hist], marker=".")
    ax[0].set(title="CLIP zero-shot accuracy (test digits)", xlabel="epoch", ylabel="zero-shot accuracy", ylim=(0, 1.05))
    ax[1].plot([r["step"] for r in ddpm_hist], [r["loss"] for r in ddpm_hist])
    ax[1].set(title="DDPM epsilon loss", xlabel="training step", ylabel="MSE of predicted noise")
    ax[2].plot([r["guidance"] for r in sweep], [r["class_accuracy"] for r in sweep], marker="o")
    ax[2].set(title="guidance: accuracy (blue) vs FID (red)", xlabel="guidance scale w", ylim=(0, 1.05))
    ax[2].set_ylabel("class accuracy of samples", color="tab:blue")
    tw = ax[2].twinx()
    tw.plot([r["guidance"] for r in sweep], [r["fid"] for r in sweep], marker="s", color="tab:red")
    tw.set_ylabel("FID (lower is closer to real)", color="tab:red")
    fig.tight_layout()
    save(fig, path)


PLOTS = {"lab11_training.png": plot}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replot", action="store_true", help="re-draw the PNG from the committed JSON; measure nothing")
    if parser.parse_args().replot:
        replot(OUT / "lab11_training.json", PLOTS)
        return
    torch.set_num_threads(1)
    d = data.digits()
    (clip_model, clip_hist), clip_s = timed(clip.train, clip.Config(epochs=30))
    (ddpm, ddpm_hist), ddpm_s = timed(diffusion.train, diffusion.Config(steps=3000))
    (clf, clf_acc), _ = timed(mm_eval.train_classifier, 40)
    labels = np.arange(1000) % 10
    samples, sample_s = timed(diffusion.sample, ddpm, labels, 1.0)
    rng = np.random.default_rng(0)
    real = d.images[rng.choice(d.train, 300, replace=False)]
    fid = {"real_vs_real": round(mm_eval.fid(clf, real, d.images[d.test[:300]]), 2),
           "model_samples": round(mm_eval.fid(clf, real, samples[:300]), 2),
           "uniform_noise": round(mm_eval.fid(clf, real, rng.random((300, 8, 8))), 2)}
    sweep = mm_eval.guidance_sweep(ddpm, clf, (0.0, 1.0, 2.0, 4.0, 7.0), 300)
    fusion_rows, fusion_s = timed(fusion.compare, 1000)
    result = {
        "threads": 1,
        "clip": {"epochs": 30, "train_s": clip_s, "zero_shot_before": round(clip_hist[0]["zero_shot_acc"], 4),
                 "zero_shot_after": clip_hist[-1]["zero_shot_acc"], "final_scale": clip_hist[-1]["scale"],
                 "retrieval": rag.retrieval_metrics(clip_model), "history": clip_hist},
        "ddpm": {"T": 200, "steps": 3000, "train_s": ddpm_s, "final_loss": ddpm_hist[-1]["loss"],
                 "samples_1000_s": sample_s, "history": ddpm_hist},
        "classifier_test_accuracy": round(clf_acc, 4),
        "fid": fid,
        "guidance_sweep": sweep,
        "fusion": {"steps": 1000, "total_s": fusion_s, "rows": fusion_rows},
    }
    OUT.mkdir(exist_ok=True)
    (OUT / "lab11_training.json").write_text(json.dumps(result, indent=2) + "\n")
    plot(result, OUT / "lab11_training.png")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
