"""Durability tiers as data: spine / stable / ephemeral topics, refresh cadences, and a study plan.

    python -m labs.lab14_audit.tiers --hours 5        # this repository's topics and a 13-week plan

Every concept the chapters teach is tagged in `fixtures/lab14/topics.yaml` with a tier:

    spine      lasts 10+ years   refresh every 24 months   60% of study time
    stable     lasts 4-7 years   refresh every 12 months   25%
    ephemeral  lasts 1-3 years   refresh every 3 months    15%

A topic's last review is measured, not declared: the date of the last commit that touched its lab
folder (`labs/labNN_*`), so a chapter whose code nobody has touched in two years shows up as overdue.
A topic whose chapter has no lab yet has never been reviewed here.

The plan splits H hours a week over W weeks into 30-minute blocks, first across tiers by their shares,
then across each tier's topics by how overdue they are:

    weight(topic) = age_months / refresh_months        (>= 1 means due)
    blocks(tier)  = Hamilton apportionment of N = H * W * 2 blocks by share(tier)
    blocks(topic) = Hamilton apportionment of blocks(tier) by weight(topic)

Hamilton (largest remainder): give each party floor(quota), then one more block to the parties with
the largest fractional remainders until the total is reached. Of all integer allocations that sum to
N it is the one closest to the quotas (L1 distance), which `tests/lab14/test_tiers.py` checks against
scipy's MILP solver on random inputs.
"""

from __future__ import annotations

import argparse
import math
import subprocess
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import yaml

from shared.config import FIXTURES

TOPICS_FILE = FIXTURES / "lab14" / "topics.yaml"
TIERS = ("spine", "stable", "ephemeral")
BLOCK_MIN = 30


@dataclass(frozen=True)
class Tier:
    name: str
    lifetime: str
    refresh_months: int
    share: float


@dataclass
class Topic:
    name: str
    chapter: int
    tier: str
    refresh_months: int
    lab: str | None = None  # labs/labNN_* folder name, when the chapter has one
    reviewed: str | None = None  # ISO date of the last commit touching that folder
    age_months: float | None = None
    weight: float = 0.0
    due: bool = True


def load_framework(path: Path = TOPICS_FILE) -> tuple[dict[str, Tier], list[dict]]:
    data = yaml.safe_load(path.read_text())
    tiers = {name: Tier(name, spec["lifetime"], int(spec["refresh_months"]), float(spec["share"]))
             for name, spec in data["tiers"].items()}
    if abs(sum(t.share for t in tiers.values()) - 1.0) > 1e-9:
        raise ValueError(f"{path}: tier shares must add up to 1")
    for topic in data["topics"]:
        if topic["tier"] not in tiers:
            raise ValueError(f"{path}: topic {topic['name']!r} has unknown tier {topic['tier']!r}")
    return tiers, data["topics"]


def months_between(earlier: date, later: date) -> float:
    """Calendar months, fractional (30.44 days a month, the mean Gregorian month)."""
    return (later - earlier).days / 30.436875


def last_commit_dates(repo: Path, folders: list[str]) -> dict[str, str | None]:
    """ISO date of the last commit touching each folder (None: never committed, or not a git repo)."""
    out: dict[str, str | None] = {}
    for folder in folders:
        try:
            proc = subprocess.run(["git", "-C", str(repo), "log", "-1", "--format=%cs", "--", folder],
                                  capture_output=True, text=True, timeout=20)
            out[folder] = proc.stdout.strip() or None
        except (OSError, subprocess.TimeoutExpired):
            out[folder] = None
    return out


def lab_folders(repo: Path) -> dict[int, str]:
    """Chapter number -> labs/labNN_* folder name, for the chapters that have a lab in `repo`."""
    found = {}
    for path in sorted((repo / "labs").glob("lab[0-9][0-9]_*")):
        if path.is_dir():
            found[int(path.name[3:5])] = path.name
    return found


def topics_for(repo: Path, as_of: date | None = None, path: Path = TOPICS_FILE) -> tuple[dict[str, Tier], list[Topic]]:
    """Every topic with its lab, last review, age and overdue weight, as of `as_of` (default: today)."""
    as_of = as_of or datetime.now(UTC).date()
    tiers, raw = load_framework(path)
    labs = lab_folders(repo)
    reviewed = last_commit_dates(repo, [f"labs/{name}" for name in labs.values()])
    topics = []
    for spec in raw:
        tier = tiers[spec["tier"]]
        t = Topic(spec["name"], int(spec["chapter"]), tier.name, int(spec.get("refresh_months", tier.refresh_months)))
        t.lab = labs.get(t.chapter)
        t.reviewed = reviewed.get(f"labs/{t.lab}") if t.lab else None
        if t.reviewed:
            t.age_months = round(max(0.0, months_between(date.fromisoformat(t.reviewed), as_of)), 2)
            t.weight = round(t.age_months / t.refresh_months, 4)
            t.due = t.weight >= 1.0
        else:
            # never reviewed: as due as a topic can be, one full cadence late
            t.weight, t.due = 1.0, True
        topics.append(t)
    return tiers, topics


