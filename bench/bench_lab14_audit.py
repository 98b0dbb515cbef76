"""Audit cost per stage on this repository, and the deprecation warnings its packages hide, by package.

    .venv/bin/python bench/bench_lab14_audit.py          # ~1-2 minutes (imports every lab's modules)

Times each stage of the annual audit (dependency freshness, deprecations by import, topics, tripwires)
as a share of the whole, and counts the deprecation warnings found when every module of `shared` and
`labs` is imported with the warnings switched on. Writes bench/results/lab14_audit.json + .png.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from labs.lab14_audit import audit, dependencies, deprecations, tiers, tripwires
from shared.config import REPO_ROOT
from shared.plots import plt, replot, save

OUT = Path(__file__).resolve().parent / "results"


def timed(fn, *args, **kwargs):
    t = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t


def plot(result: dict, path: Path) -> None:
    """Seconds per audit stage and deprecation warnings per owner, from the JSON."""
    stages, dep = result["stages_s"], result["deprecations"]
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    bars = a.barh(list(stages), list(stages.values()))
    a.bar_label(bars, fmt="%.2f s", fontsize=8, padding=2)  # the sub-second stages are invisible as bars
    a.set_xlim(0, 1.18 * max(stages.values()))
    a.set_xlabel("wall time (s)")
    a.set_ylabel("audit stage")
    a.set_title("audit stages on this repository")
    owners = dep["by_owner"]
    b.set_title(f"{dep['total']} warnings, {dep['distinct']} distinct")
    if not owners:  # nothing to draw: say so rather than show an empty bar chart
        b.axis("off")
        b.text(0.5, 0.5, f"no deprecation warnings on importing\nall {dep['modules_imported']} modules",
               ha="center", va="center", fontsize=11)
    else:
        b.barh(list(owners), list(owners.values()), color="tab:orange")
        b.set_xlabel("deprecation warnings (import of every module)")
        b.set_ylabel("package that owns the deprecated API")
    fig.tight_layout()
    save(fig, path, dpi=110)


PLOTS = {"lab14_audit.png": plot}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replot", action="store_true", help="re-draw the PNG from the committed JSON; measure nothing")
    if parser.parse_args().replot:
        replot(OUT / "lab14_audit.json", PLOTS)
        return
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
    plot(result, OUT / "lab14_audit.png")
    print(json.dumps({k: result[k] for k in ("stages_s", "deprecations")}, indent=1))


if __name__ == "__main__":
    main()
