"""The annual audit checklist as a runnable report: every item measured from the repository or asked.

    python -m labs.lab14_audit.audit --html /tmp/audit.html          # this repository, deprecations by import
    curl -s localhost:8014/audit -H 'content-type: application/json' -d '{"wait": true}'

Stages: dependency freshness (dependencies.py), deprecation warnings (deprecations.py), the durability
topics (tiers.py), repository facts (tests, CI, decision records), then the tripwires (tripwires.py)
over the signals measured. Each checklist item is `pass` / `fail` (measured), `answered` / `open`
(a question only a person can answer), or `unmeasured` (its stage was switched off).

    score = 100 * sum(w_i * ok_i) / sum(w_i)     over items that are measured or asked
    ok_i  = 1 for pass or answered, 0 for fail or open

so an open question costs as much as a failed check: the audit is not done until someone answers it.
Nothing is written into the audited repository; the report is JSON, and HTML rendered from it.
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from jinja2 import Environment

from labs.lab14_audit import dependencies, deprecations, tiers, tripwires

Progress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class Item:
    id: str
    title: str
    weight: float
    signal: str | None = None  # measured: the signal, and the rule that makes it pass
    passes: Callable[[float], bool] | None = None
    rule: str = ""
    question: str | None = None  # asked: what a person answers


CHECKLIST = [
    Item("pins", "Every dependency is pinned in a lock or constraints file", 1, "pinned_share",
         lambda v: v >= 1.0, "pinned share = 1"),
    Item("libyear", "Dependencies are less than 10 libyears behind in total", 2, "libyear_total",
         lambda v: v <= 10, "libyear <= 10"),
    Item("behind", "At most 1 in 5 dependencies is behind its newest release", 1, "behind_share",
         lambda v: v <= 0.2, "behind share <= 0.2"),
    Item("blocked", "No pin blocks an upgrade", 1, "blocked_pins", lambda v: v == 0, "blocked = 0"),
    Item("stale", "No dependency has gone 18 months without a release", 1, "stale_dependencies",
         lambda v: v == 0, "stale = 0"),
    Item("unused", "At most 5 direct dependencies are never imported", 1, "unused_dependencies",
         lambda v: v <= 5, "not imported <= 5"),
    Item("deprecations", "No deprecated API is still in use", 2, "deprecation_warnings",
         lambda v: v == 0, "warnings = 0"),
    Item("tests", "The project has a test suite", 1, "test_files", lambda v: v > 0, "test files > 0"),
    Item("ci", "A CI script runs the tests", 1, "ci_scripts", lambda v: v > 0, "CI scripts > 0"),
    Item("records", "Decisions are written down (3 or more records)", 1, "decision_records",
         lambda v: v >= 3, "records >= 3"),
    Item("spine", "At most half the spine topics are past their refresh date", 1, "overdue_share_spine",
         lambda v: v <= 0.5, "overdue share <= 0.5"),
    Item("ephemeral", "At most half the ephemeral topics are past their refresh date", 1,
         "overdue_share_ephemeral", lambda v: v <= 0.5, "overdue share <= 0.5"),
    Item("tripwires", "No tripwire fired", 2, "tripwires_fired", lambda v: v == 0, "fired = 0"),
    Item("drop", "An ephemeral tool to drop was named", 1,
         question="Which ephemeral tool or library would you drop if you started the project today, and why?"),
    Item("bet", "A bet for next year was written down", 1,
         question="Which stable-tier topic will matter more next year, and what will you build to learn it?"),
    Item("outside", "Pivot signals from outside the repository were checked", 1,
         question="Did a signal outside this report (hiring market, team, product direction) cross a threshold?"),
    Item("wrong", "A decision that turned out wrong was revisited", 1,
         question="Which decision record turned out wrong this year, and what supersedes it?"),
]


def adr_count(repo: Path) -> int:
    """Decision records in the repository: .adr-dir's folder, doc/adr, docs/adr or docs/decisions."""
    folders = [repo / "doc" / "adr", repo / "docs" / "adr", repo / "docs" / "decisions"]
    marker = repo / ".adr-dir"
    if marker.is_file():
        folders.insert(0, repo / marker.read_text().strip())
    for folder in folders:
        if folder.is_dir():
            return sum(1 for p in folder.iterdir() if re.match(r"^\d+-.*\.md$", p.name))
    return 0


def repository_facts(repo: Path) -> dict:
    test_files = [p for p in dependencies.python_files(repo)
                  if p.name.startswith("test_") or p.name.endswith("_test.py")]
    ci = [p for p in (repo / ".ci" / "run", repo / ".gitlab-ci.yml", repo / "Jenkinsfile") if p.is_file()]
    workflows = repo / ".github" / "workflows"
    if workflows.is_dir():
        ci += [p for p in workflows.iterdir() if p.suffix in (".yml", ".yaml")]
    return {"test_files": len(test_files), "ci_scripts": len(ci), "decision_records": adr_count(repo),
            "readme": (repo / "README.md").is_file()}


