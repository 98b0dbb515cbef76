"""The lab-14 service: audit a repository as a job, the durability tiers, tripwires and decision records.

    make lab-14        # serves on 127.0.0.1:8014; README.md has a curl example for every route

Audited repositories must lie under an allowed root: this repository and lab-14's fixtures by default,
plus the folders in LAB14_AUDIT_ROOTS (os.pathsep-separated), read once when the app is built.
"""

from __future__ import annotations

import os
import threading
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, FastAPI, Query
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, PlainTextResponse

from labs.lab14_audit import adr, audit, dependencies, tiers, tripwires
from shared.config import FIXTURES, REPO_ROOT, Settings, get_settings
from shared.jobs import JobStore, jobs_router
from shared.schemas import Field, Number, StrictModel, Text
from shared.service import ServiceError, create_service, not_found

ASKED = [item.id for item in audit.CHECKLIST if item.question]
JobId = Annotated[str, PathParam(pattern=r"^[0-9a-f]{12}$", description="an audit id from POST /audit")]


class AuditIn(StrictModel):
    path: Text | None = Field(None, max_length=4096, description="the repository to audit (default: this one)")
    deprecations: Literal["off", "import", "suite"] = Field(
        "import", description="capture deprecation warnings by importing the packages, running the tests, or not")
    suite_paths: list[Annotated[Text, Field(min_length=1, max_length=300, pattern=r"^[\w./-]+$")]] = Field(
        default_factory=list, max_length=20, description="test paths for suite mode, relative to the repository")
    answers: dict[Literal["drop", "bet", "outside", "wrong"], Annotated[Text, Field(max_length=2000)]] = Field(
        default_factory=dict, description="answers to the checklist's questions")
    signals: dict[Annotated[str, Field(pattern=r"^[a-z_]{1,60}$")], Number] = Field(
        default_factory=dict, max_length=50, description="signals measured elsewhere (benchmark_regression_pct ...)")
    index: Literal["pypi", "orbit"] = Field(
        "pypi", description="the index snapshot: the public one, or the orbit fixture's fictional one")
    live: bool = Field(False, description="newest versions from `pip index versions` (network) instead of the snapshot")
    wait: bool = Field(False, description="answer when the audit has finished (up to 300 s)")


class PlanIn(StrictModel):
    hours_per_week: Number = Field(gt=0, le=80)
    weeks: int = Field(13, ge=1, le=52)


class EvaluateIn(StrictModel):
    rules_yaml: Text | None = Field(None, max_length=20_000, description="rules as YAML (default: the lab's rules)")
    signals: dict[Annotated[str, Field(pattern=r"^[a-z_]{1,60}$")], Number] = Field(default_factory=dict, max_length=100)
    audit_id: Annotated[str, Field(pattern=r"^[0-9a-f]{12}$")] | None = Field(
        None, description="start from the signals an audit measured")


class AdrIn(StrictModel):
    title: Text = Field(min_length=3, max_length=200)
    context: Text = Field(min_length=1, max_length=5000)
    decision: Text = Field(min_length=1, max_length=5000)
    options: list[Annotated[Text, Field(max_length=300)]] = Field(default_factory=list, max_length=20)
    consequences: list[Annotated[Text, Field(max_length=500)]] = Field(default_factory=list, max_length=20)
    supersedes: int | None = Field(None, ge=1, le=9999)
    status: Literal["Proposed", "Accepted", "Rejected", "Deprecated"] = "Accepted"


class YearlyIn(StrictModel):
    audit_id: Annotated[str, Field(pattern=r"^[0-9a-f]{12}$")]
    year: int = Field(default_factory=lambda: date.today().year, ge=2000, le=2100)


