"""Golden sets: JSONL items with ids, slice tags and provenance; versions, a rotating holdout, stratified samples.

    python -c "from labs.lab08_eval import datasets as d; ds = d.load('qa'); print(ds.name, ds.version, len(ds.items), d.slice_counts(ds.items))"

version    = sha256 of the canonical JSON of every item, sorted by id (first 12 hex digits): change one
             reference and the version changes, so two runs on different versions are never compared silently.
holdout    = items with hash(id | period) mod m == 0: a different 1/m of the set each period, so no prompt
             is tuned against the same held-out items for ever.
stratified = n_s = round(n · N_s / N) items per slice s (at least one), drawn with a seeded RNG.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

from shared.config import REPO_ROOT

FIXTURES = REPO_ROOT / "fixtures" / "lab08"
DATASETS = ("qa", "classification", "extraction", "code")
REQUIRED = ("id", "task", "slices", "input", "provenance")


class DatasetError(ValueError):
    pass


@dataclass
class Dataset:
    name: str
    items: list[dict]

    @property
    def version(self) -> str:
        return version_of(self.items)

    def by_id(self) -> dict[str, dict]:
        return {item["id"]: item for item in self.items}


def version_of(items: list[dict]) -> str:
    canonical = "\n".join(json.dumps(i, sort_keys=True) for i in sorted(items, key=lambda i: i["id"]))
    return hashlib.sha256(canonical.encode()).hexdigest()[:12]


def read_jsonl(path: Path) -> list[dict]:
    items = []
    # JSON Lines ends a line at \n only: str.splitlines would also cut at a U+2028 or U+0085 that a
    # UTF-8 writer leaves raw inside a string, and neither half would parse
    for n, line in enumerate(path.read_text(encoding="utf-8").split("\n"), start=1):
        if not line.strip():
            continue
        item = json.loads(line)
        missing = [k for k in REQUIRED if k not in item]
        if missing:
            raise DatasetError(f"{path.name}:{n}: item lacks {missing}")
        items.append(item)
    ids = Counter(i["id"] for i in items)
    dupes = [k for k, c in ids.items() if c > 1]
    if dupes:
        raise DatasetError(f"{path.name}: duplicate ids {dupes[:5]}")
    return items


def load(name: str, folder: Path = FIXTURES) -> Dataset:
    if name not in DATASETS:
        raise DatasetError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}")
    return Dataset(name, read_jsonl(folder / f"{name}.jsonl"))


def slice_counts(items: list[dict]) -> dict[str, int]:
    return dict(Counter(s for i in items for s in i["slices"]))


def _h(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def holdout(items: list[dict], period: str, m: int = 5) -> tuple[list[dict], list[dict]]:
    """(dev, holdout) for this period: hash(id|period) mod m == 0 is held out."""
    if m < 2:
        raise DatasetError("m must be >= 2")
    held = [i for i in items if _h(f"{i['id']}|{period}") % m == 0]
    ids = {i["id"] for i in held}
    return [i for i in items if i["id"] not in ids], held


def stratified_sample(items: list[dict], n: int, seed: int = 0) -> list[dict]:
    """About n items with each slice (an item's first tag) in its share of the set, at least one each."""
    if n < 1:
        raise DatasetError("n must be >= 1")
    strata: dict[str, list[dict]] = defaultdict(list)
    for item in items:
        strata[item["slices"][0]].append(item)
    rng = random.Random(seed)
    out = []
    for name in sorted(strata):
        members = sorted(strata[name], key=lambda i: i["id"])
        k = min(len(members), max(1, round(n * len(members) / len(items))))
        out.extend(rng.sample(members, k))
    return sorted(out, key=lambda i: i["id"])


def describe(name: str, period: str | None = None, sample: int | None = None) -> dict:
    """A golden set as the service shows it: size, version, slices; with a period, that period's holdout
    (and the dev split's size); with `sample`, a stratified sample's ids. DatasetError if unknown."""
    ds = load(name)
    out: dict = {"name": name, "n": len(ds.items), "version": ds.version, "slices": slice_counts(ds.items)}
    if period is not None:
        dev, held = holdout(ds.items, period)
        out["holdout"] = {"period": period, "n": len(held), "ids": [i["id"] for i in held]}
        out["dev_n"] = len(dev)
    if sample:
        out["sample"] = [i["id"] for i in stratified_sample(ds.items, sample)]
    return out
