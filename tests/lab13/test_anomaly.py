"""Detectors against pandas, scipy and statsmodels on random series; the Nile; scoring; the explainer."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.metrics import precision_score, recall_score
from statsmodels.stats.diagnostic import breaks_cusumolsresid
from statsmodels.tsa.seasonal import seasonal_decompose

from labs.lab13_sre import anomaly
from shared.llm import Model

SEEDS = range(8)


def series(seed: int, n: int = 80) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.normal(rng.uniform(-5, 5), rng.uniform(0.5, 3), n) + np.sin(np.arange(n) / 3) * rng.uniform(0, 2)


@pytest.mark.parametrize("seed", SEEDS)
def test_ewma_and_its_variance_equal_pandas(seed):
    x = series(seed)
    alpha = np.random.default_rng(seed).uniform(0.05, 0.9)
    assert np.allclose(anomaly.ewma(x, alpha), pd.Series(x).ewm(alpha=alpha, adjust=False).mean())
    assert np.allclose(anomaly.ewm_var(x, alpha), pd.Series(x).ewm(alpha=alpha, adjust=False).var(bias=True))


@pytest.mark.parametrize("seed", SEEDS)
def test_zscores_equal_scipy(seed):
    x = series(seed)
    assert np.allclose(anomaly.zscores(x), stats.zscore(x))


@pytest.mark.parametrize("seed", SEEDS)
def test_decomposition_equals_statsmodels(seed):
    x = series(seed, 100)
    period = [4, 7, 12, 24][seed % 4]
    ref = seasonal_decompose(x, period=period, model="additive")
    trend, seasonal, resid = anomaly.decompose(x, period)
    assert np.allclose(trend, ref.trend, equal_nan=True)
    assert np.allclose(seasonal, ref.seasonal)
    assert np.allclose(resid, ref.resid, equal_nan=True)


@pytest.mark.parametrize("seed", SEEDS)
def test_change_point_statistic_equals_statsmodels(seed):
    x = series(seed)
    x[40:] += seed  # seed 0: no shift at all
    sup, p, _ = breaks_cusumolsresid(x - x.mean())
    cp = anomaly.change_point(x)
    assert cp["statistic"] == pytest.approx(sup, abs=1e-6)
    assert cp["p_value"] == pytest.approx(p, rel=1e-6, abs=1e-12)
    if seed >= 3:
        assert abs(cp["index"] - 39) <= 2


@pytest.mark.parametrize("seed", SEEDS)
def test_page_cusum_equals_the_lindley_closed_form(seed):
    # S_t = max(0, S_{t-1} + d_t) has the closed form C_t - min(0, min_{j<=t} C_j), C = cumsum(d)
    z = series(seed)
    kappa = 0.5
    up, lo = anomaly.cusum_path(z, kappa)
    c_up, c_lo = np.cumsum(z - kappa), np.cumsum(-z - kappa)
    assert np.allclose(up, c_up - np.minimum(0, np.minimum.accumulate(c_up)))
    assert np.allclose(lo, c_lo - np.minimum(0, np.minimum.accumulate(c_lo)))


def test_nile_breaks_after_1898():
    years, flow = anomaly.nile()
    cp = anomaly.change_point(flow)
    assert years[cp["index"]] == 1898 and cp["p_value"] < 1e-6
    first = anomaly.cusum_alarms(flow, kappa=0.5, h=4.0, warmup=20)[0]
    assert 1898 < years[first] <= 1905  # the online detector needs a few years of evidence


@pytest.mark.parametrize("seed", SEEDS)
def test_score_at_zero_tolerance_is_sklearn_point_precision_recall(seed):
    rng = np.random.default_rng(seed)
    truth, pred = rng.random(60) < 0.2, rng.random(60) < 0.3
    got = anomaly.score(np.flatnonzero(pred).tolist(), np.flatnonzero(truth).tolist(), tolerance=0)
    assert got["precision"] == pytest.approx(precision_score(truth, pred, zero_division=1.0), abs=1e-4)
    assert got["recall"] == pytest.approx(recall_score(truth, pred, zero_division=1.0), abs=1e-4)


def test_seasonality_defeats_global_detectors_and_not_the_seasonal_one():
    res = anomaly.benchmark()
    assert res["seasonal"]["recall"] >= 0.8 and res["seasonal"]["precision"] >= 0.8
    assert res["zscore"]["recall"] < 0.5  # the daily cycle's swing hides the spikes from a global z-score


def test_detect_rejects_what_it_cannot_use():
    with pytest.raises(ValueError, match="two periods"):
        anomaly.detect(np.ones(20), "seasonal", period=24)
    with pytest.raises(ValueError, match="unknown detector"):
        anomaly.detect(np.ones(20), "prophet")


def test_the_explainer_is_checked_for_made_up_causes():
    from labs.lab13_sre import mock_plugin  # noqa: F401

    model = Model.from_settings().for_behaviour("sre_explain")
    a = {"minute": 31, "at": "09:31", "value": 0.3, "baseline": 0.002, "score": 9.1, "detector": "ewma"}
    changes = [{"id": "D-2041-bad", "service": "checkout", "minute": 30, "what": "deploy"}]
    honest = anomaly.explain(model, "checkout error ratio", a, changes, mock={"speculate_rate": 0})
    assert honest.cited == ["D-2041-bad"] and honest.as_dict()["grounded"]
    liar = anomaly.explain(model, "checkout error ratio", a, changes, mock={"speculate_rate": 1})
    assert liar.ungrounded == ["D-9999"]
