"""Request bodies of the lab-11 service: every number that drives work has a cap.

    curl -s localhost:8011/openapi.json      # these, as the service publishes them
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import model_validator

from labs.lab11_multimodal.fusion import FAMILIES
from shared.schemas import Field, Number, StrictModel, Text

MAX_B64 = 2_800_000  # ~2 MB once decoded


class JobIn(StrictModel):
    wait: bool = Field(False, description="answer when the job has finished (at most 120 s), not at once")


class ClipTrainIn(JobIn):
    epochs: int = Field(30, ge=1, le=100)
    batch_size: int = Field(128, ge=8, le=512)
    lr: float = Field(3e-3, gt=0, le=0.1)
    seed: int = Field(0, ge=0, le=2**31)


class ClassifyIn(StrictModel):
    index: int | None = Field(None, ge=0, le=1796, description="a bundled digit (GET /clip/images/{index}.png)")
    image: str | None = Field(None, min_length=1, max_length=MAX_B64, description="a base64 PNG or JPEG")

    @model_validator(mode="after")
    def _one(self) -> ClassifyIn:
        if (self.index is None) == (self.image is None):
            raise ValueError("send exactly one of index or image")
        return self


class SearchIn(StrictModel):
    text: Text = Field(min_length=1, max_length=200)
    k: int = Field(5, ge=1, le=50)


class DdpmTrainIn(JobIn):
    T: int = Field(200, ge=2, le=1000)
    steps: int = Field(3000, ge=10, le=20_000)
    hidden: int = Field(256, ge=16, le=512)
    batch_size: int = Field(128, ge=8, le=512)
    lr: float = Field(2e-3, gt=0, le=0.1)
    p_uncond: float = Field(0.1, ge=0, le=1)
    seed: int = Field(0, ge=0, le=2**31)


class WalkIn(StrictModel):
    T: int = Field(3, description="diffusion steps, 1 to 10 for a walk a reader can follow")
    x0: list[Number] = Field([1.0, -0.5], min_length=1, max_length=8)
    beta: list[Number] | None = Field(None, max_length=10, description="default: evenly from 0.1 to 0.3")
    seed: int = Field(0, ge=0, le=2**31)

    @model_validator(mode="after")
    def _check(self) -> WalkIn:
        if not 1 <= self.T <= 10:
            raise ValueError("T must be between 1 and 10")
        if self.beta is not None and (len(self.beta) != self.T or not all(0 < b < 1 for b in self.beta)):
            raise ValueError("beta needs T values, each strictly between 0 and 1")
        return self


class SampleIn(StrictModel):
    n: int = Field(20, ge=1, le=100)
    digit: int | None = Field(None, ge=0, le=9, description="default: 0..9 in turn")
    guidance: float = Field(3.0, ge=0, le=20, description="w: 0 unconditional, 1 conditional, >1 guided")
    seed: int = Field(0, ge=0, le=2**31)


class SweepIn(JobIn):
    scales: list[Annotated[float, Field(ge=0, le=20)]] = Field([0.0, 1.0, 2.0, 4.0, 7.0], min_length=1, max_length=8)
    n: int = Field(300, ge=20, le=1000)
    seed: int = Field(0, ge=0, le=2**31)


class PatchesIn(StrictModel):
    height: int = Field(224, ge=1, le=16_384)
    width: int = Field(224, ge=1, le=16_384)
    patch: int = Field(16, ge=1, le=1024)
    channels: int = Field(3, ge=1, le=16)


class EmbedIn(StrictModel):
    size: int = Field(32, ge=2, le=64)
    patch: int = Field(8, ge=1, le=64)
    channels: int = Field(3, ge=1, le=4)
    dim: int = Field(16, ge=1, le=64)
    seed: int = Field(0, ge=0, le=2**31)


class AudioIn(StrictModel):
    wav: str | None = Field(None, min_length=1, max_length=MAX_B64, description="a base64 PCM WAV, at most 30 s")
    text: Text | None = Field(None, min_length=1, max_length=500, description="spoken by espeak-ng")
    signal: Literal["chirp", "chord", "vowels"] | None = Field(None, description="a generated test signal")

    @model_validator(mode="after")
    def _one(self) -> AudioIn:
        if sum(v is not None for v in (self.wav, self.text, self.signal)) != 1:
            raise ValueError("send exactly one of wav, text or signal")
        if self.text is not None and not self.text.strip():
            raise ValueError("text is empty")
        return self


class CostIn(StrictModel):
    width: int = Field(ge=1, le=100_000)
    height: int = Field(ge=1, le=100_000)
    images: int = Field(1, ge=1, le=10_000_000)
    schemes: list[str] | None = Field(None, max_length=10)


class PopeIn(StrictModel):
    sampling: Literal["random", "popular", "adversarial"] = "adversarial"
    grounding: float = Field(0.9, ge=0, le=1)
    prior: float = Field(0.8, ge=0, le=2)
    yes_bias: float = Field(0.1, ge=-1, le=1)
    images: int = Field(200, ge=10, le=2000)
    seed: int = Field(0, ge=0, le=2**31)


class FusionIn(JobIn):
    steps: int = Field(300, ge=10, le=3000)
    families: list[Literal["late", "cross_attention", "early", "native"]] = Field(
        list(FAMILIES), min_length=1, max_length=4)
    seed: int = Field(0, ge=0, le=2**31)
