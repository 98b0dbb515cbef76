"""Dedup, correlation, the rules baseline and the model's triage; Wilson and the confusion matrix vs references."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import confusion_matrix
from statsmodels.stats.proportion import proportion_confint

from labs.lab13_sre import (
    mock_plugin,  # noqa: F401
    triage,
)
from labs.lab13_sre.estate import fixture_incident, fixture_incidents, load_estate
from shared.llm import Model

ESTATE = load_estate()


def alert(i, name, service, minute, severity="critical"):
    return {"id": f"A-{i}", "alertname": name, "service": service, "minute": minute,
            "labels": {"severity": severity, "pod": f"{service}-{i}"}}


def test_dedup_keeps_the_first_copy_and_counts():
    alerts = [alert(1, "HighErrorRate", "web", 31.5), alert(0, "HighErrorRate", "web", 31), alert(2, "TargetDown", "psp", 29)]
    out = triage.dedup(alerts)
    web = next(a for a in out if a["service"] == "web")
    assert len(out) == 2 and web["id"] == "A-0" and web["count"] == 2 and web["ids"] == ["A-0", "A-1"]


def test_correlation_groups_by_time_and_graph_distance():
    alerts = [alert(0, "HighErrorRate", "payments", 30), alert(1, "HighErrorRate", "checkout", 31),
              alert(2, "HighErrorRate", "sessions", 32),  # 3 hops from checkout, 4 from payments
              alert(3, "HighErrorRate", "psp", 55),  # next to payments, but 24 minutes later
              alert(4, "DiskSpaceLow", "checkout", 31, "info")]
    groups = triage.correlate(alerts, ESTATE, window_min=10, max_hops=2)
    assert sorted(sorted(g.services) for g in groups) == [["checkout"], ["checkout", "payments"], ["psp"], ["sessions"]]


def test_hops_walks_calls_both_ways():
    assert triage.hops(ESTATE, "web", "web") == 0
    assert triage.hops(ESTATE, "psp", "checkout") == 2
    assert triage.hops(ESTATE, "cache", "web") == 3  # web -> gateway -> catalog -> cache


@pytest.mark.parametrize("k,n", [(0, 10), (3, 10), (10, 10), (17, 40), (1, 1)])
def test_wilson_equals_statsmodels(k, n):
    lo, hi = proportion_confint(k, n, alpha=0.05, method="wilson")
    assert triage.wilson(k, n) == pytest.approx((lo, hi), abs=1e-4)


@pytest.mark.parametrize("seed", range(5))
def test_confusion_equals_sklearn(seed):
    rng = np.random.default_rng(seed)
    labels = ["SEV1", "SEV2", "SEV3"]
    t, p = rng.choice(labels, 50).tolist(), rng.choice(labels, 50).tolist()
    assert triage.confusion(t, p, labels) == confusion_matrix(t, p, labels=labels).tolist()


def test_rules_baseline_on_the_fixture_incidents():
    res = triage.measure(fixture_incidents(), ESTATE, "rules")
    assert res["accuracy"]["severity"]["value"] == 1.0  # the rubric is what defines the truth
    assert res["accuracy"]["service"]["value"] >= 0.8  # inhibition finds the deepest alerting service
    misses = [r for r in res["rows"] if r["true_service"] != r["pred_service"]]
    assert all(fixture_incident(r["incident"]).truth["cause"] == "cert_expiry" for r in misses)  # healthy root


def test_the_model_uses_the_graph_only_when_the_prompt_gives_it():
    model = Model.from_settings().for_behaviour("sre_triage")
    inc = fixture_incident("INC-2044")  # orders-db config change: callers are loud too
    with_graph = triage.llm(inc, ESTATE, model, "v2", {"wrong_rate": 0})
    assert (with_graph["service"], with_graph["team"], with_graph["severity"]) == ("orders-db", "data-platform",
                                                                                    inc.truth["severity"])
    assert "dependencies" in triage.prompt(inc, ESTATE, True) and "dependencies" not in triage.prompt(inc, ESTATE, False)


def test_wrong_rate_is_a_dial():
    model = Model.from_settings().for_behaviour("sre_triage")
    incs = fixture_incidents()[:8]
    good = triage.measure(incs, ESTATE, "llm", model, "v2", {"wrong_rate": 0})["accuracy"]["triage"]["value"]
    bad = triage.measure(incs, ESTATE, "llm", model, "v2", {"wrong_rate": 1})["accuracy"]["triage"]["value"]
    assert good >= 0.75 and bad <= 0.25
