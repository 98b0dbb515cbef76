"""The lab-01 service: every formula of the chapter computed, checked against a library, and plotted.

    make lab-01        # serves on 127.0.0.1:8001; README.md has a curl example for every route

Every answer carries `checked`: one line naming the identity it just verified and the error measured.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import cache
from typing import Annotated, Any

import numpy as np
import torch
from fastapi import APIRouter, FastAPI, Query
from fastapi.responses import Response

from labs.lab01_math import calculus, matrices, numerics, plots, probability, schemas, tensors, vectors
from labs.lab01_math.expressions import MAX_CHARS, ExpressionError, parse
from shared.config import Settings, get_settings
from shared.service import ServiceError, create_service

PNG = {"content": {"image/png": {}}, "description": "a PNG image"}
MATRIX_2X2 = r"^\s*-?\d{1,6}(\.\d{1,6})?(\s*,\s*-?\d{1,6}(\.\d{1,6})?){3}\s*$"


def run(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call a domain function; its ValueError (bad shape, bad probability, bad expression) is the caller's 422."""
    try:
        return fn(*args, **kwargs)
    except ExpressionError as exc:
        raise ServiceError(422, str(exc), "invalid_expression") from exc
    except ValueError as exc:
        raise ServiceError(422, str(exc), "invalid_input") from exc


def checked(identity: str, error: float) -> str:
    return f"{identity}: max |difference| = {error:.1e}"


