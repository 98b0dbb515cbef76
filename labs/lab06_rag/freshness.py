"""Freshness and versions: recency-aware ranking and version-aware answers.

    curl -s localhost:8006/answer -d '{"query": "Currently, how long are previous revisions kept with version history?", "freshness": "version"}'

A knowledge base that keeps every release's article answers "what is X now?" with whichever
version ranks first. Two fixes, applied to a deeper candidate list (4k) before cutting to k:

recency   score = (1 − α) · (1 − r / n) + α · 2^(−age / h)
          r = first-stage rank (0-based, of n), age = days between the chunk's `updated` and the
          newest candidate's (not the wall clock: the same query ranks the same way tomorrow),
          h = half-life in days, α = recency share. Old pages sink but are still found.
version   resolve which version the question is about: the one it names ("in 3.0"), else the
          newest version in the knowledge base (a question with no version asks about now).
          Candidates of that version or of none ("all") rank ahead of other versions' (which stay
          behind them as a fallback, never dropped). A question that asks about now in words
          ("currently", "latest" ...) is also rewritten to name the version ("In Tessera 3.1, how
          long ..."), so retrieval and the answerer both see it. A question with neither keeps its
          words: rewriting every one gave the answerer two words ("Tessera 3.1") to match in any
          current article, and it stopped saying "I don't know" to unanswerable questions
          (measured: README). The answer reports the version it is for and the sources of other
          versions it set aside.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from labs.lab06_rag.kb import KnowledgeBase
from labs.lab06_rag.rewrite import rewrite

POLICIES = ("off", "recency", "version")
HALF_LIFE_DAYS = 180.0
ALPHA = 0.5  # recency's share of the score (set a priori: equal shares with the first-stage rank)
DEPTH = 4  # candidates fetched per result kept
UNVERSIONED = {"all", "", None}
_VERSION = re.compile(r"\b(\d+\.\d+(?:\.\d+)?)\b")
_NOW = re.compile(r"\b(?:currently|right now|nowadays|today|now|at the moment|as of now|these days|latest|"
                  r"current|newest|most recent)\b", re.IGNORECASE)
_NOW_LEAD = re.compile(r"^\s*(?:currently|right now|nowadays|today|now|at the moment|as of now|these days)\s*,?\s*",
                       re.IGNORECASE)


def version_key(v: str) -> tuple[int, ...]:
    return tuple(int(p) for p in v.split(".")) if v and re.fullmatch(r"\d+(?:\.\d+)*", v) else ()


def versions(kb: KnowledgeBase, tenant: str = "public") -> dict[str, list[str]]:
    """The versions in the serving index, per product, oldest first (what the tenant may see)."""
    out: dict[str, set[str]] = {}
    snap = kb.snap
    for i, c in enumerate(snap.chunks):
        if i not in snap.dead and c["tenant"] in (tenant, "public") and version_key(c.get("version") or ""):
            out.setdefault(c.get("product") or "", set()).add(c["version"])
    return {p: sorted(vs, key=version_key) for p, vs in out.items()}


def resolve(question: str, known: dict[str, list[str]], rewrite_all: bool = False) -> dict[str, Any]:
    """Which version the question is about, and the query to retrieve with (see the module docstring;
    `rewrite_all` rewrites even a question with no word about now, to measure what that costs).

    The product is the one the question names, else the one with the most versions."""
    if not known:
        return {"asked": None, "version": None, "product": None, "query": question, "how": "no versions in the index"}
    named = [p for p in known if p and p.lower() in question.lower()]
    product = named[0] if named else max(known, key=lambda p: len(known[p]))
    asked = next((v for v in _VERSION.findall(question) if v in known[product]), None)
    if asked:
        return {"asked": asked, "version": asked, "product": product, "query": question, "how": "named"}
    latest = known[product][-1]
    if not (rewrite_all or _NOW.search(question)):
        return {"asked": None, "version": latest, "product": product, "query": question,
                "how": "latest (no version named; no word about now, so the query is kept)"}
    rest = _NOW_LEAD.sub("", question).strip()
    query = f"In {product} {latest}, {rest[:1].lower() + rest[1:]}" if rest else question
    return {"asked": None, "version": latest, "product": product, "query": query,
            "how": "latest (the question asks about now)"}


_EPOCH = date(1970, 1, 1).toordinal()


def _day(updated: object) -> int:
    """The chunk's day number; a missing or unreadable date (a store written before ingest checked dates)
    counts as 1970-01-01, the oldest, rather than failing the whole search."""
    try:
        return date.fromisoformat(updated).toordinal() if isinstance(updated, str) and updated else _EPOCH
    except ValueError:
        return _EPOCH


def recency_rank(hits: list[dict], half_life_days: float = HALF_LIFE_DAYS, alpha: float = ALPHA) -> list[dict]:
    """Re-order by (1 − α)(1 − r/n) + α · 2^(−age/h); each hit gets `recency` and the blended `score`."""
    if not hits:
        return []
    days = [_day(h.get("updated")) for h in hits]
    newest, n = max(days), len(hits)
    out = []
    for r, (h, d) in enumerate(zip(hits, days, strict=True)):
        recency = 2.0 ** (-(newest - d) / half_life_days)
        out.append(h | {"recency": round(recency, 4), "score": round((1 - alpha) * (1 - r / n) + alpha * recency, 6)})
    return sorted(out, key=lambda h: -h["score"])


def version_rank(hits: list[dict], version: str | None) -> tuple[list[dict], list[str]]:
    """Hits of `version` or of no version first (order kept), then the others; and the others' doc ids."""
    if version is None:
        return hits, []
    keep = [h for h in hits if h.get("version") in UNVERSIONED or h.get("version") == version]
    other = [h for h in hits if h not in keep]
    return keep + other, list(dict.fromkeys(h["doc_id"] for h in other))


def search(kb: KnowledgeBase, query: str, policy: str = "off", k: int = 5, half_life_days: float = HALF_LIFE_DAYS,
           rewrite_kind: str = "none", rewrite_all: bool = False, **search_kw: Any) -> tuple[list[dict], dict[str, Any]]:
    """kb.search under a freshness policy: (top k hits, {"queries": what was retrieved with, "freshness": ...}).

    The version is resolved before any rewrite (HyDE, multi-query, step-back), so the rewrites
    name it too. `search_kw` goes to kb.search (mode, tenant, filters, rerank ...)."""
    if policy not in POLICIES:
        raise ValueError(f"freshness must be one of {POLICIES}")
    target = resolve(query, versions(kb, search_kw.get("tenant", "public")), rewrite_all) \
        if policy == "version" else None
    asked = target["query"] if target else query
    queries = rewrite(rewrite_kind, asked, kb.model)
    if policy == "off":
        return kb.search(asked, k, queries=queries, **search_kw), {"queries": queries}
    first = kb.search(asked, k * DEPTH, queries=queries, **search_kw)
    if policy == "recency":
        hits = recency_rank(first, half_life_days)
        return hits[:k], {"queries": queries, "freshness": {"policy": "recency", "half_life_days": half_life_days,
                                                            "alpha": ALPHA}}
    hits, _ = version_rank(first, target["version"])
    # what plain ranking would have shown from another version: the sources this policy set aside
    kept = {h["doc_id"] for h in hits[:k]}
    set_aside = list(dict.fromkeys(h["doc_id"] for h in first[:k] if h["doc_id"] not in kept))
    return hits[:k], {"queries": queries, "freshness": {"policy": "version", **target, "set_aside": set_aside}}
