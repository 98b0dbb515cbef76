"""adr.py: records round-trip, supersession links, and Debian's adr-tools reads them."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labs.lab14_audit import adr

ADR = shutil.which("adr")
needs_adr_tools = pytest.mark.skipif(ADR is None, reason="adr-tools is absent (apt-get install adr-tools)")
line = st.text(st.characters(codec="utf-8", exclude_categories=("Cc", "Cs", "Zl", "Zp"), exclude_characters="#"),
               min_size=1, max_size=40).map(str.strip).filter(bool)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 9999), line, line, st.lists(line, max_size=4), line, st.lists(line, max_size=4))
def test_render_then_parse_is_the_identity(number, title, context, options, decision, consequences):
    record = adr.Record(number, title, "2026-01-02", "Accepted", context,
                        [o.lstrip("*- ") or "x" for o in options], decision,
                        [c.lstrip("*- ") or "x" for c in consequences])
    back = adr.parse(adr.render(record))
    assert (back.number, back.title, back.date, back.status) == (number, title, "2026-01-02", "Accepted")
    assert (back.context, back.decision) == (context, decision)
    assert back.options == record.options and back.consequences == record.consequences


def test_supersede_links_both_ways_and_only_once(tmp_path):
    store = adr.AdrStore(tmp_path)
    assert adr.seed(store) == 4 and adr.seed(store) == 0
    new = store.add("Follow the newest torch", "c", "d", supersedes=4)
    old = store.get(4)[0]
    assert old.status == "Superseded"
    assert old.links == [{"kind": "Superseded by", "number": 5, "title": "Follow the newest torch", "file": new.filename}]
    assert new.links[0]["kind"] == "Supersedes" and new.links[0]["number"] == 4
    with pytest.raises(adr.AdrError, match="already superseded"):
        store.add("again", "c", "d", supersedes=4)
    with pytest.raises(adr.AdrError, match="no decision record 42"):
        store.add("ghost", "c", "d", supersedes=42)
    assert len(store.files()) == 5


def test_reads_adr_tools_own_template():
    text = "# 1. Record architecture decisions\n\nDate: 2026-01-01\n\n## Status\n\nAccepted\n\n## Context\n\nWhy.\n\n" \
           "## Decision\n\nWe will.\n\n## Consequences\n\nSee Nygard.\n"
    record = adr.parse(text)
    assert (record.title, record.status, record.context, record.decision) == (
        "Record architecture decisions", "Accepted", "Why.", "We will.")


def test_generators_fill_in_measurements():
    summary = {"score": 61.5, "dependencies": {"libyear_total": 3.2, "behind": 2,
                                               "worst": [{"name": "quasar-http", "pinned": "1.2.0", "newest": "2.1.0",
                                                          "behind": True}]},
               "deprecations": {"total": 3}, "topics": {"overdue": ["guardrail frameworks"]},
               "tripwires": {"responses": ["abandoned dependency: replace it"]},
               "items": [{"title": "No pin blocks an upgrade", "status": "fail", "value": 1},
                         {"title": "A bet for next year", "status": "open", "value": None}]}
    yearly = adr.yearly_record(2026, summary)
    assert "61.5 / 100" in yearly["context"] and "3 deprecation warnings" in yearly["context"]
    assert "Upgrade quasar-http 1.2.0 -> 2.1.0" in yearly["consequences"]
    assert "Refresh: guardrail frameworks" in yearly["consequences"]
    text = adr.quarterly_template("2026-Q4", summary)
    assert "- [ ] No pin blocks an upgrade (measured: 1)" in text and "- abandoned dependency: replace it" in text


@needs_adr_tools
def test_adr_tools_lists_titles_and_links(tmp_path):
    store = adr.AdrStore(tmp_path)
    adr.seed(store)
    store.add("Follow the newest torch", "c", "d", supersedes=4)
    listed = subprocess.run([ADR, "list"], cwd=tmp_path, capture_output=True, text=True, check=True).stdout.split()
    assert listed == [f"doc/adr/{p.name}" for p in store.files()]
    toc = subprocess.run([ADR, "generate", "toc"], cwd=tmp_path, capture_output=True, text=True, check=True).stdout
    for record in store.list():
        assert f"[{record.number}. {record.title}]({record.filename})" in toc
    graph = subprocess.run([ADR, "generate", "graph"], cwd=tmp_path, capture_output=True, text=True, check=True).stdout
    assert "_5 -> _4" in graph.replace(" ", " ") and "Supersedes" in graph
