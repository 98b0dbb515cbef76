"""Architecture decision records: MADR sections in files that Debian's adr-tools can read.

    curl -s localhost:8014/adr                      # the records, newest last, with their links
    cd .data/lab14/decisions && adr list            # adr-tools lists the same files

Layout, so both readers work:
- files `doc/adr/NNNN-slug.md` (adr-tools' default folder and name pattern: `adr list` finds them);
- first line `# N. Title` (adr-tools takes titles from it), then `Date: YYYY-MM-DD`;
- a `## Status` section holding the status and the links, one per line, `Supersedes [N. Title](NNNN-slug.md)`
  and `Superseded by [...]` (the line shape adr-tools' `adr generate graph` turns into edges);
- then MADR's sections: Context and Problem Statement, Considered Options, Decision Outcome, Consequences.

Superseding a record rewrites the old record's status to `Superseded by [...]`, and nothing else in it.
The yearly decision record and the quarterly audit template are generated from measured audit numbers.
"""

from __future__ import annotations

import re
import threading
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path

ADR_SUBDIR = Path("doc") / "adr"
_FILE = re.compile(r"^(\d{4})-([a-z0-9-]+)\.md$")
_LINK = re.compile(r"^(Supersedes|Superseded by|Amends|Amended by) \[(\d+)\. ([^\]]*)\]\((\d{4}-[a-z0-9-]+\.md)\)$")


class AdrError(ValueError):
    """A record that cannot be written as asked (unknown record to supersede, one already superseded)."""


@dataclass
class Record:
    number: int
    title: str
    date: str
    status: str = "Accepted"
    context: str = ""
    options: list[str] = field(default_factory=list)
    decision: str = ""
    consequences: list[str] = field(default_factory=list)
    links: list[dict] = field(default_factory=list)  # {"kind": "Supersedes", "number": 1, "file": ...}

    @property
    def filename(self) -> str:
        return f"{self.number:04d}-{slug(self.title)}.md"


def slug(title: str) -> str:
    """'Use SQLite (WAL) for state!' -> 'use-sqlite-wal-for-state' (adr-tools' file naming, lower-case ASCII)."""
    text = re.sub(r"[^a-z0-9]+", "-", title.lower().encode("ascii", "ignore").decode()).strip("-")
    return text[:60].rstrip("-") or "decision"


def render(record: Record) -> str:
    lines = [f"# {record.number}. {record.title}", "", f"Date: {record.date}", "", "## Status", "", record.status, ""]
    for link in record.links:
        lines += [f"{link['kind']} [{link['number']}. {link['title']}]({link['file']})", ""]
    lines += ["## Context and Problem Statement", "", record.context.strip() or "(not written)", ""]
    if record.options:
        lines += ["## Considered Options", "", *(f"* {o}" for o in record.options), ""]
    lines += ["## Decision Outcome", "", record.decision.strip() or "(not decided)", ""]
    if record.consequences:
        lines += ["### Consequences", "", *(f"* {c}" for c in record.consequences), ""]
    return "\n".join(lines)


def parse(text: str, number: int | None = None) -> Record:
    """The inverse of render (also reads adr-tools' own template: Context / Decision / Consequences)."""
    lines = text.split("\n")  # not splitlines(): that also splits on \x85 and \u2028 inside a field
    head = re.match(r"^# (\d+)\. (.*)$", lines[0]) if lines else None
    if not head:
        raise AdrError("a decision record starts with '# N. Title'")
    sections: dict[str, list[str]] = {}
    current = "_"
    when = ""
    for line in lines[1:]:
        if line.startswith("#"):
            current = line.lstrip("#").strip().lower()
            sections[current] = []
        elif current == "_" and line.startswith("Date:"):
            when = line.removeprefix("Date:").strip()
        else:
            sections.setdefault(current, []).append(line)

    def body(*names: str) -> list[str]:
        for name in names:
            if name in sections:
                return [ln for ln in sections[name] if ln.strip()]
        return []

    status_lines = body("status")
    links = []
    for ln in status_lines:
        m = _LINK.match(ln.strip())
        if m:
            links.append({"kind": m.group(1), "number": int(m.group(2)), "title": m.group(3), "file": m.group(4)})
    plain = [ln for ln in status_lines if not _LINK.match(ln.strip())]
    superseded = [lk for lk in links if lk["kind"] == "Superseded by"]
    status = plain[0].strip() if plain else ("Superseded" if superseded else "")
    bullets = lambda rows: [r.strip()[2:] if r.strip()[:2] in ("* ", "- ") else r.strip() for r in rows]  # noqa: E731
    return Record(number=int(head.group(1)) if number is None else number, title=head.group(2).strip(), date=when,
                  status=status, context="\n".join(body("context and problem statement", "context")),
                  options=bullets(body("considered options")),
                  decision="\n".join(body("decision outcome", "decision")),
                  consequences=bullets(body("consequences")), links=links)


