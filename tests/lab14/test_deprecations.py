"""deprecations.py: warnings the orbit fixture hides, captured by import and by its own suite."""

from __future__ import annotations

import shutil

import pytest

from labs.lab14_audit import deprecations
from shared.config import FIXTURES

SAMPLE = FIXTURES / "lab14" / "sample_project"


@pytest.fixture
def orbit(tmp_path):
    repo = tmp_path / "orbit"
    shutil.copytree(SAMPLE, repo)
    return repo


def _tree(repo):
    return sorted(str(p.relative_to(repo)) for p in repo.rglob("*"))


def test_suite_mode_finds_what_the_pyproject_hides(orbit):
    before = _tree(orbit)
    result = deprecations.audit(orbit, "suite")
    assert result["tests"] == 4 and result["exitstatus"] == 0
    assert result["total"] == 3 and result["distinct"] == 3
    found = {w["api"]: w for g in result["owners"].values() for w in g["warnings"]}
    assert found["locale.getdefaultlocale"]["owner"] == "python" and found["locale.getdefaultlocale"]["removed_in"] == "3.15"
    assert found["locale.getdefaultlocale"]["site"] == "project", "the call site is the project's test"
    assert found["orbit.legacy"]["removed_in"] == "2.0" and found["orbit.legacy"]["owner"] == "project"
    assert found["orbit.core.parse_old"]["category"] == "PendingDeprecationWarning"
    assert _tree(orbit) == before, "no bytecode, no cache, nothing written into the audited repository"


def test_import_mode_imports_every_module(orbit):
    result = deprecations.audit(orbit, "import")
    assert result["modules"] == 3 and not result["errors"]
    assert [w["api"] for g in result["owners"].values() for w in g["warnings"]] == ["orbit.legacy"]


@pytest.mark.parametrize(("message", "release"), [
    ("Deprecated in Pydantic V2.0 to be removed in V3.0. See the migration guide", "3.0"),
    ("'locale.getdefaultlocale' is deprecated and slated for removal in Python 3.15", "3.15"),
    ("will be removed in orbit 2.0; use parse()", "2.0"),
    ("this will be removed in a future version", None),
    ("`np.float` was dropped in 1.24", "1.24"),
])
def test_removal_release(message, release):
    assert deprecations.removal_release(message) == release


@pytest.mark.parametrize(("message", "api"), [
    ("`orbit.core.parse_old` is deprecated", "orbit.core.parse_old"),
    ("The 'json_encoders' config key is deprecated", "json_encoders"),
    ("datetime.utcnow() is deprecated and scheduled for removal", "datetime.utcnow()"),
])
def test_api_of(message, api):
    assert deprecations.api_of(message) == api


def test_unknown_mode_is_refused(orbit):
    with pytest.raises(ValueError, match="mode"):
        deprecations.capture(orbit, "everything")
