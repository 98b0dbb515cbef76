"""Dependency freshness: pins, installed versions, newest releases, libyear, blocking pins, unused packages.

    python -m labs.lab14_audit.dependencies                    # this repository, against the snapshot
    python -m labs.lab14_audit.dependencies --live             # newest versions from `pip index versions`

What it reads, and never writes: the project's `pyproject.toml` (direct dependencies), its pins
(`constraints.txt` or `requirements*.txt` lines `name==version`), what its own virtual environment has
installed (`<repo>/.venv/bin/python`, asked in a child process, so another project's packages never
mix with ours), and a package-index snapshot (`fixtures/lab14/index_snapshot.json`: newest version and
release month per package, from a public package listing; rebuild it with `--snapshot-from TSV`).

libyear (how far behind a dependency is, in years of release history):

    libyear(p) = (released(newest(p)) - released(pinned(p))) / 365.25 days
    libyear    = sum over p of libyear(p)

A package pinned at its newest version is 0 years behind whatever the dates; a package whose pinned
release date the snapshot does not know is reported as unknown and left out of the sum (and counted).
Dates with month precision count from the first of the month.

A pin blocks an upgrade when some package's requirement on p (its Requires-Dist, from the installed
metadata or the snapshot) does not admit p's newest version: that is "who pins whom".
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import subprocess
import sys
import tomllib
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from shared.config import FIXTURES

SNAPSHOT = FIXTURES / "lab14" / "index_snapshot.json"
# the package indexes an audit can be checked against: the public one, and the orbit fixture's fictional one
INDEXES = {"pypi": SNAPSHOT, "orbit": FIXTURES / "lab14" / "sample_index.json"}
SKIP_DIRS = {".venv", "venv", ".git", "node_modules", "build", "dist", ".data", "__pycache__", ".tox", ".mypy_cache"}
STALE_MONTHS = 18
# CPython 3.11's ast.parse is not safe to run from two threads of one process at once (SystemError "AST
# constructor recursion depth mismatch"), and a lock here cannot cover the other parsers in the process
# (pytest's tracebacks, uvicorn reloaders, another lab). So the project-wide scan parses in a child process.
_SCAN_CHILD = ("import json, sys; from labs.lab14_audit.dependencies import scan_files; "
               "print(json.dumps(sorted(scan_files(json.load(sys.stdin)))))")

# Run with the audited project's own interpreter: every installed distribution, its requirements and
# the top-level modules it provides (so an import can be traced to the package that ships it).
_INSTALLED_PROBE = r"""
import importlib.metadata as m, json
tops = {}
for mod, dists in m.packages_distributions().items():
    for d in dists:
        tops.setdefault(d.lower().replace("_", "-").replace(".", "-"), []).append(mod)
out = {}
for d in m.distributions():
    name = d.metadata["Name"]
    if not name:
        continue
    key = name.lower().replace("_", "-").replace(".", "-")
    out[key] = {"name": name, "version": d.version, "requires": d.requires or [], "top_level": sorted(tops.get(key, []))}
