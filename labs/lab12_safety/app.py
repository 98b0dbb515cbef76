"""The lab-12 service: a layered guard, a guarded chat, red-team runs as jobs, an audit log, a model card.

    make lab-12        # serves on 127.0.0.1:8012; README.md has a curl example for every route
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, FastAPI
from fastapi import Path as PathParam
from fastapi.responses import PlainTextResponse
from pydantic import Field

from labs.lab12_safety import classifier, constrained, mock_plugin, redteam
from labs.lab12_safety.audit import AUDIT_SCHEMA, AuditLog
from labs.lab12_safety.chat import GuardedChat
from labs.lab12_safety.governance import INCIDENTS_SCHEMA, Incidents, bench_results, model_card
from labs.lab12_safety.guard import INPUT_LAYERS, OUTPUT_LAYERS, Guard
from labs.lab12_safety.judge import Judge
from labs.lab12_safety.probes import FAMILIES
from shared.config import REPO_ROOT, Settings, get_settings
from shared.jobs import JobContext, JobStore, jobs_router
from shared.llm import Model
from shared.schemas import StrictModel, Text
from shared.service import ServiceError, create_service, not_found
from shared.store import Store

assert mock_plugin.BEHAVIOUR_NAMES  # the lab's mock behaviours are registered for the in-process mock
MAX_TEXT = 20_000
MAX_ATTEMPTS = 1_200  # model calls one run may make (families x configs x probes x generations + benign)
Subject = Annotated[str, PathParam(pattern=r"^[A-Za-z0-9_.@-]{1,64}$", description="a user id")]
InputLayer = Literal["rules", "classifier", "judge"]
OutputLayer = Literal["canary", "pii", "leak", "harmful"]
Family = Literal["direct", "indirect", "persona", "encoding", "multiturn", "manyshot", "smuggling", "suffix",
                 "extraction", "tool_misuse"]
Config = Literal["none", "rules", "classifier", "judge", "spotlight", "gating", "output", "all"]
SUBJECT_PATTERN = r"^[A-Za-z0-9_.@-]{1,64}$"


class Turn(StrictModel):
    role: Literal["user", "assistant"]
    content: Text = Field(max_length=MAX_TEXT)


class InputContext(StrictModel):
    history: list[Turn] = Field(default_factory=list, max_length=50, description="earlier turns: the guard reads them all")
    subject: str = Field("anonymous", pattern=SUBJECT_PATTERN, description="whose request (for the audit log)")


class GuardInputIn(StrictModel):
    text: Text = Field(min_length=1, max_length=MAX_TEXT)
    context: InputContext = Field(default_factory=InputContext)
    layers: list[InputLayer] = Field(list(INPUT_LAYERS), min_length=1, max_length=3)


class OutputContext(StrictModel):
    system: Text = Field("", max_length=MAX_TEXT, description="the system prompt the answer must not leak")
    canaries: list[Text] = Field(default_factory=list, max_length=10)
    request: Text = Field("", max_length=MAX_TEXT, description="what the user asked (for harmful compliance)")
    subject: str = Field("anonymous", pattern=SUBJECT_PATTERN)


class GuardOutputIn(StrictModel):
    text: Text = Field(min_length=1, max_length=MAX_TEXT)
    context: OutputContext = Field(default_factory=OutputContext)
    layers: list[OutputLayer] = Field(list(OUTPUT_LAYERS), min_length=1, max_length=4)


class ChatIn(StrictModel):
    message: Text = Field(min_length=1, max_length=MAX_TEXT)
    history: list[Turn] = Field(default_factory=list, max_length=50)
    document: Text | None = Field(None, max_length=MAX_TEXT, description="untrusted text (spotlighted when enabled)")
    input_layers: list[InputLayer] = Field(list(INPUT_LAYERS), max_length=3)
    output_layers: list[OutputLayer] = Field(list(OUTPUT_LAYERS), max_length=4)
    spotlight: Literal["delimit", "datamark", "encode"] | None = "encode"
    gating: bool = True
    subject: str = Field("anonymous", pattern=SUBJECT_PATTERN)
    seed: int = Field(0, ge=0, le=2**31)


class RedTeamIn(StrictModel):
    families: list[Family] = Field(list(FAMILIES), min_length=1, max_length=10)
    configs: list[Config] = Field(["none", "rules", "spotlight", "output", "all"], min_length=1, max_length=8)
    per_family: int = Field(4, ge=1, le=20)
    generations: int = Field(2, ge=1, le=5)
    seed: int = Field(2024, ge=0, le=2**31)
    benign: bool = True


class IncidentIn(StrictModel):
    title: Text = Field(min_length=1, max_length=200)
    severity: Literal["sev1", "sev2", "sev3", "sev4"]
    description: Text = Field(min_length=1, max_length=5_000)
    audit_seqs: list[int] = Field(default_factory=list, max_length=100)


class ConstrainedIn(StrictModel):
    json_schema: dict[str, Any] = Field(description="an object schema whose fields are enums, booleans or bounded integers")
    proposal: Text = Field(max_length=5_000, description="the model's free-text answer (injection included)")


class Lab:
    """The lab's state: one model handle, the guard, the stores."""

    def __init__(self, settings: Settings):
        folder = self.folder = settings.lab_dir("lab12")
        self.model = Model.from_settings(settings)
        self.clf: classifier.Classifier | None = None
        self.guard = Guard(self.classifier, Judge(self.model))
        self.audit = AuditLog(_store(folder / "audit.db", AUDIT_SCHEMA))
        self.incidents = Incidents(_store(folder / "incidents.db", INCIDENTS_SCHEMA))
        self.jobs = JobStore(folder / "jobs.db", url=settings.database_url)
        self.reports = folder / "reports"
        self.reports.mkdir(exist_ok=True)
        self.chat = GuardedChat(self.model, self.guard)

    def classifier(self) -> classifier.Classifier:
        if self.clf is None:
            raise RuntimeError("the classifier is still training (see /readyz)")
        return self.clf

    def train(self) -> str:
        # the shipped fit, or one cached under DATA_DIR, when its digest matches; else fitted now (slow)
        self.clf = classifier.load_or_fit(self.folder)
        return f"classifier {self.clf.digest} ({self.clf.n_train} training texts, threshold {self.clf.threshold:.3f})"


