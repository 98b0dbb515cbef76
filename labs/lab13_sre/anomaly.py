"""Anomaly and change-point detection from scratch, scored against labels; the LLM explains, never detects.

    curl -s localhost:8013/anomaly/detect -H 'content-type: application/json' -d '{"series": [5, 5.1, 4.9, 5, 5.2, 5, 4.8, 5.1, 9, 9.2, 9.1, 8.9], "detector": "cusum"}'
    python -m labs.lab13_sre.anomaly            # precision / recall per detector; the Nile change point

Detectors:
  ewma      s_t = alpha x_t + (1 - alpha) s_{t-1};  v_t = (1 - alpha)(v_{t-1} + alpha r_t^2),  r_t = x_t - s_{t-1}
            flag |r_t| / sqrt(v_{t-1}) > k   (the residual against the forecast, in EW standard deviations)
  zscore    z_t = (x_t - mean) / std over the whole series; flag |z_t| > k
  cusum     Page's two-sided CUSUM on standardised x (mean and std of a warm-up prefix):
            S+_t = max(0, S+_{t-1} + z_t - kappa),  S-_t = max(0, S-_{t-1} - z_t - kappa); alarm when either > h,
            then restart both at zero
  seasonal  classical additive decomposition x = trend + seasonal + resid (trend: centred moving average
            over one period; seasonal: per-phase mean of x - trend, centred); flag robust
            |resid - median| / (1.4826 MAD) > k
Change point (offline): the OLS-residual CUSUM b_t = sum_{i<=t}(x_i - mean) / sqrt(sum (x_i - mean)^2);
argmax |b_t| is the change, sup |b_t| the statistic (p from the Kolmogorov distribution). The Nile's
flow (statsmodels) breaks after 1898, the Aswan dam's year.

Scoring: a detection is a true positive if it falls within `tolerance` points after a labelled anomaly
start (or on it); precision = TP detections / detections, recall = labelled anomalies found / labelled.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from shared.llm import Model


def ewma(x: np.ndarray, alpha: float) -> np.ndarray:
    s = np.empty(len(x))
    s[0] = x[0]
    for t in range(1, len(x)):
        s[t] = alpha * x[t] + (1 - alpha) * s[t - 1]
    return s


def ewm_var(x: np.ndarray, alpha: float) -> np.ndarray:
    """The exponentially weighted variance around the EWMA (what pandas' ewm(adjust=False).var(bias=True) is)."""
    mean, var = x[0], 0.0
    out = np.zeros(len(x))
    for t in range(1, len(x)):
        r = x[t] - mean
        mean = mean + alpha * r
        var = (1 - alpha) * (var + alpha * r * r)
        out[t] = var
    return out


def ewma_scores(x: np.ndarray, alpha: float = 0.3, warmup: int = 5) -> np.ndarray:
    s, v = ewma(x, alpha), ewm_var(x, alpha)
    z = np.zeros(len(x))
    for t in range(max(1, warmup), len(x)):
        sd = math.sqrt(v[t - 1]) if v[t - 1] > 0 else 0.0
        z[t] = (x[t] - s[t - 1]) / sd if sd > 0 else 0.0
    return z


def zscores(x: np.ndarray) -> np.ndarray:
    sd = x.std()
    return (x - x.mean()) / sd if sd > 0 else np.zeros(len(x))


def cusum_path(z: np.ndarray, kappa: float) -> tuple[np.ndarray, np.ndarray]:
    """Page's upper and lower CUSUM without restarts (for the Lindley identity test and plots)."""
    up, lo = np.zeros(len(z)), np.zeros(len(z))
    for t in range(len(z)):
        up[t] = max(0.0, (up[t - 1] if t else 0.0) + z[t] - kappa)
        lo[t] = max(0.0, (lo[t - 1] if t else 0.0) - z[t] - kappa)
    return up, lo


def cusum_alarms(x: np.ndarray, kappa: float = 0.5, h: float = 5.0, warmup: int = 10) -> list[int]:
    ref = x[:warmup]
    sd = ref.std() or (abs(ref.mean()) * 0.01 + 1e-9)
    z = (x - ref.mean()) / sd
    alarms, up, lo = [], 0.0, 0.0
    for t in range(warmup, len(x)):
        up = max(0.0, up + z[t] - kappa)
        lo = max(0.0, lo - z[t] - kappa)
        if up > h or lo > h:
            alarms.append(t)
            up = lo = 0.0
    return alarms


def decompose(x: np.ndarray, period: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Classical additive decomposition (as statsmodels.tsa.seasonal_decompose, two-sided): trend, seasonal, resid."""
    n = len(x)
    if period % 2 == 0:  # a 2 x period moving average keeps it centred
        w = np.r_[0.5, np.ones(period - 1), 0.5] / period
    else:
        w = np.ones(period) / period
    half = len(w) // 2
    trend = np.full(n, np.nan)
    for t in range(half, n - half):
        trend[t] = float(np.dot(w, x[t - half:t + half + 1]))
    detrended = x - trend
    phase_means = np.array([np.nanmean(detrended[i::period]) for i in range(period)])
    phase_means -= phase_means.mean()
    seasonal = np.tile(phase_means, n // period + 1)[:n]
    return trend, seasonal, x - trend - seasonal


def seasonal_scores(x: np.ndarray, period: int) -> np.ndarray:
    _, _, resid = decompose(x, period)
    ok = ~np.isnan(resid)
    med = np.median(resid[ok])
    mad = np.median(np.abs(resid[ok] - med)) * 1.4826
    z = np.zeros(len(x))
    z[ok] = (resid[ok] - med) / mad if mad > 0 else 0.0
    return z


def change_point(x: np.ndarray) -> dict[str, Any]:
    """Offline OLS-CUSUM: where the level shifts, and how sure (as statsmodels' breaks_cusumolsresid)."""
    from scipy import stats  # scipy costs ~0.3 s to import; only this function needs it

    e = x - x.mean()
    denom = math.sqrt(float((e**2).sum()))
    b = np.cumsum(e) / denom if denom > 0 else np.zeros(len(x))
    t = int(np.argmax(np.abs(b)))
    sup = float(np.abs(b).max())
    return {"index": t, "statistic": round(sup, 6), "p_value": float(stats.kstwobign.sf(sup)),
            "mean_before": round(float(x[:t + 1].mean()), 4),
            "mean_after": round(float(x[t + 1:].mean()), 4) if t + 1 < len(x) else None}


DETECTORS = ("ewma", "zscore", "cusum", "seasonal")


def detect(x: np.ndarray, detector: str, *, k: float = 3.0, alpha: float = 0.3, period: int = 24,
           kappa: float = 0.5, h: float = 5.0, warmup: int = 10) -> list[int]:
    """Indices flagged by one detector."""
    if detector == "cusum":
        return cusum_alarms(x, kappa, h, warmup)
    if detector == "ewma":
        z = ewma_scores(x, alpha, warmup)
    elif detector == "zscore":
        z = zscores(x)
    elif detector == "seasonal":
        if len(x) < 2 * period + 1:
            raise ValueError(f"the seasonal detector needs at least two periods ({2 * period + 1} points)")
        z = seasonal_scores(x, period)
    else:
        raise ValueError(f"unknown detector {detector!r}; one of {DETECTORS}")
    return [int(i) for i in np.flatnonzero(np.abs(z) > k)]


def score(detected: list[int], labelled: list[int], tolerance: int = 3) -> dict[str, Any]:
    tp_det = [d for d in detected if any(0 <= d - a <= tolerance for a in labelled)]
    found = [a for a in labelled if any(0 <= d - a <= tolerance for d in detected)]
    p = len(tp_det) / len(detected) if detected else (1.0 if not labelled else 0.0)
    r = len(found) / len(labelled) if labelled else 1.0
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": round(p, 4), "recall": round(r, 4), "f1": round(f1, 4), "detections": len(detected),
            "labelled": len(labelled)}


def labelled_series(seed: int = 13, days: int = 7) -> dict[str, Any]:
    """An hourly request-rate series with a daily cycle, four spikes, one dip and a level shift, labelled."""
    rng = np.random.default_rng(seed)
    n = 24 * days
    t = np.arange(n)
    x = 1000 + 400 * np.sin(2 * np.pi * (t - 6) / 24) + rng.normal(0, 25, n)
    anomalies = sorted(rng.choice(np.arange(30, n - 40), size=5, replace=False).tolist())
    for i, a in enumerate(anomalies):
        x[a] += (-1 if i == 2 else 1) * rng.uniform(250, 400)
    shift = n - 30
    x[shift:] += 300
    return {"name": "checkout_requests_per_hour", "period": 24, "values": [round(float(v), 2) for v in x],
            "anomalies": anomalies, "change_point": shift}


def nile() -> tuple[list[int], np.ndarray]:
    import statsmodels.api as sm  # heavy (about a second); only the Nile example needs it

    data = sm.datasets.nile.load_pandas().data
    return data["year"].astype(int).tolist(), data["volume"].to_numpy(dtype=float)


def benchmark(seed: int = 13) -> dict[str, Any]:
    """Precision / recall of every detector on the labelled series (spikes and the level shift)."""
    s = labelled_series(seed)
    x = np.asarray(s["values"])
    labels = s["anomalies"] + [s["change_point"]]
    return {d: score(detect(x, d, period=s["period"], k=3.5 if d != "cusum" else 3.0), labels)
            for d in DETECTORS}


def plot_png(detector: str) -> bytes:
    """The labelled week with one detector's flags, as a PNG (GET /anomaly/plot.png)."""
    # matplotlib costs about a second to import, and only this route draws; shared.plots picks the
    # Agg backend before pyplot loads
    from shared.plots import plt, png

    s = labelled_series()
    x = np.asarray(s["values"])
    found = detect(x, detector, period=s["period"], k=3.0 if detector == "cusum" else 3.5)
    fig, ax = plt.subplots(figsize=(9, 3))
    ax.plot(x, lw=1, label="requests/hour")
    labelled = s["anomalies"] + [s["change_point"]]
    ax.scatter(labelled, x[labelled], s=60, facecolors="none", edgecolors="g", label="labelled")
    ax.scatter(found, x[found], s=14, c="r", label=f"{detector} flags")
    ax.set_xlabel("hour of the week")
    ax.set_ylabel("requests per hour")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8)  # beside the series, not over it
    ax.set_title(f"{detector}: {score(found, labelled)}", fontsize=8)
    return png(fig, dpi=80)


# --- the LLM as explainer -------------------------------------------------------------------------

@dataclass
class Explanation:
    text: str
    cited: list[str]
    ungrounded: list[str]  # ids the text names that are not in the context: a claim made up

    def as_dict(self) -> dict[str, Any]:
        return {"text": self.text, "cited": self.cited, "ungrounded": self.ungrounded,
                "grounded": not self.ungrounded}


def explain(model: Model, series: str, anomaly: dict[str, Any], changes: list[dict[str, Any]],
            mock: dict[str, Any] | None = None) -> Explanation:
    """Ask the model to explain one detected anomaly from the context; check every id it cites is in it."""
    prompt = ("A detector flagged this anomaly. Explain it for the on-call engineer using only the context; "
              "say so if nothing in it explains the anomaly.\n```json\n" +
              json.dumps({"series": series, "anomaly": anomaly, "changes": changes}) + "\n```")
    text = model.complete(prompt, temperature=0, mock=mock).text or ""
    cited = sorted(set(re.findall(r"\b[DC]-[\w-]+\b", text)))
    known = {str(c.get("id")) for c in changes}
    return Explanation(text, cited, [c for c in cited if c not in known])


def main() -> None:
    years, flow = nile()
    cp = change_point(flow)
    print(f"Nile: change after {years[cp['index']]} (statistic {cp['statistic']}, p = {cp['p_value']:.2e}); "
          f"mean {cp['mean_before']} -> {cp['mean_after']}")
    alarms = cusum_alarms(flow, kappa=0.5, h=4.0, warmup=20)
    print(f"Nile, online CUSUM: first alarm in {years[alarms[0]] if alarms else None}")
    for d, res in benchmark().items():
        print(f"{d:9s} {res}")


if __name__ == "__main__":
    main()
