"""The fixture knowledge base and eval set for "Tessera", a fictional file-sync product.

    python -m labs.lab06_rag.corpus            # rewrites fixtures/lab06/{corpus,eval}.jsonl
    python -m labs.lab06_rag.corpus --synthetic 20000   # prints stats of a Zipfian benchmark corpus

Facts are generated from one table (FEATURES), so every document and every reference answer agrees.
Questions paraphrase the documents ("largest file" vs "maximum upload size") so that lexical and
dense retrieval fail differently. Graded relevance: 2 = holds the answer, 1 = same topic, other version.

Per feature: one fact article per version, a plan page, four troubleshooting notes, a set-up how-to
(steps only, no values, so it answers no eval question) and a 3.0 → 3.1 upgrade note (states the
3.0 and 3.1 values, so it is graded 2 for those versions and for "currently" questions, 1 for 2.4).
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

import numpy as np

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "lab06"
PRODUCT = "Tessera"
VERSIONS = ["2.4", "3.0", "3.1"]
UPDATED = {"2.4": "2024-03-11", "3.0": "2025-01-20", "3.1": "2025-09-02"}
PLANS = ["Starter", "Team", "Business", "Enterprise"]

# feature, attribute as documents say it, as questions say it, value per version, plan, section
FEATURES = [
    ("file upload", "maximum upload size", "largest file I can send", ["2 GB", "5 GB", "10 GB"], "Starter", "Limits"),
    ("version history", "retention period for old file versions", "how long are previous revisions kept",
     ["30 days", "90 days", "180 days"], "Team", "Data"),
    ("shared links", "default expiry of a shared link", "when does a public share URL stop working",
     ["14 days", "7 days", "7 days"], "Starter", "Sharing"),
    ("single sign-on", "supported identity protocol", "which login standard can our IdP use",
     ["SAML 2.0", "SAML 2.0 and OIDC", "SAML 2.0 and OIDC"], "Enterprise", "Security"),
    ("audit log", "audit log export format", "in what format can I download the activity trail",
     ["CSV", "CSV and JSON", "JSON Lines"], "Business", "Security"),
    ("desktop client", "minimum macOS version", "oldest Mac operating system the app runs on",
     ["10.14", "11", "12"], "Starter", "Install"),
    ("sync engine", "block size used for delta sync", "chunk granularity when only part of a file changes",
     ["4 MB", "4 MB", "1 MB"], "Starter", "Sync"),
    ("API", "rate limit per access token", "how many requests per minute can an integration make",
     ["600 requests per minute", "1200 requests per minute", "3000 requests per minute"], "Team", "API"),
    ("webhooks", "webhook retry schedule", "how often are failed event callbacks re-sent",
     ["3 retries over 1 hour", "5 retries over 6 hours", "8 retries over 24 hours"], "Business", "API"),
    ("trash", "time before deleted files are purged", "how long until removed items are gone for good",
     ["30 days", "30 days", "60 days"], "Starter", "Data"),
    ("encryption", "encryption at rest", "what cipher protects stored data",
     ["AES-128", "AES-256", "AES-256 with customer-managed keys"], "Business", "Security"),
    ("mobile app", "offline file limit on mobile", "how many documents can a phone keep without network",
     ["100 files", "500 files", "2000 files"], "Team", "Install"),
    ("storage quota", "storage per seat", "how much space does each user get",
     ["100 GB", "1 TB", "2 TB"], "Team", "Limits"),
    ("selective sync", "maximum excluded folders", "how many directories can I leave out of syncing",
     ["50", "200", "1000"], "Team", "Sync"),
    ("LAN sync", "LAN sync discovery port", "which network port do peers use to find each other locally",
     ["17500", "17500", "17600"], "Starter", "Sync"),
    ("two-factor authentication", "second factor methods", "what can be used as the extra login step",
     ["TOTP apps", "TOTP apps and SMS", "TOTP apps, SMS and security keys"], "Starter", "Security"),
    ("data residency", "available storage regions", "where can our data be hosted",
     ["US", "US and EU", "US, EU and APAC"], "Enterprise", "Data"),
    ("guest access", "maximum guests per workspace", "how many outside collaborators can join a workspace",
     ["10", "25", "100"], "Business", "Sharing"),
    ("file locking", "lock timeout for an idle editor", "how soon is an abandoned edit lock released",
     ["60 minutes", "30 minutes", "15 minutes"], "Business", "Sharing"),
    ("search", "file types indexed for full-text search", "which documents have their contents searchable",
     ["PDF and TXT", "PDF, TXT and DOCX", "PDF, TXT, DOCX and images via OCR"], "Team", "Data"),
    ("bandwidth throttling", "default upload bandwidth cap", "what is the out-of-the-box limit on upload speed",
     ["none", "75% of link speed", "adaptive"], "Starter", "Sync"),
    ("SCIM provisioning", "SCIM version supported", "which user-provisioning protocol revision is implemented",
     ["not available", "SCIM 2.0", "SCIM 2.0"], "Enterprise", "Security"),
    ("backup", "backup snapshot frequency", "how frequently are recovery points taken",
     ["daily", "every 6 hours", "hourly"], "Business", "Data"),
    ("session management", "idle session timeout", "after how long of inactivity am I logged out",
     ["24 hours", "12 hours", "8 hours"], "Starter", "Security"),
    ("CLI", "CLI install command", "how do I get the command-line tool",
     ["pip install tessera-cli", "brew install tessera", "brew install tessera"], "Team", "Install"),
    ("status page", "status page address", "where can I check whether the service is down",
     ["status.tessera.example", "status.tessera.example", "status.tessera.example"], "Starter", "Support"),
    ("support", "support response time target", "how fast will the help desk reply to a ticket",
     ["48 hours", "24 hours", "4 hours for Business and above"], "Starter", "Support"),
    ("conflict handling", "conflicted copy naming", "what is a clashing edit's file called",
     ["name (conflict).ext", "name (user's conflicted copy).ext", "name (user's conflicted copy date).ext"],
     "Starter", "Sync"),
    ("admin console", "admin roles available", "what kinds of administrators can be assigned",
     ["owner and admin", "owner, admin and billing", "owner, admin, billing and auditor"], "Business", "Security"),
    ("proxy support", "supported proxy types", "which kinds of corporate proxies work with the client",
     ["HTTP", "HTTP and SOCKS5", "HTTP, SOCKS5 and PAC files"], "Team", "Install"),
]

FILLER_SENTENCES = [
    "Changes take effect for all members after the next sync cycle.",
    "Administrators can review this setting in the admin console.",
    "Contact support if the behaviour you see differs from this article.",
    "This article applies to the desktop, web and mobile clients.",
    "Values shown here are the defaults and may be lowered by an administrator.",
    "Older releases may behave differently; check the version badge at the top.",
]
TROUBLE = [
    ("sync is stuck on {f}", "Restart the client, then check that {f} is enabled for the folder."),
    ("error 409 when using {f}", "A 409 means another device changed the item first; retry after sync finishes."),
    ("{f} is slow", "Large folders slow {f} down; exclude build directories and caches."),
    ("{f} greyed out", "The option is hidden when the plan does not include {f}."),
]
# where each section's settings live in the client, and who may change them (for the set-up how-tos)
SETUP = {
    "Limits": ("Settings > Plan and usage", "a workspace owner"),
    "Data": ("Admin console > Data management", "an administrator"),
    "Sharing": ("Admin console > Sharing policy", "an administrator"),
    "Security": ("Admin console > Security", "an administrator"),
    "Install": ("the installer, then Preferences > General", "each member"),
    "Sync": ("Preferences > Sync", "each member"),
    "API": ("Admin console > Integrations", "an administrator"),
    "Support": ("Help > Contact and status", "any member"),
}
TENANTS = {"acme": ("Acme Corp", "acme.example", "AC-7731"), "globex": ("Globex", "globex.example", "GX-2208")}
UNANSWERABLE = [
    "What is the price of the Tessera Quantum add-on?",
    "Does Tessera support printing files directly to a 3D printer?",
    "How many satellites does Tessera use for sync?",
    "What is the phone number of the Tessera office in Lisbon?",
    "Which blockchain does Tessera use to notarise files?",
    "What is the maximum number of pets per workspace?",
    "How do I enable the holographic preview in Tessera?",
    "What GPU does the Tessera video transcoder need?",
    "When was the Tessera Tokyo datacenter opened?",
    "What is the battery life of the Tessera hardware key?",
    "How do I connect Tessera to a fax machine?",
    "What discount do students get on Tessera?",
]


def _doc(id_: str, title: str, section: str, version: str, tenant: str, text: str) -> dict:
    return {"id": id_, "title": title, "section": section, "product": PRODUCT, "version": version,
            "tenant": tenant, "updated": UPDATED.get(version, "2025-06-01"), "text": text}


def fact_sentence(feature: tuple, vi: int) -> str:
    name, attr, _q, values, _plan, _sec = feature
    return f"In {PRODUCT} {VERSIONS[vi]}, the {attr} for {name} is {values[vi]}."


def upgrade_note(feature: tuple) -> str:
    """What moving from the previous release to the current one changes for a feature (its two values)."""
    name, attr, _q, values, _plan, _sec = feature
    before, now = VERSIONS[-2], VERSIONS[-1]
    if values[-2] == values[-1]:
        return (f"Upgrading from {PRODUCT} {before} to {now} leaves {name} unchanged: the {attr} stays "
                f"{values[-1]}, as it was in {before}.")
    return (f"Upgrading from {PRODUCT} {before} to {now} changes {name}: in {before} the {attr} was "
            f"{values[-2]}, and from {now} on it is {values[-1]}.")


def howtos(fi: int, feature: tuple, rng: random.Random) -> list[dict]:
    """Two how-to articles per feature: set-up steps (no values) and the upgrade note (two versions' values)."""
    name, _attr, _q, _values, _plan, section = feature
    where, who = SETUP[section]
    steps = (f"To set up {name}, {who} opens {where}, finds the {name} entry and picks the options the "
             f"team needs. Save, then open the same page on a second device to confirm the change arrived. "
             f"If {name} is not listed, the workspace plan does not include it; the plans article says "
             f"which one does.")
    return [
        _doc(f"howto-{fi:02d}-setup", f"How to set up {name}", "How-to", VERSIONS[-1], "public",
             f"{steps} {rng.choice(FILLER_SENTENCES)}"),
        _doc(f"howto-{fi:02d}-upgrade", f"Upgrading to {PRODUCT} {VERSIONS[-1]}: {name}", "How-to", VERSIONS[-1],
             "public", f"{upgrade_note(feature)} {rng.choice(FILLER_SENTENCES)}"),
    ]


def upgrade_grade(vi: int) -> int:
    """The upgrade note states the last two versions' values: it answers those, and is related for older ones."""
    return 2 if vi >= len(VERSIONS) - 2 else 1


def build(seed: int = 6, features: list[tuple] | None = None) -> tuple[list[dict], list[dict]]:
    """(documents, eval questions), deterministic for a seed; `features` defaults to FEATURES (the
    fixture). `generated.features` gives other ones of the same shape, for training on a corpus that
    shares no fact with the eval set."""
    rng = random.Random(seed)
    table = FEATURES if features is None else features
    docs: list[dict] = []
    for fi, feat in enumerate(table):
        name, _attr, _q, _values, plan, section = feat
        for vi, version in enumerate(VERSIONS):
            filler = rng.sample(FILLER_SENTENCES, 2)
            docs.append(_doc(f"kb-{fi:02d}-v{vi}", f"{name.capitalize()} in {PRODUCT} {version}", section, version,
                             "public", f"{fact_sentence(feat, vi)} {filler[0]} {filler[1]}"))
        docs.append(_doc(f"plan-{fi:02d}", f"Which plans include {name}", "Plans", "all", "public",
                         f"{name.capitalize()} is included from the {plan} plan upward. "
                         f"Plans below {plan} do not offer {name}."))
        for ti, (title, fix) in enumerate(TROUBLE):
            docs.append(_doc(f"ts-{fi:02d}-{ti}", title.format(f=name).capitalize(), "Troubleshooting",
                             VERSIONS[-1], "public", f"{fix.format(f=name)} {rng.choice(FILLER_SENTENCES)}"))
    # appended after every feature's original articles, so the ids and order above stay as they were
    for fi, feat in enumerate(table):
        docs += howtos(fi, feat, rng)
    for tenant, (org, domain, code) in TENANTS.items():
        docs.append(_doc(f"{tenant}-sso", f"{org} single sign-on setup", "Security", VERSIONS[-1], tenant,
                         f"For {org}, single sign-on uses the domain {domain} and the connector code {code}."))
        docs.append(_doc(f"{tenant}-contact", f"{org} escalation contact", "Support", VERSIONS[-1], tenant,
                         f"{org} escalations go to the named account manager at support@{domain}."))
    questions = []
    for fi, feat in enumerate(table):
        name, attr, q_attr, values, plan, _sec = feat
        vi = fi % len(VERSIONS)
        grades = {f"kb-{fi:02d}-v{v}": (2 if v == vi else 1) for v in range(len(VERSIONS))}
        grades[f"howto-{fi:02d}-upgrade"] = upgrade_grade(vi)
        questions.append({"id": f"q-fact-{fi:02d}", "slice": "single-fact", "tenant": "public",
                          "question": f"In {PRODUCT} {VERSIONS[vi]}, {q_attr} with {name}?",
                          "relevant": grades, "answer": fact_sentence(feat, vi)})
        if fi % 2 == 0:
            latest = len(VERSIONS) - 1
            grades = {f"kb-{fi:02d}-v{v}": (2 if v == latest else 1) for v in range(len(VERSIONS))}
            grades[f"howto-{fi:02d}-upgrade"] = upgrade_grade(latest)
            questions.append({"id": f"q-fresh-{fi:02d}", "slice": "freshness", "tenant": "public",
                              "question": f"Currently, {q_attr} with {name}?",
                              "relevant": grades, "answer": fact_sentence(feat, latest)})
        if fi % 3 == 0:
            latest = len(VERSIONS) - 1
            questions.append({"id": f"q-hop-{fi:02d}", "slice": "multi-hop", "tenant": "public",
                              "question": f"Which plan do I need for {name}, and in {PRODUCT} {VERSIONS[latest]} "
                                          f"{q_attr}?",
                              "relevant": {f"plan-{fi:02d}": 2, f"kb-{fi:02d}-v{latest}": 2,
                                           f"howto-{fi:02d}-upgrade": upgrade_grade(latest)},
                              "answer": f"{name.capitalize()} is included from the {plan} plan upward. "
                                        f"{fact_sentence(feat, latest)}"})
    for i, q in enumerate(UNANSWERABLE):
        questions.append({"id": f"q-none-{i:02d}", "slice": "unanswerable", "tenant": "public", "question": q,
                          "relevant": {}, "answer": "I don't know."})
    return docs, questions


def write(folder: Path = FIXTURES) -> tuple[int, int]:
    docs, questions = build()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs))
    (folder / "eval.jsonl").write_text("".join(json.dumps(q) + "\n" for q in questions))
    return len(docs), len(questions)