def _store(path: Path, schema: str) -> Store:
    return Store(path, migrations=[schema])


def guard_router(lab: Lab) -> APIRouter:
    router = APIRouter(tags=["guard"])

    @router.post("/guard/input")
    def guard_input(body: GuardInputIn) -> dict[str, Any]:
        """Input filters over the whole conversation: verdict, per-layer scores and reasons (fails closed)."""
        history = [t.model_dump() for t in body.context.history]
        verdict = lab.guard.check_input(body.text, history, list(dict.fromkeys(body.layers))).as_dict()
        row = lab.audit.append(body.context.subject, "input", verdict["verdict"], verdict["layers"], body.text)
        return {**verdict, "audit_seq": row["seq"]}

    @router.post("/guard/output")
    def guard_output(body: GuardOutputIn) -> dict[str, Any]:
        """Output filters: canary, PII, system-prompt leak, harmful compliance."""
        c = body.context
        verdict = lab.guard.check_output(body.text, c.system, c.canaries, c.request,
                                         list(dict.fromkeys(body.layers))).as_dict()
        row = lab.audit.append(c.subject, "output", verdict["verdict"], verdict["layers"], body.text)
        return {**verdict, "audit_seq": row["seq"]}

    @router.post("/chat")
    def chat(body: ChatIn) -> dict[str, Any]:
        """A guarded chat turn through shared.llm: input guard, trust planes, spotlighting, gating, output guard."""
        out = lab.chat.turn(body.message, [t.model_dump() for t in body.history], body.document, body.input_layers,
                            body.output_layers, body.spotlight, body.gating, body.seed)
        row = lab.audit.append(body.subject, "chat", "block" if out["blocked"] else "allow", out["layers"],
                               body.message)
        return {**out, "audit_seq": row["seq"]}

    @router.post("/constrained")
    def constrained_decoding(body: ConstrainedIn) -> dict[str, Any]:
        """Decode the proposal under the schema's mask: the output is always valid and carries no free text."""
        try:
            return constrained.decode(body.json_schema, body.proposal)
        except ValueError as exc:
            raise ServiceError(422, str(exc), "unsupported_schema") from exc

    return router