def lists(obj: Any) -> Any:
    """numpy and torch arrays to JSON lists, rounded to 12 significant digits (the rest is round-off)."""
    if isinstance(obj, dict):
        return {k: lists(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [lists(v) for v in obj]
    if isinstance(obj, np.ndarray | torch.Tensor):
        return lists(obj.tolist())
    if isinstance(obj, float | np.floating):
        return float(f"{float(obj):.12g}") if math.isfinite(obj) else None
    return obj


def vectors_router() -> APIRouter:
    router = APIRouter(prefix="/vectors", tags=["vectors"])

    @router.post("/cosine")
    def cosine(body: schemas.TwoVectors) -> dict[str, Any]:
        """a·b both ways (Σ aᵢbᵢ and |a||b|cos θ with θ from the law of cosines), cos θ and the angle."""
        r = run(vectors.cosine_report, body.a, body.b)
        ref = float(torch.nn.functional.cosine_similarity(torch.tensor(body.a, dtype=torch.float64),
                                                          torch.tensor(body.b, dtype=torch.float64), dim=0))
        return lists(r | {"torch_cosine": ref,
                          "checked": checked("Σ aᵢbᵢ = |a||b|cos θ", r["identity_error"])})

    @router.post("/norms")
    def norms(body: schemas.VectorIn) -> dict[str, Any]:
        """L1, L2, L∞ of a vector, or the Frobenius norm of a matrix, beside torch.linalg's."""
        if body.A is not None:
            ours = vectors.frobenius(body.A)
            ref = float(torch.linalg.matrix_norm(torch.tensor(body.A, dtype=torch.float64), "fro"))
            return lists({"frobenius": ours, "torch": ref, "checked": checked("|A|_F = √Σ Aᵢⱼ²", abs(ours - ref))})
        ours = vectors.norms(body.x)
        t = torch.tensor(body.x, dtype=torch.float64)
        ref = {k: float(torch.linalg.vector_norm(t, p)) for k, p in (("l1", 1), ("l2", 2), ("linf", math.inf))}
        err = max(abs(ours[k] - ref[k]) for k in ours)
        return lists(ours | {"torch": ref, "checked": checked("L1, L2, L∞ vs torch.linalg.vector_norm", err)})

    return router


def matrices_router() -> APIRouter:
    router = APIRouter(prefix="/matrices", tags=["matrices"])

    @router.post("/matmul")
    def matmul(body: schemas.MatmulIn) -> dict[str, Any]:
        """C = AB three ways (rows·columns, column mixtures, outer products), and (AB)ᵀ = BᵀAᵀ."""
        A, B = np.asarray(body.A), np.asarray(body.B)
        r = run(matrices.matmul_views, A, B)
        return lists({"C": r["C"], "shape": f"({A.shape[0]}x{A.shape[1]}) @ ({B.shape[0]}x{B.shape[1]}) -> "
                                             f"({A.shape[0]}x{B.shape[1]})",
                      "views_max_difference": r["views_max_difference"], "transpose_error": r["transpose_error"],
                      "checked": checked("three views of AB agree and (AB)ᵀ = BᵀAᵀ",
                                         max(r["views_max_difference"], r["transpose_error"]))})

    @router.post("/rank")
    def rank(body: schemas.MatrixIn) -> dict[str, Any]:
        """Rank by elimination, bases of the column and null spaces, beside torch.linalg.matrix_rank."""
        r = run(matrices.rank_and_bases, body.A)
        ref = int(torch.linalg.matrix_rank(torch.tensor(body.A, dtype=torch.float64)))
        A = np.asarray(body.A)
        null_err = max((float(np.max(np.abs(A @ np.asarray(v)))) for v in r["null_basis"]), default=0.0)
        return lists(r | {"torch_rank": ref, "null_residual": null_err,
                          "checked": checked(f"rank {r['rank']} (torch: {ref}); A·(null basis) = 0", null_err)})

    @router.post("/svd")
    def svd(body: schemas.MatrixIn) -> dict[str, Any]:
        """A = UΣVᵀ (from the eigenvectors of AᵀA), the best rank-k error, and for 2×2 the circle steps."""
        A = np.asarray(body.A)
        U, s, Vt = run(matrices.svd_via_eigh, A)
        U, Vt = matrices.fix_signs(U, Vt)
        k = min(body.k if body.k is not None else max(1, len(s) - 1), len(s))
        ey = matrices.eckart_young(A, k)
        recon = float(np.max(np.abs(U * s @ Vt - A)))
        out = {"U": U, "S": s, "Vt": Vt, "reconstruction_error": recon,
               "torch_singular_values": torch.linalg.svdvals(torch.tensor(A)).tolist(),
               "low_rank": {key: ey[key] for key in ("k", "frobenius_error", "predicted_frobenius",
                                                       "spectral_error", "predicted_spectral")}}
        if body.circle or A.shape == (2, 2):
            st = run(matrices.svd_steps, A)
            out |= {"steps": {"1_Vt": st["Vt_is"], "2_Sigma": st["stretch"], "3_U": st["U_is"],
                              "steps_vs_A_error": st["steps_vs_A_error"]},
                    "png": "/matrices/svd.png?A=" + ",".join(f"{v:g}" for v in A.ravel())}
        out["checked"] = checked("UΣVᵀ = A and |A − A_k|_F = √Σ_{i>k} σᵢ² (Eckart-Young)",
                                 max(recon, abs(ey["frobenius_error"] - ey["predicted_frobenius"])))
        return lists(out)

    @router.get("/svd.png", responses={200: PNG}, response_class=Response)
    def svd_png(A: Annotated[str, Query(pattern=MATRIX_2X2, description="a 2x2 matrix row by row: 3,1,1,2")]):
        """The unit circle through Vᵀ, Σ and U, four panels."""
        M = np.array([float(v) for v in A.split(",")]).reshape(2, 2)
        return Response(plots.svd_png(matrices.svd_steps(M)), media_type="image/png")

    return router


def tensors_router() -> APIRouter:
    router = APIRouter(prefix="/tensors", tags=["tensors"])

    @router.post("/attention")
    def attention(body: schemas.AttentionIn) -> dict[str, Any]:
        """Multi-head self-attention on (B, S, H) with the shape after every step, vs torch's fused kernel."""
        w = run(tensors.attention_walk, body.B, body.S, body.H, body.heads, body.causal, body.seed)
        err = float((w["tensors"]["Y"] - tensors.attention_reference(w)).abs().max())
        return {k: v for k, v in w.items() if k != "tensors"} | {
            "checked": checked("step-by-step attention = scaled_dot_product_attention", err)}

    @router.post("/mlp")
    def mlp(body: schemas.MlpIn) -> dict[str, Any]:
        """An MLP's shapes, parameters and FLOPs layer by layer, on a real batch."""
        r = run(tensors.mlp_walk, body.batch, body.sizes)
        counted = sum(n * m + m for n, m in zip(body.sizes[:-1], body.sizes[1:], strict=True))
        return r | {"checked": checked(f"Σ (n·m + m) = {counted} parameters, counted by torch",
                                       abs(counted - r["parameters"]))}

    return router


def calculus_router() -> APIRouter:
    router = APIRouter(prefix="/calculus", tags=["calculus"])

    @router.get("/derivations")
    def derivations() -> dict[str, Any]:
        """MSE, softmax + cross-entropy, sigmoid + MSE and the softmax Jacobian, derived by sympy."""
        errors = calculus.autograd_checks()
        ok = all(d["matches"] for d in calculus.derivations().values())
        return {"derivations": calculus.derivations(), "autograd_max_error": errors,
                "checked": checked(f"sympy = textbook form ({'all' if ok else 'NOT all'}); formula = autograd",
                                   max(errors.values()))}

    @router.post("/gradient")
    def gradient(body: schemas.GradientIn) -> dict[str, Any]:
        """Each partial derivative: symbolic (sympy), autograd and central finite difference."""
        r = run(calculus.gradient, run(parse, body.expression), body.point)
        return lists(r | {"checked": checked("symbolic derivative = autograd", r["max_autograd_error"])})

    @router.post("/chain")
    def chain(body: schemas.ChainIn) -> dict[str, Any]:
        """d/dx f(g(x)) as one derivative and as f'(g(x))·g'(x)."""
        r = run(calculus.chain_rule, body.outer, body.inner, body.x)
        return lists(r | {"checked": checked("d/dx f(g(x)) = f'(g(x))·g'(x)", r["difference"])})

    @router.post("/descent")
    def descent(body: schemas.DescentIn) -> dict[str, Any]:
        """Gradient descent with each step's Taylor-predicted drop η|∇f|² beside the actual one."""
        expr = run(parse, body.expression)
        r = run(calculus.gradient_descent, expr, body.start, body.lr, body.steps)
        first = r["steps"][0] if r["steps"] else {"predicted_drop": 0.0, "actual_drop": 0.0}
        return lists(r | {"checked": checked("first step: Taylor drop η|∇f|² vs actual",
                                             abs(first["predicted_drop"] - first["actual_drop"]))})

    @router.get("/descent.png", responses={200: PNG}, response_class=Response)
    def descent_png(expression: Annotated[str, Query(min_length=1, max_length=MAX_CHARS)] = "x**2 + 10*y**2",
                    x: Annotated[float, Query(ge=-1e3, le=1e3)] = 3.0,
                    y: Annotated[float, Query(ge=-1e3, le=1e3)] = 1.0,
                    lr: Annotated[float, Query(gt=0, le=10)] = 0.09,
                    steps: Annotated[int, Query(ge=1, le=200)] = 40):
        """The descent path over f's contours (f of x and y), and predicted vs actual drop per step."""
        expr = run(parse, expression)
        if set(expr.variables) - {"x", "y"}:
            raise ServiceError(422, "the picture takes a function of x and y only", "invalid_expression")
        start = {"x": x, "y": y}
        r = run(calculus.gradient_descent, expr, {k: start[k] for k in expr.variables}, lr, steps)
        return Response(plots.descent_png(expr, r), media_type="image/png")

    @router.post("/softmax-ce")
    def softmax_ce(body: schemas.SoftmaxIn) -> dict[str, Any]:
        """∂CE/∂z = softmax(z) − y and the softmax Jacobian diag(s) − ssᵀ, against autograd and jacrev."""
        r = run(calculus.softmax_ce_report, body.z, body.y)
        return lists(r | {"checked": checked("softmax(z) − y = autograd; diag(s) − ssᵀ = jacrev", r["error"])})

    return router


def numerics_router() -> APIRouter:
    router = APIRouter(prefix="/numerics", tags=["numerics"])
    curve = cache(numerics.error_curve)
    png = cache(lambda: plots.fd_error_png(curve()))

    @router.get("/fd-error")
    def fd_error() -> dict[str, Any]:
        """Finite-difference error vs step h, float32 and float64: the best h measured and the advice."""
        c = curve()
        return lists({k: c[k] for k in ("function", "x", "autograd", "best_h", "float32_at_1e-8", "advice")} | {
            "checked": checked("central difference (float64, best h) = autograd, relative",
                               c["best_h"]["float64"]["central_error"])})

    @router.get("/fd-error.png", responses={200: PNG}, response_class=Response)
    def fd_error_png():
        """The U-shaped error curve: round-off on the left, truncation on the right."""
        return Response(png(), media_type="image/png")

    return router


def probability_router() -> APIRouter:
    router = APIRouter(prefix="/probability", tags=["probability"])

    @router.post("/expectation")
    def expectation(body: schemas.ExpectationIn) -> dict[str, Any]:
        """E[X], Var[X] by formula, by Monte Carlo with a 95% interval, and by scipy.stats."""
        r = run(probability.expectation, body.family, body.params, body.n, body.seed)
        return lists(r | {"checked": checked("formula mean and variance = scipy.stats", r["formula_vs_scipy_error"])})

    @router.post("/bayes")
    def bayes(body: schemas.BayesIn) -> dict[str, Any]:
        """Posterior over hypotheses from priors and likelihoods, with a simulation beside it."""
        r = run(probability.bayes, body.prior, body.likelihood)
        sim = probability.bayes_by_simulation(body.prior, body.likelihood, 200_000)
        err = max(abs(a - b) for a, b in zip(r["posterior"], sim, strict=True))
        return lists(r | {"simulated_posterior": sim,
                          "checked": checked("P(h|E) = P(E|h)P(h)/P(E) vs 200k simulated draws", err)})

    @router.post("/kl")
    def kl(body: schemas.KlIn) -> dict[str, Any]:
        """KL(p‖q) and KL(q‖p) in nats and bits; entropy and cross-entropy; torch's kl_divergence beside."""
        r = run(probability.kl_report, body.family, body.p, body.q)
        D = torch.distributions
        make = {"bernoulli": lambda v: D.Bernoulli(probs=torch.tensor(v[0], dtype=torch.float64)),
                "gaussian": lambda v: D.Normal(*torch.tensor(v, dtype=torch.float64)),
                "categorical": lambda v: D.Categorical(probs=torch.tensor(v, dtype=torch.float64))}[body.family]
        ref = float(D.kl_divergence(make(body.p), make(body.q)))
        err = abs(ref - r["kl_pq_nats"]) if math.isfinite(r["kl_pq_nats"]) else 0.0
        return lists(r | {"torch_kl_pq": ref, "checked": checked("KL(p‖q) formula = torch kl_divergence", err)})

    @router.post("/mle")
    def mle(body: schemas.MleIn) -> dict[str, Any]:
        """Gaussian MLE = least squares, or categorical MLE = empirical frequencies (= minimum cross-entropy)."""
        if body.kind == "gaussian":
            r = run(probability.gaussian_mle_is_mse, body.n, body.d, body.noise, body.seed)
            line = "argmax Gaussian likelihood = argmin MSE"
        else:
            r = run(probability.categorical_mle_is_cross_entropy, body.counts)
            line = "argmax categorical likelihood = empirical frequencies"
        return lists(r | {"checked": checked(line, r["max_difference"])})

    @router.post("/perplexity")
    def perplexity(body: schemas.PerplexityIn) -> dict[str, Any]:
        """A unigram model of one text scored on another: cross-entropy per token and exp(CE)."""
        r = run(probability.perplexity, body.train or probability.TRAIN_TEXT, body.test or probability.TEST_TEXT,
                body.alpha)
        return lists(r | {"checked": checked("exp(CE in nats) = 2^(CE in bits)",
                                             abs(r["perplexity"] - r["perplexity_from_bits"]))})

    return router


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    app = create_service("lab-01 math for ML", lab="lab01", settings=settings,
                         warmup={"identities": calculus.self_check})
    app.include_router(vectors_router())
    app.include_router(matrices_router())
    app.include_router(tensors_router())
    app.include_router(calculus_router())
    app.include_router(numerics_router())
    app.include_router(probability_router())
    return app