def load(name: str = "corpus") -> list[dict]:
    path = FIXTURES / f"{name}.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def synthetic(n_docs: int, seed: int = 0, vocab: int = 50_000, mean_len: int = 60,
              s: float = 1.1) -> tuple[list[list[str]], list[list[str]]]:
    """A Zipfian corpus (term rank r drawn with p ∝ 1/r^s) and 1000 queries of 2-5 terms, as token lists.

    Scales the fixture to 10k-100k docs for benchmarks, where only term statistics matter."""
    rng = np.random.default_rng(seed)
    p = 1.0 / np.arange(1, vocab + 1) ** s
    p /= p.sum()
    lengths = rng.poisson(mean_len, n_docs) + 5
    flat = rng.choice(vocab, size=int(lengths.sum()), p=p)
    docs, start = [], 0
    for n in lengths:
        docs.append([f"t{t}" for t in flat[start:start + n]])
        start += n
    # queries favour mid-frequency terms, as real queries do
    mid = np.arange(50, 5000)
    queries = [[f"t{t}" for t in rng.choice(mid, rng.integers(2, 6))] for _ in range(1000)]
    return docs, queries


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--synthetic", type=int, default=0)
    args = parser.parse_args()
    if args.synthetic:
        docs, queries = synthetic(args.synthetic)
        print(f"{len(docs)} docs, {sum(map(len, docs))} tokens, {len(queries)} queries")
        return
    n_docs, n_q = write()
    print(f"wrote {n_docs} documents and {n_q} questions to {FIXTURES}")


if __name__ == "__main__":
    main()