class AdrStore:
    """A folder of records (`<root>/doc/adr`), numbered in order; one writer at a time."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.folder = self.root / ADR_SUBDIR
        self._lock = threading.Lock()

    def files(self) -> list[Path]:
        if not self.folder.is_dir():
            return []
        return sorted(p for p in self.folder.iterdir() if _FILE.match(p.name))

    def list(self) -> list[Record]:
        return [parse(p.read_text(), int(p.name[:4])) for p in self.files()]

    def get(self, number: int) -> tuple[Record, str] | None:
        for p in self.files():
            if int(p.name[:4]) == number:
                text = p.read_text()
                return parse(text, number), text
        return None

    def add(self, title: str, context: str, decision: str, options: list[str] | None = None,
            consequences: list[str] | None = None, supersedes: int | None = None, status: str = "Accepted",
            when: str | None = None) -> Record:
        with self._lock:
            self.folder.mkdir(parents=True, exist_ok=True)
            existing = {int(p.name[:4]): p for p in self.files()}
            number = max(existing, default=0) + 1
            record = Record(number, title.strip(), when or date.today().isoformat(), status, context, options or [],
                            decision, consequences or [])
            old_path = None
            if supersedes is not None:
                old_path = existing.get(supersedes)
                if old_path is None:
                    raise AdrError(f"there is no decision record {supersedes} to supersede")
                old = parse(old_path.read_text(), supersedes)
                if any(lk["kind"] == "Superseded by" for lk in old.links):
                    raise AdrError(f"decision record {supersedes} is already superseded")
                record.links.append({"kind": "Supersedes", "number": old.number, "title": old.title,
                                     "file": old_path.name})
            (self.folder / record.filename).write_text(render(record))
            if old_path is not None:
                old.status = "Superseded"
                old.links.append({"kind": "Superseded by", "number": record.number, "title": record.title,
                                  "file": record.filename})
                old_path.write_text(render(old))
            return record


# This project's own decisions, as ARCHITECTURE.md states them: the store starts with these.
SEED = [
    dict(title="Record architecture decisions", when="2026-11-01",
         context="Choices about this monorepo's shape were scattered over issues and commit messages.",
         options=["decision records in the repository", "a wiki page", "nothing written down"],
         decision='Chosen option: "decision records in the repository", MADR sections, readable by adr-tools.',
         consequences=["Good, because a reviewer finds why next to what", "Bad, because records need upkeep"]),
    dict(title="Serve the mock model in-process through LiteLLM", when="2026-11-02",
         context="Readers run every lab offline on a laptop; tests must never call a real provider.",
         options=["an in-process LiteLLM custom provider", "a separate mock server only", "per-lab fakes"],
         decision='Chosen option: "an in-process LiteLLM custom provider", the same engine also served over HTTP.',
         consequences=["Good, because `make lab-NN` needs no other process",
                       "Bad, because a lab that needs its own behaviour ships a mock plugin"]),
    dict(title="SQLite as the embedded default for state", when="2026-11-03",
         context="Jobs, eval runs, audit logs and idempotency keys need durable state without a server.",
         options=["SQLite (WAL)", "PostgreSQL from the start", "JSON files"],
         decision='Chosen option: "SQLite (WAL)"; PostgreSQL is what a user switches to.',
         consequences=["Good, because nothing to install", "Bad, because one writer at a time"]),
    dict(title="Pin torch to 2.13.0, CPU build", when="2026-11-04",
         context="Another torch version downloads gigabytes of CUDA wheels; torchvision's wheels fail against CPU torch.",
         options=["pin torch==2.13.0 CPU, no torchvision", "follow the newest torch"],
         decision='Chosen option: "pin torch==2.13.0 CPU"; image transforms are written with numpy and torch.',
         consequences=["Good, because installs are small and repeatable",
                       "Bad, because the pin blocks torch upgrades until this record is superseded"]),
]


def seed(store: AdrStore) -> int:
    """Write the project's own decisions into an empty store; returns how many were written."""
    if store.files():
        return 0
    for item in SEED:
        store.add(**item)
    return len(SEED)


def yearly_record(year: int, summary: dict) -> dict:
    """The yearly decision record's fields, filled from an audit summary (keep / refresh / drop)."""
    deps = summary.get("dependencies", {})
    topics = summary.get("topics", {})
    fired = summary.get("tripwires", {}).get("responses", [])
    behind = [d for d in deps.get("worst", []) if d.get("behind")]
    overdue = topics.get("overdue", [])
    return {
        "title": f"Yearly review {year}: what to keep, refresh and drop",
        "context": (f"The {year} audit scored {summary.get('score', '?')} / 100. "
                    f"libyear {deps.get('libyear_total', '?')}, {deps.get('behind', '?')} dependencies behind, "
                    f"{(summary.get('deprecations') or {}).get('total', 'unmeasured')} deprecation warnings, "
                    f"{len(overdue)} topics past their refresh date."),
        "options": ["keep the current stack and cadences", "upgrade the packages that are behind",
                    "drop the ephemeral tools that no longer pay for their upkeep"],
        "decision": "Act on every fired tripwire: " + ("; ".join(fired) if fired else "none fired, keep the stack."),
        "consequences": [f"Upgrade {d['name']} {d.get('pinned')} -> {d.get('newest')}" for d in behind[:5]]
        + [f"Refresh: {name}" for name in overdue[:5]],
    }


def quarterly_template(quarter: str, summary: dict) -> str:
    """The quarterly audit as a Markdown checklist, measured numbers filled in, questions left open."""
    lines = [f"# Quarterly audit {quarter}", "", f"Score: {summary.get('score', '?')} / 100", ""]
    for item in summary.get("items", []):
        mark = {"pass": "x", "fail": " ", "answered": "x"}.get(item["status"], " ")
        value = f" (measured: {item['value']})" if item.get("value") is not None else ""
        lines.append(f"- [{mark}] {item['title']}{value}")
    lines += ["", "## Tripwires that fired", ""]
    lines += [f"- {r}" for r in summary.get("tripwires", {}).get("responses", [])] or ["- none"]
    return "\n".join(lines) + "\n"


def as_dict(record: Record) -> dict:
    return {**asdict(record), "file": record.filename}
