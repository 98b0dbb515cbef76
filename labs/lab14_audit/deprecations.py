"""Deprecation warnings a project hides: captured while importing its packages or running its tests.

    python -m labs.lab14_audit.deprecations                       # import every module of this repository
    python -m labs.lab14_audit.deprecations --suite tests/lab14   # run (part of) its test suite instead

Most projects silence DeprecationWarning (this one does, in pyproject's `filterwarnings`), which is how
a removal arrives as a surprise. This module runs the project's own interpreter in a child process with
every DeprecationWarning, PendingDeprecationWarning and FutureWarning set to "always", and records each
one with two places:

- `site`: the file the warning points at (the code that calls the deprecated API), and the package it
  belongs to: `project` for the audited repository's own files, `python` for the standard library, or
  the installed distribution that ships the file;
- `owner`: the package whose code called `warnings.warn` (the deprecated API's home), found by wrapping
  `warnings.warn` in the child before anything is imported; a warning raised from C has no Python
  caller, so its owner falls back to the module of its category class, then to the site.

From the message it pulls the API (the first `quoted` or 'quoted' name, else the words before "is
deprecated") and, where the message says, the release that removes it ("removed in 3.0", "removed in
Python 3.15"). The child writes nothing into the audited repository: no bytecode, no pytest cache.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import tomllib
from collections import Counter, defaultdict
from pathlib import Path

CATEGORIES = ("DeprecationWarning", "PendingDeprecationWarning", "FutureWarning")

# Shared by both child programs: capture and classify warnings.
_PROBE_COMMON = r'''
import importlib.metadata, json, os, sys, sysconfig, threading, warnings

REPO = os.path.realpath(os.environ["LAB14_REPO"])
_STDLIB = os.path.realpath(sysconfig.get_paths()["stdlib"])
_SITES = sorted({os.path.realpath(p) for p in sys.path if p.endswith(("site-packages", "dist-packages"))}, key=len, reverse=True)
_DISTS = importlib.metadata.packages_distributions()
_owners = {}
_original_warn = warnings.warn

def _warn(message, category=None, stacklevel=1, *args, **kwargs):
    caller = sys._getframe(1)
    _owners[str(message)] = caller.f_code.co_filename
    return _original_warn(message, category, stacklevel + 1, *args, **kwargs)

warnings.warn = _warn

def classify(filename):
    path = os.path.realpath(filename or "")
    for site in _SITES:
        if path.startswith(site + os.sep):
            top = path[len(site) + 1:].split(os.sep)[0].split(".")[0]
            return (_DISTS.get(top) or [top])[0]
    if path.startswith(REPO + os.sep):
        return "project"
    if path.startswith(_STDLIB + os.sep) or filename.startswith("<frozen"):
        return "python"
    return "unknown"

def describe(w, when):
    category = w.category
    owner_file = _owners.get(str(w.message))
    if owner_file:
        owner = classify(owner_file)
    elif category.__module__ not in ("builtins", "warnings"):
        owner = (_DISTS.get(category.__module__.split(".")[0]) or [category.__module__.split(".")[0]])[0]
    else:
        owner = classify(w.filename)
    site_path = os.path.realpath(w.filename or "")
    return {"category": category.__name__, "message": str(w.message)[:500], "site": classify(w.filename),
            "file": os.path.relpath(site_path, REPO) if site_path.startswith(REPO + os.sep) else w.filename,
            "line": w.lineno, "owner": owner, "when": when}

WANTED = (DeprecationWarning, PendingDeprecationWarning, FutureWarning)
'''

_IMPORT_PROBE = _PROBE_COMMON + r'''
import importlib, pkgutil
sys.path.insert(0, REPO)
records, errors, modules = [], [], 0
names = json.loads(os.environ["LAB14_PACKAGES"])
with warnings.catch_warnings(record=True) as log:
    for kind in WANTED:
        warnings.simplefilter("always", kind)
    todo = list(names)
    for name in names:
        try:
            package = importlib.import_module(name)
        except Exception as exc:
            errors.append({"module": name, "error": f"{type(exc).__name__}: {exc}"[:300]})
            continue
        if hasattr(package, "__path__"):
            todo += [m.name for m in pkgutil.walk_packages(package.__path__, name + ".", onerror=lambda n: None)]
    for name in todo:
        if name.rsplit(".", 1)[-1] == "__main__":
            continue
        try:
            importlib.import_module(name)
            modules += 1
        except BaseException as exc:
            errors.append({"module": name, "error": f"{type(exc).__name__}: {exc}"[:300]})
records = [describe(w, "import") for w in log if issubclass(w.category, WANTED)]
with open(os.environ["LAB14_OUT"], "w") as f:
    json.dump({"records": records, "errors": errors, "modules": modules}, f)
'''

_PYTEST_PLUGIN = _PROBE_COMMON + r'''
_records = []

def pytest_warning_recorded(warning_message, when, nodeid, location):
    if issubclass(warning_message.category, WANTED):
        _records.append(describe(warning_message, when))

def pytest_sessionfinish(session, exitstatus):
    with open(os.environ["LAB14_OUT"], "w") as f:
        json.dump({"records": _records, "errors": [], "exitstatus": int(exitstatus),
                   "tests": session.testscollected}, f)
'''

_REMOVAL = re.compile(r"\b(?:removed|removal|dropped|deleted)\b[^.;]*?\b(?:in|from|by|with)\s+"
                      r"(?:[A-Za-z][\w-]*\s+)?[vV]?(\d+(?:\.\d+)*)\b", re.IGNORECASE)
_QUOTED = re.compile(r"`([^`]{1,80})`|'([^'\s][^']{0,78})'|\"([^\"\s][^\"]{0,78})\"")
_BEFORE_DEPRECATED = re.compile(r"^(.{1,80}?)\s+(?:is|are|has been|have been|was)\s+deprecated", re.IGNORECASE)


def removal_release(message: str) -> str | None:
    """'removed in Python 3.15' -> '3.15'; 'to be removed in V3.0' -> '3.0'; 'removed in orbit 2.0' -> '2.0';
    'removed in a future version' -> None."""
    match = _REMOVAL.search(message)
    return match.group(1) if match else None


def api_of(message: str) -> str:
    """The deprecated API a message names: a quoted name first, else the words before 'is deprecated'."""
    quoted = _QUOTED.search(message)
    if quoted:
        return next(g for g in quoted.groups() if g)
    before = _BEFORE_DEPRECATED.search(message)
    if before:
        return before.group(1).strip()
    return message.split(".")[0][:80]


def project_packages(repo: Path) -> list[str]:
    """The importable packages of the project: setuptools' `include` patterns, else top-level packages."""
    data = tomllib.loads((repo / "pyproject.toml").read_text())
    include = (data.get("tool", {}).get("setuptools", {}).get("packages", {}) or {})
    patterns = include.get("find", {}).get("include") if isinstance(include, dict) else None
    found = sorted(p.name for p in repo.iterdir()
                   if p.is_dir() and (p / "__init__.py").is_file() and not p.name.startswith((".", "test")))
    if patterns:
        roots = {pat.rstrip("*").rstrip(".") for pat in patterns}
        found = [name for name in found if name in roots]
    return found


