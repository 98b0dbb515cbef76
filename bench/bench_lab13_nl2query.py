"""NL->PromQL graded three ways: the gap between exact, AST and execution accuracy, and what it costs to grade.

    .venv/bin/python bench/bench_lab13_nl2query.py          # ~1-2 minutes (64 questions x 9 settings)

Sweeps the mock translator's `mistake_rate` (0, 0.1, 0.2, 0.4) at paraphrase_rate 0.5, plus a perfect
translator, a paraphrase-only one, and the default without the metric catalogue in the prompt. For
each: exact, AST and execution accuracy over the 64-question eval set (the headline is the gap).
Then grading cost per query, side by side: exact match, AST (our parser; promql-parser too where it is
installed) and execution (our evaluator; promtool where it is installed: one process for the whole
set, reported per query). Writes bench/results/lab13_nl2query.json + .png.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import time
from pathlib import Path

from labs.lab13_sre import (
    mock_plugin,  # noqa: F401  (the translator for the in-process mock)
    nl2query,
    promtool,
)
from labs.lab13_sre.metrics import fixture_db
from shared.llm import Model
from shared.plots import plt, replot, save

OUT = Path(__file__).resolve().parent / "results"
SETTINGS = [("perfect", 0.0, 0.0, True), ("paraphrase only", 0.5, 0.0, True), ("mistakes 0.1", 0.5, 0.1, True),
            ("mistakes 0.2 (default)", 0.5, 0.2, True), ("mistakes 0.4", 0.5, 0.4, True),
            ("default, no catalogue", 0.5, 0.2, False)]


def per_query_s(fn, items, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        for item in items:
            fn(*item)
        best = min(best, time.perf_counter() - t)
    return best / len(items)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replot", action="store_true", help="re-draw the PNG from the committed JSON; measure nothing")
    if parser.parse_args().replot:
        replot(OUT / "lab13_nl2query.json", PLOTS)
        return
    OUT.mkdir(exist_ok=True)
    base = Model.from_settings().for_behaviour("sre_promql")
    sweep = []
    for name, para, mistake, catalogue in SETTINGS:
        rep = nl2query.run_eval(base.with_mock(paraphrase_rate=para, mistake_rate=mistake), catalogue=catalogue)
        sweep.append({"setting": name, "paraphrase_rate": para, "mistake_rate": mistake, "catalogue": catalogue,
                      **rep["accuracy"], **rep["gaps"], "unsound": rep["unsound"]})
        print(f"{name:24s} {rep['accuracy']}")
    data = nl2query.eval_set()
    db, t = fixture_db(data["incident"]), data["eval_time_s"]
    default = nl2query.run_eval(base.with_mock(paraphrase_rate=0.5, mistake_rate=0.2))
    all_pairs = [(r["pred"], r["gold"]) for r in
                 [*default["disagreements"], *default["wrong"]]] + [(q["gold"], q["gold"]) for q in data["questions"]]
    cost = {"exact_s": per_query_s(nl2query.exact, all_pairs), "ast_s": per_query_s(nl2query.ast_match, all_pairs),
            "execution_builtin_s": per_query_s(lambda p, g: nl2query.executes_equal(p, g, db, t), all_pairs, 1)}
    if importlib.util.find_spec("promql_parser"):
        import promql_parser

        cost["ast_promql_parser_s"] = per_query_s(lambda p, g: promql_parser.parse(p) == promql_parser.parse(g),
                                                  [(g, g) for _, g in all_pairs])
    if promtool.binary():
        preds, golds = [p for p, _ in all_pairs], [g for _, g in all_pairs]
        start = time.perf_counter()
        via_promtool = nl2query.grade(preds, golds, db, t, "promtool")
        cost["execution_promtool_s"] = (time.perf_counter() - start) / len(all_pairs)
        cost["promtool_agrees_with_builtin"] = via_promtool == nl2query.grade(preds, golds, db, t)
    cost["ratios_to_exact"] = {k: round(v / cost["exact_s"], 1) for k, v in cost.items()
                               if k.endswith("_s") and k != "exact_s"}
    result = {"n_questions": len(data["questions"]), "incident": data["incident"], "sweep": sweep,
              "grading_cost_per_query": cost, "pairs_timed": len(all_pairs), "example_disagreements": [
                  {k: r[k] for k in ("id", "gold", "pred", "exact", "ast", "execution")} for r in default["disagreements"][:8]]}
    (OUT / "lab13_nl2query.json").write_text(json.dumps(result, indent=2))
    plot(result, OUT / "lab13_nl2query.png")
    print(json.dumps(cost, indent=2))


def plot(result: dict, path: Path) -> None:
    """Accuracy of the same predictions under three graders, per mock setting, from the JSON's "sweep"."""
    sweep = result["sweep"]
    fig, ax = plt.subplots(figsize=(9, 3.6))
    width = 0.27
    xs = range(len(sweep))
    for i, grader in enumerate(("exact", "ast", "execution")):
        ax.bar([x + (i - 1) * width for x in xs], [s[grader] for s in sweep], width, label=grader)
    ax.set_xticks(list(xs), [s["setting"] for s in sweep], rotation=15, fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("mock setting (paraphrase and mistake rates, catalogue)")
    ax.set_ylabel("accuracy")
    ax.set_title(f"NL->PromQL: the same predictions graded three ways ({result['n_questions']} questions)")
    ax.legend(fontsize=8, title="grader", loc="upper left", bbox_to_anchor=(1.01, 1))
    save(fig, path, dpi=90)


PLOTS = {"lab13_nl2query.png": plot}


if __name__ == "__main__":
    main()
