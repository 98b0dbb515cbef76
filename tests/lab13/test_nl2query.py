"""NL->PromQL: the eval set, the graders' soundness, the translator's dials, promtool as the executor."""

from __future__ import annotations

import pytest

from labs.lab13_sre import (
    mock_plugin,  # noqa: F401
    nl2query,
    promtool,
)
from labs.lab13_sre.metrics import fixture_db
from labs.lab13_sre.promql import parse, query
from shared.llm import Model
from tests.lab13.conftest import require_promtool


def translator(**mock):
    return Model.from_settings().for_behaviour("sre_promql").with_mock(**mock)


def test_the_eval_set_has_60_questions_that_all_run():
    data = nl2query.eval_set()
    assert len(data["questions"]) >= 60
    db = fixture_db(data["incident"])
    empty = []
    for q in data["questions"]:
        result = query(q["gold"], db, data["eval_time_s"])
        if not result:
            empty.append(q["id"])
    assert len(empty) <= 2, empty  # a gold answer that returns nothing cannot tell good from bad


def test_the_graders_are_nested_and_disagree_where_they_should():
    data = nl2query.eval_set()
    db, t = fixture_db(data["incident"]), data["eval_time_s"]
    gold = 'sum by (service) (rate(http_requests_total{code=~"5.."}[5m]))'
    cases = {gold: (True, True, True),
             'sum(rate(http_requests_total{code=~"5.."}[300s])) by (service)': (False, True, True),
             'sum by (service) (increase(http_requests_total{code=~"5.."}[5m]) / 300)': (False, False, True),
             'sum by (service) (rate(http_requests_total{code="5.."}[5m]))': (False, False, False),
             "sum by (service) (rate(http_requests_total{code=~'5..'}[5m])) +": (False, False, False)}
    got = nl2query.grade(list(cases), [gold] * len(cases), db, t)
    assert [tuple(g.values()) for g in got] == list(cases.values())


def test_a_perfect_translator_scores_100_and_mistakes_cost_execution_accuracy():
    perfect = nl2query.run_eval(translator(paraphrase_rate=0, mistake_rate=0), limit=64)
    assert perfect["accuracy"] == {"exact": 1.0, "ast": 1.0, "execution": 1.0}
    sloppy = nl2query.run_eval(translator(paraphrase_rate=0.5, mistake_rate=0.2))
    acc = sloppy["accuracy"]
    assert acc["exact"] < acc["ast"] < acc["execution"] < 1.0  # the headline gap
    assert sloppy["unsound"] == []
    assert sloppy["gaps"]["execution_minus_exact"] == pytest.approx(acc["execution"] - acc["exact"], abs=1e-4)


def test_without_the_catalogue_the_model_guesses_metric_names():
    with_cat = nl2query.translate(translator(paraphrase_rate=0, mistake_rate=0, guess_rate=1), "CPU usage of search")
    without = nl2query.translate(translator(paraphrase_rate=0, mistake_rate=0, guess_rate=1), "CPU usage of search",
                                 catalogue=False)
    assert "container_cpu_usage_seconds_total" in with_cat.query and "cpu_usage_seconds" in without.query
    assert "container_cpu_usage_seconds_total" not in without.query


def test_extract_takes_the_fenced_query():
    assert nl2query.extract("Sure:\n```promql\nup == 0\n```\nHope it helps") == "up == 0"
    assert nl2query.extract("up == 0") == "up == 0"
    assert nl2query.extract(None) == ""


def test_promtool_output_parsing():
    text = '''Unit Testing:  t.yaml
  FAILED:
    expr: "rate(x[5m])", time: 7m,
        exp: nil
        got: {code="200", service="a"} 1E+00, {code="500", service="a"} 6.333333333333334E-02
    expr: "up == 0", time: 7m,
        exp: nil
        got: up{instance="a-0", service="a"} 0E+00
    expr: "rate(x[5m]", time: 53m, err: 1:11: parse error: unclosed left parenthesis
'''
    got = promtool._parse_output(text, ["rate(x[5m])", "up == 0", "rate(x[5m]", "sum(y)"])
    assert got[0] == {(("code", "200"), ("service", "a")): 1.0, (("code", "500"), ("service", "a")): 0.06333333333333334}
    assert got[1] == {(("__name__", "up"), ("instance", "a-0"), ("service", "a")): 0.0}
    assert got[2].startswith("error: 1:11: parse error")
    assert got[3] == {}  # not mentioned: its test passed against the empty expectation


@require_promtool
def test_promtool_grades_the_eval_set_like_the_builtin_evaluator():
    data = nl2query.eval_set()
    db, t = fixture_db(data["incident"]), data["eval_time_s"]
    golds = [q["gold"] for q in data["questions"]]
    preds = [nl2query.translate(translator(), q["q"]).query for q in data["questions"][:20]]
    assert nl2query.grade(preds, golds[:20], db, t, "promtool") == nl2query.grade(preds, golds[:20], db, t)
    for q in golds:
        parse(q)
