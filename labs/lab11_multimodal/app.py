"""The lab-11 service: a tiny CLIP, a DDPM, ViT patches, a log-mel front-end, multimodal eval and cost.

    make lab-11        # serves on 127.0.0.1:8011; README.md has a curl example for every route
"""

from __future__ import annotations

import base64
import binascii
import subprocess
from typing import Annotated, Any

import numpy as np
import torch
from fastapi import APIRouter, FastAPI, Path
from fastapi.responses import Response

from labs.lab11_multimodal import audio, clip, cost, data, diffusion, fusion, plots, rag, vit
from labs.lab11_multimodal import eval as mm_eval
from labs.lab11_multimodal.registry import Models
from labs.lab11_multimodal.schemas import (
    AudioIn,
    ClassifyIn,
    ClipTrainIn,
    CostIn,
    DdpmTrainIn,
    EmbedIn,
    FusionIn,
    PatchesIn,
    PopeIn,
    SampleIn,
    SearchIn,
    SweepIn,
    WalkIn,
)
from shared.config import Settings, get_settings
from shared.jobs import jobs_router
from shared.service import ServiceError, create_service, not_found

PNG = {200: {"content": {"image/png": {}}}}
Index = Annotated[int, Path(ge=0, le=1796, description="an index into the 1,797 bundled digits")]


def _png(blob: bytes) -> Response:
    return Response(blob, media_type="image/png")


def _b64(text: str) -> bytes:
    """Strict base64; text with non-ASCII characters is a bad request too (b64decode raises ValueError)."""
    try:
        return base64.b64decode(text, validate=True)
    except ValueError as exc:  # binascii.Error is a ValueError; so is non-ASCII input
        raise binascii.Error(f"wav is not base64: {exc}") from exc


def _bad(exc: Exception) -> ServiceError:
    return ServiceError(422, str(exc), "validation_error")


def clip_router(models: Models) -> APIRouter:
    router = APIRouter(prefix="/clip", tags=["clip"])

    @router.post("/train", status_code=202)
    def train(body: ClipTrainIn) -> dict[str, Any]:
        """Train a CLIP on digits as a job (GET /jobs/{id}); the finished model replaces the served one."""
        return models.finish(models.train_clip(clip.Config(**body.model_dump(exclude={"wait"}))), body.wait)

    @router.post("/classify")
    def classify(body: ClassifyIn) -> dict[str, Any]:
        """Zero-shot: the image against one prompt per digit ("a photo of the digit three")."""
        model, d = models.need("clip"), data.digits()
        try:
            image = d.images[body.index] if body.index is not None else data.image_from_base64(body.image)
        except data.ImageError as exc:
            raise _bad(exc) from exc
        probs, pred = model.zero_shot(image[None])
        top = np.argsort(-probs[0])[:3]
        out = {"prediction": int(pred[0]), "prompt": data.prompts()[int(pred[0])],
               "top": [{"digit": int(i), "p": round(float(probs[0, i]), 4)} for i in top], "model": models.origin["clip"]}
        return {**out, "label": int(d.labels[body.index])} if body.index is not None else out

    @router.post("/search")
    def search(body: SearchIn) -> dict[str, Any]:
        """Text -> image retrieval over the 360 held-out digits (cosine of CLIP embeddings)."""
        if not body.text.strip() or data.known_tokens(body.text) == 0:
            raise ServiceError(422, "text: no known word (try 'a thick handwritten seven')", "validation_error")
        d = data.digits()
        hits = clip.search(models.need("clip"), body.text, d.test, body.k)
        return {"text": body.text, "results": [{"index": i, "label": int(d.labels[i]), "ink": "thick" if d.ink[i]
                                                else "thin", "similarity": round(s, 4)} for i, s in hits]}

    @router.get("/retrieval")
    def retrieval() -> dict[str, Any]:
        """Multimodal RAG quality: precision@k, recall@k, hit@k of 30 text queries over the test images."""
        return {"model": models.origin["clip"], **rag.retrieval_metrics(models.need("clip"))}

    @router.get("/images/{index}.png", responses=PNG, response_class=Response)
    def image(index: Index) -> Response:
        """One bundled digit, enlarged."""
        d = data.digits()
        return _png(plots.grid(d.images[index][None], [f"#{index}: {d.labels[index]}"], cols=1))

    return router