def redteam_router(lab: Lab) -> APIRouter:
    router = APIRouter(prefix="/redteam/runs", tags=["redteam"])

    @router.post("", status_code=202)
    def start(body: RedTeamIn) -> dict[str, Any]:
        """Start a red-team run (a job with progress); GET /redteam/runs/{id} for its summary."""
        params = body.model_dump()
        configs = list(dict.fromkeys(body.configs))
        attempts = len(configs) * body.generations * (len(set(body.families)) * body.per_family + 30 * body.benign)
        if attempts > MAX_ATTEMPTS:
            raise ServiceError(422, f"this run would make {attempts} attempts; at most {MAX_ATTEMPTS} per run "
                                    "(fewer configs, families, probes or generations)", "run_too_large")
        if any(j["status"] in ("queued", "running") for j in lab.jobs.list(20) if j["kind"] == "redteam"):
            raise ServiceError(429, "a red-team run is already in progress; retry when it ends", "run_in_progress",
                               headers={"retry-after": "5"})

        def work(ctx: JobContext) -> dict[str, Any]:
            out = redteam.run(redteam.Runner(lab.model, lab.guard), list(dict.fromkeys(body.families)), configs,
                              body.per_family, body.generations, body.seed, body.benign,
                              lambda done, total, msg: ctx.progress(done, total, msg), run_id=ctx.job_id)
            rows = out.pop("report_rows")
            (lab.reports / f"{ctx.job_id}.report.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
            return out

        return lab.jobs.get(lab.jobs.submit("redteam", params, work))

    @router.get("/{job_id}/report.jsonl", response_class=PlainTextResponse)
    def report(job_id: Annotated[str, PathParam(pattern=r"^[0-9a-f]{12}$")]) -> PlainTextResponse:
        """The run's report in garak's JSONL format (init, attempt, eval, completion)."""
        path = lab.reports / f"{job_id}.report.jsonl"
        if not path.is_file():
            raise not_found("report", job_id)
        return PlainTextResponse(path.read_text(), media_type="application/jsonl")

    return router


def governance_router(lab: Lab) -> APIRouter:
    router = APIRouter(tags=["governance"])

    @router.get("/audit")
    def audit(limit: int = 20, subject: str | None = None) -> list[dict[str, Any]]:
        """The newest audit rows (text shown until its subject is erased)."""
        return lab.audit.rows(max(1, min(limit, 500)), subject)

    @router.post("/audit/verify")
    def verify() -> dict[str, Any]:
        """Recompute the hash chain: ok, or the first row that was changed."""
        return lab.audit.verify()

    @router.post("/audit/erase/{subject}")
    def erase(subject: Subject) -> dict[str, Any]:
        """Right to erasure: delete a subject's texts and destroy their key; the chain still verifies."""
        return lab.audit.erase(subject)

    @router.post("/incidents", status_code=201)
    def incident(body: IncidentIn) -> dict[str, Any]:
        """Record an incident (a miss or an over-block), pointing at the audit rows that show it."""
        return lab.incidents.record(body.title, body.severity, body.description, body.audit_seqs)

    @router.get("/incidents")
    def incidents() -> list[dict[str, Any]]:
        """Incidents, newest first."""
        return lab.incidents.list()

    @router.get("/model-card")
    def card() -> dict[str, Any]:
        """A model card whose evaluations come from the latest red-team run (or the bench's results)."""
        done = [j for j in lab.jobs.list(200) if j["kind"] == "redteam" and j["status"] == "succeeded"]
        if done:
            return model_card(done[0]["result"], f"red-team run {done[0]['id']}", lab.model.id, None)
        bench = bench_results(REPO_ROOT / "bench" / "results" / "lab12_redteam.json")
        source = "bench/results/lab12_redteam.json" if bench else "not measured yet: POST /redteam/runs"
        return model_card(bench, source, lab.model.id, (bench or {}).get("held_out_recall"))

    return router


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    lab = Lab(settings)
    app = create_service("lab-12 AI safety and red-teaming", lab="lab12", settings=settings,
                         readiness={"audit_db": lab.audit.store.ping, "jobs_db": lab.jobs.store.ping},
                         # loading MiniLM and the (shipped or cached) classifier takes ~1 s, a fresh fit
                         # a minute: /readyz waits, and the guard fails closed (blocks) until it is done
                         warmup={"model": lab.model.warm, "classifier": lab.train})
    app.include_router(guard_router(lab))
    app.include_router(redteam_router(lab))
    app.include_router(jobs_router(lab.jobs, prefix="/redteam/runs"))
    app.include_router(governance_router(lab))
    app.state.lab12 = lab
    return app
