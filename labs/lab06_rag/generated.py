"""A generated training corpus: features the eval fixture never mentions, in the fixture's shape.

    python -m labs.lab06_rag.generated --features 40      # prints a few generated questions and stats

The reranker (`rerank.py`) and the fine-tuned bi-encoder (`finetune.py`) learn from this corpus, so
every question of `fixtures/lab06/eval.jsonl` is held out from both. A feature here is a new product
area (its name from NAMES) with one kind of setting (KINDS): how the articles phrase it, several ways
a user might ask for it instead, and how its value is drawn per version. `corpus.build(features=...)`
turns the table into articles and graded questions exactly as it does for the fixture's own table.
"""

from __future__ import annotations

import argparse
import random

from labs.lab06_rag.bm25 import BM25, tokenize
from labs.lab06_rag.corpus import FEATURES, PLANS, PRODUCT, SETUP, VERSIONS, build, upgrade_grade
from labs.lab06_rag.dense import sentence_model
from labs.lab06_rag.hybrid import rrf

# product areas absent from the fixture (checked below: none is one of its feature names)
NAMES = [
    "photo albums", "team calendar", "comment threads", "device pairing", "email digests", "folder templates",
    "approval workflows", "watermarking", "link analytics", "print queue", "offline notes", "tag library",
    "smart folders", "activity feed", "invoice archive", "whiteboards", "password vault", "screen recordings",
    "form builder", "kanban boards", "video previews", "e-signatures", "room booking", "chat channels",
    "file requests", "legal hold", "content scanning", "retention labels", "shared drives", "meeting notes",
    "task reminders", "spreadsheet viewer", "thumbnail cache", "upload portal", "public gallery", "voice memos",
    "release notes feed", "usage reports", "time tracking", "project spaces", "document locking API",
    "client certificates", "bookmark sync", "transfer queue", "archive tiering", "mail import", "translation",
]

# kind: (attribute as articles say it, ways a user asks for it, value per version)
KINDS = {
    "retention": ("retention period", ["how long is old content kept", "when are old items thrown away",
                                      "for how many days do things stay around"],
                  lambda r: [f"{d} days" for d in sorted(r.sample([7, 14, 30, 60, 90, 180, 365], 3))]),
    "size": ("maximum item size", ["how big can one entry be", "what is the largest thing I can add",
                                  "what is the size cap per item"],
             lambda r: [f"{s} MB" for s in sorted(r.sample([10, 25, 50, 100, 250, 500, 1000], 3))]),
    "count": ("maximum number of items", ["how many entries can it hold", "is there a cap on how many I can have",
                                         "how many things fit"],
              lambda r: [str(c) for c in sorted(r.sample([20, 50, 100, 200, 500, 1000, 5000], 3))]),
    "timeout": ("idle timeout", ["after how much inactivity does it stop", "when does an unused session end",
                                 "how soon does it time out when nobody touches it"],
                lambda r: [f"{m} minutes" for m in sorted(r.sample([5, 10, 15, 30, 45, 60, 120], 3), reverse=True)]),
    "format": ("export format", ["in what file type can I download the data", "how can I get things out as a file",
                                  "which formats does saving a copy produce"],
               lambda r: r.choice([["CSV", "CSV and XLSX", "CSV, XLSX and JSON"], ["PDF", "PDF and HTML", "PDF, HTML and DOCX"],
                                   ["TXT", "Markdown", "Markdown and HTML"], ["XML", "XML and JSON", "JSON"]])),
    "frequency": ("refresh interval", ["how often is it updated", "how frequently are changes picked up",
                                     "how long until new data shows"],
                  lambda r: r.choice([["daily", "every 6 hours", "hourly"], ["weekly", "daily", "daily"],
                                      ["every 30 minutes", "every 10 minutes", "every minute"]])),
    "method": ("supported authentication methods", ["how can people sign in",
                                                     "which ways of logging in are accepted",
                                                     "what credentials work"],
               lambda r: r.choice([["password", "password and SSO", "password, SSO and passkeys"],
                                   ["API key", "API key and OAuth", "OAuth"], ["PIN", "PIN and TOTP", "TOTP and security keys"]])),
    "region": ("hosting regions", ["where is the data stored", "in which countries can the content live",
                                    "what data centres hold it"],
               lambda r: r.choice([["US", "US and EU", "US, EU and APAC"], ["EU", "EU and UK", "EU, UK and Canada"]])),
}
_FIXTURE_NAMES = {f[0] for f in FEATURES}


