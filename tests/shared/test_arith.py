"""shared.arith against Python's own evaluator on random expressions, and what it must refuse."""

from __future__ import annotations

import ast
import math
import random

import pytest

from shared.arith import BASIC, ArithmeticRefused, evaluate


def random_expression(rng: random.Random, depth: int = 0) -> str:
    if depth > 3 or rng.random() < 0.3:
        number = rng.choice([rng.randint(0, 999), round(rng.uniform(-50, 50), 3)])
        return f"({number})" if number < 0 else str(number)
    op = rng.choice(["+", "-", "*", "/", "%", "//", "**", "neg"])
    if op == "neg":
        return f"-({random_expression(rng, depth + 1)})"
    if op == "**":
        return f"({random_expression(rng, depth + 1)}) ** {rng.randint(0, 3)}"
    return f"({random_expression(rng, depth + 1)}) {op} ({random_expression(rng, depth + 1)})"


def test_matches_python_on_random_expressions():
    rng = random.Random(7)
    compared = 0
    for _ in range(2000):
        expr = random_expression(rng)
        try:
            expected = eval(compile(ast.parse(expr, mode="eval"), "<test>", "eval"))  # our own generated text
        except (ZeroDivisionError, OverflowError):
            with pytest.raises(ArithmeticRefused):
                evaluate(expr)
            continue
        if isinstance(expected, complex):  # a negative base to a fractional power: not plain arithmetic
            continue
        assert evaluate(expr) == pytest.approx(expected, rel=1e-12, abs=1e-12) or (
            math.isnan(expected) and math.isnan(evaluate(expr)))
        compared += 1
    assert compared > 1500


@pytest.mark.parametrize("text", ["__import__('os').system('true')", "x + 1", "abs(-1)", "(1).real", "[1, 2]",
                                  "True + 1", "2 ** 1000", "1 +", "'a' * 3", "lambda: 1"])
def test_refuses_everything_but_arithmetic(text):
    with pytest.raises(ArithmeticRefused):
        evaluate(text)


def test_allowed_operators_and_exponent_bound():
    assert evaluate("7 % 4") == 3
    with pytest.raises(ArithmeticRefused):
        evaluate("7 % 4", allowed=BASIC)
    assert evaluate("2 ** 64", max_exponent=64) == 2 ** 64
    with pytest.raises(ArithmeticRefused, match="exponent"):
        evaluate("2 ** 65", max_exponent=64)
