"""The PromQL parser, canonical form and evaluator: against promql-parser and promtool where installed,
and against hand-computed values everywhere."""

from __future__ import annotations

import math
import random

import pytest

from labs.lab13_sre.metrics import fixture_db
from labs.lab13_sre.promql import (
    DB,
    EvalError,
    ParseError,
    bucket_quantile,
    canonical,
    extrapolated_rate,
    parse,
    query,
    same_result,
    to_string,
)
from tests.lab13.conftest import require_promql_parser, require_promtool

METRICS = ["http_requests_total", "up", "process_resident_memory_bytes", "http_request_duration_seconds_bucket"]
LABELS = {"service": ["web", "cache", "checkout"], "code": ["200", "500", "503"], "instance": ["cache-0", "web-1"]}


def random_query(rng: random.Random, depth: int = 0, counter_only: bool = False) -> str:
    """A random query from the subset the lab supports (well-typed, no redundant parentheses)."""
    metric = "http_requests_total" if counter_only else rng.choice(METRICS)
    ms = [(k, rng.choice(["=", "!=", "=~"]), rng.choice(v) if rng.random() < 0.7 else f"{rng.choice(v)[0]}.*")
          for k, v in rng.sample(sorted(LABELS.items()), rng.randint(0, 2))]
    sel = metric + ("{" + ",".join(f'{k}{op}"{v}"' for k, op, v in ms) + "}" if ms else "")
    kind = rng.random()
    if depth > 1 or kind < 0.2:
        return sel
    if kind < 0.45:
        fn = rng.choice(["rate", "increase", "irate"] if metric.endswith(("_total", "_bucket")) else
                        ["avg_over_time", "max_over_time", "min_over_time", "sum_over_time", "count_over_time"])
        inner = f"{fn}({sel}[{rng.choice(['1m', '5m', '300s', '10m'])}])"
    else:
        inner = sel
    if rng.random() < 0.6:
        by = rng.sample(["service", "code", "instance"], rng.randint(0, 2))
        op = rng.choice(["sum", "avg", "max", "min", "count"])
        if by and rng.random() < 0.5:
            inner = f"{op}({inner}) by ({', '.join(by)})"
        else:
            inner = f"{op} by ({', '.join(by)}) ({inner})" if by else f"{op}({inner})"
    if rng.random() < 0.3:
        inner = f"{inner} {rng.choice(['*', '/', '+', '>', '<'])} {rng.choice(['2', '0.5', '100'])}"
    return inner


def test_parse_errors_name_the_problem():
    for bad, words in (("rate(x[5m]", "expected )"), ("sum(", "unexpected"), ("x{a=~\"(\"}", "bad regex"),
                       ("rate(x)", "range vector"), ("nope(x)", "unknown function"), ("", "empty"),
                       ("x[5q]", "unexpected"), ("abs(x[5m])", "instant vector")):
        with pytest.raises(ParseError, match=words.split()[0]):
            parse(bad)


def test_canonical_removes_only_the_freedoms_promql_allows():
    same = [('sum(rate(x{b="1",a="2"}[5m])) by (b, a)', 'sum by (a, b) (rate(x{a="2",b="1"}[300s]))'),
            ('{__name__="up", service="web"}', 'up{service="web"}'), ("((up))", "up"),
            ("a / on(service, code) group_left b", "a / on (code, service) group_left () b")]
    for a, b in same:
        assert canonical(parse(a)) == canonical(parse(b)), (a, b)
    different = [("sum by (a) (x)", "sum without (a) (x)"), ("rate(x[5m])", "rate(x[1m])"),
                 ('x{a="1"}', 'x{a=~"1"}'), ("a - b - c", "a - (b - c)"), ("2 ^ 3 ^ 2", "(2 ^ 3) ^ 2"),
                 ("x > 1", "x > bool 1")]
    for a, b in different:
        assert canonical(parse(a)) != canonical(parse(b)), (a, b)


def test_printing_then_parsing_is_the_identity_on_random_queries():
    rng = random.Random(13)
    for _ in range(300):
        q = random_query(rng)
        ast = parse(q)
        assert parse(to_string(ast)) == ast, q
        assert parse(to_string(canonical(ast))) == canonical(ast), q


