"""The eval runner: bounded async concurrency, retries on transient errors, a response cache keyed by the
request hash, resumable runs, per-item scores in SQLite.

    python -m labs.lab08_eval run qa --model "mock/assistant?variant=v2" --concurrency 16

A run's id defaults to a hash of its configuration, so rerunning a killed run resumes it: items that
already have a result row are skipped. The cache is separate: any call whose request hash
(model, messages, parameters, mock options) was answered before is served from SQLite, which is what
makes a rerun of an unchanged eval cost nothing. Wall time at concurrency c with latency L per call and
m calls per item is ≈ N·m·L / c, until the event loop or the provider's rate limit saturates.
"""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from labs.lab08_eval import candidates, judge, mock_plugin, scorers, stats
from labs.lab08_eval.datasets import FIXTURES, Dataset, load
from shared import llm
from shared.jobs import JobCancelled, JobContext
from shared.mockllm.engine import MockEngine
from shared.resilience import aretry, is_transient
from shared.store import Store, dumps

SCHEMA = """
CREATE TABLE runs (
    id TEXT PRIMARY KEY, dataset TEXT NOT NULL, version TEXT NOT NULL, model TEXT NOT NULL,
    config TEXT NOT NULL, status TEXT NOT NULL, n_items INTEGER NOT NULL, summary TEXT,
    created_at REAL NOT NULL, finished_at REAL
);
CREATE TABLE results (
    run_id TEXT NOT NULL REFERENCES runs(id), item_id TEXT NOT NULL, slices TEXT NOT NULL,
    output TEXT, scores TEXT NOT NULL, error TEXT, latency_s REAL, PRIMARY KEY (run_id, item_id)
);
CREATE TABLE cache (key TEXT PRIMARY KEY, response TEXT NOT NULL, created_at REAL NOT NULL);
"""
# 2: why a run stopped (failed, cancelled, interrupted) and each item's failure reasons
# (code samples: {"timeout": 2, "memory": 1}; an item whose call failed: {"Timeout": 1})
REASONS = """
ALTER TABLE runs ADD COLUMN error TEXT;
ALTER TABLE results ADD COLUMN reasons TEXT;
"""
MIGRATIONS = [SCHEMA, REASONS]
INTERRUPTED = "interrupted: the service restarted while this run was running; POST the same run to resume it"
CACHE_INSERT = "INSERT OR REPLACE INTO cache (key, response, created_at) VALUES (?, ?, ?)"
RESULT_INSERT = ("INSERT OR REPLACE INTO results (run_id, item_id, slices, output, scores, error, latency_s, "
                 "reasons) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
# The cache rows of the item being scored: they commit with its result row, in one transaction.
_item_cache_rows: contextvars.ContextVar[list[tuple] | None] = contextvars.ContextVar("item_cache_rows",
                                                                                      default=None)


class RunError(ValueError):
    pass


@dataclass
class RunConfig:
    dataset: str
    model: str = "mock/assistant"
    scorers: list[str] = field(default_factory=list)
    concurrency: int = 8
    limit: int | None = None
    n_samples: int = 5  # completions per code item for pass@k
    k: list[int] = field(default_factory=lambda: [1, 5])
    mock: dict[str, Any] = field(default_factory=dict)
    judge_model: str = judge.JUDGE_MODEL
    judge_mock: dict[str, Any] = field(default_factory=dict)
    run_id: str | None = None
    audit_judge: bool = True  # runs graded by a judge also measure that judge's biases

    def key(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k not in ("concurrency", "run_id", "audit_judge")}


def check_model(model: str) -> None:
    """Refuse a model no call could reach (a typo'd provider, a mock behaviour that does not exist)."""
    name = model.split("?", 1)[0]
    try:
        provider = llm.litellm_module().get_llm_provider(name)[1]
    except Exception as exc:  # LiteLLM raises its BadRequestError
        raise RunError(f"unknown model {model!r}: LiteLLM knows no provider for it "
                       "(e.g. mock/assistant, openai/gpt-4o-mini)") from exc
    if provider == "mock":
        known = sorted(m["id"] for m in MockEngine().models())
        if name.split("/", 1)[1] not in known:
            raise RunError(f"unknown mock model {model!r}; the mock serves {', '.join(f'mock/{k}' for k in known)}")


def validate(config: RunConfig, ds: Dataset) -> list[str]:
    check_model(config.model)
    task = ds.items[0]["task"]
    chosen = config.scorers or scorers.DEFAULTS[task]
    bad = [s for s in chosen if s not in scorers.TASK_SCORERS[task]]
    if bad:
        raise RunError(f"scorers {bad} do not apply to the {task} task; choose from "
                       f"{sorted(scorers.TASK_SCORERS[task])}")
    if not 1 <= config.concurrency <= 256:
        raise RunError("concurrency must be between 1 and 256")
    if "judge" in chosen:
        check_model(config.judge_model)
    if "pass@k" in chosen and any(k > config.n_samples for k in config.k):
        raise RunError(f"k {config.k} cannot exceed n_samples ({config.n_samples})")
    return chosen


def open_store(path, url: str | None = None) -> Store:
    """The runs database (runs, per-item results, response cache), brought up to the current schema;
    `url` (Settings.database_url) puts it in PostgreSQL."""
    return Store(path, migrations=MIGRATIONS, url=url)


def reconcile(store: Store) -> int:
    """At start-up: a run still 'running' has no process behind it any more, so it failed (interrupted),
    as its job did; re-POSTing it resumes. Returns how many runs it marked."""
    with store.tx() as db:
        return db.execute("UPDATE runs SET status='failed', error=? WHERE status='running'", (INTERRUPTED,)).rowcount


class Runner:
    """Runs eval configurations with one model handle; each call names its model id (`with_model`)."""

    def __init__(self, store: Store, model: llm.Model | None = None, attempts: int = 4, base_wait_s: float = 0.05):
        mock_plugin.install()  # the golden-set skill and the hostile code model
        self.store, self.model = store, model or llm.Model.from_settings()  # built once: it costs ms per call
        self.attempts, self.base_wait_s = attempts, base_wait_s
        self.calls = {"model": 0, "cache_hits": 0, "retries": 0}

    # -- one model call, through the cache and the retry policy
    async def complete(self, prompt: str, model: str, mock: dict[str, Any], system: str | None = None,
                       **params: Any) -> str:
        key = hashlib.sha256(json.dumps({"m": model, "s": system, "p": prompt, "o": mock, "k": params},
                                        sort_keys=True, default=str).encode()).hexdigest()
        row = self.store.one("SELECT response FROM cache WHERE key=?", (key,))
        if row is not None:
            self.calls["cache_hits"] += 1
            return row["response"]
        handle = self.model.with_model(model)

        async def call() -> llm.Completion:
            self.calls["model"] += 1
            return await handle.acomplete(prompt, system=system, mock=mock or None, **params)

        def retried(_attempt: int, _exc: BaseException) -> None:
            self.calls["retries"] += 1

        completion = await aretry(call, attempts=self.attempts, base_s=self.base_wait_s, cap_s=2.0,
                                  retryable=is_transient, on_retry=retried)
        text = completion.text or json.dumps([c.__dict__ for c in completion.tool_calls])
        pending = _item_cache_rows.get()
        if pending is None:  # a call outside an item (the judge's bias audit): its own transaction
            self.store.execute(CACHE_INSERT, (key, text, time.time()))
        else:
            pending.append((key, text, time.time()))
        return text

    def judge_call(self, config: RunConfig) -> judge.Call:
        async def call(prompt: str, mock: dict[str, Any]) -> str:
            return await self.complete(prompt, config.judge_model, {**config.judge_mock, **mock}, temperature=0,
                                       seed=int(mock.get("seed", 0)), system=judge.SYSTEM)
        return call

    # -- one item
    async def score_item(self, item: dict, config: RunConfig, chosen: list[str],
                         reasons: dict[str, int] | None = None) -> tuple[str, dict[str, float]]:
        """The item's output and scores; why code samples did not pass is counted into `reasons`."""
        reasons = {} if reasons is None else reasons
        prompt = candidates.prompt(item)
        if "pass@k" in chosen:
            outputs = [await self.complete(prompt, config.model, config.mock, temperature=0.8, seed=j)
                       for j in range(config.n_samples)]
            outcomes = await asyncio.gather(*(asyncio.to_thread(scorers.code_outcome, o, item) for o in outputs))
            for o in outcomes:
                if not o.passed:
                    reasons[o.status] = reasons.get(o.status, 0) + 1
            c = sum(o.passed for o in outcomes)
            result = {f"pass@{k}": stats.pass_at_k(config.n_samples, c, k) for k in config.k}
            return outputs[0], {**result, "correct_samples": c}
        output = await self.complete(prompt, config.model, config.mock, seed=0)  # the same answers every run
        scores: dict[str, float] = {}
        for name in chosen:
            if name == "judge":
                g = await judge.grade(self.judge_call(config), item["input"], output, item.get("reference"),
                                      {"seed": 0})
                scores["judge"] = g["normalized"]
            elif name == "code":
                outcome = await asyncio.to_thread(scorers.code_outcome, output, item)
                if not outcome.passed:
                    reasons[outcome.status] = reasons.get(outcome.status, 0) + 1
                scores["code"] = float(outcome.passed)
            else:
                scores[name] = scorers.score(name, output, item)
        return output, scores

    # -- a run
    def start(self, config: RunConfig, items: list[dict] | None = None, dataset_version: str | None = None) -> \
            tuple[str, list[dict], list[str]]:
        ds = Dataset(config.dataset, items) if items is not None else load(config.dataset)
        if not ds.items:
            raise RunError("the dataset has no items")
        chosen = validate(config, ds)
        todo = ds.items[: config.limit] if config.limit else ds.items
        version = dataset_version or ds.version
        run_id = config.run_id or f"{config.dataset}-" + hashlib.sha256(
            dumps({**config.key(), "version": version}).encode()).hexdigest()[:10]
        existing = self.store.one("SELECT config FROM runs WHERE id=?", (run_id,))
        stored = {**config.__dict__, "scorers": chosen, "run_id": run_id}
        if existing is not None:
            before = json.loads(existing["config"])
            if {k: before.get(k) for k in config.key()} != {k: stored[k] for k in config.key()}:
                raise RunError(f"run {run_id!r} exists with another configuration; resume it unchanged or "
                               "choose a new run_id")
        if existing is None:
            self.store.execute("INSERT INTO runs (id, dataset, version, model, config, status, n_items, created_at) "
                               "VALUES (?, ?, ?, ?, ?, 'running', ?, ?)",
                               (run_id, config.dataset, version, config.model, dumps(stored),
                                len(todo), time.time()))
        else:
            self.store.execute("UPDATE runs SET status='running', error=NULL WHERE id=?", (run_id,))
        done = {r["item_id"] for r in self.store.query("SELECT item_id FROM results WHERE run_id=? AND error IS NULL",
                                                       (run_id,))}
        return run_id, [i for i in todo if i["id"] not in done], chosen

    async def run(self, config: RunConfig, items: list[dict] | None = None,
                  progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
        run_id, todo, chosen = self.start(config, items)
        total = self.store.one("SELECT n_items FROM runs WHERE id=?", (run_id,))["n_items"]
        finished = total - len(todo)
        sem = asyncio.Semaphore(config.concurrency)
        if progress:
            progress(finished, total)

        async def one(item: dict) -> None:
            nonlocal finished
            async with sem:
                start = time.perf_counter()
                cache_rows: list[tuple] = []
                reasons: dict[str, int] = {}
                _item_cache_rows.set(cache_rows)  # this task's own context: items do not share it
                try:
                    output, scores = await self.score_item(item, config, chosen, reasons)
                    error = None
                except Exception as exc:  # one failed item is recorded, the run goes on
                    output, scores, error = None, {}, f"{type(exc).__name__}: {exc}"[:500]
                    reasons = {type(exc).__name__: 1}
                # one write transaction per item (not one per call): the result row and the responses
                # behind it are durable together, so a killed run redoes only unfinished items
                with self.store.tx() as db:
                    db.executemany(CACHE_INSERT, cache_rows)
                    db.execute(RESULT_INSERT, (run_id, item["id"], dumps(item["slices"]), output, dumps(scores),
                                               error, time.perf_counter() - start, dumps(reasons) if reasons else None))
            finished += 1
            if progress:
                progress(finished, total)

        try:
            await asyncio.gather(*(one(i) for i in todo))
        except BaseException as exc:  # cancelled, or killed from a progress callback: the run says so too
            self.stop(run_id, exc)
            raise
        summary = summarize(self.store, run_id)
        if "judge" in chosen and config.audit_judge:
            audit = await judge.measure_biases(self.judge_call(config), config.judge_mock, limit=20,
                                               concurrency=config.concurrency)
            summary["judge_bias"] = {"options": audit.options, "rows": audit.rows}
        self.store.execute("UPDATE runs SET status='finished', error=NULL, summary=?, finished_at=? WHERE id=?",
                           (dumps(summary), time.time(), run_id))
        return {"run_id": run_id, **summary}

    def stop(self, run_id: str, exc: BaseException) -> None:
        """Record why a run stopped, with the same status its job gets (failed or cancelled)."""
        status = "cancelled" if isinstance(exc, JobCancelled | asyncio.CancelledError) else "failed"
        self.store.execute("UPDATE runs SET status=?, error=?, summary=?, finished_at=? WHERE id=?",
                           (status, f"{type(exc).__name__}: {exc}"[:500] if status == "failed" else "cancelled",
                            dumps(summarize(self.store, run_id)), time.time(), run_id))

    def job(self, config: RunConfig, items: list[dict]) -> Callable[[JobContext], dict[str, Any]]:
        """The run as a shared.jobs job: progress per item, the run's summary as the job's result."""
        def work(ctx: JobContext) -> dict[str, Any]:
            def progress(done: int, total: int) -> None:
                ctx.progress(done, total, f"{done}/{total} items", {"calls": dict(self.calls)})

            return asyncio.run(self.run(config, items, progress))
        return work


def results(store: Store, run_id: str) -> list[dict[str, Any]]:
    rows = store.query("SELECT * FROM results WHERE run_id=? ORDER BY item_id", (run_id,))
    return [{**r, "slices": json.loads(r["slices"]), "scores": json.loads(r["scores"]),
             "reasons": json.loads(r["reasons"]) if r.get("reasons") else {}} for r in rows]


def summarize(store: Store, run_id: str) -> dict[str, Any]:
    """Mean and 95% bootstrap CI per scorer, overall and per slice; errors counted, not scored."""
    rows = results(store, run_id)
    ok = [r for r in rows if r["error"] is None]
    names = sorted({k for r in ok for k in r["scores"] if k != "correct_samples"})
    failures: dict[str, int] = {}
    for r in rows:
        for reason, count in (r["reasons"] or {}).items():
            failures[reason] = failures.get(reason, 0) + count
    out: dict[str, Any] = {"n": len(rows), "errors": len(rows) - len(ok), "failures": dict(sorted(failures.items())),
                           "scores": {}, "slices": {}}
    for name in names:
        xs = [r["scores"][name] for r in ok if name in r["scores"]]
        if xs:
            est, lo, hi = stats.bootstrap_ci(xs)
            out["scores"][name] = {"mean": round(est, 4), "low": round(lo, 4), "high": round(hi, 4), "n": len(xs)}
    for s in sorted({s for r in ok for s in r["slices"]}):
        out["slices"][s] = {}
        for name in names:
            xs = [r["scores"][name] for r in ok if s in r["slices"] and name in r["scores"]]
            if xs:
                est, lo, hi = stats.bootstrap_ci(xs)
                out["slices"][s][name] = {"mean": round(est, 4), "low": round(lo, 4), "high": round(hi, 4),
                                          "n": len(xs)}
    return out


def get_run(store: Store, run_id: str) -> dict[str, Any] | None:
    row = store.one("SELECT * FROM runs WHERE id=?", (run_id,))
    if row is None:
        return None
    done = store.one("SELECT COUNT(*) AS n FROM results WHERE run_id=?", (run_id,))["n"]
    return {"id": row["id"], "dataset": row["dataset"], "version": row["version"], "model": row["model"],
            "config": json.loads(row["config"]), "status": row["status"], "error": row["error"],
            "n_items": row["n_items"],
            "done": done, "summary": json.loads(row["summary"]) if row["summary"] else None,
            "created_at": row["created_at"], "finished_at": row["finished_at"]}


def import_run(store: Store, run_id: str, dataset: str, model: str, rows: list[dict[str, Any]]) -> None:
    """Store finished per-item results from elsewhere (a fixture, another harness) as a run."""
    with store.tx() as db:
        db.execute("DELETE FROM results WHERE run_id=?", (run_id,))
        db.execute("INSERT OR REPLACE INTO runs (id, dataset, version, model, config, status, n_items, created_at) "
                   "VALUES (?, ?, ?, ?, ?, 'finished', ?, ?)",
                   (run_id, dataset, "imported", model, dumps({"imported": True}), len(rows), time.time()))
        for r in rows:
            db.execute("INSERT INTO results (run_id, item_id, slices, output, scores, error, latency_s) "
                       "VALUES (?, ?, ?, ?, ?, NULL, 0)", (run_id, r["id"], dumps(r["slices"]), r.get("output"),
                                                          dumps(r["scores"])))
    store.execute("UPDATE runs SET summary=?, finished_at=? WHERE id=?",
                  (dumps(summarize(store, run_id)), time.time(), run_id))


def import_tide(store: Store, replace: bool = True) -> None:
    """The fixture runs tide-a and tide-b (the average-tide trap), imported as finished runs."""
    if not replace and store.one("SELECT id FROM runs WHERE id='tide-a'") is not None:
        return
    tide = [json.loads(line) for line in (FIXTURES / "tide_runs.jsonl").read_text().splitlines() if line]
    for side in ("a", "b"):
        import_run(store, f"tide-{side}", "tide", f"fixture model {side.upper()}",
                   [{"id": r["id"], "slices": r["slices"], "scores": {"pass": r[side]}} for r in tide])


def new_id() -> str:
    return uuid.uuid4().hex[:10]
