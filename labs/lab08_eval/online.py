"""Online A/B evaluation: the peeking problem, and a sequential test that may be watched continuously.

    curl -s localhost:8008/online/peeking -H 'content-type: application/json' -d '{"sims": 400}'
    python -m labs.lab08_eval.online        # the table the README shows (A/A and A/B, 2,000 runs each)

A simulated A/B test: users arrive in pairs, one to each arm; arm A converts with p_a, arm B with p_b
(p_b = p_a is an A/A test: every rejection is a false positive).

naive peeking   after every n/K users per arm, a pooled two-proportion z-test,
                z = (p̂_b − p̂_a) / √(p̄(1 − p̄)·2/n);  stop and ship at the first look with |z| > z_{1−α/2}.
                Each look alone has size α, but the looks share their data (corr(Z_i, Z_j) = √(n_i/n_j)),
                so P(some |Z_k| > z) = 1 − P(all |Z_k| ≤ z) grows with K: ≈ 0.14 for 5 looks, 0.19 for 10
                (Armitage, McPherson & Rowe 1969; `peeking_fpr_exact` integrates that multivariate normal).
fixed horizon   one test at the planned n: size α, but no early stop.
SPRT            Wald's sequential probability ratio test on the discordant pairs (exactly one arm converts).
                Under H0 the converter is B with θ = ½; under H1 with θ1 = p_b(1 − p_a) / (p_b(1 − p_a) +
                p_a(1 − p_b)) for the smallest effect worth finding. After every pair,
                Λ += log(2θ1) if B converted alone, log(2(1 − θ1)) if A converted alone.
                Reject H0 when Λ ≥ log(2/α) (two one-sided tests, B better and A better, α/2 each); accept
                H0 on that side when Λ ≤ log(β / (1 − α/2)). The likelihood ratio is a martingale under
                H0, so by Ville's inequality P(sup Λ ≥ log(2/α)) ≤ α/2 per side however often it is
                looked at: the test may be checked after every single user and still holds its α.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

from labs.lab08_eval.stats import StatsError

MAX_CELLS = 4_000_000  # sims × users per arm: the simulation holds a few arrays of this size (~60 MB)


@dataclass(frozen=True)
class ABDesign:
    p_a: float = 0.10
    p_b: float | None = None  # None: an A/A test (p_b = p_a)
    n_per_arm: int = 2000
    looks: int = 10
    alpha: float = 0.05
    beta: float = 0.2
    mde: float = 0.03  # the smallest absolute lift the SPRT's H1 is built for

    def check(self, sims: int) -> None:
        p_b = self.p_a if self.p_b is None else self.p_b
        if not (0 < self.p_a < 1 and 0 < p_b < 1 and 0 < self.p_a + self.mde < 1):
            raise StatsError("p_a, p_b and p_a + mde must be in (0, 1)")
        t1 = theta1(self.p_a, self.mde)
        if not 0 < t1 < 1 or t1 == 0.5:  # the SPRT's steps are log(2·θ1) and log(2·(1 − θ1)): both finite, not 0
            raise StatsError("mde must be non-zero, and p_a and p_a + mde far enough from 0 and 1 that the "
                             f"SPRT's likelihood ratio is finite (θ1 = {t1:.6g})")
        if not 1 <= self.looks <= self.n_per_arm:
            raise StatsError("looks must be between 1 and n_per_arm")
        if sims * self.n_per_arm > MAX_CELLS:
            raise StatsError(f"sims × n_per_arm must be at most {MAX_CELLS:,} (here {sims * self.n_per_arm:,})")


def look_sizes(n: int, looks: int) -> np.ndarray:
    """Users per arm at each look: equally spaced, the last at n."""
    return np.unique(np.ceil(np.arange(1, looks + 1) * n / looks).astype(int))


def z_two_proportions(x_a: np.ndarray, x_b: np.ndarray, n: np.ndarray | int) -> np.ndarray:
    """Pooled two-proportion z statistic with n users in each arm (0 where nothing converted yet)."""
    pooled = (x_a + x_b) / (2 * n)
    se = np.sqrt(pooled * (1 - pooled) * 2 / n)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(se > 0, (x_b / n - x_a / n) / np.where(se > 0, se, 1), 0.0)


def theta1(p_a: float, mde: float) -> float:
    """P(B is the converter | exactly one converted) when B's rate is p_a + mde."""
    p_b = p_a + mde
    return p_b * (1 - p_a) / (p_b * (1 - p_a) + p_a * (1 - p_b))


