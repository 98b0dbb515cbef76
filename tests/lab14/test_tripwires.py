"""tripwires.py: rules from YAML, evaluated as the comparison says; bad YAML says where it is wrong."""

from __future__ import annotations

import operator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from labs.lab14_audit import tripwires

PY_OPS = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le, "==": operator.eq, "!=": operator.ne}
finite = st.floats(-1e6, 1e6, allow_nan=False)


@given(st.sampled_from(sorted(PY_OPS)), finite, finite)
def test_a_rule_fires_exactly_when_its_comparison_holds(op, value, threshold):
    rule = tripwires.Rule(name="r", signal="s", op=op, threshold=threshold, response="act")
    result = tripwires.evaluate([rule], {"s": value})["rules"][0]
    assert result["fired"] is PY_OPS[op](value, threshold)


def test_default_rules_load_and_name_known_signals():
    rules = tripwires.load_rules()
    assert {r.kind for r in rules} == {"tripwire", "pivot"}
    assert all(r.signal in tripwires.SIGNALS for r in rules)


def test_unmeasured_is_not_quiet_and_responses_are_named():
    rules = tripwires.load_rules()
    out = tripwires.evaluate(rules, {"libyear_total": 12.0, "blocked_pins": 0})
    assert out["fired"] == 1 and out["quiet"] == 1 and out["unmeasured"] == len(rules) - 2
    assert out["responses"][0].startswith("dependencies fall behind: ")


@pytest.mark.parametrize(("text", "where"), [
    ("- {name: broken", "not valid YAML"),
    ("name: not a list", "non-empty YAML list"),
    ("- {name: x, signal: s, op: '=>', threshold: 1, response: r}", "rule 0: op"),
    ("- {name: x, signal: s, op: '>', threshold: .nan, response: r}", "rule 0: threshold"),
    ("- {name: x, signal: s, op: '>', threshold: 1, response: r, extra: 1}", "rule 0: extra"),
])
def test_bad_rules_say_where(text, where):
    with pytest.raises(tripwires.TripwireError, match=where):
        tripwires.parse_rules(text)
