"""A small PromQL: a parser, a canonical form (for AST equivalence) and an instant-query evaluator.

    python -m labs.lab13_sre.promql 'sum by (service) (rate(http_requests_total{code=~"5.."}[5m]))'

It covers what the lab's NL->PromQL eval set asks for: selectors with =, !=, =~, !~ matchers,
range selectors, offset; rate / irate / increase / delta, the *_over_time family, histogram_quantile,
abs, clamp_min / clamp_max; sum / avg / min / max / count / topk / bottomk with by / without (either
position); + - * / % ^ and comparisons (with `bool`), `and` / `or` / `unless`, on / ignoring,
group_left / group_right. Anything else is a ParseError naming where it stopped.

Semantics follow Prometheus 2.x (the promtool Debian ships): a range selector takes the samples in
[t - range, t], an instant selector the latest sample within 5 minutes, and rate() extrapolates:

    rate = (last - first + resets) * (sampled + d_start + d_end) / sampled / range
    d_start = first.t - (t - range)   if below 1.1 x the mean sample gap, else half that gap
              (for counters, never further back than where the counter would reach zero)
    d_end   = t - last.t              likewise

histogram_quantile(q) ranks q * count(+Inf) and interpolates linearly inside the bucket it falls in.
Tested against promtool (`promtool test rules`) and the promql-parser package on random queries.
"""

from __future__ import annotations

import math
import re
import sys
from dataclasses import dataclass, field, replace
from typing import Any

# --- the AST -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Matcher:
    name: str
    op: str  # = != =~ !~
    value: str

    def matches(self, labels: dict[str, str]) -> bool:
        v = labels.get(self.name, "")
        if self.op == "=":
            return v == self.value
        if self.op == "!=":
            return v != self.value
        hit = re.fullmatch(self.value, v) is not None
        return hit if self.op == "=~" else not hit


@dataclass(frozen=True)
class Selector:
    metric: str | None
    matchers: tuple[Matcher, ...] = ()
    range_s: float | None = None
    offset_s: float = 0.0


@dataclass(frozen=True)
class Num:
    value: float


@dataclass(frozen=True)
class Call:
    fn: str
    args: tuple[Any, ...]


@dataclass(frozen=True)
class Agg:
    op: str
    expr: Any
    grouping: tuple[str, ...] = ()
    without: bool = False
    param: Any = None


@dataclass(frozen=True)
class Binary:
    op: str
    lhs: Any
    rhs: Any
    bool_: bool = False
    on: tuple[str, ...] | None = None  # None: match on all labels; () with ignoring=True: ignoring()
    ignoring: bool = False
    group: str | None = None  # left | right
    include: tuple[str, ...] = ()


@dataclass(frozen=True)
class Neg:
    expr: Any


class ParseError(ValueError):
    pass


# --- the parser ----------------------------------------------------------------------------------

AGGREGATIONS = {"sum", "avg", "min", "max", "count", "topk", "bottomk", "stddev", "quantile"}
RANGE_FUNCTIONS = {"rate", "irate", "increase", "delta", "avg_over_time", "max_over_time", "min_over_time",
                   "sum_over_time", "count_over_time"}
FUNCTIONS = RANGE_FUNCTIONS | {"histogram_quantile", "abs", "clamp_min", "clamp_max", "ceil", "floor"}
PRECEDENCE = [("or",), ("and", "unless"), ("==", "!=", "<=", ">=", "<", ">"), ("+", "-"), ("*", "/", "%"), ("^",)]
COMPARISONS = {"==", "!=", "<=", ">=", "<", ">"}
SET_OPS = {"and", "or", "unless"}
_TOKEN = re.compile(r"""\s*(?:
    (?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?(?![smhdwy\w]))|
    (?P<dur>(?:\d+(?:ms|[smhdwy]))+)|
    (?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')|
    (?P<ident>[a-zA-Z_:][a-zA-Z0-9_:]*)|
    (?P<op>=~|!~|==|!=|<=|>=|[-+*/%^(){}\[\],=<>])
)""", re.VERBOSE)
_DUR_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}


def duration(text: str) -> float:
    parts = re.findall(r"(\d+)(ms|[smhdwy])", text)
    if not parts or "".join(a + b for a, b in parts) != text:
        raise ParseError(f"bad duration {text!r}")
    return float(sum(int(n) * _DUR_UNITS[u] for n, u in parts))