def simulate(design: ABDesign, sims: int = 2000, seed: int = 0) -> dict:
    """Run `sims` A/B tests; how often each procedure declares a difference, and when it stops."""
    design.check(sims)
    p_b = design.p_a if design.p_b is None else design.p_b
    rng = np.random.default_rng(seed)
    n, alpha = design.n_per_arm, design.alpha
    a = rng.random((sims, n), dtype=np.float32) < design.p_a
    b = rng.random((sims, n), dtype=np.float32) < p_b

    # naive and fixed-horizon z-tests at the looks
    sizes = look_sizes(n, design.looks)
    x_a, x_b = np.cumsum(a, axis=1)[:, sizes - 1], np.cumsum(b, axis=1)[:, sizes - 1]
    z = z_two_proportions(x_a, x_b, sizes[None, :])
    crit = sps.norm.ppf(1 - alpha / 2)
    over = np.abs(z) > crit
    naive_reject = over.any(axis=1)
    naive_stop = np.where(naive_reject, sizes[np.argmax(over, axis=1)], n)
    fixed_reject = over[:, -1]

    # SPRT after every pair, two one-sided tests at α/2 each
    t1 = theta1(design.p_a, design.mde)
    b_only, a_only = (b & ~a), (a & ~b)
    del a, b
    upper, lower = math.log(2 / alpha), math.log(design.beta / (1 - alpha / 2))
    up, down = np.float32(math.log(2 * t1)), np.float32(math.log(2 * (1 - t1)))
    step = b_only * up + a_only * down  # the "B is better" test's Λ steps (float32: half the memory)
    mirror = a_only * up + b_only * down  # the "A is better" test's
    del b_only, a_only
    decided = []
    for increments in (step, mirror):
        llr = np.cumsum(increments, axis=1, dtype=np.float32)
        hit_up, hit_low = llr >= upper, llr <= lower
        first_up = np.where(hit_up.any(axis=1), np.argmax(hit_up, axis=1), n)
        first_low = np.where(hit_low.any(axis=1), np.argmax(hit_low, axis=1), n)
        # a side rejects if it reaches the upper boundary before the lower one; else it stops at accept
        rejects = first_up < first_low
        decided.append((rejects, np.where(rejects, first_up + 1, np.minimum(first_low + 1, n))))
    (rej_b, stop_b), (rej_a, stop_a) = decided
    sprt_reject = rej_b | rej_a
    # the run stops at the first rejection, or when both sides have accepted (or at the horizon)
    sprt_stop = np.where(rej_b & rej_a, np.minimum(stop_b, stop_a),
                         np.where(rej_b, stop_b, np.where(rej_a, stop_a, np.maximum(stop_b, stop_a))))

    def row(name: str, reject: np.ndarray, stop: np.ndarray | int, how: str) -> dict:
        rate = float(reject.mean())
        return {"procedure": name, "how": how, "rejects": round(rate, 4),
                "ci95": [round(v, 4) for v in wilson(int(reject.sum()), sims)],
                "mean_users_per_arm": round(float(np.mean(stop)), 1)}

    aa = design.p_b is None or p_b == design.p_a
    return {"design": {**design.__dict__, "p_b": p_b, "sims": sims, "seed": seed, "looks_at": sizes.tolist()},
            "kind": "A/A: every rejection is a false positive" if aa else "A/B: rejections are power",
            "rows": [row("fixed horizon", fixed_reject, n, f"one z-test at n = {n}"),
                     row("naive peeking", naive_reject, naive_stop,
                         f"z-test at {len(sizes)} looks, stop at the first p < {alpha}"),
                     row("SPRT", sprt_reject, sprt_stop,
                         f"Wald SPRT after every pair, thresholds log(2/α) and log(β/(1−α/2)), mde {design.mde}")],
            "naive_peeking_exact": round(peeking_fpr_exact(sizes.tolist(), alpha), 4) if aa else None}


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval for k successes in n (the Monte Carlo error of a simulated rate)."""
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def peeking_fpr_exact(sizes: list[int], alpha: float = 0.05, grid: int = 401) -> float:
    """P(some |Z_k| > z_{1−α/2}) for z-tests at cumulative sizes n_1 < ... < n_K, in the normal limit.

    The sum S_k of n_k unit-variance increments is Brownian: S_{k+1} = S_k + N(0, n_{k+1} − n_k), and a
    run continues past look k while |S_k| ≤ z·√n_k. The density of still-running runs is carried from
    look to look on a grid (the recursive integration of Armitage, McPherson & Rowe); what is left after
    the last look is P(no look rejects). Equivalent to 1 − a K-dimensional normal box probability with
    corr(Z_i, Z_j) = √(n_i/n_j) (the tests check it against SciPy's), but O(K·grid²), not exponential."""
    n = np.asarray(sizes, dtype=float)
    if len(n) == 0 or np.any(np.diff(n) <= 0) or n[0] <= 0:
        raise StatsError("sizes must be positive and increasing")
    crit = sps.norm.ppf(1 - alpha / 2)
    u = np.linspace(-1.0, 1.0, grid)  # the continuation region at each look, in units of z·√n_k
    weights = np.full(grid, u[1] - u[0])
    weights[0] = weights[-1] = (u[1] - u[0]) / 2  # trapezoid rule
    s = crit * math.sqrt(n[0]) * u
    density = sps.norm.pdf(s, scale=math.sqrt(n[0]))
    dx = crit * math.sqrt(n[0]) * weights
    for k in range(1, len(n)):
        s_next = crit * math.sqrt(n[k]) * u
        var = n[k] - n[k - 1]
        step = np.exp(-((s_next[:, None] - s[None, :]) ** 2) / (2 * var)) / math.sqrt(2 * math.pi * var)
        density = step @ (density * dx)
        s, dx = s_next, crit * math.sqrt(n[k]) * weights
    return float(1.0 - density @ dx)


def main() -> None:
    for design in (ABDesign(), ABDesign(p_b=0.13)):
        out = simulate(design, sims=2000, seed=0)
        print(f"{out['kind']}  (p_a={design.p_a}, p_b={out['design']['p_b']}, n={design.n_per_arm}/arm, "
              f"{design.looks} looks, 2,000 simulated tests)")
        for r in out["rows"]:
            print(f"  {r['procedure']:14} rejects {r['rejects']:.3f}  95% CI {r['ci95']}  "
                  f"mean users/arm at stop {r['mean_users_per_arm']:7.1f}   ({r['how']})")
        if out["naive_peeking_exact"] is not None:
            print(f"  naive peeking, exact (multivariate normal): {out['naive_peeking_exact']:.3f}")
    print(json.dumps({"exact_fpr_by_looks": {k: round(peeking_fpr_exact(list(range(1, k + 1))), 4)
                                             for k in (1, 2, 5, 10, 20)}}))


if __name__ == "__main__":
    main()
