"""Tripwires and pivot signals: (signal, threshold, response) in YAML, evaluated against measured signals.

    curl -s localhost:8014/tripwires/evaluate -H 'content-type: application/json' -d '{"signals": {"libyear_total": 12}}'

A rule fires when `value op threshold` holds; every firing names the response decided in advance, so
the audit ends with actions instead of a feeling. A rule whose signal was not measured is reported as
unmeasured (fired: null), never silently as quiet. The default rules are `fixtures/lab14/tripwires.yaml`;
the audit measures the signals in SIGNALS from the repository.
"""

from __future__ import annotations

import operator
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.config import FIXTURES

RULES_FILE = FIXTURES / "lab14" / "tripwires.yaml"
OPS = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le, "==": operator.eq, "!=": operator.ne}
SIGNALS = {
    "libyear_total": "years behind, summed over dependencies with known dates",
    "libyear_max": "years behind, the worst single dependency",
    "dependencies_behind": "pinned below the newest known release",
    "blocked_pins": "dependencies whose upgrade another package's requirement forbids",
    "stale_dependencies": "dependencies with no release in 18 months",
    "unused_dependencies": "direct dependencies no Python file imports",
    "deprecation_warnings": "deprecation warnings captured (import or suite mode)",
    "overdue_share_spine": "share of spine topics past their refresh date",
    "overdue_share_stable": "share of stable topics past their refresh date",
    "overdue_share_ephemeral": "share of ephemeral topics past their refresh date",
    "decision_records": "decision records in the repository (doc/adr)",
    "benchmark_regression_pct": "slowdown of a benchmark against its last good run, in percent (supplied)",
}


class TripwireError(ValueError):
    """The rules are not valid YAML, or do not have the shape of a rule list."""


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    name: str = Field(min_length=1, max_length=200)
    kind: Literal["tripwire", "pivot"] = "tripwire"
    signal: str = Field(min_length=1, max_length=100)
    op: Literal[">", ">=", "<", "<=", "==", "!="]
    threshold: float
    response: str = Field(min_length=1, max_length=2000)


def parse_rules(text: str) -> list[Rule]:
    """YAML text -> rules; any problem is a TripwireError that says where."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise TripwireError(f"rules are not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(data, list) or not data:
        raise TripwireError("rules must be a non-empty YAML list of {name, kind, signal, op, threshold, response}")
    rules = []
    for i, item in enumerate(data):
        try:
            rules.append(Rule.model_validate(item))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "rule"
            raise TripwireError(f"rule {i}: {where}: {first['msg']}") from None
    return rules


def load_rules(path: Path = RULES_FILE) -> list[Rule]:
    return parse_rules(path.read_text())


def evaluate(rules: list[Rule], signals: dict[str, float]) -> dict:
    """Each rule with its value and whether it fired (None: its signal was not measured)."""
    results = []
    for rule in rules:
        value = signals.get(rule.signal)
        fired = None if value is None else bool(OPS[rule.op](value, rule.threshold))
        results.append({**rule.model_dump(), "value": value, "fired": fired})
    fired = [r for r in results if r["fired"]]
    return {"fired": len(fired), "quiet": sum(r["fired"] is False for r in results),
            "unmeasured": sum(r["fired"] is None for r in results),
            "responses": [f"{r['name']}: {r['response']}" for r in fired], "rules": results}
