"""The lab's state: the trained models on disk, the training jobs, and which model each route uses.

    make lab-11        # start-up trains small starter models (or loads the last trained ones)

Models live in DATA_DIR/lab11 as `clip.pt`, `ddpm.pt` and `classifier.pt`; a finished training job
writes its model there (and a copy named after the job), so a restart serves the last trained model
and GET /jobs/{id} still shows the job. One job runs at a time: a second POST while one is queued or
running is a 409 naming it, because two trainings on two cores make both slower than one after the other.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from labs.lab11_multimodal import clip, data, diffusion
from labs.lab11_multimodal import eval as mm_eval
from shared.jobs import JobContext, JobStore
from shared.service import ServiceError

# Start-up models: seconds of CPU, good enough to answer every route; POST /clip/train and
# POST /diffusion/train make the full-size ones (README numbers say which produced them).
STARTER_CLIP = clip.Config(epochs=4)
STARTER_DDPM = diffusion.Config(steps=400)
CLASSIFIER_EPOCHS = 20


class Models:
    def __init__(self, folder: Path, url: str | None = None):
        self.folder = folder
        self.jobs = JobStore(folder / "jobs.db", url=url)  # url: Settings.database_url
        self.clip: clip.CLIP | None = None
        self.ddpm: diffusion.NoisePredictor | None = None
        self.classifier: mm_eval.DigitClassifier | None = None
        self.classifier_acc: float | None = None
        self.version = {"clip": 0, "ddpm": 0}
        self.origin = {"clip": "", "ddpm": ""}
        self._lock = threading.Lock()
        self._fid_cache: dict[tuple, dict] = {}

    # --- start-up -------------------------------------------------------------------------------
    def warm(self) -> str:
        data.digits()
        self.classifier, self.classifier_acc = self._load_or(
            "classifier.pt", lambda: mm_eval.train_classifier(CLASSIFIER_EPOCHS), self._load_classifier,
            self._save_classifier)
        self._set("clip", *self._load_or("clip.pt", lambda: (clip.train(STARTER_CLIP)[0], "starter (4 epochs)"),
                                         lambda p: (clip.load(p), "trained (loaded from disk)"),
                                         lambda m, p: clip.save(m[0], p)))
        self._set("ddpm", *self._load_or("ddpm.pt",
                                         lambda: (diffusion.train(STARTER_DDPM)[0], "starter (400 steps)"),
                                         lambda p: (diffusion.load(p), "trained (loaded from disk)"),
                                         lambda m, p: diffusion.save(m[0], p)))
        return f"clip: {self.origin['clip']}; ddpm: {self.origin['ddpm']}"

    def _load_or(self, name: str, make: Callable, load: Callable, save: Callable) -> Any:
        path = self.folder / name
        if path.exists():
            return load(path)
        made = make()
        save(made, path)
        return made

    def _load_classifier(self, path: Path) -> tuple[mm_eval.DigitClassifier, float]:
        blob = torch.load(path, weights_only=True)
        model = mm_eval.DigitClassifier()
        model.load_state_dict(blob["state"])
        return model.eval(), blob["accuracy"]

    @staticmethod
    def _save_classifier(made: tuple, path: Path) -> None:
        torch.save({"state": made[0].state_dict(), "accuracy": made[1]}, path)

    def _set(self, kind: str, model: Any, origin: str) -> None:
        with self._lock:
            setattr(self, kind, model)
            self.version[kind] += 1
            self.origin[kind] = origin

    def ready(self) -> bool:
        return self.clip is not None and self.ddpm is not None and self.classifier is not None

    def need(self, kind: str) -> Any:
        model = getattr(self, kind)
        if model is None:
            raise ServiceError(503, f"the {kind} model is still being trained at start-up; see /readyz",
                               "warming_up", headers={"retry-after": "5"})
        return model

    # --- jobs -----------------------------------------------------------------------------------
    def submit(self, kind: str, params: dict, fn: Callable[[JobContext], Any]) -> dict:
        with self._lock:
            busy = self.jobs.store.one("SELECT id, kind FROM jobs WHERE status IN ('queued', 'running') LIMIT 1")
            if busy:
                raise ServiceError(409, f"job {busy['id']} ({busy['kind']}) is still running; one job at a time",
                                   "job_running", job_id=busy["id"])
            job_id = self.jobs.submit(kind, params, fn)
        return self.jobs.get(job_id)

    def finish(self, job: dict, wait: bool) -> dict:
        return self.jobs.wait(job["id"], 120) if wait else job

    def train_clip(self, cfg: clip.Config) -> dict:
        def run(ctx: JobContext) -> dict:
            model, history = clip.train(cfg, _reporter(ctx, "epoch"))
            clip.save(model, self.folder / f"clip-{ctx.job_id}.pt")
            clip.save(model, self.folder / "clip.pt")
            self._set("clip", model, f"job {ctx.job_id} ({cfg.epochs} epochs)")
            return {"zero_shot_acc_before": history[0]["zero_shot_acc"],
                    "zero_shot_acc": history[-1]["zero_shot_acc"], "model": f"clip-{ctx.job_id}.pt"}

        return self.submit("clip_train", vars(cfg), run)

    def train_ddpm(self, cfg: diffusion.Config) -> dict:
        def run(ctx: JobContext) -> dict:
            model, history = diffusion.train(cfg, _reporter(ctx, "step"), every=max(1, cfg.steps // 50))
            diffusion.save(model, self.folder / f"ddpm-{ctx.job_id}.pt")
            diffusion.save(model, self.folder / "ddpm.pt")
            self._set("ddpm", model, f"job {ctx.job_id} ({cfg.steps} steps, T={cfg.T})")
            return {"final_loss": history[-1]["loss"], "model": f"ddpm-{ctx.job_id}.pt"}

        return self.submit("diffusion_train", vars(cfg), run)

    def run_study(self, kind: str, params: dict, fn: Callable[[], Any]) -> dict:
        """A measurement that takes longer than a request should (fusion comparison, guidance sweep)."""
        return self.submit(kind, params, lambda ctx: fn())

    def cancel_all(self) -> None:
        """On shutdown: ask running jobs to stop at their next checkpoint instead of outliving the app."""
        for job in self.jobs.list(20):
            if job["status"] in ("queued", "running"):
                self.jobs.cancel(job["id"])

    # --- evaluation -----------------------------------------------------------------------------
    def fid_table(self, n: int = 300, guidance: float = 1.0, seed: int = 0) -> dict:
        """FID of real vs real, model samples and uniform noise, cached per model version."""
        key = (self.version["ddpm"], n, guidance, seed)
        if key not in self._fid_cache:
            clf, model = self.need("classifier"), self.need("ddpm")
            d = data.digits()
            rng = np.random.default_rng(seed)
            real = d.images[rng.choice(d.train, n, replace=False)]
            other = d.images[rng.choice(d.test, min(n, len(d.test)), replace=False)]
            labels = np.arange(n) % 10
            samples = diffusion.sample(model, labels, guidance, seed)
            noise = rng.random((n, 8, 8))
            self._fid_cache[key] = {
                "n": n, "guidance": guidance, "ddpm": self.origin["ddpm"],
                "classifier_test_accuracy": round(self.classifier_acc, 4),
                "fid": {"real_vs_real": round(mm_eval.fid(clf, real, other), 2),
                        "model_samples": round(mm_eval.fid(clf, real, samples), 2),
                        "uniform_noise": round(mm_eval.fid(clf, real, noise), 2)},
                "sample_class_accuracy": round(float((clf.predict(samples) == labels).mean()), 4)}
        return self._fid_cache[key]


def _reporter(ctx: JobContext, unit: str) -> Callable[[int, int, dict], None]:
    """Progress for a training loop: step/total, and the loss history so far for the curve PNG."""
    history: list[dict] = []

    def report(step: int, total: int, row: dict) -> None:
        history.append(row)
        ctx.progress(step, total, f"{unit} {step}/{total}", {"history": list(history)})

    return report