def diffusion_router(models: Models) -> APIRouter:
    router = APIRouter(prefix="/diffusion", tags=["diffusion"])

    @router.post("/train", status_code=202)
    def train(body: DdpmTrainIn) -> dict[str, Any]:
        """Train the noise predictor as a job; the finished model replaces the served one."""
        return models.finish(models.train_ddpm(diffusion.Config(**body.model_dump(exclude={"wait"}))), body.wait)

    @router.post("/walk")
    def walk(body: WalkIn) -> dict[str, Any]:
        """The forward process step by step, with a slightly wrong eps_hat to show the loss and reverse mean."""
        rng = np.random.default_rng(body.seed)
        beta = body.beta or np.linspace(0.1, 0.3, body.T).tolist()
        eps = rng.standard_normal((body.T, len(body.x0)))
        eps_hat = eps + 0.1 * rng.standard_normal(eps.shape)
        return diffusion.walk(body.x0, beta, eps.tolist(), eps_hat.tolist())

    @router.post("/sample", responses=PNG, response_class=Response)
    def sample(body: SampleIn) -> Response:
        """Ancestral sampling with classifier-free guidance -> a PNG grid."""
        labels = np.full(body.n, body.digit) if body.digit is not None else np.arange(body.n) % 10
        images = diffusion.sample(models.need("ddpm"), labels, body.guidance, body.seed)
        return _png(plots.grid(images, [str(v) for v in labels], title=f"w = {body.guidance}"))

    @router.post("/sweep", status_code=202)
    def sweep(body: SweepIn) -> dict[str, Any]:
        """Guidance-scale sweep as a job: class accuracy and FID per w (GET /jobs/{id}/plot.png)."""
        ddpm, clf = models.need("ddpm"), models.need("classifier")
        return models.finish(models.run_study("guidance_sweep", body.model_dump(exclude={"wait"}), lambda: {
            "rows": mm_eval.guidance_sweep(ddpm, clf, tuple(body.scales), body.n, body.seed)}), body.wait)

    return router


