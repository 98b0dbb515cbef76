"""The chapter's six yearly exercises, run on this repository (and on the orbit fixture project).

    python -m labs.lab14_audit.exercises           # readable
    python -m labs.lab14_audit.exercises --json    # {exercise: {inputs..., answer...}}

1. durability audit: every topic's tier, last review (last commit to its lab) and whether it is due;
2. study plan: 5 hours a week for a quarter, split 60/25/15 and then by how overdue each topic is;
3. dependency freshness: libyear, packages behind, and who pins whom;
4. tripwire review: the default rules against the signals measured here, with the responses that fire;
5. decision record: the yearly record written from the measurements, superseding an old pin decision;
6. annual audit: the checklist on the orbit fixture, with its test suite run to count hidden deprecations.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from datetime import date
from pathlib import Path

from labs.lab14_audit import adr, audit, dependencies, tiers, tripwires
from shared.config import FIXTURES, REPO_ROOT

SAMPLE = FIXTURES / "lab14" / "sample_project"
SAMPLE_INDEX = FIXTURES / "lab14" / "sample_index.json"


def durability_audit(repo: Path = REPO_ROOT, as_of: date | None = None) -> dict:
    tier_map, topics = tiers.topics_for(repo, as_of)
    s = tiers.summary(tier_map, topics)
    return {"repo": str(repo), "topics": len(topics),
            "answer": {name: {"topics": t["topics"], "due": t["due"], "refresh_months": t["refresh_months"]}
                       for name, t in s["tiers"].items()},
            "overdue_first": s["overdue"][:5]}


def study_plan(hours_per_week: float = 5.0, weeks: int = 13, repo: Path = REPO_ROOT, as_of: date | None = None) -> dict:
    plan = tiers.study_plan(hours_per_week, weeks, *tiers.topics_for(repo, as_of))
    return {"hours_per_week": hours_per_week, "weeks": weeks,
            "answer": {"hours_by_tier": plan["hours_by_tier"], "share_by_tier": plan["share_by_tier"],
                       "first_topics": [f"{r['hours']:g} h {r['topic']}" for r in plan["plan"][:4]]}}


def dependency_freshness(repo: Path = REPO_ROOT, report: dict | None = None) -> dict:
    report = report or dependencies.audit(repo)
    blocked = [f"{d['name']} {d['pinned']} -> {d['newest']} held by " + ", ".join(b["by"] for b in d["blocked_by"])
               for d in report["dependencies"] if d["blocked_by"]]
    return {"repo": str(repo), "snapshot_taken": report["snapshot_taken"],
            "answer": {"libyear_total": report["libyear_total"], "behind": report["counts"]["behind"],
                       "libyear_unknown": report["counts"]["libyear_unknown"], "stale": report["counts"]["stale"],
                       "who_pins_whom": blocked}}


def tripwire_review(repo: Path = REPO_ROOT, report: dict | None = None, as_of: date | None = None) -> dict:
    report = report or dependencies.audit(repo)
    tier_map, topics = tiers.topics_for(repo, as_of)
    per_tier = tiers.summary(tier_map, topics)["tiers"]
    c = report["counts"]
    signals = {"libyear_total": report["libyear_total"], "libyear_max": report["libyear_max"],
               "blocked_pins": c["blocked"], "stale_dependencies": c["stale"], "unused_dependencies": c["not_imported"],
               "decision_records": audit.adr_count(repo),
               **{f"overdue_share_{k}": round(t["due"] / t["topics"], 4) for k, t in per_tier.items()}}
    result = tripwires.evaluate(tripwires.load_rules(), signals)
    return {"signals": signals, "answer": {"fired": result["fired"], "quiet": result["quiet"],
                                           "unmeasured": result["unmeasured"], "responses": result["responses"]}}


def decision_record(review: dict, folder: Path | None = None, year: int = 2026) -> dict:
    """Seed a store with this project's decisions, then write the yearly record superseding the torch pin."""
    with tempfile.TemporaryDirectory(prefix="lab14-adr-") as tmp:
        store = adr.AdrStore(folder or Path(tmp))
        adr.seed(store)
        summary = {"score": "?", "dependencies": {}, "tripwires": {"responses": review["answer"]["responses"]}}
        fields = adr.yearly_record(year, summary)
        torch_pin = next(r for r in store.list() if "torch" in r.title)
        record = store.add(**fields, supersedes=torch_pin.number)
        old = store.get(torch_pin.number)[0]
        return {"year": year, "answer": {"file": record.filename, "title": record.title,
                                         "supersedes": record.links[0]["file"], "old_status": old.status,
                                         "records": len(store.files())}}


def annual_audit(repo: Path = SAMPLE) -> dict:
    answers = {"drop": "ledgerline: nothing imports it", "bet": "dependency hygiene"}
    summary = audit.run_audit(repo, deprecation_mode="suite", answers=answers,
                              snapshot=dependencies.load_snapshot(SAMPLE_INDEX))
    return {"repo": repo.name, "answers_given": sorted(answers),
            "answer": {"score": summary["score"], "status_counts": summary["status_counts"],
                       "hidden_deprecation_warnings": summary["deprecations"]["total"],
                       "removal_releases": sorted({w["removed_in"] for g in summary["deprecations"]["owners"].values()
                                                   for w in g["warnings"] if w["removed_in"]}),
                       "libyear_total": summary["dependencies"]["libyear_total"],
                       "tripwires_fired": summary["tripwires"]["fired"]}}


def run_all() -> dict:
    report = dependencies.audit(REPO_ROOT)
    review = tripwire_review(report=report)
    return {"durability_audit": durability_audit(), "study_plan": study_plan(),
            "dependency_freshness": dependency_freshness(report=report), "tripwire_review": review,
            "decision_record": decision_record(review), "annual_audit": annual_audit()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = run_all()
    if args.json:
        print(json.dumps(results, indent=1, default=str))
        return
    for i, (name, result) in enumerate(results.items(), 1):
        print(f"\n{i}. {name.replace('_', ' ')}")
        inputs = {k: v for k, v in result.items() if k != "answer"}
        if inputs:
            print("   inputs: " + ", ".join(f"{k}={v}" for k, v in inputs.items())[:300])
        answer = result["answer"]
        for key, value in answer.items():
            if isinstance(value, list):
                print(f"   {key}:")
                for row in value or ["(none)"]:
                    print(f"     - {row}")
            else:
                print(f"   {key}: {value}")


if __name__ == "__main__":
    main()
