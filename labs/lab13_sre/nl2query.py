"""Natural language -> PromQL, graded three ways side by side: exact string, AST equivalence, execution.

    curl -s localhost:8013/nl2query -H 'content-type: application/json' -d '{"question": "p99 latency of checkout", "execute": true}'
    python -m labs.lab13_sre.nl2query            # the eval set, the three accuracies and the gaps

For each question of fixtures/lab13/nl2promql.yaml the model writes a query; it is then

    exact      equal to the gold string after collapsing whitespace
    ast        equal as canonical ASTs (promql.canonical: matcher and label order, `by` position,
               duration spelling, parentheses)
    execution  equal results when both run on the same series at the same time (our evaluator, or
               promtool where it is installed: `engine="promtool"`)

    accuracy_g = (1/N) sum_i [grade_g(pred_i, gold_i)],   gap(a, b) = accuracy_b - accuracy_a

exact <= ast <= execution when the grader is sound: every exact match is an AST match, and every AST
match runs to the same result. The gaps are the lab's headline: exact match under-credits equivalent
queries (a paraphrase), and execution over-credits queries that only agree on this data (a regex
that lists the codes it saw). Reported per tag, with the disagreements listed.
"""

from __future__ import annotations

import argparse
import json
import re
from dataclasses import dataclass
from functools import cache
from typing import Any

import yaml

from labs.lab13_sre import promtool
from labs.lab13_sre.estate import FIXTURES, load_estate
from labs.lab13_sre.metrics import BUCKETS, fixture_db
from labs.lab13_sre.promql import (
    DB,
    EvalError,
    ParseError,
    canonical,
    format_vector,
    parse,
    same_result,
    to_string,
)
from labs.lab13_sre.promql import evaluate as run_query
from shared.llm import Model


def system_prompt(catalogue: bool = True) -> str:
    """What the translator is told: the services, and (the lever that matters) the metric catalogue."""
    estate = load_estate()
    lines = ["You translate an on-call engineer's question into one PromQL query. Answer with the query only,",
             "in a ```promql block. Use a 5m window unless the question names another.", "", "Services:"]
    lines += [f"service: {name}" for name in sorted(estate.services)]
    if catalogue:
        lines += ["", "Metrics (labels):",
                  "http_requests_total counter (service, code, method)",
                  f"http_request_duration_seconds_bucket histogram (service, le in {list(BUCKETS[:-1])} and +Inf)",
                  "http_request_duration_seconds_sum / _count counters (service)",
                  "process_resident_memory_bytes gauge (service, instance)",
                  "container_cpu_usage_seconds_total counter (service, instance)",
                  "up gauge (service, instance)"]
    return "\n".join(lines)


def extract(text: str | None) -> str:
    """The query out of a reply: a fenced block if there is one, else the first non-empty line."""
    text = text or ""
    m = re.search(r"```(?:promql)?\s*\n(.*?)```", text, re.DOTALL)
    body = m.group(1) if m else text
    return next((ln.strip() for ln in body.splitlines() if ln.strip()), "")


@dataclass
class Translation:
    question: str
    query: str
    parses: bool
    parse_error: str | None
    canonical: str | None


def translate(model: Model, question: str, catalogue: bool = True, seed: int | None = None) -> Translation:
    reply = model.complete(question, system=system_prompt(catalogue), temperature=0, seed=seed)
    query = extract(reply.text)
    try:
        ast = parse(query)
        return Translation(question, query, True, None, to_string(canonical(ast)))
    except ParseError as exc:
        return Translation(question, query, False, str(exc), None)


def execute(query: str, db: DB, t: float) -> dict[str, Any]:
    try:
        result = run_query(parse(query), db, t)
    except (ParseError, EvalError) as exc:
        return {"ok": False, "error": str(exc)}
    return {"ok": True, "result": format_vector(result)}


# --- grading --------------------------------------------------------------------------------------

def exact(pred: str, gold: str) -> bool:
    return " ".join(pred.split()) == " ".join(gold.split())


def ast_match(pred: str, gold: str) -> bool:
    try:
        return canonical(parse(pred)) == canonical(parse(gold))
    except ParseError:
        return False


def executes_equal(pred: str, gold: str, db: DB, t: float) -> bool:
    try:
        return same_result(run_query(parse(pred), db, t), run_query(parse(gold), db, t))
    except (ParseError, EvalError):
        return False


