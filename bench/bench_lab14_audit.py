"""Audit cost per stage on this repository, and the deprecation warnings its packages hide, by package.

    .venv/bin/python bench/bench_lab14_audit.py          # ~1-2 minutes (imports every lab's modules)

Times each stage of the annual audit (dependency freshness, deprecations by import, topics, tripwires)
as a share of the whole, and counts the deprecation warnings found when every module of `shared` and
`labs` is imported with the warnings switched on. Writes bench/results/lab14_audit.json + .png.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from labs.lab14_audit import audit, dependencies, deprecations, tiers, tripwires  # noqa: E402
from shared.config import REPO_ROOT  # noqa: E402

OUT = Path(__file__).resolve().parent / "results"


def timed(fn, *args, **kwargs):
    t = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t


def main() -> None:
    deps, t_deps = timed(dependencies.audit, REPO_ROOT)
    warn, t_warn = timed(deprecations.audit, REPO_ROOT, "import")
    (tier_map, topics), t_topics = timed(tiers.topics_for, REPO_ROOT)
    facts, t_facts = timed(audit.repository_facts, REPO_ROOT)
    _, t_rules = timed(tripwires.evaluate, tripwires.load_rules(), {"libyear_total": deps["libyear_total"]})
    stages = {"dependencies": t_deps, "deprecations (import)": t_warn, "topics (git)": t_topics,
              "repository facts": t_facts, "tripwires": t_rules}
    total = sum(stages.values())
    result = {
        "stages_s": {k: round(v, 3) for k, v in stages.items()},
        "stage_share": {k: round(v / total, 4) for k, v in stages.items()},
        "deprecations": {"total": warn["total"], "distinct": warn["distinct"], "modules_imported": warn.get("modules"),
                         "import_errors": len(warn["errors"]), "by_category": warn["by_category"],
                         "by_owner": {o: g["count"] for o, g in warn["owners"].items()},
                         "with_removal_release": sum(g["with_removal_release"] for g in warn["owners"].values()),
                         "top": [{"owner": o, "api": w["api"], "removed_in": w["removed_in"], "count": w["count"],
                                  "site": f"{w['file']}:{w['line']}"}
                                 for o, g in warn["owners"].items() for w in g["warnings"][:3]]},
        "dependencies": {**deps["counts"], "libyear_total": deps["libyear_total"]},
        "topics": len(topics), "facts": facts,
    }
    OUT.mkdir(exist_ok=True)
    (OUT / "lab14_audit.json").write_text(json.dumps(result, indent=1) + "\n")
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    a.barh(list(stages), list(stages.values()))
    a.set_xlabel("seconds")
    a.set_title("audit stages on this repository")
    owners = result["deprecations"]["by_owner"] or {"none": 0}
    b.barh(list(owners), list(owners.values()), color="tab:orange")
    b.set_xlabel("deprecation warnings (import of every module)")
    b.set_title(f"{warn['total']} warnings, {warn['distinct']} distinct")
    fig.tight_layout()
    fig.savefig(OUT / "lab14_audit.png", dpi=110)
    print(json.dumps({k: result[k] for k in ("stages_s", "deprecations")}, indent=1))


if __name__ == "__main__":
    main()