def features(n: int, seed: int = 0) -> list[tuple]:
    """n generated features (name, attribute, user's paraphrase, values per version, plan, section)."""
    if not 1 <= n <= len(NAMES):
        raise ValueError(f"n must be between 1 and {len(NAMES)}")
    rng = random.Random(seed)
    out = []
    for name in rng.sample(NAMES, n):
        kind = rng.choice(sorted(KINDS))
        attr, asks, values = KINDS[kind]
        out.append((name, attr, rng.choice(asks), values(rng),
                    rng.choice(PLANS), rng.choice(sorted(SETUP))))
    assert not {f[0] for f in out} & _FIXTURE_NAMES
    return out


def corpus(n: int = 40, seed: int = 0) -> tuple[list[dict], list[dict], list[tuple]]:
    """(documents, graded questions, features) of a generated corpus; public documents only."""
    table = features(n, seed)
    docs, questions = build(seed, table)
    return [d for d in docs if d["tenant"] == "public"], [q for q in questions if q["relevant"]], table


def queries(docs: list[dict], questions: list[dict], table: list[tuple]) -> list[tuple[str, dict[str, float]]]:
    """(query, {doc id: label}) with label = grade / 2 (another version of the answer is 0.5).

    The generated questions (the users' paraphrases), and every feature asked in the articles' own
    words: a fact query per version (that version 1, the next 0.5, the upgrade note as the eval set
    grades it) and a plan-plus-fact query (plan page, latest article and upgrade note 1)."""
    out = [(q["question"], {d: g / 2 for d, g in q["relevant"].items()}) for q in questions]
    last = len(VERSIONS) - 1
    for fi, (name, attr, _ask, _values, _plan, _section) in enumerate(table):
        upgrade = f"howto-{fi:02d}-upgrade"
        for vi, version in enumerate(VERSIONS):
            out.append((f"What is the {attr} for {name} in {PRODUCT} {version}?",
                        {f"kb-{fi:02d}-v{vi}": 1.0, f"kb-{fi:02d}-v{(vi + 1) % len(VERSIONS)}": 0.5,
                         upgrade: upgrade_grade(vi) / 2}))
        out.append((f"Which plan includes {name}, and what is the {attr} in {PRODUCT} {VERSIONS[last]}?",
                    {f"plan-{fi:02d}": 1.0, f"kb-{fi:02d}-v{last}": 1.0, upgrade: upgrade_grade(last) / 2}))
    return out


def mine(n: int = 40, seed: int = 0, hard: int = 3, easy: int = 1, embed=None, depth: int = 20
         ) -> tuple[list[tuple[str, dict[str, float], list[str]]], dict[str, str]]:
    """([(query, labels, negative ids)], {doc id: "title. text"}) over a generated corpus.

    Negatives: the `hard` best-ranked unlabelled documents of the first stage the reranker will
    reorder (BM25 and dense fused with RRF, top `depth` of each), then `easy` random ones. Another
    version of a labelled article is never a negative (it is related, not irrelevant); the same
    feature's troubleshooting and plan pages are. `embed` (texts -> L2-normalised vectors) defaults
    to MiniLM."""
    rng = random.Random(seed)
    docs, questions, table = corpus(n, seed)
    ids = [d["id"] for d in docs]
    text = {d["id"]: f"{d['title']}. {d['text']}" for d in docs}
    embed = embed or (lambda texts: sentence_model().encode(texts, batch_size=64, normalize_embeddings=True))
    bm = BM25([tokenize(text[i]) for i in ids])
    doc_vecs = embed([text[i] for i in ids])
    asked = queries(docs, questions, table)
    q_vecs = embed([q for q, _ in asked])
    out = []
    for (query, labels), qv in zip(asked, q_vecs, strict=True):
        sparse, _ = bm.top_k(tokenize(query), depth)
        dense = (doc_vecs @ qv).argsort()[::-1][:depth]
        first_stage = [d for d, _ in rrf([[ids[i] for i in sparse], [ids[i] for i in dense]])]
        articles = {d.rsplit("-v", 1)[0] for d in labels if d.startswith("kb-")}
        negatives = [d for d in first_stage if d not in labels and d.rsplit("-v", 1)[0] not in articles][:hard]
        pool = [d for d in ids if d not in labels and d not in negatives and d.rsplit("-v", 1)[0] not in articles]
        out.append((query, labels, negatives + rng.sample(pool, easy)))
    return out, text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--features", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    docs, questions, _ = corpus(args.features, args.seed)
    print(f"{len(docs)} documents, {len(questions)} graded questions")
    for q in questions[:5]:
        print(f"  {q['slice']:12s} {q['question']}")


if __name__ == "__main__":
    main()