@cache
def eval_set() -> dict[str, Any]:
    data = yaml.safe_load((FIXTURES / "nl2promql.yaml").read_text())
    ids = [q["id"] for q in data["questions"]]
    if len(ids) != len(set(ids)):
        raise ValueError("nl2promql.yaml: duplicate question ids")
    return data


def grade(preds: list[str], golds: list[str], db: DB, t: float, engine: str = "builtin") -> list[dict[str, bool]]:
    """Each prediction graded three ways; `engine="promtool"` runs both sides with Prometheus' engine."""
    if engine == "promtool":
        results = promtool.run(preds + golds, db, t)
        n = len(preds)
        exec_ok = [not isinstance(results[i], str) and not isinstance(results[n + i], str)
                   and same_result(results[i], results[n + i]) for i in range(n)]
    else:
        exec_ok = [executes_equal(p, g, db, t) for p, g in zip(preds, golds, strict=True)]
    return [{"exact": exact(p, g), "ast": ast_match(p, g), "execution": e}
            for p, g, e in zip(preds, golds, exec_ok, strict=True)]


def run_eval(model: Model, *, catalogue: bool = True, engine: str = "builtin", limit: int | None = None,
             progress=None) -> dict[str, Any]:
    """Translate every question, grade three ways, and report accuracies, gaps, per-tag accuracy, disagreements."""
    data = eval_set()
    questions = data["questions"][:limit] if limit else data["questions"]
    db, t = fixture_db(data["incident"]), float(data["eval_time_s"])
    preds = []
    for i, q in enumerate(questions):
        preds.append(translate(model, q["q"], catalogue).query)
        if progress:
            progress(i + 1, len(questions))
    grades = grade(preds, [q["gold"] for q in questions], db, t, engine)
    n = len(questions)
    acc = {g: round(sum(r[g] for r in grades) / n, 4) for g in ("exact", "ast", "execution")}
    tags: dict[str, list[dict[str, bool]]] = {}
    for q, r in zip(questions, grades, strict=True):
        for tag in q.get("tags", []):
            tags.setdefault(tag, []).append(r)
    rows = [{"id": q["id"], "question": q["q"], "gold": q["gold"], "pred": p, **r}
            for q, p, r in zip(questions, preds, grades, strict=True)]
    return {
        "n": n, "engine": engine, "catalogue": catalogue, "model": model.id, "incident": data["incident"],
        "accuracy": acc,
        "gaps": {"ast_minus_exact": round(acc["ast"] - acc["exact"], 4),
                 "execution_minus_ast": round(acc["execution"] - acc["ast"], 4),
                 "execution_minus_exact": round(acc["execution"] - acc["exact"], 4)},
        "by_tag": {tag: {g: round(sum(r[g] for r in rs) / len(rs), 4) for g in ("exact", "ast", "execution")}
                   | {"n": len(rs)} for tag, rs in sorted(tags.items())},
        "unsound": [r["id"] for r in rows if (r["exact"] and not r["ast"]) or (r["ast"] and not r["execution"])],
        "disagreements": [r for r in rows if len({r["exact"], r["ast"], r["execution"]}) > 1],
        "wrong": [r for r in rows if not r["execution"]],
    }


def main() -> None:
    from labs.lab13_sre import mock_plugin  # noqa: F401  (registers the translator with the in-process mock)

    ap = argparse.ArgumentParser(description="NL->PromQL eval: exact vs AST vs execution")
    ap.add_argument("--engine", choices=["builtin", "promtool"], default="builtin")
    ap.add_argument("--no-catalogue", action="store_true")
    args = ap.parse_args()
    report = run_eval(Model.from_settings().for_behaviour("sre_promql"), catalogue=not args.no_catalogue,
                      engine=args.engine)
    print(json.dumps({k: report[k] for k in ("n", "engine", "catalogue", "accuracy", "gaps")}, indent=2))
    for r in report["disagreements"][:10]:
        print(f"{r['id']} exact={r['exact']:d} ast={r['ast']:d} exec={r['execution']:d}\n  gold {r['gold']}\n  pred {r['pred']}")


if __name__ == "__main__":
    main()


__all__ = ["Translation", "ast_match", "eval_set", "exact", "execute", "executes_equal", "extract", "grade",
           "run_eval", "system_prompt", "translate"]