def _tokens(text: str) -> list[tuple[str, str, int]]:
    out, pos = [], 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise ParseError(f"unexpected character {text[pos:pos + 1].strip() or text[pos:pos + 5]!r} at {pos}")
        kind = m.lastgroup
        out.append((kind, m.group(kind), m.start(kind)))
        pos = m.end()
    out.append(("eof", "", len(text)))
    return out


class _Parser:
    def __init__(self, text: str):
        self.toks = _tokens(text)
        self.i = 0

    def peek(self, k: int = 0) -> tuple[str, str, int]:
        return self.toks[min(self.i + k, len(self.toks) - 1)]

    def take(self, value: str | None = None, kind: str | None = None) -> str:
        k, v, pos = self.peek()
        if (value is not None and v != value) or (kind is not None and k != kind):
            raise ParseError(f"expected {value or kind!s} at {pos}, found {v or 'end of query'!r}")
        self.i += 1
        return v

    def parse(self) -> Any:
        expr = self.binary(0)
        if self.peek()[0] != "eof":
            raise ParseError(f"unexpected {self.peek()[1]!r} at {self.peek()[2]}")
        return expr

    def binary(self, level: int) -> Any:
        if level == len(PRECEDENCE):
            return self.unary()
        lhs = self.binary(level + 1)
        while self.peek()[1] in PRECEDENCE[level] and self.peek()[0] in ("op", "ident"):
            op = self.take()
            bool_ = False
            if self.peek()[1] == "bool":
                if op not in COMPARISONS:
                    raise ParseError("bool modifier only after a comparison")
                self.take()
                bool_ = True
            on, ignoring, group, include = None, False, None, ()
            if self.peek()[1] in ("on", "ignoring"):
                ignoring = self.take() == "ignoring"
                on = self.labels()
            if self.peek()[1] in ("group_left", "group_right"):
                group = self.take().removeprefix("group_")
                include = self.labels() if self.peek()[1] == "(" else ()
            # ^ is right-associative; everything else binds left
            rhs = self.binary(level) if op == "^" else self.binary(level + 1)
            lhs = Binary(op, lhs, rhs, bool_, on, ignoring, group, include)
        return lhs

    def unary(self) -> Any:
        if self.peek()[1] in ("-", "+"):
            sign = self.take()
            expr = self.unary()
            if sign == "+":
                return expr
            return Num(-expr.value) if isinstance(expr, Num) else Neg(expr)
        return self.postfix(self.primary())

    def postfix(self, expr: Any) -> Any:
        if self.peek()[1] == "[":
            if not isinstance(expr, Selector) or expr.range_s is not None:
                raise ParseError(f"a range [..] applies to a plain selector (at {self.peek()[2]})")
            self.take("[")
            expr = replace(expr, range_s=duration(self.take(kind="dur")))
            self.take("]")
        if self.peek()[1] == "offset":
            self.take()
            if not isinstance(expr, Selector):
                raise ParseError("offset applies to a selector")
            expr = replace(expr, offset_s=duration(self.take(kind="dur")))
        return expr

    def labels(self) -> tuple[str, ...]:
        self.take("(")
        out = []
        while self.peek()[1] != ")":
            out.append(self.take(kind="ident"))
            if self.peek()[1] == ",":
                self.take(",")
        self.take(")")
        return tuple(out)

    def primary(self) -> Any:
        kind, value, pos = self.peek()
        if kind == "num":
            self.take()
            return Num(float(value))
        if value == "(":
            self.take("(")
            expr = self.binary(0)
            self.take(")")
            return expr
        if value == "{":
            return self.selector(None)
        if kind != "ident":
            raise ParseError(f"unexpected {value or 'end of query'!r} at {pos}")
        if value in AGGREGATIONS and self.peek(1)[1] in ("(", "by", "without"):
            return self.aggregation()
        if value in FUNCTIONS and self.peek(1)[1] == "(":
            return self.call()
        if self.peek(1)[1] == "(":
            raise ParseError(f"unknown function {value!r} at {pos}")
        self.take()
        return self.selector(value)

    def selector(self, metric: str | None) -> Selector:
        matchers = []
        if self.peek()[1] == "{":
            self.take("{")
            while self.peek()[1] != "}":
                name = self.take(kind="ident")
                op = self.take()
                if op not in ("=", "!=", "=~", "!~"):
                    raise ParseError(f"bad matcher operator {op!r} for {name}")
                raw = self.take(kind="str")
                text = bytes(raw[1:-1], "utf-8").decode("unicode_escape")
                if op in ("=~", "!~"):
                    try:
                        re.compile(text)
                    except re.error as exc:
                        raise ParseError(f"bad regex {text!r}: {exc}") from exc
                matchers.append(Matcher(name, op, text))
                if self.peek()[1] == ",":
                    self.take(",")
            self.take("}")
        if metric is None and not matchers:
            raise ParseError("a selector needs a metric name or a matcher")
        return Selector(metric, tuple(matchers))

    def aggregation(self) -> Agg:
        op = self.take()
        grouping, without = (), False
        if self.peek()[1] in ("by", "without"):
            without = self.take() == "without"
            grouping = self.labels()
        self.take("(")
        param = None
        if op in ("topk", "bottomk", "quantile"):
            param = self.binary(0)
            self.take(",")
        expr = self.binary(0)
        self.take(")")
        if self.peek()[1] in ("by", "without") and not grouping:
            without = self.take() == "without"
            grouping = self.labels()
        return Agg(op, expr, grouping, without, param)

    def call(self) -> Call:
        fn = self.take()
        self.take("(")
        args = []
        while self.peek()[1] != ")":
            args.append(self.binary(0))
            if self.peek()[1] == ",":
                self.take(",")
        self.take(")")
        want = {"histogram_quantile": 2, "clamp_min": 2, "clamp_max": 2}.get(fn, 1)
        if len(args) != want:
            raise ParseError(f"{fn}() takes {want} argument(s), got {len(args)}")
        if fn in RANGE_FUNCTIONS and not (isinstance(args[0], Selector) and args[0].range_s):
            raise ParseError(f"{fn}() needs a range vector such as metric[5m]")
        if fn not in RANGE_FUNCTIONS and isinstance(args[-1], Selector) and args[-1].range_s:
            raise ParseError(f"{fn}() takes an instant vector, not a range")
        return Call(fn, tuple(args))