def _child_env(repo: Path, out: Path, extra_path: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "COV_"))}
    env.update({"LAB14_REPO": str(repo), "LAB14_OUT": str(out), "PYTHONDONTWRITEBYTECODE": "1",
                "PYTHONWARNINGS": ""})
    env["PYTHONPATH"] = os.pathsep.join(p for p in (extra_path, str(repo)) if p)
    return env


def _python(repo: Path) -> str:
    for candidate in (repo / ".venv" / "bin" / "python", repo / "venv" / "bin" / "python"):
        if candidate.exists():
            return str(candidate)
    return sys.executable


def capture(repo: Path, mode: str = "import", paths: list[str] | None = None, timeout_s: float = 300.0) -> dict:
    """Run the import probe or the test suite in a child and return the raw records."""
    repo = repo.resolve()
    with tempfile.TemporaryDirectory(prefix="lab14-deprecations-") as tmp:
        out = Path(tmp) / "warnings.json"
        if mode == "import":
            env = _child_env(repo, out)
            env["LAB14_PACKAGES"] = json.dumps(project_packages(repo))
            argv = [_python(repo), "-c", _IMPORT_PROBE]
        elif mode == "suite":
            (Path(tmp) / "lab14_warnings_probe.py").write_text(_PYTEST_PLUGIN)
            env = _child_env(repo, out, extra_path=tmp)
            argv = [_python(repo), "-m", "pytest", *(paths or []), "-p", "lab14_warnings_probe",
                    "-p", "no:cacheprovider", "-q", "--no-header", "-o", "addopts=",
                    *(f"-Walways::{c}" for c in CATEGORIES)]
        else:
            raise ValueError(f"mode must be 'import' or 'suite', not {mode!r}")
        proc = subprocess.run(argv, cwd=repo, env=env, capture_output=True, text=True, timeout=timeout_s)
        if not out.exists():
            tail = (proc.stderr or proc.stdout)[-800:]
            raise RuntimeError(f"the {mode} probe wrote no result (exit {proc.returncode}): {tail}")
        return json.loads(out.read_text())


