"""Comparison: flips, slices, verdicts, the average-tide trap, and the CLI's CI gate."""

from __future__ import annotations

import json

import pytest

from labs.lab08_eval import __main__ as cli
from labs.lab08_eval import report
from labs.lab08_eval.compare import compare_runs, compare_scores
from labs.lab08_eval.datasets import FIXTURES
from labs.lab08_eval.runner import import_run, open_store


@pytest.fixture
def store(tmp_path):
    st = open_store(tmp_path / "lab08.db")
    rows = [json.loads(line) for line in (FIXTURES / "tide_runs.jsonl").read_text().splitlines()]
    for side in ("a", "b"):
        import_run(st, f"tide-{side}", "tide", side, [{"id": r["id"], "slices": r["slices"],
                                                      "scores": {"pass": r[side]}} for r in rows])
    return st


def test_the_tide_fixture_is_a_regression_hidden_by_the_mean(store):
    result = compare_runs(store, "tide-a", "tide-b")
    assert result["overall"]["delta"] > 0
    assert result["verdict"] == "regression" and result["average_tide_trap"]
    regressed = [s["slice"] for s in result["slices"] if s["regressed"]]
    assert regressed == ["multilingual"]
    for s in result["slices"]:  # each slice's delta sits in its own paired-bootstrap CI
        assert s["low"] <= s["delta"] <= s["high"] and s["p_holm"] >= s["p_mcnemar"]
    assert next(s for s in result["slices"] if s["slice"] == "multilingual")["high"] < 0
    f = result["flips"]
    assert f["both_pass"] + f["both_fail"] + f["fixed"] + f["broken"] == result["n"] == 400


def test_a_run_against_itself_is_no_change(store):
    result = compare_runs(store, "tide-a", "tide-a")
    assert result["verdict"] == "no significant change"
    assert result["flips"]["fixed"] == result["flips"]["broken"] == 0


def test_a_clear_improvement_everywhere():
    rows = [(f"i{n}", ["s1" if n % 2 else "s2"], float(n % 3 == 0), float(n % 7 != 0)) for n in range(300)]
    assert compare_scores(rows, "a", "b", "x")["verdict"] == "improvement"


def test_cli_gate_exits_nonzero_on_regression(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    assert cli.main(["compare", "tide-a", "tide-b", "--fail-on-regression"]) == 1
    assert "average-tide trap" in capsys.readouterr().out
    assert cli.main(["compare", "tide-a", "tide-b"]) == 0
    assert cli.main(["compare", "tide-a", "missing"]) == 2


def test_reports_are_self_contained_html(store):
    page = report.compare_html(compare_runs(store, "tide-a", "tide-b"))
    assert page.startswith("<!doctype html>") and "data:image/png;base64," in page and "verdict" in page


def test_a_length_biased_judge_calls_padding_an_improvement_that_references_do_not_see(tmp_path):
    import asyncio

    from labs.lab08_eval.runner import RunConfig, Runner

    st = open_store(tmp_path / "lb.db")
    for variant in ("v1", "verbose"):
        asyncio.run(Runner(st).run(RunConfig("qa", model=f"mock/assistant?variant={variant}", run_id=variant,
                                             judge_mock={"length_bias": 0.8}, audit_judge=False, concurrency=16)))
    assert compare_runs(st, "v1", "verbose", "judge")["verdict"] == "improvement"
    assert compare_runs(st, "v1", "verbose", "includes")["verdict"] == "no significant change"