def parse(text: str) -> Any:
    """A PromQL expression as an AST (ParseError with a position when it is not one)."""
    if not text or not text.strip():
        raise ParseError("empty query")
    return _Parser(text).parse()


# --- canonical form and printing ------------------------------------------------------------------

def canonical(node: Any) -> Any:
    """The same query with the freedoms PromQL allows removed: matcher and label order, `by` position,
    duration spelling (5m = 300s), redundant parentheses (the AST has none), and `{__name__="x"}` = x."""
    if isinstance(node, Selector):
        metric = node.metric
        matchers = []
        for m in node.matchers:
            if m.name == "__name__" and m.op == "=" and metric is None:
                metric = m.value
            else:
                matchers.append(m)
        return replace(node, metric=metric, matchers=tuple(sorted(set(matchers), key=lambda m: (m.name, m.op, m.value))))
    if isinstance(node, Call):
        return Call(node.fn, tuple(canonical(a) for a in node.args))
    if isinstance(node, Agg):
        return Agg(node.op, canonical(node.expr), tuple(sorted(set(node.grouping))), node.without,
                   canonical(node.param) if node.param is not None else None)
    if isinstance(node, Binary):
        return replace(node, lhs=canonical(node.lhs), rhs=canonical(node.rhs),
                       on=tuple(sorted(set(node.on))) if node.on is not None else None,
                       include=tuple(sorted(set(node.include))))
    if isinstance(node, Neg):
        return Neg(canonical(node.expr))
    return node


def ast_equivalent(a: str, b: str) -> bool:
    """Two queries parse to the same canonical AST (False when either does not parse)."""
    try:
        return canonical(parse(a)) == canonical(parse(b))
    except ParseError:
        return False