def run_audit(repo: Path, *, deprecation_mode: str = "import", suite_paths: list[str] | None = None,
              answers: dict[str, str] | None = None, rules: list[tripwires.Rule] | None = None,
              snapshot: dict | None = None, live: bool = False, as_of: date | None = None,
              extra_signals: dict[str, float] | None = None, progress: Progress | None = None) -> dict:
    """Measure, evaluate and score; returns the JSON summary (render it with `render_html`)."""
    step = progress or (lambda i, n, msg: None)
    total = 5
    answers = {k: v.strip() for k, v in (answers or {}).items() if v and v.strip()}
    step(0, total, "dependencies")
    deps = dependencies.audit(repo, snapshot, live=live, as_of=as_of)
    step(1, total, f"deprecations ({deprecation_mode})")
    deps_warn = None if deprecation_mode == "off" else deprecations.audit(repo, deprecation_mode, suite_paths)
    step(2, total, "durability topics")
    tier_map, topics = tiers.topics_for(repo, as_of)
    topic_summary = tiers.summary(tier_map, topics)
    step(3, total, "repository facts")
    facts = repository_facts(repo)
    counts = deps["counts"]
    signals: dict[str, float] = {
        "libyear_total": deps["libyear_total"], "libyear_max": deps["libyear_max"],
        "dependencies_behind": counts["behind"], "blocked_pins": counts["blocked"],
        "stale_dependencies": counts["stale"], "unused_dependencies": counts["not_imported"],
        "pinned_share": round(counts["pinned"] / max(1, counts["dependencies"]), 4),
        "behind_share": round(counts["behind"] / max(1, counts["dependencies"]), 4),
        **{k: v for k, v in facts.items() if k != "readme"},
    }
    for name, tier in topic_summary["tiers"].items():
        signals[f"overdue_share_{name}"] = round(tier["due"] / tier["topics"], 4) if tier["topics"] else 0.0
    if deps_warn is not None:
        signals["deprecation_warnings"] = deps_warn["total"]
    signals.update(extra_signals or {})
    step(4, total, "tripwires and score")
    fired = tripwires.evaluate(rules or tripwires.load_rules(), signals)
    signals["tripwires_fired"] = fired["fired"]

    items = []
    for item in CHECKLIST:
        row = {"id": item.id, "title": item.title, "weight": item.weight}
        if item.question:
            answer = answers.get(item.id)
            row.update(kind="asked", question=item.question, answer=answer, value=None,
                       status="answered" if answer else "open")
        else:
            value = signals.get(item.signal)
            row.update(kind="measured", signal=item.signal, rule=item.rule, value=value,
                       status="unmeasured" if value is None else ("pass" if item.passes(value) else "fail"))
        items.append(row)
    counted = [i for i in items if i["status"] != "unmeasured"]
    score = 100 * sum(i["weight"] for i in counted if i["status"] in ("pass", "answered")) / sum(
        i["weight"] for i in counted)
    step(5, total, "done")
    return {
        "repo": str(repo), "project": deps["project"], "generated": datetime.now(UTC).isoformat(timespec="seconds"),
        "score": round(score, 1), "items": items,
        "status_counts": {s: sum(i["status"] == s for i in items)
                          for s in ("pass", "fail", "answered", "open", "unmeasured")},
        "signals": signals, "tripwires": fired, "repository": facts,
        "dependencies": {**{k: deps[k] for k in ("pin_file", "venv", "snapshot", "snapshot_taken", "live",
                                                "libyear_total", "libyear_max")},
                         **counts,
                         "worst": [d for d in deps["dependencies"] if d["behind"] or d["libyear"]][:15],
                         "blocked_list": [{"name": d["name"], "blocked_by": d["blocked_by"]}
                                          for d in deps["dependencies"] if d["blocked_by"]],
                         "not_imported_list": sorted(d["name"] for d in deps["dependencies"] if d["imported"] is False)},
        "deprecations": deps_warn,
        "topics": {"tiers": topic_summary["tiers"], "overdue": topic_summary["overdue"]},
    }


