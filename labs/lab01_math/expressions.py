"""A small, safe expression grammar: one parse, three readings (sympy, torch, plain floats).

    curl -s localhost:8001/calculus/gradient -H 'content-type: application/json' -d '{"expression": "sin(x) * exp(y)", "point": {"x": 1, "y": 0.5}}'

    expr   := number | name | expr (+ - * / **) expr | -expr | +expr | func(expr)
    name   := one of VARIABLES (x, y, z, w, b, t, u, v) or the constants pi and e
    func   := sin cos tan exp log sqrt tanh sigmoid relu abs

The text goes through Python's `ast.parse` (a parser, it runs nothing) and every node is checked
against the whitelist above; anything else (attributes, subscripts, calls to other names, keywords,
lambdas, comparisons) is refused with the reason. The checked tree is then turned into a sympy
expression node by node, never by `sympify` on the raw text (sympify evaluates Python code), and into
a torch function for autograd. Caps keep any one request small: at most MAX_CHARS characters,
MAX_NODES nodes, and a constant exponent no larger than MAX_EXPONENT (9**9**9 would otherwise be an
exact integer with 370 million digits).
"""

from __future__ import annotations

import ast
import math
from collections.abc import Callable
from dataclasses import dataclass

import sympy as sp
import torch

VARIABLES = ("x", "y", "z", "w", "b", "t", "u", "v")
CONSTANTS = {"pi": math.pi, "e": math.e}
MAX_CHARS = 200
MAX_NODES = 80
MAX_EXPONENT = 16
MAX_CONSTANT = 1e6


def _sigmoid_sp(a):
    return 1 / (1 + sp.exp(-a))


FUNCS_SYMPY: dict[str, Callable] = {
    "sin": sp.sin, "cos": sp.cos, "tan": sp.tan, "exp": sp.exp, "log": sp.log, "sqrt": sp.sqrt,
    "tanh": sp.tanh, "sigmoid": _sigmoid_sp, "relu": lambda a: sp.Max(0, a), "abs": sp.Abs,
}
FUNCS_TORCH: dict[str, Callable] = {
    "sin": torch.sin, "cos": torch.cos, "tan": torch.tan, "exp": torch.exp, "log": torch.log,
    "sqrt": torch.sqrt, "tanh": torch.tanh, "sigmoid": torch.sigmoid, "relu": torch.relu, "abs": torch.abs,
}
_BINOPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**"}


class ExpressionError(ValueError):
    """The text is not an expression of the grammar; the message says where and why."""


@dataclass(frozen=True)
class Expression:
    text: str
    tree: ast.expr
    variables: tuple[str, ...]  # in order of first appearance

    def to_sympy(self) -> sp.Expr:
        return _to_sympy(self.tree)

    def evaluate(self, values: dict[str, torch.Tensor]) -> torch.Tensor:
        return _to_torch(self.tree, values)

    def value(self, point: dict[str, float], dtype: torch.dtype = torch.float64) -> float:
        return float(self.evaluate({k: torch.tensor(float(v), dtype=dtype) for k, v in point.items()}))


def parse(text: str) -> Expression:
    """Check `text` against the grammar; raise ExpressionError naming the first thing not allowed."""
    if len(text) > MAX_CHARS:
        raise ExpressionError(f"expression longer than {MAX_CHARS} characters")
    if not text.strip():
        raise ExpressionError("empty expression")
    try:
        tree = ast.parse(text.replace("^", "**"), mode="eval").body
    except SyntaxError as exc:
        raise ExpressionError(f"not an expression: {exc.msg} at column {exc.offset}") from None
    except (RecursionError, MemoryError, ValueError):
        raise ExpressionError("expression too deeply nested") from None
    nodes = list(ast.walk(tree))
    if len(nodes) > MAX_NODES:
        raise ExpressionError(f"expression has more than {MAX_NODES} parts")
    seen: list[str] = []
    _check(tree, seen)
    return Expression(text, tree, tuple(seen))


def _has_variable(node: ast.AST) -> bool:
    return any(isinstance(n, ast.Name) and n.id in VARIABLES for n in ast.walk(node))


