"""The eval-set lifecycle: v0 → v1 → v2, each version content-hashed with a changelog, and a holdout that
rotates by period without reshuffling when the set changes.

    curl -s 'localhost:8008/datasets/classification/lifecycle?periods=2026-Q3,2026-Q4,2027-Q1'

v0  the seed set: half of the main slice, written by the team before launch (the 50-item smoke tier)
v1  + every item of the other slices (the hard cases production surfaced: sarcasm, multi-step ...),
    and two items re-adjudicated by a second annotator (their provenance changes, so the hash does)
v2  − saturated items: ones every model under comparison answers right carry no signal (at most
    RETIRE_BUDGET per version, so the trend line stays comparable), + the rest of the main slice, fresh
Holdout: item i is held out in period P iff hash(i | P) mod m == 0. The rule looks at the item alone, so
  within a period an item keeps its holdout status across versions (added items join by their own hash,
  removed ones leave), and between periods the holdout rotates: two periods' holdouts share ≈ 1/m of
  their items (P(held in both) = 1/m²), so no prompt is tuned against the same hidden items for ever.
Runs record the version; two runs on different versions are compared only on their shared items.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from labs.lab08_eval import candidates, datasets

RETIRE_BUDGET = 10
MODELS = ("v1", "v2")  # the models under comparison whose answers decide saturation


@dataclass
class Version:
    label: str
    items: list[dict]
    parent: str | None = None
    changelog: dict[str, list[str] | str] = field(default_factory=dict)

    @property
    def version(self) -> str:
        return datasets.version_of(self.items)

    def ids(self) -> set[str]:
        return {i["id"] for i in self.items}


def evolve(prev: Version, label: str, reason: str, add: list[dict] = (), remove: set[str] = frozenset(),
           fix: dict[str, dict] | None = None) -> Version:
    """The next version: items removed, fixed (replaced by id) and added, with the changelog that says so."""
    fix = fix or {}
    unknown = (set(remove) | set(fix)) - prev.ids()
    if unknown:
        raise datasets.DatasetError(f"{label}: no such items in {prev.label}: {sorted(unknown)[:5]}")
    clash = {i["id"] for i in add} & prev.ids()
    if clash:
        raise datasets.DatasetError(f"{label}: items already in {prev.label}: {sorted(clash)[:5]}")
    items = [fix.get(i["id"], i) for i in prev.items if i["id"] not in remove] + list(add)
    return Version(label, items, prev.label, {"reason": reason, "added": sorted(i["id"] for i in add),
                                              "removed": sorted(remove), "changed": sorted(fix)})


def saturated(items: list[dict], models: tuple[str, ...] = MODELS) -> list[str]:
    """Ids every model under comparison answers right (the candidates' own rule, so it is what a run shows)."""
    return [i["id"] for i in items if all(candidates.right(i, m) for m in models)]


def build(name: str) -> list[Version]:
    """v0, v1, v2 of a golden set by the rules in the module docstring."""
    items = sorted(datasets.load(name).items, key=lambda i: i["id"])
    main = Counter(i["slices"][0] for i in items).most_common(1)[0][0]
    seed_slice = [i for i in items if i["slices"][0] == main]
    seed, fresh = seed_slice[: len(seed_slice) // 2], seed_slice[len(seed_slice) // 2:]
    others = [i for i in items if i["slices"][0] != main]
    v0 = Version("v0", seed, None, {"reason": f"seed set: half of the '{main}' slice", "added": sorted(
        i["id"] for i in seed), "removed": [], "changed": []})
    readjudicated = {i["id"]: {**i, "provenance": {**i["provenance"], "adjudicated": "second annotator"}}
                     for i in seed[:2]}
    v1 = evolve(v0, "v1", "production failures added as slices; two labels re-adjudicated", add=others,
                fix=readjudicated)
    retire = set(sorted(saturated([i for i in v1.items if i["slices"][0] == main]),
                        key=lambda i: datasets._h(f"retire|{i}"))[:RETIRE_BUDGET])
    v2 = evolve(v1, "v2", f"saturated items retired (every one of {', '.join(MODELS)} right; budget "
                          f"{RETIRE_BUDGET}); fresh '{main}' items added", add=fresh, remove=retire)
    return [v0, v1, v2]


def describe(name: str, periods: list[str], m: int = 5) -> dict:
    """Each version's size, hash and changelog; each period's holdout per version; rotation and stability."""
    versions = build(name)
    out_versions = []
    for v in versions:
        held = {p: {i["id"] for i in datasets.holdout(v.items, p, m)[1]} for p in periods}
        out_versions.append({"label": v.label, "version": v.version, "parent": v.parent, "n": len(v.items),
                             "slices": datasets.slice_counts(v.items), "changelog": v.changelog,
                             "holdout": {p: len(ids) for p, ids in held.items()}, "_held": held})
    stable = all(a["_held"][p] & versions[k + 1].ids() == b["_held"][p] & versions[k].ids()
                 for k, (a, b) in enumerate(zip(out_versions, out_versions[1:], strict=False)) for p in periods)
    rotation = []
    last = out_versions[-1]["_held"]
    for p, q in zip(periods, periods[1:], strict=False):
        shared = last[p] & last[q]
        rotation.append({"from": p, "to": q, "held_in_both": len(shared),
                         "share_of_holdout": round(len(shared) / max(1, len(last[q])), 3)})
    for v in out_versions:
        del v["_held"]
    return {"name": name, "versions": out_versions, "holdout_modulus": m,
            "holdout_stable_across_versions": stable, "rotation": rotation}