_TEMPLATE = Environment(autoescape=True).from_string("""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Audit: {{ r.project }}</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:70rem;color:#222}
table{border-collapse:collapse;width:100%;margin:.5rem 0 1.5rem}td,th{border-bottom:1px solid #ddd;padding:.3rem .5rem;text-align:left}
.pass,.answered{color:#176b2c}.fail{color:#a11}.open{color:#a60}.unmeasured{color:#777}
#score{font-size:2.2rem;font-weight:700}.muted{color:#666}
</style></head>
<body data-score="{{ r.score }}" data-loaded="1">
<h1>Annual audit: {{ r.project }}</h1>
<p class="muted">{{ r.repo }} &middot; generated {{ r.generated }} &middot; index snapshot {{ r.dependencies.snapshot_taken }}</p>
<p>Score <span id="score">{{ r.score }}</span> / 100
 &middot; {% for k, v in r.status_counts.items() %}{{ k }} {{ v }}{% if not loop.last %}, {% endif %}{% endfor %}</p>
<h2>Checklist</h2>
<table id="checklist"><thead><tr><th>item</th><th>status</th><th>measured / asked</th></tr></thead><tbody>
{% for i in r["items"] %}<tr data-id="{{ i.id }}"><td>{{ i.title }}</td><td class="{{ i.status }}">{{ i.status }}</td>
<td>{% if i.kind == "measured" %}{{ i.signal }} = {{ i.value if i.value is not none else "not measured" }} ({{ i.rule }})
{% else %}{{ i.question }}{% if i.answer %}<br><em>{{ i.answer }}</em>{% endif %}{% endif %}</td></tr>
{% endfor %}</tbody></table>
<h2>Tripwires</h2>
<table id="tripwires"><thead><tr><th>rule</th><th>signal</th><th>value</th><th>fired</th><th>response</th></tr></thead><tbody>
{% for t in r.tripwires.rules %}<tr><td>{{ t.name }} ({{ t.kind }})</td><td>{{ t.signal }} {{ t.op }} {{ t.threshold }}</td>
<td>{{ t.value if t.value is not none else "-" }}</td><td>{{ "yes" if t.fired else ("unmeasured" if t.fired is none else "no") }}</td>
<td>{{ t.response }}</td></tr>
{% endfor %}</tbody></table>
<h2>Dependencies</h2>
<p id="libyear">libyear {{ r.dependencies.libyear_total }} (max {{ r.dependencies.libyear_max }});
{{ r.dependencies.behind }} of {{ r.dependencies.dependencies }} behind, {{ r.dependencies.libyear_unknown }} with unknown dates,
{{ r.dependencies.stale }} stale, {{ r.dependencies.not_imported }} direct dependencies never imported.</p>
<table id="deps"><thead><tr><th>package</th><th>pinned</th><th>newest</th><th>libyear</th><th>blocked by</th></tr></thead><tbody>
{% for d in r.dependencies.worst %}<tr><td>{{ d.name }}</td><td>{{ d.pinned or d.installed or "-" }}</td><td>{{ d.newest or "-" }}</td>
<td>{{ d.libyear if d.libyear is not none else "?" }}</td>
<td>{% for b in d.blocked_by %}{{ b.by }} ({{ b.requires }}){% if not loop.last %}, {% endif %}{% endfor %}</td></tr>
{% endfor %}</tbody></table>
<h2>Deprecation warnings</h2>
{% if r.deprecations %}<p id="deprecations">{{ r.deprecations.total }} warnings ({{ r.deprecations.distinct }} distinct, {{ r.deprecations.mode }} mode)</p>
<table><thead><tr><th>owner</th><th>API</th><th>removed in</th><th>where</th><th>count</th></tr></thead><tbody>
{% for owner, g in r.deprecations.owners.items() %}{% for w in g.warnings[:5] %}<tr><td>{{ owner }}</td><td>{{ w.api }}</td>
<td>{{ w.removed_in or "-" }}</td><td>{{ w.file }}:{{ w.line }}</td><td>{{ w.count }}</td></tr>{% endfor %}{% endfor %}
</tbody></table>{% else %}<p id="deprecations">not measured in this run</p>{% endif %}
<h2>Durability topics past their refresh date</h2>
<ul id="overdue">{% for t in r.topics.overdue %}<li>{{ t }}</li>{% endfor %}</ul>
</body></html>
""")


def render_html(summary: dict) -> str:
    return _TEMPLATE.render(r=summary)


def main() -> None:
    from shared.config import REPO_ROOT

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", type=Path, default=REPO_ROOT)
    parser.add_argument("--deprecations", choices=["off", "import", "suite"], default="import")
    parser.add_argument("--html", type=Path, help="also write the HTML report here")
    args = parser.parse_args()
    summary = run_audit(args.repo.resolve(), deprecation_mode=args.deprecations,
                        progress=lambda i, n, msg: print(f"[{i}/{n}] {msg}", flush=True))
    for item in summary["items"]:
        print(f"  {item['status']:<10} {item['title']}")
    print(f"score {summary['score']} / 100; tripwires fired: {summary['tripwires']['fired']}")
    if args.html:
        args.html.write_text(render_html(summary))
        print(f"wrote {args.html}")
    else:
        print(json.dumps(summary["signals"], indent=1))


if __name__ == "__main__":
    main()