class LabState:
    def __init__(self, settings: Settings, roots: list[Path]):
        folder = settings.lab_dir("lab14")
        self.roots = [r.resolve() for r in roots]
        self.jobs = JobStore(folder / "jobs.db", url=settings.database_url)
        self.adrs = adr.AdrStore(folder / "decisions")
        adr.seed(self.adrs)
        self._deps_lock = threading.Lock()
        self._deps: tuple[tuple, dict] | None = None

    def repo_dependencies(self) -> dict[str, Any]:
        """This repository's freshness report, computed once (it probes the venv: seconds) and again only
        when pyproject.toml or constraints.txt change. Started in the background when the app starts."""
        key = tuple((REPO_ROOT / f).stat().st_mtime_ns for f in ("pyproject.toml", "constraints.txt")
                    if (REPO_ROOT / f).exists())
        with self._deps_lock:
            if self._deps is None or self._deps[0] != key:
                self._deps = (key, dependencies.audit(REPO_ROOT))
            return self._deps[1]

    def repo(self, path: str | None) -> Path:
        """The repository to audit: inside an allowed root (403), a folder (404), with a pyproject (422)."""
        repo = Path(path or REPO_ROOT).expanduser()
        if not repo.is_absolute():
            raise ServiceError(422, f"path must be absolute: {path}", "bad_path")
        repo = repo.resolve()
        if not any(repo == root or root in repo.parents for root in self.roots):
            raise ServiceError(403, f"{repo} is outside the allowed roots", "outside_roots",
                               roots=[str(r) for r in self.roots])
        if not repo.is_dir():
            raise not_found("folder", str(repo))
        if not (repo / "pyproject.toml").is_file():
            raise ServiceError(422, f"{repo} has no pyproject.toml: not a Python project this audit reads", "no_pyproject")
        return repo

    def finished_audit(self, job_id: str) -> dict[str, Any]:
        job = self.jobs.get(job_id)
        if job is None or job["kind"] != "audit":
            raise not_found("audit", job_id)
        if job["status"] != "succeeded":
            raise ServiceError(409, f"audit {job_id} is {job['status']}, not finished", "not_finished",
                               error=job["error"])
        return job["result"]


def audit_router(state: LabState) -> APIRouter:
    router = APIRouter(prefix="/audit", tags=["audit"])

    @router.post("", status_code=202)
    def start_audit(body: AuditIn) -> dict[str, Any]:
        """Audit a repository as a job (202); poll GET /audit/{id}, read /audit/{id}/report.html."""
        repo = state.repo(body.path)
        if any(".." in p.split("/") or p.startswith("/") for p in body.suite_paths):
            raise ServiceError(422, "suite_paths must be relative paths inside the repository", "bad_path")
        params = {**body.model_dump(exclude={"wait"}), "path": str(repo)}

        def work(ctx) -> dict[str, Any]:
            return audit.run_audit(repo, deprecation_mode=body.deprecations, suite_paths=body.suite_paths or None,
                                   answers=dict(body.answers), live=body.live,
                                   snapshot=dependencies.load_snapshot(dependencies.INDEXES[body.index]), extra_signals=dict(body.signals),
                                   progress=lambda i, n, msg: ctx.progress(i, n, msg))

        job_id = state.jobs.submit("audit", params, work)
        return state.jobs.wait(job_id, 300) if body.wait else state.jobs.get(job_id)

    @router.get("/{job_id}/report.html", response_class=HTMLResponse)
    def report_html(job_id: JobId) -> HTMLResponse:
        """The audit as an HTML report (409 until it has finished)."""
        return HTMLResponse(audit.render_html(state.finished_audit(job_id)))

    @router.get("/{job_id}/quarterly.md", response_class=PlainTextResponse)
    def quarterly(job_id: JobId, quarter: str = Query("this quarter", max_length=40)) -> PlainTextResponse:
        """The quarterly audit template, filled with this audit's numbers."""
        return PlainTextResponse(adr.quarterly_template(quarter, state.finished_audit(job_id)),
                                 media_type="text/markdown")

    return router


def knowledge_router(state: LabState) -> APIRouter:
    router = APIRouter(tags=["tiers"])

    @router.get("/tiers")
    def get_tiers() -> dict[str, Any]:
        """Every topic with its tier, cadence, last review (last commit to its lab) and whether it is due."""
        return tiers.summary(*tiers.topics_for(REPO_ROOT))

    @router.post("/plan")
    def plan(body: PlanIn) -> dict[str, Any]:
        """A study plan: hours split 60/25/15 across tiers, then across topics by how overdue they are."""
        return tiers.study_plan(body.hours_per_week, body.weeks, *tiers.topics_for(REPO_ROOT))

    @router.get("/dependencies")
    def get_dependencies() -> dict[str, Any]:
        """This repository's dependency freshness against the index snapshot (no network)."""
        return state.repo_dependencies()

    return router