def studies_router(models: Models) -> APIRouter:
    router = APIRouter(tags=["vit", "audio", "cost", "eval"])

    @router.post("/vit/patches")
    def patches(body: PatchesIn) -> dict[str, Any]:
        """Tokens for an image: (H // P) * (W // P) patches + 1 CLS."""
        try:
            return vit.patch_count(body.height, body.width, body.patch, body.channels)
        except ValueError as exc:
            raise _bad(exc) from exc

    @router.get("/vit/photos")
    def photos() -> list[dict[str, Any]]:
        """scikit-learn's two sample photos: patches at native size and after CLIP's 224 px preprocessing."""
        return vit.photo_patches()

    @router.post("/vit/embed")
    def embed(body: EmbedIn) -> dict[str, Any]:
        """A random patch embedding as a strided conv and as unfold + linear: the largest difference."""
        if body.patch > body.size:
            raise ServiceError(422, f"patch {body.patch} is larger than the image ({body.size})", "validation_error")
        torch.manual_seed(body.seed)
        conv = torch.nn.Conv2d(body.channels, body.dim, body.patch, stride=body.patch)
        x = torch.randn(2, body.channels, body.size, body.size)
        with torch.no_grad():
            a, b = conv(x).flatten(2).transpose(1, 2), vit.embed_by_unfold(x, conv)
        return {"tokens": list(a.shape[1:]), "max_abs_difference": float((a - b).abs().max()),
                "equal_to_1e-5": bool(torch.allclose(a, b, atol=1e-5))}

    def _audio(body: AudioIn) -> np.ndarray:
        try:
            if body.signal:
                return audio.synth(body.signal)
            if body.text:
                return audio.speak(body.text)
            return audio.read_wav(_b64(body.wav))
        except (audio.AudioError, binascii.Error) as exc:
            raise _bad(exc) from exc
        except audio.SpeechUnavailable as exc:
            raise ServiceError(503, str(exc), "speech_unavailable") from exc
        except subprocess.SubprocessError as exc:
            raise ServiceError(422, f"espeak-ng could not speak this text: {exc}", "validation_error") from exc

    @router.post("/audio/logmel")
    def logmel(body: AudioIn) -> dict[str, Any]:
        """Whisper's front-end: shape, frames, encoder tokens, value range."""
        x = _audio(body)
        logm = audio.log_mel(x)
        return {"seconds": round(len(x) / audio.SAMPLE_RATE, 3), "shape": list(logm.shape),
                "encoder_tokens": logm.shape[1] // audio.CONV_STRIDE, "min": round(float(logm.min()), 4),
                "max": round(float(logm.max()), 4), "chunk_30s": audio.chunk_arithmetic()}

    @router.post("/audio/logmel.png", responses=PNG, response_class=Response)
    def logmel_png(body: AudioIn) -> Response:
        """The same, as a spectrogram."""
        return _png(plots.spectrogram(audio.log_mel(_audio(body)), "log-mel (80 bins, 10 ms hop)"))

    @router.post("/cost/image")
    def image_cost(body: CostIn) -> dict[str, Any]:
        """Tokens and dollars per provider scheme (rules and prices from fixtures, marked verify)."""
        unknown = sorted(set(body.schemes or []) - set(cost.schemes()))
        if unknown:
            raise ServiceError(422, f"unknown schemes {unknown}; known: {sorted(cost.schemes())}", "validation_error")
        return {"rows": cost.cost(body.width, body.height, body.images, body.schemes)}

    @router.post("/eval/pope")
    def pope(body: PopeIn) -> dict[str, Any]:
        """POPE on the mock vision-language answerer: accuracy, precision, recall, F1, yes-ratio."""
        vlm = mm_eval.MockVLM(body.grounding, body.prior, body.yes_bias, body.seed)
        return {"sampling": body.sampling, **mm_eval.pope(vlm, body.sampling, body.images, body.seed)}

    @router.get("/eval/fid")
    def fid() -> dict[str, Any]:
        """FID in a digits classifier's feature space: real vs real, model samples, uniform noise."""
        return models.fid_table()

    @router.post("/fusion/compare", status_code=202)
    def fusion_compare(body: FusionIn) -> dict[str, Any]:
        """Train the four fusion families on one toy task as a job: parameters and held-out accuracy."""
        return models.finish(models.run_study("fusion_compare", body.model_dump(exclude={"wait"}), lambda: {"rows": fusion.compare(
            body.steps, tuple(body.families), body.seed)}), body.wait)

    return router


def plots_router(models: Models) -> APIRouter:
    router = APIRouter(prefix="/jobs", tags=["jobs"])

    @router.get("/{job_id}/plot.png", responses=PNG, response_class=Response)
    def job_plot(job_id: str) -> Response:
        """A training job's loss curve (and zero-shot accuracy), or a guidance sweep's trade-off."""
        job = models.jobs.get(job_id)
        if job is None:
            raise not_found("job", job_id)
        if job["kind"] == "guidance_sweep" and job["result"]:
            return _png(plots.sweep(job["result"]["rows"], f"job {job_id}: guidance sweep"))
        history = job["metrics"].get("history") or []
        if not history:
            raise ServiceError(409, f"job {job_id} has nothing to plot yet", "conflict")
        if job["kind"] == "clip_train":
            return _png(plots.curve(history, "epoch", ["loss", "zero_shot_acc"], f"job {job_id}: CLIP"))
        return _png(plots.curve(history, "step", ["loss"], f"job {job_id}: DDPM epsilon loss"))

    return router


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    models = Models(settings.lab_dir("lab11"), settings.database_url)
    app = create_service("lab-11 Multimodal foundations", lab="lab11", settings=settings,
                         readiness={"jobs_db": models.jobs.store.ping},
                         # the starter models train in seconds; routes that need one answer 503 until then
                         warmup={"models": models.warm})
    app.include_router(clip_router(models))
    app.include_router(diffusion_router(models))
    app.include_router(studies_router(models))
    app.include_router(plots_router(models))
    app.include_router(jobs_router(models.jobs))
    app.state.models = models
    app.router.on_shutdown.append(models.cancel_all)
    return app
