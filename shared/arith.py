"""Arithmetic on untrusted text without eval(): numbers, operators and parentheses, nothing else.

Used wherever a string from a model or a user has to become a number: the mock's assistant answering
"What is 17 * 23?" and lab 05's calculator tool. The expression is parsed with `ast` and walked; a
name, a call, an attribute or any other node is refused, and a huge exponent is refused before it
is computed (2 ** 10**9 would hang the process).
"""

from __future__ import annotations

import ast
import functools
import operator
from collections.abc import Callable
from typing import Any

BINARY: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
    ast.Pow: operator.pow, ast.Mod: operator.mod, ast.FloorDiv: operator.floordiv,
}
UNARY: dict[type, Callable[[Any], Any]] = {ast.USub: operator.neg, ast.UAdd: operator.pos}
BASIC = frozenset({ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Pow, ast.USub, ast.UAdd})


class ArithmeticRefused(ValueError):
    """The text is not plain arithmetic, or computing it would be unreasonable."""


def evaluate(expr: str, *, max_exponent: float = 100, allowed: frozenset[type] | None = None) -> float:
    """The value of `expr`; `allowed` limits the operator node types (default: all in BINARY and UNARY)."""

    def permitted(op: ast.AST) -> bool:
        return allowed is None or type(op) in allowed

    def walk(node: ast.AST) -> float:
        if isinstance(node, ast.Expression):
            return walk(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float) and not isinstance(node.value, bool):
            return node.value
        if isinstance(node, ast.BinOp) and type(node.op) in BINARY and permitted(node.op):
            left, right = walk(node.left), walk(node.right)
            if isinstance(node.op, ast.Pow) and abs(right) > max_exponent:
                raise ArithmeticRefused("exponent too large")
            return BINARY[type(node.op)](left, right)
        if isinstance(node, ast.UnaryOp) and type(node.op) in UNARY and permitted(node.op):
            return UNARY[type(node.op)](walk(node.operand))
        raise ArithmeticRefused("only numbers, operators and parentheses are allowed")

    try:
        return walk(_parse(expr.strip()))
    except (SyntaxError, ZeroDivisionError, OverflowError) as exc:
        raise ArithmeticRefused(f"cannot evaluate {expr.strip()!r}: {type(exc).__name__}") from exc


@functools.lru_cache(maxsize=2048)
def _parse(expr: str) -> ast.Expression:
    """The parsed expression, remembered: the mock's assistant meets the same questions again and again,
    and parsing is most of the cost of answering one (the tree is only read, never changed)."""
    return ast.parse(expr, mode="eval")
