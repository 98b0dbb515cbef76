"""The worked exercises' answers, checked by a second route to each."""

from __future__ import annotations

from math import comb

import pytest

from labs.lab08_eval import exercises


def test_kappa_worked_table():
    out = exercises.kappa_table()
    assert out["p_o"] == 0.85 and out["p_e"] == 0.5 and out["kappa"] == 0.7


def test_pass_at_k_n20_c3_k5():
    assert exercises.pass_at_k()["pass_at_k"] == pytest.approx(1 - comb(17, 5) / comb(20, 5), abs=1e-4)


def test_sample_size():
    assert exercises.sample_size()["n_for_margin"] == 8400


def test_mcnemar_flips():
    out = exercises.mcnemar_flips()
    assert out["p_exact"] == pytest.approx(0.0433, abs=1e-4) and out["chi2"] == 4.0


def test_capstone_design_is_data():
    out = exercises.capstone()
    assert out["tiers"]["release"] == sum(s["items"] for s in out["slices"].values())