def _dur(s: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if s >= size and s % size == 0:
            return f"{int(s // size)}{unit}"
    return f"{int(s * 1000)}ms"


def _num(v: float) -> str:
    return repr(int(v)) if float(v).is_integer() and abs(v) < 1e15 else repr(v)


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def _prec(node: Any) -> int:
    if isinstance(node, Binary):
        return next(i for i, ops in enumerate(PRECEDENCE) if node.op in ops)
    return len(PRECEDENCE) + 1


def to_string(node: Any) -> str:
    """PromQL text for an AST (parenthesised only where precedence needs it)."""
    if isinstance(node, Num):
        return _num(node.value)
    if isinstance(node, Selector):
        ms = ",".join(f'{m.name}{m.op}"{_quote(m.value)}"' for m in node.matchers)
        out = (node.metric or "") + (f"{{{ms}}}" if ms or not node.metric else "")
        if node.range_s:
            out += f"[{_dur(node.range_s)}]"
        if node.offset_s:
            out += f" offset {_dur(node.offset_s)}"
        return out
    if isinstance(node, Call):
        return f"{node.fn}({', '.join(to_string(a) for a in node.args)})"
    if isinstance(node, Agg):
        mod = f" {'without' if node.without else 'by'} ({', '.join(node.grouping)})" if node.grouping or node.without else ""
        param = f"{to_string(node.param)}, " if node.param is not None else ""
        return f"{node.op}{mod} ({param}{to_string(node.expr)})"
    if isinstance(node, Neg):
        inner = to_string(node.expr)
        return f"-({inner})" if isinstance(node.expr, Binary) else f"-{inner}"
    if isinstance(node, Binary):
        p = _prec(node)
        left, right = to_string(node.lhs), to_string(node.rhs)
        right_assoc = node.op == "^"
        if _prec(node.lhs) < p or (right_assoc and _prec(node.lhs) == p):
            left = f"({left})"
        if _prec(node.rhs) < p or (not right_assoc and _prec(node.rhs) == p):
            right = f"({right})"
        mods = " bool" if node.bool_ else ""
        if node.on is not None:
            mods += f" {'ignoring' if node.ignoring else 'on'} ({', '.join(node.on)})"
        if node.group:
            mods += f" group_{node.group} ({', '.join(node.include)})"
        return f"{left} {node.op}{mods} {right}"
    raise TypeError(f"not a PromQL node: {node!r}")


# --- the evaluator --------------------------------------------------------------------------------

Labels = tuple[tuple[str, str], ...]
LOOKBACK_S = 300.0


def labels_of(d: dict[str, str]) -> Labels:
    return tuple(sorted(d.items()))


@dataclass
class Series:
    labels: dict[str, str]
    t: list[float]  # seconds
    v: list[float]


@dataclass
class DB:
    """Series to query: `DB.from_minutes({'up{service="a"}': [1, 1, 0]})` samples one value a minute from t=0."""

    series: list[Series] = field(default_factory=list)

    @classmethod
    def from_minutes(cls, data: dict[str, list[float]], step_s: float = 60.0) -> DB:
        out = []
        for text, values in data.items():
            sel = parse(text)
            labels = {"__name__": sel.metric, **{m.name: m.value for m in sel.matchers}}
            out.append(Series(labels, [i * step_s for i in range(len(values))], [float(v) for v in values]))
        return cls(out)

    def select(self, sel: Selector) -> list[Series]:
        ms = list(sel.matchers) + ([Matcher("__name__", "=", sel.metric)] if sel.metric else [])
        return [s for s in self.series if all(m.matches(s.labels) for m in ms)]


Vector = dict[Labels, float]


class EvalError(ValueError):
    pass


def _drop_name(labels: Labels) -> Labels:
    return tuple(kv for kv in labels if kv[0] != "__name__")


def _window(s: Series, t: float, range_s: float) -> tuple[list[float], list[float]]:
    idx = [i for i, ts in enumerate(s.t) if t - range_s <= ts <= t]
    return [s.t[i] for i in idx], [s.v[i] for i in idx]


def extrapolated_rate(ts: list[float], vs: list[float], t: float, range_s: float, counter: bool,
                      is_rate: bool) -> float | None:
    if len(vs) < 2:
        return None
    result = vs[-1] - vs[0]
    if counter:
        result += sum(prev for prev, cur in zip(vs, vs[1:], strict=False) if cur < prev)
    start, end = t - range_s, t
    d_start, d_end = ts[0] - start, end - ts[-1]
    sampled = ts[-1] - ts[0]
    avg_gap = sampled / (len(vs) - 1)
    if counter and result > 0 and vs[0] >= 0:
        d_zero = sampled * (vs[0] / result)
        d_start = min(d_start, d_zero)
    threshold = avg_gap * 1.1
    interval = sampled + (d_start if d_start < threshold else avg_gap / 2) + (d_end if d_end < threshold else avg_gap / 2)
    result *= interval / sampled
    return result / range_s if is_rate else result


def bucket_quantile(q: float, buckets: list[tuple[float, float]]) -> float:
    """Prometheus' histogram_quantile over (upper bound, cumulative count) pairs."""
    if q < 0:
        return -math.inf
    if q > 1:
        return math.inf
    buckets = sorted(buckets)
    if len(buckets) < 2 or not math.isinf(buckets[-1][0]):
        return math.nan
    merged: list[list[float]] = []
    for le, c in buckets:  # coalesce equal bounds, then force monotonic counts
        if merged and merged[-1][0] == le:
            merged[-1][1] += c
        else:
            merged.append([le, c])
    for i in range(1, len(merged)):
        merged[i][1] = max(merged[i][1], merged[i - 1][1])
    total = merged[-1][1]
    if total == 0:
        return math.nan
    rank = q * total
    b = next(i for i, (_, c) in enumerate(merged) if c >= rank)
    if b == len(merged) - 1:
        return merged[-2][0]
    if b == 0 and merged[0][0] <= 0:
        return merged[0][0]
    start, end = (0.0 if b == 0 else merged[b - 1][0]), merged[b][0]
    count = merged[b][1] - (merged[b - 1][1] if b > 0 else 0.0)
    rank -= merged[b - 1][1] if b > 0 else 0.0
    return start + (end - start) * (rank / count)


def _is_counter(name: str | None) -> bool:
    return bool(name) and name.endswith(("_total", "_count", "_sum", "_bucket"))


def evaluate(node: Any, db: DB, t: float) -> Vector | float:
    """An instant query at time t (seconds): a vector {labels: value} or a scalar."""
    if isinstance(node, Num):
        return node.value
    if isinstance(node, Neg):
        inner = evaluate(node.expr, db, t)
        return -inner if isinstance(inner, float) else {_drop_name(k): -v for k, v in inner.items()}
    if isinstance(node, Selector):
        if node.range_s:
            raise EvalError("a range vector cannot be the result of an expression; wrap it in rate() or *_over_time()")
        out: Vector = {}
        at = t - node.offset_s
        for s in db.select(node):
            ts, vs = _window(s, at, LOOKBACK_S)
            if ts and ts[-1] > at - LOOKBACK_S:
                out[labels_of(s.labels)] = vs[-1]
        return out
    if isinstance(node, Call):
        return _call(node, db, t)
    if isinstance(node, Agg):
        return _aggregate(node, db, t)
    if isinstance(node, Binary):
        return _binary(node, evaluate(node.lhs, db, t), evaluate(node.rhs, db, t))
    raise EvalError(f"cannot evaluate {node!r}")


def _call(node: Call, db: DB, t: float) -> Vector:
    fn = node.fn
    if fn in RANGE_FUNCTIONS:
        sel: Selector = node.args[0]
        out: Vector = {}
        at = t - sel.offset_s
        for s in db.select(sel):
            ts, vs = _window(s, at, sel.range_s)
            if not vs:
                continue
            if fn in ("rate", "increase", "delta"):
                value = extrapolated_rate(ts, vs, at, sel.range_s, fn != "delta", fn == "rate")
            elif fn == "irate":
                if len(vs) < 2:
                    continue
                dv = vs[-1] - vs[-2] if vs[-1] >= vs[-2] else vs[-1]
                value = dv / (ts[-1] - ts[-2])
            else:
                value = {"avg_over_time": sum(vs) / len(vs), "max_over_time": max(vs), "min_over_time": min(vs),
                         "sum_over_time": sum(vs), "count_over_time": float(len(vs))}[fn]
            if value is not None:
                out[_drop_name(labels_of(s.labels))] = value
        return out
    if fn == "histogram_quantile":
        q = evaluate(node.args[0], db, t)
        vec = evaluate(node.args[1], db, t)
        if not isinstance(q, float) or isinstance(vec, float):
            raise EvalError("histogram_quantile(scalar, instant vector)")
        groups: dict[Labels, list[tuple[float, float]]] = {}
        for labels, v in vec.items():
            d = dict(labels)
            if "le" not in d:
                continue
            le = math.inf if d["le"] in ("+Inf", "Inf") else float(d["le"])
            key = _drop_name(tuple(kv for kv in labels if kv[0] != "le"))
            groups.setdefault(key, []).append((le, v))
        return {k: bucket_quantile(q, b) for k, b in groups.items()}
    vec = evaluate(node.args[0], db, t)
    if isinstance(vec, float):
        raise EvalError(f"{fn}() takes an instant vector")
    if fn in ("clamp_min", "clamp_max"):
        bound = evaluate(node.args[1], db, t)
        if not isinstance(bound, float):
            raise EvalError(f"{fn}(vector, scalar)")
        f = (lambda v: max(v, bound)) if fn == "clamp_min" else (lambda v: min(v, bound))
    else:
        f = {"abs": abs, "ceil": math.ceil, "floor": math.floor}[fn]
    return {_drop_name(k): float(f(v)) for k, v in vec.items()}


def _group_key(labels: Labels, node: Agg) -> Labels:
    if node.without:
        return tuple(kv for kv in labels if kv[0] not in node.grouping and kv[0] != "__name__")
    return tuple(kv for kv in labels if kv[0] in node.grouping)


def _aggregate(node: Agg, db: DB, t: float) -> Vector:
    vec = evaluate(node.expr, db, t)
    if isinstance(vec, float):
        raise EvalError(f"{node.op}() takes an instant vector, got a scalar")
    groups: dict[Labels, list[tuple[Labels, float]]] = {}
    for labels, v in vec.items():
        groups.setdefault(_group_key(labels, node), []).append((labels, v))
    out: Vector = {}
    if node.op in ("topk", "bottomk"):
        k = evaluate(node.param, db, t)
        if not isinstance(k, float):
            raise EvalError(f"{node.op}'s k must be a scalar")
        for members in groups.values():
            ranked = sorted(members, key=lambda m: m[1], reverse=node.op == "topk")
            for labels, v in ranked[:max(int(k), 0)]:
                out[labels] = v  # topk keeps the series' own labels, name included
        return out
    for key, members in groups.items():
        vs = [v for _, v in members]
        if node.op == "sum":
            value = math.fsum(vs)
        elif node.op == "avg":
            value = math.fsum(vs) / len(vs)
        elif node.op == "count":
            value = float(len(vs))
        elif node.op == "min":
            value = min(vs)
        elif node.op == "max":
            value = max(vs)
        elif node.op == "stddev":
            mu = math.fsum(vs) / len(vs)
            value = math.sqrt(math.fsum((v - mu) ** 2 for v in vs) / len(vs))
        else:
            q = evaluate(node.param, db, t)
            value = _quantile(float(q), sorted(vs))
        out[key] = value
    return out


def _quantile(q: float, vs: list[float]) -> float:
    if q < 0:
        return -math.inf
    if q > 1:
        return math.inf
    rank = q * (len(vs) - 1)
    lo, hi = math.floor(rank), math.ceil(rank)
    return vs[lo] + (vs[hi] - vs[lo]) * (rank - lo)


def _arith(op: str, a: float, b: float) -> float:
    try:
        if op == "+":
            return a + b
        if op == "-":
            return a - b
        if op == "*":
            return a * b
        if op == "/":
            return a / b if b else (math.nan if a == 0 or math.isnan(a) else math.copysign(math.inf, a) * math.copysign(1, b))
        if op == "%":
            return math.fmod(a, b) if b else math.nan
        if op == "^":
            return a ** b
    except (OverflowError, ZeroDivisionError, ValueError):
        return math.nan
    cmp = {"==": a == b, "!=": a != b, "<": a < b, ">": a > b, "<=": a <= b, ">=": a >= b}
    return 1.0 if cmp[op] else 0.0


def _binary(node: Binary, lhs: Vector | float, rhs: Vector | float) -> Vector | float:
    op = node.op
    if op in SET_OPS:
        if isinstance(lhs, float) or isinstance(rhs, float):
            raise EvalError(f"{op} needs vectors on both sides")
        return _set_op(node, lhs, rhs)
    cmp = op in COMPARISONS
    if isinstance(lhs, float) and isinstance(rhs, float):
        if cmp and not node.bool_:
            raise EvalError("comparisons between scalars need bool")
        return _arith(op, lhs, rhs)
    if isinstance(lhs, float) or isinstance(rhs, float):
        vec, scalar_left = (rhs, True) if isinstance(lhs, float) else (lhs, False)
        s = lhs if scalar_left else rhs
        out: Vector = {}
        for labels, v in vec.items():
            a, b = (s, v) if scalar_left else (v, s)
            r = _arith(op, a, b)
            if cmp and not node.bool_:
                if r:
                    out[labels] = v
            else:
                out[_drop_name(labels)] = r
        return out
    return _vector_op(node, lhs, rhs)


def _match_key(labels: Labels, node: Binary) -> Labels:
    if node.on is not None and not node.ignoring:
        return tuple(kv for kv in labels if kv[0] in node.on)
    ignored = set(node.on or ()) | {"__name__"}
    return tuple(kv for kv in labels if kv[0] not in ignored)


def _vector_op(node: Binary, lhs: Vector, rhs: Vector) -> Vector:
    cmp = node.op in COMPARISONS
    one, many, many_is_left = rhs, lhs, True
    if node.group == "right":
        one, many, many_is_left = lhs, rhs, False
    index: dict[Labels, tuple[Labels, float]] = {}
    for labels, v in one.items():
        key = _match_key(labels, node)
        if key in index:
            raise EvalError("many-to-many matching: several series on one side share the labels "
                            f"{dict(key)}; use on(...)/ignoring(...) or group_left/group_right")
        index[key] = (labels, v)
    out: Vector = {}
    seen: set[Labels] = set()
    for labels, v in many.items():
        key = _match_key(labels, node)
        if key not in index:
            continue
        if node.group is None:
            if key in seen:
                raise EvalError(f"multiple matches for labels {dict(key)}; add group_left/group_right")
            seen.add(key)
        other_labels, w = index[key]
        a, b = (v, w) if many_is_left else (w, v)
        r = _arith(node.op, a, b)
        if node.group is None:
            result_labels = key if node.on is not None and not node.ignoring else _drop_name(labels)
        else:
            d = dict(_drop_name(labels)) if not (cmp and not node.bool_) else dict(labels)
            d.update({k: val for k, val in other_labels if k in node.include})
            result_labels = labels_of(d)
        if cmp and not node.bool_:
            if r:
                keep = labels if node.group is None else result_labels
                out[keep] = a
        else:
            out[result_labels] = r
    return out


def _set_op(node: Binary, lhs: Vector, rhs: Vector) -> Vector:
    rkeys = {_match_key(k, node) for k in rhs}
    if node.op == "and":
        return {k: v for k, v in lhs.items() if _match_key(k, node) in rkeys}
    if node.op == "unless":
        return {k: v for k, v in lhs.items() if _match_key(k, node) not in rkeys}
    lkeys = {_match_key(k, node) for k in lhs}
    return {**lhs, **{k: v for k, v in rhs.items() if _match_key(k, node) not in lkeys}}


def query(text: str, db: DB, t: float) -> Vector | float:
    return evaluate(parse(text), db, t)


def same_result(a: Vector | float, b: Vector | float, rel: float = 1e-6) -> bool:
    """Two results agree: same label sets, values equal within a relative tolerance (NaN equals NaN)."""
    if isinstance(a, float) or isinstance(b, float):
        return isinstance(a, float) and isinstance(b, float) and _close(a, b, rel)
    return a.keys() == b.keys() and all(_close(a[k], b[k], rel) for k in a)


def _close(x: float, y: float, rel: float) -> bool:
    if math.isnan(x) or math.isnan(y):
        return math.isnan(x) and math.isnan(y)
    return x == y or abs(x - y) <= rel * max(abs(x), abs(y), 1e-12)


def format_vector(result: Vector | float, limit: int = 20) -> list[dict[str, Any]] | float:
    if isinstance(result, float):
        return result
    rows = sorted(result.items())[:limit]
    return [{"labels": dict(k), "value": None if math.isnan(v) or math.isinf(v) else round(v, 6)} for k, v in rows]


if __name__ == "__main__":
    expr = parse(sys.argv[1] if len(sys.argv) > 1 else 'sum by (service) (rate(http_requests_total[5m]))')
    print(expr)
    print("canonical:", to_string(canonical(expr)))
