"""The worked exercises' answers, checked by a second route to each."""

from __future__ import annotations

from math import comb

import pytest

from labs.lab08_eval import exercises


def test_kappa_worked_table():
    out = exercises.kappa_table()
    assert out["p_o"] == 0.85 and out["p_e"] == 0.5 and out["kappa"] == 0.7
    assert out["landis_koch"] == "substantial"


def test_pass_at_k_n20_c3_k5():
    assert exercises.pass_at_k()["pass_at_k"] == pytest.approx(1 - comb(17, 5) / comb(20, 5), abs=1e-4)


def test_sample_size():
    out = exercises.sample_size()
    assert out["n_for_margin"] == 8400
    # the chapter's (z_{α/2} + z_β)²·2p(1−p)/Δ², by hand with the familiar 1.96 and 0.8416
    assert out["n_per_arm_chapter_formula"] == pytest.approx((1.959964 + 0.841621) ** 2 * 2 * 0.21 / 1e-4, abs=1)
    assert out["n_per_arm_cohen_h"] == out["n_per_arm_to_detect_0.70_vs_0.71"]


def test_tide_trap_on_slice_flips():
    out = exercises.tide_trap()
    multi = out["per_slice"]["multilingual"]
    # exact McNemar on 1 fixed vs 11 broken, by hand: 2·P(X ≤ 1), X ~ Bin(12, ½)
    assert multi["p_mcnemar"] == pytest.approx(2 * (comb(12, 0) + comb(12, 1)) / 2**12, abs=1e-6)
    assert multi["regressed"] and out["overall_delta"] > 0
    assert out["verdict"] == "regression" and out["average_tide_trap"]
    # billing is significant alone (p < 0.05) but not after Holm over four slices
    assert out["per_slice"]["billing"]["p_mcnemar"] < 0.05 < out["per_slice"]["billing"]["p_holm"]


def test_peeking_rates_match_the_published_table():
    rates = exercises.peeking()["false_positive_rate"]
    assert [round(rates[k], 2) for k in (1, 2, 5, 10, 20)] == [0.05, 0.08, 0.14, 0.19, 0.25]


def test_mcnemar_flips():
    out = exercises.mcnemar_flips()
    assert out["p_exact"] == pytest.approx(0.0433, abs=1e-4) and out["chi2"] == 4.0


def test_capstone_design_is_data():
    out = exercises.capstone()
    assert out["tiers"]["release"] == sum(s["items"] for s in out["slices"].values())
