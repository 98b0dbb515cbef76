"""Request bodies for the lab-01 service, each capped so no request can make the server do unbounded work.

    curl -s localhost:8001/openapi.json        # these models, as the service documents them

Vectors hold at most MAX_DIM numbers, matrices at most MAX_SIDE × MAX_SIDE, every number is finite
and at most MAX_ABS in size (so squares and products of entries stay far from overflow).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from labs.lab01_math.expressions import MAX_CHARS, VARIABLES
from shared.schemas import StrictModel, Text

MAX_DIM = 4096
MAX_SIDE = 64
MAX_ABS = 1e6

Entry = Annotated[float, Field(ge=-MAX_ABS, le=MAX_ABS)]
Vec = Annotated[list[Entry], Field(min_length=1, max_length=MAX_DIM)]
Row = Annotated[list[Entry], Field(min_length=1, max_length=MAX_SIDE)]
Matrix = Annotated[list[Row], Field(min_length=1, max_length=MAX_SIDE,
                                    description=f"rows of equal length, at most {MAX_SIDE}x{MAX_SIDE}")]
Prob = Annotated[float, Field(ge=0, le=1)]
Variable = Literal[VARIABLES]  # type: ignore[valid-type]
Point = Annotated[dict[Variable, Entry], Field(max_length=len(VARIABLES))]
ExpressionText = Annotated[Text, Field(min_length=1, max_length=MAX_CHARS,
                                       description="numbers, x y z w b t u v, pi, e, + - * / ** and "
                                                   "sin cos tan exp log sqrt tanh sigmoid relu abs")]


def _rectangular(M: list[list[float]], name: str) -> list[list[float]]:
    if len({len(row) for row in M}) > 1:
        raise ValueError(f"{name}: rows have different lengths {sorted({len(r) for r in M})}")
    return M


class TwoVectors(StrictModel):
    a: Vec
    b: Vec


class VectorIn(StrictModel):
    x: Vec | None = None
    A: Matrix | None = Field(None, description="a matrix, for its Frobenius norm")

    @model_validator(mode="after")
    def _one(self):
        if (self.x is None) == (self.A is None):
            raise ValueError("give exactly one of x (a vector) or A (a matrix)")
        if self.A is not None:
            _rectangular(self.A, "A")
        return self


class MatmulIn(StrictModel):
    A: Matrix
    B: Matrix

    @model_validator(mode="after")
    def _rect(self):
        _rectangular(self.A, "A")
        _rectangular(self.B, "B")
        return self


class MatrixIn(StrictModel):
    A: Matrix
    k: int | None = Field(None, ge=0, le=MAX_SIDE, description="rank of the approximation (SVD only)")
    circle: bool = Field(False, description="SVD: the unit-circle steps (needs a 2x2 matrix; on by default for 2x2)")

    @model_validator(mode="after")
    def _rect(self):
        _rectangular(self.A, "A")
        return self


class AttentionIn(StrictModel):
    B: int = Field(2, ge=1, le=8)
    S: int = Field(5, ge=1, le=128)
    H: int = Field(8, ge=1, le=256)
    heads: int = Field(2, ge=1, le=16)
    causal: bool = True
    seed: int = Field(0, ge=0, le=2**31)


class MlpIn(StrictModel):
    batch: int = Field(32, ge=1, le=256)
    sizes: list[Annotated[int, Field(ge=1, le=1024)]] = Field([784, 256, 10], min_length=2, max_length=8)


class GradientIn(StrictModel):
    expression: ExpressionText
    point: Point = Field(default_factory=dict)


class ChainIn(StrictModel):
    outer: ExpressionText = Field(description="f as a function of u")
    inner: ExpressionText = Field(description="g as a function of x")
    x: Entry = 1.0


class DescentIn(StrictModel):
    expression: ExpressionText
    start: Point
    lr: float = Field(0.1, gt=0, le=10)
    steps: int = Field(50, ge=1, le=500)


class SoftmaxIn(StrictModel):
    z: Annotated[list[Annotated[float, Field(ge=-1e3, le=1e3)]], Field(min_length=2, max_length=256)]
    y: list[Prob] | None = Field(None, max_length=256, description="a target distribution (sums to 1)")


class ExpectationIn(StrictModel):
    family: Literal["bernoulli", "binomial", "poisson", "gaussian", "uniform", "exponential"]
    params: Annotated[dict[Annotated[str, Field(max_length=8)], Annotated[float, Field(ge=-1e6, le=1e6)]],
                      Field(max_length=3)]
    n: int = Field(10_000, ge=2, le=1_000_000)
    seed: int = Field(0, ge=0, le=2**31)


class BayesIn(StrictModel):
    prior: list[Prob] = Field(min_length=1, max_length=100, description="P(h) per hypothesis, summing to 1")
    likelihood: list[Prob] = Field(min_length=1, max_length=100, description="P(evidence | h) per hypothesis")


class KlIn(StrictModel):
    family: Literal["bernoulli", "gaussian", "categorical"]
    p: list[Annotated[float, Field(ge=-1e6, le=1e6)]] = Field(min_length=1, max_length=256)
    q: list[Annotated[float, Field(ge=-1e6, le=1e6)]] = Field(min_length=1, max_length=256)


class MleIn(StrictModel):
    kind: Literal["gaussian", "categorical"]
    n: int = Field(200, ge=10, le=5000, description="gaussian: data points")
    d: int = Field(3, ge=1, le=10, description="gaussian: features")
    noise: float = Field(0.5, gt=0, le=100)
    counts: list[Annotated[int, Field(ge=0, le=10**6)]] = Field([5, 3, 2], min_length=2, max_length=50)
    seed: int = Field(0, ge=0, le=2**31)


class PerplexityIn(StrictModel):
    train: Text | None = Field(None, max_length=20_000, description="default: the lab's incident-review text")
    test: Text | None = Field(None, max_length=20_000)
    alpha: float = Field(1.0, gt=0, le=100)