def report(raw: dict, mode: str) -> dict:
    """Group the records per owning package: counts, distinct warnings, APIs and removal releases."""
    records = raw["records"]
    distinct: dict[tuple, dict] = {}
    for r in records:
        key = (r["owner"], r["category"], r["message"], r["file"], r["line"])
        if key not in distinct:
            distinct[key] = {**r, "api": api_of(r["message"]), "removed_in": removal_release(r["message"]), "count": 0}
        distinct[key]["count"] += 1
    by_owner: dict[str, list[dict]] = defaultdict(list)
    for item in distinct.values():
        by_owner[item["owner"]].append(item)
    owners = {owner: {"count": sum(i["count"] for i in items), "distinct": len(items),
                      "with_removal_release": sum(i["removed_in"] is not None for i in items),
                      "warnings": sorted(items, key=lambda i: -i["count"])}
              for owner, items in sorted(by_owner.items(), key=lambda kv: -sum(i["count"] for i in kv[1]))}
    return {"mode": mode, "total": len(records), "distinct": len(distinct),
            "by_category": dict(Counter(r["category"] for r in records)),
            "by_site": dict(Counter(r["site"] for r in records)),
            "owners": owners, "errors": raw.get("errors", []),
            **{k: raw[k] for k in ("modules", "tests", "exitstatus") if k in raw}}


def audit(repo: Path, mode: str = "import", paths: list[str] | None = None, timeout_s: float = 300.0) -> dict:
    return report(capture(repo, mode, paths, timeout_s), mode)


def main() -> None:
    from shared.config import REPO_ROOT

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", type=Path, default=REPO_ROOT)
    parser.add_argument("--suite", nargs="*", help="run the test suite (optionally only these paths)")
    args = parser.parse_args()
    result = audit(args.repo, "suite" if args.suite is not None else "import", args.suite or None)
    print(f"{result['total']} deprecation warnings ({result['distinct']} distinct) in {result['mode']} mode")
    for owner, group in result["owners"].items():
        print(f"  {owner}: {group['count']} ({group['distinct']} distinct)")
        for w in group["warnings"][:3]:
            removal = f", removed in {w['removed_in']}" if w["removed_in"] else ""
            print(f"    {w['category']}: {w['api']}{removal}  at {w['file']}:{w['line']} (x{w['count']})")


if __name__ == "__main__":
    main()
