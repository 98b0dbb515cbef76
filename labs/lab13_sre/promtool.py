"""Execute PromQL with Prometheus' own engine, no server: `promtool test rules` over fixture series.

    python -m labs.lab13_sre.promtool 'sum by (service) (up)'      # needs promtool (Debian: prometheus)

One test file holds the series (as `input_series`, one value a minute) and one `promql_expr_test`
per query with an empty expectation; promtool then fails each test and prints what it got, which is
the query's result. All queries go in one file, so one process start (about 0.1 s) serves them all.
A query promtool cannot parse or evaluate comes back as an error string.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from labs.lab13_sre.promql import DB, Vector, labels_of

_EXPR = re.compile(r'^\s*expr: "(?P<expr>(?:[^"\\]|\\.)*)", time: (?P<time>[^,\s]+),?\s*(?:err: (?P<err>.*))?$')
_SAMPLE = re.compile(r'(?P<labels>[a-zA-Z_:][\w:]*)?\{(?P<body>[^}]*)\} (?P<value>[-+0-9.eEINFaninf]+)')
_PAIR = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def binary() -> str | None:
    """promtool's path: $PROMTOOL, else on PATH; None when it is not installed."""
    found = os.environ.get("PROMTOOL") or shutil.which("promtool")
    return found if found and Path(found).exists() else None


def _float(text: str) -> float:
    low = text.lower()
    if low in ("nan",):
        return math.nan
    if low in ("+inf", "inf"):
        return math.inf
    if low == "-inf":
        return -math.inf
    return float(text)


def run(queries: list[str], db: DB, t_s: float, timeout_s: float = 60.0) -> list[Vector | str]:
    """Each query's result at t_s (seconds from the first sample) as evaluated by promtool, or an error."""
    tool = binary()
    if tool is None:
        raise FileNotFoundError("promtool is not installed (Debian: apt-get install prometheus)")
    series = [{"series": _series_text(s.labels), "values": " ".join(_value(v) for v in s.v)} for s in db.series]
    tests = [{"expr": q, "eval_time": f"{int(t_s)}s", "exp_samples": []} for q in queries]
    doc = {"rule_files": [], "evaluation_interval": "1m",
           "tests": [{"interval": "1m", "input_series": series, "promql_expr_test": tests}]}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "queries_test.yaml"
        path.write_text(yaml.safe_dump(doc, sort_keys=False, width=10**9))
        proc = subprocess.run([tool, "test", "rules", str(path)], capture_output=True, text=True, timeout=timeout_s)
    return _parse_output(proc.stdout + proc.stderr, queries)


def _series_text(labels: dict[str, str]) -> str:
    body = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()) if k != "__name__")
    return f"{labels.get('__name__', '')}{{{body}}}"


def _value(v: float) -> str:
    return "NaN" if math.isnan(v) else repr(float(v))


def _parse_output(text: str, queries: list[str]) -> list[Vector | str]:
    """Pair each 'expr: ..., time: ...' block with its 'got:' line or its error. A query promtool does not
    mention passed its test, whose expectation was empty: its result is the empty vector."""
    results: dict[str, Vector | str] = {}
    lines = text.splitlines()
    for i, line in enumerate(lines):
        m = _EXPR.match(line)
        if not m:
            continue
        expr = bytes(m.group("expr"), "utf-8").decode("unicode_escape")
        if m.group("err"):
            results[expr] = f"error: {m.group('err').strip()}"[:300]
            continue
        got = None
        for nxt in lines[i + 1:]:
            if _EXPR.match(nxt):
                break
            if nxt.strip().startswith("got:"):
                got = nxt.strip()[4:]
        results[expr] = _parse_samples(got) if got is not None else "error: promtool printed no result"
    if not results and "SUCCESS" not in text:
        raise RuntimeError(f"promtool failed: {text.strip()[-500:]}")
    return [results.get(q, {}) for q in queries]


def _parse_samples(text: str) -> Vector:
    text = text.strip()
    out: Vector = {}
    if text in ("", "nil"):
        return out
    for m in _SAMPLE.finditer(text):
        labels = {k: bytes(v, "utf-8").decode("unicode_escape") for k, v in _PAIR.findall(m.group("body"))}
        if m.group("labels"):
            labels["__name__"] = m.group("labels")
        out[labels_of(labels)] = _float(m.group("value"))
    return out


if __name__ == "__main__":
    from labs.lab13_sre.metrics import fixture_db

    print(run([sys.argv[1] if len(sys.argv) > 1 else "sum by (service) (up)"], fixture_db(), 3180))
