"""Code-change risk: features from a git history, a logistic model, and calibrated probabilities.

    curl -s localhost:8013/change-risk -H 'content-type: application/json' -d '{"source": "fixture"}'
    python -m labs.lab13_sre.change_risk              # fit on the fixture history; score this repository

Features per change (what the chapter lists): log size (lines added + deleted), files touched, churn
(how often the touched files changed in the previous 50 changes), whether tests changed, author
familiarity (share of the touched files the author changed before), off-hours (before 08:00 or from
20:00 UTC), and whether it is a revert/hotfix.

Model: logistic regression p = sigma(w . z + b) on standardised features z, fitted by Newton's method
(IRLS) with a small ridge lambda ||w||^2 / 2:

    g = X^T (p - y) + lambda w,   H = X^T diag(p (1 - p)) X + lambda I,   w <- w - H^{-1} g

Calibration, not only ranking: Brier = mean (p - y)^2; ECE = sum_b (n_b / n) |mean p_b - mean y_b|
over 10 equal-width bins; and AUC (Mann-Whitney) for the ranking. Fitted on the first 70% of the
fixture history (fixtures/lab13/changes.jsonl: labelled incident-causing changes, in time order) and
measured on the last 30%. On this repository there are no incident labels; a weak label stands in
(SZZ-style: a later change within 20 commits whose message says fix/revert/regression touched one
of its files), and the report says so.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from labs.lab13_sre.estate import FIXTURES

FEATURES = ("log_size", "files", "churn", "tests_changed", "familiarity", "off_hours", "revert_or_hotfix")
FIXTURE_HISTORY = FIXTURES / "changes.jsonl"
_FIX = re.compile(r"\b(fix|fixes|fixed|revert|regression|hotfix)\b", re.IGNORECASE)


@dataclass
class Change:
    sha: str
    author: str
    ts: int
    subject: str
    files: dict[str, tuple[int, int]]  # path -> (added, deleted)
    label: int | None = None


def git_history(repo: Path, limit: int = 300) -> list[Change]:
    """The repository's last `limit` non-merge commits, oldest first, with per-file line counts."""
    out = subprocess.run(["git", "-C", str(repo), "log", "--no-merges", f"-n{limit}", "--numstat",
                          "--format=\x1e%H\x1f%an\x1f%at\x1f%s"], capture_output=True, text=True, timeout=30)
    if out.returncode != 0:
        raise ValueError(f"not a git repository or git failed: {out.stderr.strip()[:200]}")
    changes = []
    for block in out.stdout.split("\x1e")[1:]:
        head, *lines = block.strip("\n").split("\n")
        sha, author, ts, subject = head.split("\x1f", 3)
        files = {}
        for ln in lines:
            parts = ln.split("\t")
            if len(parts) == 3:
                a, d, path = parts
                files[path] = (int(a) if a.isdigit() else 0, int(d) if d.isdigit() else 0)
        changes.append(Change(sha, author, int(ts), subject, files))
    return changes[::-1]


def load_fixture(path: Path = FIXTURE_HISTORY) -> list[Change]:
    rows = [json.loads(ln) for ln in path.read_text().splitlines() if ln.strip()]
    return [Change(r["sha"], r["author"], r["ts"], r["subject"], {k: tuple(v) for k, v in r["files"].items()},
                   r["caused_incident"]) for r in rows]


def features(changes: list[Change], window: int = 50) -> np.ndarray:
    rows = []
    touched_by: dict[str, set[str]] = {}
    for i, c in enumerate(changes):
        recent = changes[max(0, i - window):i]
        counts: dict[str, int] = {}
        for r in recent:
            for f in r.files:
                counts[f] = counts.get(f, 0) + 1
        size = sum(a + d for a, d in c.files.values())
        files = list(c.files)
        known = touched_by.setdefault(c.author, set())
        hour = (c.ts // 3600) % 24
        rows.append([math.log1p(size), float(len(files)),
                     float(np.mean([counts.get(f, 0) for f in files])) if files else 0.0,
                     float(any(re.search(r"(^|/)tests?/|test_", f) for f in files)),
                     (sum(f in known for f in files) / len(files)) if files else 1.0,
                     float(hour < 8 or hour >= 20),
                     float(bool(re.search(r"\b(revert|hotfix)\b", c.subject, re.IGNORECASE)))])
        known.update(files)
    return np.asarray(rows, dtype=float)


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-np.clip(z, -500, 500)))


