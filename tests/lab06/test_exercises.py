"""The worked exercises give the right answers."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from labs.lab06_rag import exercises


def test_bm25_by_hand_matches_the_formula_where_idf_is_positive():
    r = exercises.bm25_by_hand()
    # "refund" and "policy" are each in 2 of 3 documents: both idf are negative, so rank-bm25's floor applies
    assert all(s["idf"] < 0 for s in r["terms"] if s["tf"])
    assert r["answer"][0] < 0 and r["library_scores"][0] > 0


def test_rrf_and_ndcg():
    fused = exercises.rrf_exercise()["answer"]
    assert fused[0]["doc"] == "d1" and fused[0]["score"] == pytest.approx(1 / 62 + 1 / 61, abs=1e-5)
    r = exercises.ndcg_exercise()
    assert r["answer"] == pytest.approx(r["dcg"] / r["idcg"], abs=1e-4) and 0 < r["answer"] < 1


def test_eval_set_has_four_slices_and_50_questions():
    r = exercises.eval_set_design()
    assert r["questions"] >= 50 and len(r["answer"]) == 4


def test_cli_json():
    out = subprocess.run([sys.executable, "-m", "labs.lab06_rag.exercises", "--json"], capture_output=True,
                         text=True, check=True).stdout
    assert set(json.loads(out)) == set(exercises.EXERCISES)


def test_infonce_exercise_falls_with_the_positive_and_sharpens_with_the_temperature():
    rows = exercises.infonce_exercise()["answer"]
    assert all(r["query_0_loss"] == pytest.approx(r["by_hand"], abs=1e-4) for r in rows)
    spread = {}
    for tau in {r["tau"] for r in rows}:
        losses = [r["query_0_loss"] for r in rows if r["tau"] == tau]
        assert losses == sorted(losses, reverse=True) and losses[0] > losses[-1]
        assert next(r for r in rows if r["tau"] == tau and r["c"] == 0.3)["query_0_loss"] == pytest.approx(1.0986, abs=1e-4)
        spread[tau] = losses[0] - losses[-1]
    assert spread[0.05] > spread[0.1] > spread[1.0]