@require_promql_parser
def test_parser_agrees_with_promql_parser_on_random_queries():
    import promql_parser

    rng = random.Random(7)
    for _ in range(400):
        q = random_query(rng)
        assert str(promql_parser.parse(to_string(parse(q)))) == str(promql_parser.parse(q)), q


def test_extrapolated_rate_by_hand():
    # six samples a minute apart covering the whole 5m range: no extrapolation, plain slope
    ts, vs = [0.0, 60, 120, 180, 240, 300], [2, 3, 5, 8, 13, 21]
    assert extrapolated_rate(ts, vs, 300, 300, True, True) == pytest.approx(19 / 300)
    # a counter reset (20 -> 5): the value before it is added back, 10 -> 20 then 0 -> 5
    assert extrapolated_rate([0.0, 60, 120], [10, 20, 5], 120, 120, True, False) == pytest.approx(15)
    # samples start 30 s into the range (less than 1.1 x the 60 s gap): extrapolate to the start
    got = extrapolated_rate([30.0, 90, 150, 210, 270], [0.0 + 100, 160, 220, 280, 340], 300, 300, True, False)
    assert got == pytest.approx(240 * (240 + 30 + 30) / 240)


def test_bucket_quantile_by_hand():
    buckets = [(0.1, 10.0), (0.5, 60.0), (1.0, 90.0), (math.inf, 100.0)]
    assert bucket_quantile(0.5, buckets) == pytest.approx(0.1 + 0.4 * (50 - 10) / 50)
    assert bucket_quantile(0.95, buckets) == 1.0  # in the +Inf bucket: the highest finite bound
    assert math.isnan(bucket_quantile(0.5, [(0.1, 1.0)]))
    assert bucket_quantile(-1, buckets) == -math.inf


def test_evaluator_semantics_on_a_small_db():
    db = DB.from_minutes({'up{service="a",instance="a-0"}': [1, 1, 0], 'up{service="a",instance="a-1"}': [1, 1, 1],
                          'req_total{service="a"}': [0, 60, 120], 'req_total{service="b"}': [0, 30, 60]})
    assert query("sum by (service) (up)", db, 120) == {(("service", "a"),): 1.0}
    assert query("up == 0", db, 120) == {(("__name__", "up"), ("instance", "a-0"), ("service", "a")): 0.0}
    assert query("count(up == 0)", db, 120) == {(): 1.0}
    rates = query("rate(req_total[2m])", db, 120)
    assert rates == {(("service", "a"),): pytest.approx(1.0), (("service", "b"),): pytest.approx(0.5)}
    assert query("topk(1, rate(req_total[2m]))", db, 120) == {(("service", "a"),): pytest.approx(1.0)}
    assert query("rate(req_total[2m]) / on(service) sum by (service) (up)", db, 120)[(("service", "a"),)] == 1.0
    assert query("rate(req_total[2m]) / up", db, 120) == {}  # label sets differ: nothing matches
    with pytest.raises(EvalError, match="group_left"):
        query("up / on(service) rate(req_total[2m])", db, 120)  # many-to-one must say so
    assert len(query("up / on(service) group_left rate(req_total[2m])", db, 120)) == 2


def test_same_result_tolerates_rounding_not_label_differences():
    assert same_result({(("a", "1"),): 1.0}, {(("a", "1"),): 1.0 + 1e-9})
    assert not same_result({(("a", "1"),): 1.0}, {(("a", "2"),): 1.0})
    assert same_result({(): math.nan}, {(): math.nan})


@require_promtool
def test_evaluator_agrees_with_promtool_on_random_queries():
    from labs.lab13_sre import promtool

    db = fixture_db("INC-2043")
    rng = random.Random(3)
    queries = sorted({random_query(rng) for _ in range(150)})
    got = promtool.run(queries, db, 3180)
    for q, theirs in zip(queries, got, strict=True):
        assert not isinstance(theirs, str), (q, theirs)
        assert same_result(query(q, db, 3180), theirs), q