def hamilton(quotas_weights: list[float], n: int) -> list[int]:
    """Largest-remainder apportionment of n whole units in proportion to non-negative weights.

    hamilton([3, 2, 1], 7) -> [4, 2, 1]: quotas 3.5, 2.33, 1.17; floors 3+2+1 = 6; the largest
    remainder (0.5) gets the seventh unit. Ties go to the earlier party, so the result is deterministic.
    """
    if n < 0 or any(w < 0 or not math.isfinite(w) for w in quotas_weights):
        raise ValueError("n and every weight must be finite and >= 0")
    total = sum(quotas_weights)
    if not quotas_weights or n == 0:
        return [0] * len(quotas_weights)
    if total == 0:
        quotas_weights = [1.0] * len(quotas_weights)
        total = float(len(quotas_weights))
    quotas = [n * w / total for w in quotas_weights]
    seats = [math.floor(q) for q in quotas]
    left = n - sum(seats)
    by_remainder = sorted(range(len(quotas)), key=lambda i: (-(quotas[i] - seats[i]), i))
    for i in by_remainder[:left]:
        seats[i] += 1
    return seats


def study_plan(hours_per_week: float, weeks: int, tiers: dict[str, Tier], topics: list[Topic]) -> dict:
    """Split hours_per_week * weeks into 30-minute blocks: tiers by share, then topics by overdue weight."""
    n = int(round(hours_per_week * weeks * 60 / BLOCK_MIN))
    names = [name for name in TIERS if name in tiers]
    per_tier = dict(zip(names, hamilton([tiers[name].share for name in names], n), strict=True))
    plan = []
    for name in names:
        members = [t for t in topics if t.tier == name]
        blocks = hamilton([t.weight for t in members], per_tier[name]) if members else []
        for t, b in zip(members, blocks, strict=True):
            if b:
                plan.append({"topic": t.name, "tier": name, "chapter": t.chapter, "hours": b * BLOCK_MIN / 60,
                             "due": t.due, "weight": t.weight})
    plan.sort(key=lambda row: (-row["hours"], TIERS.index(row["tier"]), row["chapter"]))
    hours = {name: per_tier[name] * BLOCK_MIN / 60 for name in names}
    total = sum(hours.values())
    return {"hours_per_week": hours_per_week, "weeks": weeks, "blocks": n, "block_minutes": BLOCK_MIN,
            "hours_by_tier": hours,
            "share_by_tier": {k: round(v / total, 4) if total else 0.0 for k, v in hours.items()},
            "plan": plan}


def summary(tiers: dict[str, Tier], topics: list[Topic]) -> dict:
    """Counts per tier, and the overdue topics (most overdue first)."""
    out = {"tiers": {name: {**asdict(tier), "topics": sum(t.tier == name for t in topics),
                            "due": sum(t.tier == name and t.due for t in topics)}
                     for name, tier in tiers.items()},
           "topics": [asdict(t) for t in topics]}
    out["overdue"] = [t.name for t in sorted(topics, key=lambda t: -t.weight) if t.due]
    return out


def main() -> None:
    from shared.config import REPO_ROOT

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", type=Path, default=REPO_ROOT)
    parser.add_argument("--hours", type=float, default=5.0, help="study hours per week")
    parser.add_argument("--weeks", type=int, default=13)
    args = parser.parse_args()
    tiers, topics = topics_for(args.repo)
    for t in topics:
        state = f"reviewed {t.reviewed} ({t.age_months} months)" if t.reviewed else "no lab yet"
        print(f"{t.tier:<10} ch{t.chapter:02d} {'DUE ' if t.due else '    '}{t.name:<55} {state}")
    plan = study_plan(args.hours, args.weeks, tiers, topics)
    print(f"\n{args.hours:g} h/week x {args.weeks} weeks: " +
          ", ".join(f"{k} {v:g} h" for k, v in plan["hours_by_tier"].items()))
    for row in plan["plan"][:12]:
        print(f"  {row['hours']:>5.1f} h  {row['tier']:<10} {row['topic']}")


if __name__ == "__main__":
    main()