def _check(node: ast.AST, seen: list[str]) -> None:
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, int | float):
            raise ExpressionError(f"only numbers are allowed as constants, not {node.value!r}")
        if not abs(node.value) <= MAX_CONSTANT:
            raise ExpressionError(f"constant {node.value!r} is larger than {MAX_CONSTANT:g}")
    elif isinstance(node, ast.Name):
        if node.id in VARIABLES:
            if node.id not in seen:
                seen.append(node.id)
        elif node.id not in CONSTANTS and node.id not in FUNCS_SYMPY:
            raise ExpressionError(f"unknown name {node.id!r}: variables are {', '.join(VARIABLES)}; "
                                  f"constants pi, e")
        elif node.id in FUNCS_SYMPY:
            raise ExpressionError(f"{node.id} is a function: call it, as in {node.id}(x)")
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        _check(node.operand, seen)
    elif isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
        if isinstance(node.op, ast.Pow) and not _has_variable(node.right):
            exponent = _constant_value(node.right)
            if abs(exponent) > MAX_EXPONENT:
                raise ExpressionError(f"constant exponent {exponent:g} is larger than {MAX_EXPONENT}")
        _check(node.left, seen)
        _check(node.right, seen)
    elif isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name) or node.func.id not in FUNCS_SYMPY:
            name = node.func.id if isinstance(node.func, ast.Name) else ast.unparse(node.func)
            raise ExpressionError(f"unknown function {name!r}: allowed are {', '.join(FUNCS_SYMPY)}")
        if node.keywords or len(node.args) != 1:
            raise ExpressionError(f"{node.func.id} takes exactly one argument")
        _check(node.args[0], seen)
    else:
        raise ExpressionError(f"{type(node).__name__} is not part of the grammar: "
                              f"use numbers, variables, + - * / ** and the listed functions")


def _constant_value(node: ast.AST) -> float:
    """The value of a variable-free subtree, itself checked first (so it is small and safe)."""
    _check(node, [])
    try:
        value = _to_torch(node, {}).item()
    except (OverflowError, ZeroDivisionError):
        value = math.inf
    return value if math.isfinite(value) else math.inf


def _to_sympy(node: ast.AST) -> sp.Expr:
    if isinstance(node, ast.Constant):
        v = node.value
        return sp.Integer(v) if isinstance(v, int) else sp.Float(v)
    if isinstance(node, ast.Name):
        if node.id == "pi":
            return sp.pi
        if node.id == "e":
            return sp.E
        return sp.Symbol(node.id, real=True)
    if isinstance(node, ast.UnaryOp):
        inner = _to_sympy(node.operand)
        return -inner if isinstance(node.op, ast.USub) else inner
    if isinstance(node, ast.BinOp):
        a, b = _to_sympy(node.left), _to_sympy(node.right)
        op = type(node.op)
        if op is ast.Add:
            return a + b
        if op is ast.Sub:
            return a - b
        if op is ast.Mult:
            return a * b
        if op is ast.Div:
            if b == 0:
                raise ExpressionError("division by the constant zero")
            return a / b
        return a ** b
    assert isinstance(node, ast.Call)
    return FUNCS_SYMPY[node.func.id](_to_sympy(node.args[0]))


def _to_torch(node: ast.AST, values: dict[str, torch.Tensor]) -> torch.Tensor:
    if isinstance(node, ast.Constant):
        return torch.tensor(float(node.value), dtype=torch.float64)
    if isinstance(node, ast.Name):
        if node.id in CONSTANTS:
            return torch.tensor(CONSTANTS[node.id], dtype=torch.float64)
        if node.id not in values:
            raise ExpressionError(f"no value given for {node.id!r}")
        return values[node.id]
    if isinstance(node, ast.UnaryOp):
        inner = _to_torch(node.operand, values)
        return -inner if isinstance(node.op, ast.USub) else inner
    if isinstance(node, ast.BinOp):
        a, b = _to_torch(node.left, values), _to_torch(node.right, values)
        op = type(node.op)
        if op is ast.Add:
            return a + b
        if op is ast.Sub:
            return a - b
        if op is ast.Mult:
            return a * b
        if op is ast.Div:
            return a / b
        return a ** b
    assert isinstance(node, ast.Call)
    return FUNCS_TORCH[node.func.id](_to_torch(node.args[0], values))
