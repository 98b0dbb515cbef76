"""dependencies.py: libyear against numpy dates, the import scanner against modulefinder, the orbit fixture."""

from __future__ import annotations

import modulefinder
import random
import shutil
from datetime import date, timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labs.lab14_audit import dependencies
from shared.config import FIXTURES

SAMPLE = FIXTURES / "lab14" / "sample_project"
INDEX = dependencies.load_snapshot(FIXTURES / "lab14" / "sample_index.json")


@settings(max_examples=100, deadline=None)
@given(st.dates(date(2000, 1, 1), date(2030, 12, 31)), st.integers(0, 4000))
def test_libyear_matches_numpy_datetime(released, gap_days):
    newest = released + timedelta(days=gap_days)
    ours = dependencies.libyear("1.0", "2.0", released.isoformat(), newest.isoformat())
    ref = (np.datetime64(newest.isoformat()) - np.datetime64(released.isoformat())).astype("timedelta64[D]").astype(int) / 365.25
    assert ours == pytest.approx(ref)
    assert dependencies.libyear("2.0", "2.0", released.isoformat(), newest.isoformat()) == 0.0
    assert dependencies.libyear("1.0", "2.0", None, newest.isoformat()) is None


MODULES = ["json", "csv", "email.mime.text", "xml.dom.minidom", "html.parser", "urllib.request", "string"]


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 10_000))
def test_import_scanner_agrees_with_modulefinder(seed):
    """Our AST scan against the standard library's bytecode scanner (ModuleFinder.scan_opcodes)."""
    rng = random.Random(seed)
    lines = []
    for mod in rng.sample(MODULES, rng.randint(1, 5)):
        form = rng.choice(["import", "import_as", "from", "relative"])
        parent, _, child = mod.rpartition(".")
        if form == "from" and parent:
            lines.append(f"from {parent} import {child}")
        elif form == "relative":
            lines.append(f"from . import {mod.split('.')[0]}")
        else:
            lines.append(f"import {mod}" + (" as alias" if form == "import_as" else ""))
    source = "\n".join(lines) + "\n"
    ref = set()
    for what, args in modulefinder.ModuleFinder().scan_opcodes(compile(source, "m.py", "exec")):
        if what == "absolute_import":
            ref.add(args[1].split(".")[0])
    assert dependencies.imports_in(source) == ref


def test_orbit_fixture_libyear_blocking_unused_and_stale():
    report = dependencies.audit(SAMPLE, INDEX, installed={})
    rows = {d["name"]: d for d in report["dependencies"]}
    # quasar-http 1.2.0 (2023-03-02) -> 2.1.0 (2026-06-10): 1196 days
    assert rows["quasar-http"]["libyear"] == pytest.approx(round(1196 / 365.25, 3))
    assert rows["quasar-http"]["blocked_by"] == [{"by": "tessera-client", "requires": "quasar-http<2,>=1.1"}]
    assert rows["tessera-client"]["libyear"] == pytest.approx(round(730 / 365.25, 3))
    assert report["libyear_total"] == pytest.approx(rows["quasar-http"]["libyear"] + rows["tessera-client"]["libyear"])
    assert rows["ledgerline"]["imported"] is False and rows["ledgerline"]["stale"]
    assert rows["quasar-http"]["imported"] and rows["tessera-client"]["imported"]
    assert rows["starchart"]["direct"] is False and rows["starchart"]["libyear"] is None  # release date unknown
    assert report["counts"]["libyear_unknown"] == 2 and report["counts"]["blocked"] == 1


def test_live_mode_uses_the_given_index_client():
    asked = []
    report = dependencies.audit(SAMPLE, INDEX, installed={}, live=True,
                                newest_of=lambda name: asked.append(name) or ("9.0.0" if name == "ledgerline" else None))
    assert "ledgerline" in asked
    assert {d["name"]: d for d in report["dependencies"]}["ledgerline"]["behind"]


def test_parse_pip_index_output():
    out = "quasar-http (2.1.0)\nAvailable versions: 2.1.0, 2.0.0, 1.2.0\n"
    assert dependencies.parse_pip_index(out) == "2.1.0"
    assert dependencies.parse_pip_index("ERROR: No matching distribution found") is None


def test_this_repository_against_the_snapshot(repo_report):
    report = repo_report
    rows = {d["name"]: d for d in report["dependencies"]}
    assert report["pin_file"] == "constraints.txt" and report["venv"]
    assert rows["torch"]["pinned"] == "2.13.0" and rows["torch"]["direct"]
    if rows["torch"]["behind"]:
        assert any(b["by"] == "aieng-labs" for b in rows["torch"]["blocked_by"]), "the project pins torch itself"
    assert rows["fastapi"]["imported"] is True


def test_bad_projects_are_refused(tmp_path):
    with pytest.raises(dependencies.ProjectError, match="no pyproject"):
        dependencies.read_project(tmp_path)
    (tmp_path / "pyproject.toml").write_text("[project\nname = ")
    with pytest.raises(dependencies.ProjectError, match="not valid TOML"):
        dependencies.read_project(tmp_path)


def test_audit_writes_nothing_into_the_repository(tmp_path):
    repo = tmp_path / "orbit"
    shutil.copytree(SAMPLE, repo)
    before = sorted(p.relative_to(repo) for p in repo.rglob("*"))
    dependencies.audit(repo, INDEX)
    assert sorted(p.relative_to(repo) for p in repo.rglob("*")) == before