@dataclass
class Logistic:
    w: np.ndarray
    b: float
    mu: np.ndarray
    sd: np.ndarray

    def predict(self, X: np.ndarray) -> np.ndarray:
        return sigmoid(((X - self.mu) / self.sd) @ self.w + self.b)


def fit(X: np.ndarray, y: np.ndarray, lam: float = 1e-2, iters: int = 50) -> Logistic:
    """Newton / IRLS on standardised features; the intercept is not penalised."""
    mu, sd = X.mean(axis=0), X.std(axis=0)
    sd = np.where(sd > 0, sd, 1.0)
    Z = np.c_[(X - mu) / sd, np.ones(len(X))]
    beta = np.zeros(Z.shape[1])
    reg = np.full(Z.shape[1], lam)
    reg[-1] = 0.0
    for _ in range(iters):
        p = sigmoid(Z @ beta)
        g = Z.T @ (p - y) + reg * beta
        H = (Z * (p * (1 - p))[:, None]).T @ Z + np.diag(reg) + 1e-9 * np.eye(Z.shape[1])
        step = np.linalg.solve(H, g)
        beta -= step
        if np.abs(step).max() < 1e-10:
            break
    return Logistic(beta[:-1], float(beta[-1]), mu, sd)


def brier(p: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean((p - y) ** 2))


def ece(p: np.ndarray, y: np.ndarray, bins: int = 10) -> float:
    idx = np.minimum((p * bins).astype(int), bins - 1)
    return float(sum((idx == b).sum() / len(p) * abs(p[idx == b].mean() - y[idx == b].mean())
                     for b in range(bins) if (idx == b).any()))


def reliability(p: np.ndarray, y: np.ndarray, bins: int = 10) -> list[dict[str, float]]:
    idx = np.minimum((p * bins).astype(int), bins - 1)
    return [{"bin": f"{b / bins:.1f}-{(b + 1) / bins:.1f}", "n": int((idx == b).sum()),
             "mean_p": round(float(p[idx == b].mean()), 4), "observed": round(float(y[idx == b].mean()), 4)}
            for b in range(bins) if (idx == b).any()]


def auc(p: np.ndarray, y: np.ndarray) -> float | None:
    """Mann-Whitney: the chance a random positive scores above a random negative (ties count half)."""
    pos, neg = p[y == 1], p[y == 0]
    if not len(pos) or not len(neg):
        return None
    greater = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return float(greater / (len(pos) * len(neg)))


def weak_labels(changes: list[Change], horizon: int = 20) -> np.ndarray:
    """SZZ-style: 1 when a later fix/revert within `horizon` changes touches one of this change's files."""
    y = np.zeros(len(changes))
    for i, c in enumerate(changes):
        for later in changes[i + 1:i + 1 + horizon]:
            if _FIX.search(later.subject) and set(later.files) & set(c.files):
                y[i] = 1
                break
    return y


def fixture_report(split: float = 0.7) -> tuple[Logistic, dict[str, Any]]:
    changes = load_fixture()
    X, y = features(changes), np.array([c.label for c in changes], dtype=float)
    cut = int(len(changes) * split)
    model = fit(X[:cut], y[:cut])
    p = model.predict(X[cut:])
    yt = y[cut:]
    base = np.full(len(yt), y[:cut].mean())
    return model, {
        "history": "fixture", "n_train": cut, "n_test": len(yt), "incident_rate_test": round(float(yt.mean()), 4),
        "weights": {f: round(float(w), 4) for f, w in zip(FEATURES, model.w, strict=True)},
        "test": {"auc": round(auc(p, yt), 4), "brier": round(brier(p, yt), 4),
                 "brier_base_rate": round(brier(base, yt), 4), "ece": round(ece(p, yt), 4),
                 "reliability": reliability(p, yt)},
    }


