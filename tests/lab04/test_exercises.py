"""Each worked exercise computes its answer (and checks itself against torch where it can)."""

from __future__ import annotations

import pytest

from labs.lab04_dl import exercises as E


def test_ce_gradient():
    r = E.ce_gradient()
    assert r["sums_to_zero"] and r["answer"][r["y"]] < 0
    assert max(r["max_diff_autograd"], r["max_diff_torch"]) < 1e-12 and r["max_diff_finite_differences"] < 1e-7


def test_adam_in_20_lines_matches_torch():
    r = E.adam_matches_torch(steps=300)
    assert r["answer_max_abs_diff"] < 1e-12


def test_he_std():
    r = E.he_std_512_2048()
    assert r["answer_std"] == 1 / 32
    assert r["relu_output_mean_square"] == pytest.approx(1.0, rel=0.05)


def test_nan_diagnoses_cover_four_causes():
    r = E.nan_diagnoses()["answer"]
    assert {v["cause"] for v in r.values()} == {"learning rate too high", "log of 0", "fp16 overflow",
                                                 "division by a zero norm"}


def test_layernorm_backward():
    r = E.layernorm_backward()
    assert r["gradcheck_float64"] and r["rows_of_dx_sum_to_zero"] and r["max_diff_torch"] < 1e-12


def test_lr_recipe():
    r = E.lr_recipe()
    a = r["answer"]
    assert 300e6 < r["params"] < 400e6
    assert 2.5e-4 <= a["peak_lr"] <= 3e-4
    assert a["warmup_steps"] == 1000 and r["total_steps"] == 20_000
    assert a["lr_at"]["1000"] == pytest.approx(a["peak_lr"], rel=1e-3)
    assert E.lr_recipe(layers=12, d_model=768)["answer"]["peak_lr"] > a["peak_lr"]  # smaller model, larger lr