def tripwires_router(state: LabState) -> APIRouter:
    router = APIRouter(prefix="/tripwires", tags=["tripwires"])

    @router.get("")
    def rules() -> dict[str, Any]:
        """The default rules and the signals an audit measures."""
        return {"rules": [r.model_dump() for r in tripwires.load_rules()], "signals": tripwires.SIGNALS}

    @router.post("/evaluate")
    def evaluate(body: EvaluateIn) -> dict[str, Any]:
        """Evaluate rules (yours as YAML, or the defaults) against signals (yours, an audit's, or both)."""
        try:
            rules = tripwires.parse_rules(body.rules_yaml) if body.rules_yaml is not None else tripwires.load_rules()
        except tripwires.TripwireError as exc:
            raise ServiceError(422, str(exc), "bad_rules") from exc
        signals = dict(state.finished_audit(body.audit_id)["signals"]) if body.audit_id else {}
        return tripwires.evaluate(rules, {**signals, **body.signals})

    return router


def adr_router(state: LabState) -> APIRouter:
    router = APIRouter(prefix="/adr", tags=["decision records"])

    @router.get("")
    def list_records() -> list[dict[str, Any]]:
        """Every decision record, oldest first, with status and supersession links."""
        return [adr.as_dict(r) for r in state.adrs.list()]

    @router.get("/{number}")
    def get_record(number: Annotated[int, PathParam(ge=1, le=9999)]) -> dict[str, Any]:
        """One record, parsed and as Markdown."""
        found = state.adrs.get(number)
        if found is None:
            raise not_found("decision record", number)
        return {**adr.as_dict(found[0]), "markdown": found[1]}

    @router.post("", status_code=201)
    def add_record(body: AdrIn) -> dict[str, Any]:
        """Write a record; `supersedes` marks the old one 'Superseded by' this one (404/409 if it cannot)."""
        try:
            return adr.as_dict(state.adrs.add(body.title, body.context, body.decision, body.options,
                                              body.consequences, body.supersedes, body.status))
        except adr.AdrError as exc:
            status = 404 if "no decision record" in str(exc) else 409
            raise ServiceError(status, str(exc), "not_found" if status == 404 else "conflict") from exc

    @router.post("/yearly", status_code=201)
    def yearly(body: YearlyIn) -> dict[str, Any]:
        """Write the yearly decision record (keep / refresh / drop) from a finished audit."""
        fields = adr.yearly_record(body.year, state.finished_audit(body.audit_id))
        return adr.as_dict(state.adrs.add(**fields))

    return router


def default_roots() -> list[Path]:
    extra = [Path(p) for p in os.environ.get("LAB14_AUDIT_ROOTS", "").split(os.pathsep) if p]
    return [REPO_ROOT, FIXTURES / "lab14", *extra]


def create_app(settings: Settings | None = None, roots: list[Path] | None = None) -> FastAPI:
    settings = settings or get_settings()
    state = LabState(settings, roots if roots is not None else default_roots())
    app = create_service("lab-14 future-proofing and audit", lab="lab14", settings=settings,
                         readiness={"jobs_db": state.jobs.store.ping,
                                    "snapshot": lambda: f"{len(dependencies.load_snapshot()['packages'])} packages",
                                    "decision_records": lambda: f"{len(state.adrs.files())} records"})
    app.include_router(audit_router(state))
    app.include_router(jobs_router(state.jobs, prefix="/audit"))
    app.include_router(knowledge_router(state))
    app.include_router(tripwires_router(state))
    app.include_router(adr_router(state))
    app.state.lab14 = state
    # POST /audit starts real work on a real repository; its bad inputs are tested in tests/lab14
    app.router.on_startup.append(lambda: threading.Thread(target=state.repo_dependencies, daemon=True).start())
    return app