def score_repo(repo: Path, model: Logistic, limit: int = 200, top: int = 5) -> dict[str, Any]:
    changes = git_history(repo, limit)
    if len(changes) < 5:
        raise ValueError(f"{repo} has {len(changes)} commits; need at least 5")
    X = features(changes)
    p = model.predict(X)
    y = weak_labels(changes)
    order = np.argsort(-p)[:top]
    return {"history": "repository", "commits": len(changes), "mean_risk": round(float(p.mean()), 4),
            "weak_label_rate": round(float(y.mean()), 4),
            "weak_label_auc": round(auc(p, y), 4) if auc(p, y) is not None else None,
            "riskiest": [{"sha": changes[i].sha[:10], "subject": changes[i].subject[:90], "risk": round(float(p[i]), 4),
                          **{f: round(float(v), 3) for f, v in zip(FEATURES, X[i], strict=True)}} for i in order]}


def write_fixture(path: Path = FIXTURE_HISTORY, n: int = 400, seed: int = 13) -> None:
    """The fixture history: synthetic changes whose incident odds follow known weights (so calibration is checkable)."""
    rng = np.random.default_rng(seed)
    authors = ["ana", "bo", "chen", "dev", "eli", "fay", "gus", "hal"]
    files = [f"services/{s}/{m}.py" for s in ("checkout", "payments", "auth", "search", "gateway")
             for m in ("handler", "client", "config", "models")] + [f"tests/test_{s}.py" for s in ("checkout", "auth")]
    hot = set(rng.choice(files[:20], 5, replace=False).tolist())
    ts = 1_735_000_000
    lines = []
    seen: dict[str, set[str]] = {}
    for i in range(n):
        ts += int(rng.exponential(3 * 3600))
        author = authors[int(rng.integers(len(authors)))]
        k = int(rng.integers(1, 6))
        touched = rng.choice(files, k, replace=False).tolist()
        sizes = {f: (int(rng.lognormal(3, 1.2)), int(rng.lognormal(2, 1.2))) for f in touched}
        size = sum(a + d for a, d in sizes.values())
        tests = any(f.startswith("tests/") for f in touched)
        familiar = sum(f in seen.get(author, set()) for f in touched) / k
        hour = (ts // 3600) % 24
        logit = (-3.2 + 0.45 * (math.log1p(size) - 4) + 0.25 * (k - 3) + 0.9 * sum(f in hot for f in touched) / k
                 - 0.9 * tests - 1.2 * (familiar - 0.5) + 0.8 * (hour < 8 or hour >= 20))
        label = int(rng.random() < 1 / (1 + math.exp(-logit)))
        seen.setdefault(author, set()).update(touched)
        lines.append(json.dumps({"sha": f"{rng.integers(16**10):010x}", "author": author, "ts": ts,
                                 "subject": f"{'checkout' if 'checkout' in touched[0] else 'svc'}: change {i}",
                                 "files": sizes, "caused_incident": label}))
    path.write_text("\n".join(lines) + "\n")


def main() -> None:
    from shared.config import REPO_ROOT

    ap = argparse.ArgumentParser(description="change risk: fit on the fixture, score this repository")
    ap.add_argument("--write-fixture", action="store_true", help="regenerate fixtures/lab13/changes.jsonl")
    args = ap.parse_args()
    if args.write_fixture:
        write_fixture()
    model, report = fixture_report()
    print(json.dumps(report, indent=2))
    print(json.dumps(score_repo(REPO_ROOT, model), indent=2))


if __name__ == "__main__":
    main()