print(json.dumps(out))
"""


class ProjectError(ValueError):
    """The folder is not a Python project this audit can read (no pyproject.toml, unreadable TOML)."""


@dataclass
class Dependency:
    name: str
    direct: bool
    groups: list[str] = field(default_factory=list)  # "main" or an optional-dependency group
    pinned: str | None = None
    installed: str | None = None
    newest: str | None = None
    pinned_released: str | None = None
    newest_released: str | None = None
    libyear: float | None = None
    behind: bool = False
    stale: bool = False
    blocked_by: list[dict] = field(default_factory=list)
    imported: bool | None = None


def parse_date(text: str | None) -> date | None:
    """'2024-05' or '2024-05-17' -> a date (month precision counts from the first)."""
    if not text:
        return None
    parts = [int(p) for p in text.split("-")]
    return date(parts[0], parts[1], parts[2] if len(parts) > 2 else 1)


def libyear(pinned: str | None, newest: str | None, pinned_released: str | None,
            newest_released: str | None) -> float | None:
    """Years between the pinned release and the newest one (0 when pinned is the newest; None if unknown)."""
    if pinned is None or newest is None:
        return None
    try:
        if Version(pinned) >= Version(newest):
            return 0.0
    except InvalidVersion:
        return None
    a, b = parse_date(pinned_released), parse_date(newest_released)
    if a is None or b is None:
        return None
    return max(0.0, (b - a).days / 365.25)


def read_project(repo: Path) -> dict:
    """Name, requires-python and direct requirements (by group) of a pyproject.toml."""
    path = repo / "pyproject.toml"
    if not path.is_file():
        raise ProjectError(f"{repo} has no pyproject.toml")
    try:
        data = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ProjectError(f"{path}: not valid TOML ({exc})") from None
    project = data.get("project", {})
    groups: dict[str, list[Requirement]] = {"main": []}
    for group, items in [("main", project.get("dependencies", [])),
                         *project.get("optional-dependencies", {}).items()]:
        for item in items:
            try:
                groups.setdefault(group, []).append(Requirement(item))
            except InvalidRequirement as exc:
                raise ProjectError(f"{path}: bad requirement {item!r} ({exc})") from None
    return {"name": project.get("name", repo.name), "requires_python": project.get("requires-python"),
            "groups": groups}


def read_pins(repo: Path) -> tuple[str | None, dict[str, str]]:
    """The pin file and its `name==version` lines (constraints.txt first, then requirements*.txt)."""
    candidates = [repo / "constraints.txt", *sorted(repo.glob("requirements*.txt"))]
    for path in candidates:
        if path.is_file():
            pins = {}
            for line in path.read_text().splitlines():
                line = line.split("#", 1)[0].strip()
                if not line or line.startswith("-"):
                    continue
                try:
                    req = Requirement(line)
                except InvalidRequirement:
                    continue
                exact = [s.version for s in req.specifier if s.operator in ("==", "===")]
                if exact:
                    pins[canonicalize_name(req.name)] = exact[0]
            return path.name, pins
    return None, {}


def project_python(repo: Path) -> Path | None:
    for candidate in (repo / ".venv" / "bin" / "python", repo / "venv" / "bin" / "python"):
        if candidate.exists():
            return candidate
    return None


def installed_packages(repo: Path, timeout_s: float = 60.0) -> dict[str, dict]:
    """What the project's own virtual environment has installed ({} when it has none)."""
    python = project_python(repo)
    if python is None:
        return {}
    proc = subprocess.run([str(python), "-I", "-c", _INSTALLED_PROBE], capture_output=True, text=True,
                          timeout=timeout_s, cwd="/")
    if proc.returncode != 0:
        return {}
    return json.loads(proc.stdout)


def load_snapshot(path: Path = SNAPSHOT) -> dict:
    data = json.loads(path.read_text())
    data["packages"] = {canonicalize_name(k): v for k, v in data["packages"].items()}
    return data


def build_snapshot(tsv: Path, names: set[str], taken: str) -> dict:
    """A snapshot for `names` from a package listing with columns name, version, month (newest release)."""
    packages = {}
    with tsv.open() as f:
        next(f)
        for line in f:
            cols = line.rstrip("\n").split("\t")
            if len(cols) < 3 or not cols[1]:
                continue
            key = canonicalize_name(cols[0])
            if key in names:
                packages[key] = {"newest": cols[1], "released": cols[2] or None,
                                 "releases": {cols[1]: cols[2]} if cols[2] else {}}
    return {"source": f"public package listing ({tsv.name}): newest version and its release month",
            "taken": taken, "packages": dict(sorted(packages.items()))}


_PIP_INDEX = re.compile(r"^(?P<name>\S+) \((?P<version>[^)]+)\)", re.MULTILINE)


def parse_pip_index(output: str) -> str | None:
    """The newest version from `pip index versions NAME` output ('name (1.2.3)' on its first line)."""
    match = _PIP_INDEX.search(output)
    return match.group("version") if match else None


def pip_index_newest(python: str, name: str, timeout_s: float = 30.0) -> str | None:
    """Ask the package index, live (opt-in: this is the only network call in the lab)."""
    proc = subprocess.run([python, "-m", "pip", "index", "versions", name, "--disable-pip-version-check"],
                          capture_output=True, text=True, timeout=timeout_s)
    return parse_pip_index(proc.stdout) if proc.returncode == 0 else None


