"""Derived gradients against torch autograd on random inputs; sympy derivations; descent; chain rule."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.func import jacrev

from labs.lab01_math import calculus
from labs.lab01_math.expressions import ExpressionError, parse
from tests.lab01.test_expressions import trees


def test_every_derivation_matches_its_textbook_form():
    d = calculus.derivations()
    assert {k: v["matches"] for k, v in d.items()} == dict.fromkeys(d, True)


def test_a_wrong_textbook_form_is_caught():
    x, y, w, b = (calculus.sp.Symbol(n, real=True) for n in "xywb")
    assert not calculus._zero(calculus.sp.diff((y - w * x - b) ** 2, w) - 2 * x * (y - w * x - b))  # sign flipped


@pytest.mark.parametrize("seed", range(5))
def test_formulas_match_autograd(seed):
    errors = calculus.autograd_checks(seed)
    assert max(errors.values()) < 1e-12, errors


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 20), st.integers(1, 6), st.integers(0, 2**31))
def test_mse_gradient_matches_autograd_on_random_shapes(N, d, seed):
    g = torch.Generator().manual_seed(seed)
    X, y = torch.randn(N, d, generator=g, dtype=torch.float64), torch.randn(N, generator=g, dtype=torch.float64)
    w = torch.randn(d, generator=g, dtype=torch.float64, requires_grad=True)
    (auto,) = torch.autograd.grad(torch.nn.functional.mse_loss(X @ w, y), w)
    torch.testing.assert_close(calculus.mse_gradient(X, y, w.detach()), auto)


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 10), st.integers(2, 9), st.integers(0, 2**31))
def test_softmax_ce_gradient_and_jacobian_match_autograd(N, K, seed):
    g = torch.Generator().manual_seed(seed)
    z = (3 * torch.randn(N, K, generator=g, dtype=torch.float64)).requires_grad_(True)
    labels = torch.randint(K, (N,), generator=g)
    (auto,) = torch.autograd.grad(torch.nn.functional.cross_entropy(z, labels), z)
    onehot = torch.nn.functional.one_hot(labels, K).double()
    torch.testing.assert_close(calculus.softmax_ce_gradient(z.detach(), onehot), auto)
    z0 = z.detach()[0]
    torch.testing.assert_close(calculus.softmax_jacobian(z0), jacrev(lambda t: torch.softmax(t, -1))(z0))


@settings(max_examples=40, deadline=None)
@given(trees(), st.floats(-1.5, 1.5), st.floats(-1.5, 1.5))
def test_symbolic_gradient_equals_autograd_on_random_expressions(text, x, y):
    try:
        r = calculus.gradient(parse(text), {"x": x, "y": y})
    except ExpressionError:
        return  # not finite at this point: refused, not miscomputed
    for p in r["partials"].values():
        assert p["autograd"] == pytest.approx(p["value"], rel=1e-9, abs=1e-9)
        assert p["finite_difference"] == pytest.approx(p["value"], rel=1e-5, abs=1e-5)


def test_gradient_needs_every_variable():
    with pytest.raises(ExpressionError, match="no value for y"):
        calculus.gradient(parse("x * y"), {"x": 1.0})


def test_chain_rule_two_ways_and_autograd():
    r = calculus.chain_rule("exp(u) * sin(u)", "x**2 + 1", 0.7)
    assert r["difference"] < 1e-12 and r["autograd"] == pytest.approx(r["value"], rel=1e-12)
    with pytest.raises(ExpressionError):
        calculus.chain_rule("sin(x)", "x", 1.0)
    assert calculus.chain_rule("2", "x", 1.0)["autograd"] == 0.0  # a constant outer function
    assert calculus.chain_rule("sin(u)", "3", 1.0)["autograd"] == 0.0


def test_descent_follows_taylor_for_small_steps_and_diverges_for_large():
    f = parse("x**2 + 10*y**2")
    small = calculus.gradient_descent(f, {"x": 3, "y": 1}, 0.001, 50)
    first = small["steps"][0]
    # the drop is η|∇f|² minus a curvature term of order η²: relative gap ≈ η·(largest curvature) = 2%
    assert first["actual_drop"] == pytest.approx(first["predicted_drop"], rel=0.03)
    converged = calculus.gradient_descent(f, {"x": 3, "y": 1}, 0.09, 200)
    assert converged["final_value"] < 1e-8
    wild = calculus.gradient_descent(f, {"x": 3, "y": 1}, 0.2, 200)  # η > 2/20: the y-direction explodes
    assert wild["status"].startswith("diverged")
    stopped = calculus.gradient_descent(parse("log(x)"), {"x": -1}, 0.1, 5)
    assert stopped["status"].startswith("stopped") and stopped["steps"] == []
