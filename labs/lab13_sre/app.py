"""The lab-13 service: triage, RCA with tools, NL->PromQL graded by execution, anomalies, change risk,
postmortems, the triage SLO and prompt canaries.

    make lab-13        # serves on 127.0.0.1:8013; README.md has a curl example for every route
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

import numpy as np
from fastapi import APIRouter, FastAPI, Path, Query
from fastapi.responses import Response

from labs.lab13_sre import (
    anomaly,
    canary,
    change_risk,
    mock_plugin,  # noqa: F401  (registers the lab's behaviours with the in-process mock)
    nl2query,
    postmortem,
    rca,
    slo,
    triage,
)
from labs.lab13_sre.estate import Incident, fixture_incident, fixture_specs, generate, load_estate, render
from labs.lab13_sre.metrics import fixture_db
from labs.lab13_sre.promtool import binary as promtool_binary
from labs.lab13_sre.schemas import (
    INCIDENT_ID,
    AnomalyIn,
    BudgetIn,
    CanaryIn,
    ChangeRiskIn,
    NlEvalIn,
    NlIn,
    PostmortemIn,
    RcaIn,
    TriageEvalIn,
    TriageIn,
)
from shared.config import REPO_ROOT, Settings, get_settings
from shared.jobs import JobStore, jobs_router
from shared.llm import Model
from shared.service import ServiceError, create_service, not_found


class Lab:
    def __init__(self, settings: Settings):
        self.model = Model.from_settings(settings)
        self.estate = load_estate()
        self.jobs = JobStore(settings.lab_dir("lab13") / "jobs.db", url=settings.database_url)
        self.registry = canary.PromptRegistry()

    def incident(self, incident_id: str) -> Incident:
        if m := re.fullmatch(r"GEN-(\d{3})-(\d{3})", incident_id):
            seed, index = int(m.group(1)), int(m.group(2))
            return render(generate(index + 1, seed, self.estate)[index], self.estate)
        inc = fixture_incident(incident_id)
        if inc is None:
            raise not_found("incident", incident_id)
        return inc

    def warm(self) -> str:
        for spec in fixture_specs():
            fixture_incident(spec.id)
        fixture_db(nl2query.eval_set()["incident"])
        return f"{len(fixture_specs())} incidents, NL->PromQL series ready"


def incidents_router(lab: Lab) -> APIRouter:
    router = APIRouter(tags=["incidents"])

    @router.get("/incidents")
    def list_incidents() -> list[dict[str, Any]]:
        """The fixture incidents (id, title, how many alerts, which services alert)."""
        return [fixture_incident(s.id).summary() for s in fixture_specs()]

    @router.get("/incidents/{incident_id}")
    def get_incident(incident_id: Annotated[str, Path(pattern=INCIDENT_ID)], reveal: bool = False) -> dict[str, Any]:
        """What on-call sees (alerts, deploys, config changes, logs); `?reveal=true` adds the truth."""
        inc = lab.incident(incident_id)
        return {**inc.public(), **({"truth": inc.truth} if reveal else {})}

    @router.post("/incidents/triage")
    def triage_incident(body: TriageIn) -> dict[str, Any]:
        """Dedup, correlate, then classify severity / root / owner by rules or by the model."""
        inc = lab.incident(body.incident)
        return triage.triage(inc, lab.estate, body.classifier, lab.model.for_behaviour("sre_triage"),
                             body.prompt_version, {"wrong_rate": body.wrong_rate})

    @router.post("/triage/eval")
    def triage_eval(body: TriageEvalIn) -> dict[str, Any]:
        """Accuracy (Wilson 95% CI) and confusion matrices over fixture (+ generated) incidents."""
        incs = [fixture_incident(s.id) for s in fixture_specs()] + [render(s, lab.estate) for s in generate(body.generated, 7)]
        out = triage.measure(incs, lab.estate, body.classifier, lab.model.for_behaviour("sre_triage"),
                             body.prompt_version, {"wrong_rate": body.wrong_rate})
        return {k: v for k, v in out.items() if k != "rows"}

    @router.post("/postmortem")
    def write_postmortem(body: PostmortemIn) -> Any:
        """A blameless draft: timeline, SLO impact, RCA root cause, action items; every claim cites evidence."""
        inc = lab.incident(body.incident)
        inv = rca.investigate(inc, lab.estate, lab.model.for_behaviour("sre_rca"))
        doc = postmortem.draft(inc, inv.answer)
        if body.format == "markdown":
            return Response(postmortem.markdown(doc), media_type="text/markdown")
        return doc

    return router


def rca_router(lab: Lab) -> APIRouter:
    router = APIRouter(tags=["rca"])

    @router.post("/rca", status_code=202)
    def start_rca(body: RcaIn) -> dict[str, Any]:
        """Investigate an incident with tools: a job with per-step progress and the tool trace."""
        inc = lab.incident(body.incident)
        mock = {"anchor_rate": body.anchor_rate, "wander_rate": body.wander_rate, "repeat_rate": body.repeat_rate}

        def work(ctx) -> dict[str, Any]:
            inv = rca.investigate(inc, lab.estate, lab.model.for_behaviour("sre_rca"), max_steps=body.max_steps,
                                  repeat_limit=body.repeat_limit, mock=mock,
                                  on_step=lambda i: ctx.progress(len(i.steps), body.max_steps,
                                                                 f"{i.steps[-1].tool}({i.steps[-1].args})",
                                                                 {"trace": i.trace()}))
            return {"status": inv.status, "answer": inv.answer, "score": rca.score(inc, lab.estate, inv),
                    "entry": inv.entry, "trace": inv.trace()}

        job_id = lab.jobs.submit("rca", body.model_dump(), work)
        return lab.jobs.wait(job_id, 60) if body.wait else lab.jobs.get(job_id)

    return router


def nl2query_router(lab: Lab) -> APIRouter:
    router = APIRouter(tags=["nl2query"])

    def translator(p: float, m: float) -> Model:
        return lab.model.for_behaviour("sre_promql").with_mock(paraphrase_rate=p, mistake_rate=m)

    @router.post("/nl2query")
    def to_promql(body: NlIn) -> dict[str, Any]:
        """Question -> PromQL, its parse status and canonical form; with execute, its result on the eval series."""
        tr = nl2query.translate(translator(body.paraphrase_rate, body.mistake_rate), body.question, body.catalogue)
        out: dict[str, Any] = {"question": tr.question, "query": tr.query, "parses": tr.parses,
                               "parse_error": tr.parse_error, "canonical": tr.canonical}
        if body.execute:
            data = nl2query.eval_set()
            out["execution"] = {"incident": data["incident"], "at_s": data["eval_time_s"],
                                **nl2query.execute(tr.query, fixture_db(data["incident"]), data["eval_time_s"])}
        return out

    @router.post("/eval/nl2query", status_code=202)
    def eval_nl2query(body: NlEvalIn) -> dict[str, Any]:
        """The eval set graded three ways (exact, AST, execution): a job whose result holds the gap."""
        if body.engine == "promtool" and promtool_binary() is None:
            raise ServiceError(422, "engine promtool needs promtool installed (Debian: apt-get install prometheus)",
                               "promtool_missing")
        model = translator(body.paraphrase_rate, body.mistake_rate)
        job_id = lab.jobs.submit("eval_nl2query", body.model_dump(), lambda ctx: nl2query.run_eval(
            model, catalogue=body.catalogue, engine=body.engine, limit=body.limit,
            progress=lambda i, n: ctx.progress(i, n, "translating")))
        return lab.jobs.wait(job_id, 120) if body.wait else lab.jobs.get(job_id)

    return router


def ops_router(lab: Lab) -> APIRouter:
    router = APIRouter(tags=["ops"])

    @router.post("/anomaly/detect")
    def detect(body: AnomalyIn) -> dict[str, Any]:
        """Flag anomalies with one detector; the change point; precision/recall if labels are given."""
        x = np.asarray(body.series, dtype=float)
        try:
            found = anomaly.detect(x, body.detector, k=body.k, alpha=body.alpha, period=body.period,
                                   kappa=body.kappa, h=body.h, warmup=min(body.warmup, len(x) - 1))
        except ValueError as exc:
            raise ServiceError(422, str(exc), "series_too_short") from exc
        out: dict[str, Any] = {"detector": body.detector, "n": len(x), "anomalies": found,
                               "change_point": anomaly.change_point(x)}
        if body.labels is not None:
            out["score"] = anomaly.score(found, body.labels)
        if body.explain and found:
            i = found[0]
            a = {"index": i, "minute": i, "at": f"point {i}", "value": float(x[i]), "detector": body.detector,
                 "baseline": round(float(np.median(x[:max(i, 1)])), 4), "score": "flagged"}
            out["explanation"] = anomaly.explain(lab.model.for_behaviour("sre_explain"), "series", a, []).as_dict()
        return out

    @router.get("/anomaly/nile")
    def nile() -> dict[str, Any]:
        """The Nile's annual flow (statsmodels): the offline change point and the online CUSUM's first alarm."""
        years, flow = anomaly.nile()
        cp = anomaly.change_point(flow)
        alarms = anomaly.cusum_alarms(flow, kappa=0.5, h=4.0, warmup=20)
        return {"change_after_year": years[cp["index"]], **cp, "cusum_first_alarm_year": years[alarms[0]] if alarms else None}

    @router.get("/anomaly/plot.png")
    def plot(detector: Annotated[Literal["ewma", "zscore", "cusum", "seasonal"], Query()] = "seasonal") -> Response:
        """The labelled week of checkout traffic with one detector's flags (PNG)."""
        return Response(anomaly.plot_png(detector), media_type="image/png")

    @router.post("/change-risk")
    def change_risk_route(body: ChangeRiskIn) -> dict[str, Any]:
        """Fit on the labelled fixture history (calibration report); with source=repo, score a repository's commits."""
        model, report = change_risk.fixture_report()
        if body.source == "fixture":
            return report
        root = (REPO_ROOT / (body.path or ".")).resolve()
        outside = not root.is_relative_to(REPO_ROOT.resolve())
        if outside or not root.is_dir():  # outside is 403 whether or not it exists (no existence oracle)
            raise ServiceError(403 if outside else 422,
                               f"path {body.path!r} is not a folder under the allowed root {REPO_ROOT.name}/",
                               "path_not_allowed")
        try:
            return {**change_risk.score_repo(root, model, body.limit), "model_test_on_fixture": report["test"]}
        except ValueError as exc:
            raise ServiceError(422, str(exc), "not_a_repository") from exc

    @router.post("/canary")
    def run_canary(body: CanaryIn) -> dict[str, Any]:
        """Route a share of incidents to the candidate prompt; SPRT; promote or roll back the version."""
        candidate = lab.registry.add(body.candidate_prompt) if body.candidate_prompt else body.candidate
        for v in (body.baseline, candidate):
            if v not in lab.registry.versions:
                raise not_found("prompt version", v)
        return canary.run(lab.model.for_behaviour("sre_triage"), lab.registry, body.baseline, candidate,
                          share=body.share, ratio=body.ratio, alpha=body.alpha, beta=body.beta,
                          max_incidents=body.max_incidents, seed=body.seed, estate=lab.estate)

    @router.get("/prompts")
    def prompts() -> dict[str, Any]:
        """Prompt versions, the live one, and the promote / rollback history."""
        return lab.registry.snapshot()

    @router.get("/slo")
    def slo_status(day: Annotated[float, Query(ge=0.01, le=30)] = 20.2) -> dict[str, Any]:
        """The triage SLOs over a simulated month (prompt regression on day 20, 8 h) as of `day`."""
        now = day * 86400
        rows = [r for r in _month() if r["ts"] <= now]
        return {"as_of_day": day, **slo.status(rows, now)}

    @router.post("/slo/budget")
    def slo_budget(body: BudgetIn) -> dict[str, Any]:
        """Error budget, burn rate and days to exhaustion for a graded-output SLO."""
        return slo.budget_math(body.target, body.window_days, body.events_per_day, body.accuracy)

    return router


_MONTH: list[dict[str, Any]] = []


def _month() -> list[dict[str, Any]]:
    if not _MONTH:
        _MONTH.extend(slo.simulate())
    return _MONTH


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    lab = Lab(settings)
    app = create_service("lab-13 AI for SRE", lab="lab13", settings=settings,
                         readiness={"jobs_db": lab.jobs.store.ping},
                         warmup={"model": lab.model.warm, "fixtures": lab.warm})
    app.include_router(incidents_router(lab))
    app.include_router(rca_router(lab))
    app.include_router(nl2query_router(lab))
    app.include_router(ops_router(lab))
    app.include_router(jobs_router(lab.jobs))
    app.state.sre = lab  # app.state.lab is the service name (create_service sets it)
    return app