def imported_modules(repo: Path, timeout_s: float = 300.0) -> set[str]:
    """Top-level module names imported anywhere in the project's Python files (absolute imports only),
    parsed in a child process (see _SCAN_CHILD)."""
    files = [str(p) for p in python_files(repo)]
    proc = subprocess.run([sys.executable, "-c", _SCAN_CHILD], input=json.dumps(files), capture_output=True,
                          text=True, timeout=timeout_s)
    if proc.returncode != 0:
        raise RuntimeError(f"import scan failed: {proc.stderr[-500:]}")
    return set(json.loads(proc.stdout))


def scan_files(paths: list[str]) -> set[str]:
    """imports_in over files; a file that does not parse is skipped (it imports nothing we can see)."""
    found: set[str] = set()
    for path in paths:
        try:
            found |= imports_in(Path(path).read_text(errors="replace"))
        except SyntaxError:
            continue
    return found


def imports_in(source: str) -> set[str]:
    """imports_of the parsed source."""
    return imports_of(ast.parse(source))


def imports_of(tree: ast.AST) -> set[str]:
    """`import a.b, c` -> {a, c}; `from d.e import f` -> {d}; relative imports name no package."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


def python_files(repo: Path) -> list[Path]:
    out = []
    stack = [repo]
    while stack:
        folder = stack.pop()
        for child in sorted(folder.iterdir()):
            if child.is_dir():
                if child.name not in SKIP_DIRS and not child.name.startswith(".") and not child.is_symlink():
                    stack.append(child)
            elif child.suffix == ".py":
                out.append(child)
    return out


def _requirements_of(name: str, version: str | None, installed: dict, snapshot: dict) -> list[Requirement]:
    meta = installed.get(name)
    raw: list[str] = []
    if meta and (version is None or meta["version"] == version):
        raw = meta["requires"]
    else:
        raw = (snapshot["packages"].get(name, {}).get("requires", {}) or {}).get(version or "", [])
    out = []
    for item in raw:
        try:
            req = Requirement(item)
        except InvalidRequirement:
            continue
        # a requirement that applies only with an extra (`; extra == "dev"`) binds nobody by default
        if req.marker is not None and "extra" in str(req.marker):
            continue
        out.append(req)
    return out


def blocking_pins(deps: dict[str, Dependency], project_reqs: list[tuple[str, Requirement]],
                  installed: dict, snapshot: dict) -> None:
    """Fill each behind dependency's `blocked_by`: the requirements that exclude its newest version."""
    reqs: list[tuple[str, Requirement]] = list(project_reqs)
    for name, dep in deps.items():
        reqs += [(name, r) for r in _requirements_of(name, dep.pinned or dep.installed, installed, snapshot)]
    for name, dep in deps.items():
        if not dep.behind or dep.newest is None:
            continue
        newest = Version(dep.newest)
        for who, req in reqs:
            if canonicalize_name(req.name) == name and req.specifier and not req.specifier.contains(newest, prereleases=True):
                dep.blocked_by.append({"by": who, "requires": str(req)})


def audit(repo: Path, snapshot: dict | None = None, *, live: bool = False,
          as_of: date | None = None, installed: dict | None = None,
          newest_of: Callable[[str], str | None] | None = None) -> dict:
    """The freshness report of the project in `repo` (nothing is written there)."""
    repo = repo.resolve()
    project = read_project(repo)
    pin_file, pins = read_pins(repo)
    snapshot = snapshot or load_snapshot()
    installed = installed_packages(repo) if installed is None else installed
    as_of = as_of or parse_date(snapshot.get("taken")) or date.today()
    if live and newest_of is None:
        python = str(project_python(repo) or sys.executable)
        newest_of = lambda name: pip_index_newest(python, name)  # noqa: E731

    deps: dict[str, Dependency] = {}
    project_reqs = []
    for group, reqs in project["groups"].items():
        for req in reqs:
            key = canonicalize_name(req.name)
            deps.setdefault(key, Dependency(key, direct=True)).groups.append(group)
            project_reqs.append((project["name"], req))
    for key in pins:
        deps.setdefault(key, Dependency(key, direct=False))

    for key, dep in deps.items():
        known = snapshot["packages"].get(key, {})
        dep.pinned = pins.get(key)
        dep.installed = installed.get(key, {}).get("version")
        dep.newest = (newest_of(key) if newest_of else None) or known.get("newest")
        releases = known.get("releases", {})
        in_use = dep.pinned or dep.installed
        dep.pinned_released = releases.get(in_use) if in_use else None
        dep.newest_released = releases.get(dep.newest) if dep.newest else None
        dep.libyear = libyear(in_use, dep.newest, dep.pinned_released, dep.newest_released)
        if dep.libyear is not None:
            dep.libyear = round(dep.libyear, 3)
        try:
            dep.behind = bool(in_use and dep.newest and Version(in_use) < Version(dep.newest))
        except InvalidVersion:
            dep.behind = False
        released = parse_date(known.get("released"))
        dep.stale = bool(released and (as_of - released).days > STALE_MONTHS * 30.436875)

    blocking_pins(deps, project_reqs, installed, snapshot)

    used = imported_modules(repo)
    for dep in deps.values():
        if dep.direct:
            names = installed.get(dep.name, {}).get("top_level") or [dep.name.replace("-", "_")]
            dep.imported = any(n in used for n in names)

    rows = sorted(deps.values(), key=lambda d: (-(d.libyear or 0), d.name))
    known_libyear = [d.libyear for d in rows if d.libyear is not None]
    return {
        "project": project["name"], "requires_python": project["requires_python"],
        "pin_file": pin_file, "venv": bool(installed), "snapshot": snapshot.get("source"),
        "snapshot_taken": snapshot.get("taken"), "live": live, "as_of": as_of.isoformat(),
        "counts": {"dependencies": len(rows), "direct": sum(d.direct for d in rows), "pinned": len(pins),
                   "behind": sum(d.behind for d in rows), "libyear_unknown": sum(d.libyear is None for d in rows),
                   "stale": sum(d.stale for d in rows), "blocked": sum(bool(d.blocked_by) for d in rows),
                   "not_imported": sum(d.imported is False for d in rows),
                   "drift": sum(bool(d.pinned and d.installed and d.pinned != d.installed) for d in rows)},
        "libyear_total": round(sum(known_libyear), 3),
        "libyear_max": round(max(known_libyear, default=0.0), 3),
        "dependencies": [asdict(d) for d in rows],
    }


def main() -> None:
    from shared.config import REPO_ROOT

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", type=Path, default=REPO_ROOT)
    parser.add_argument("--live", action="store_true", help="ask the package index (network) for newest versions")
    parser.add_argument("--snapshot-from", type=Path, help="rebuild the snapshot from a name/version/month TSV")
    parser.add_argument("--taken", default=date.today().isoformat()[:7])
    args = parser.parse_args()
    if args.snapshot_from:
        _, pins = read_pins(args.repo)
        direct = {canonicalize_name(r.name) for reqs in read_project(args.repo)["groups"].values() for r in reqs}
        SNAPSHOT.write_text(json.dumps(build_snapshot(args.snapshot_from, set(pins) | direct, args.taken), indent=1) + "\n")
        print(f"wrote {SNAPSHOT}")
        return
    report = audit(args.repo, live=args.live)
    print(f"{report['project']}: {report['counts']}  libyear {report['libyear_total']} (max {report['libyear_max']})")
    for d in report["dependencies"]:
        if d["behind"] or d["blocked_by"] or d["imported"] is False or d["stale"]:
            flags = [f"behind {d['pinned'] or d['installed']} -> {d['newest']}" if d["behind"] else "",
                     "stale" if d["stale"] else "", "not imported" if d["imported"] is False else "",
                     "blocked by " + ", ".join(f"{b['by']} ({b['requires']})" for b in d["blocked_by"])
                     if d["blocked_by"] else ""]
            print(f"  {d['name']:<28} libyear {d['libyear'] if d['libyear'] is not None else '?':<6} "
                  + "; ".join(f for f in flags if f))


if __name__ == "__main__":
    main()
