"""The runner: resume after a kill, the response cache, retries on transient errors, bounded concurrency."""

from __future__ import annotations

import asyncio

import pytest

from labs.lab08_eval.runner import RunConfig, RunError, Runner, open_store, results


@pytest.fixture
def store(tmp_path):
    return open_store(tmp_path / "lab08.db")


class Killed(Exception):
    pass


def test_a_killed_run_resumes_without_redoing_finished_items(store):
    config = RunConfig("classification", concurrency=1)

    def kill_after_10(done, total):
        if done >= 10:
            raise Killed

    with pytest.raises(Killed):
        asyncio.run(Runner(store).run(config, progress=kill_after_10))
    run_id = store.one("SELECT id FROM runs")["id"]
    done_before = len(results(store, run_id))
    assert 10 <= done_before < 68
    again = Runner(store)
    out = asyncio.run(again.run(config))
    assert out["run_id"] == run_id and out["n"] == 68
    assert again.calls["model"] + again.calls["cache_hits"] == 68 - done_before


def test_a_rerun_under_a_new_id_is_served_from_the_cache(store):
    first = Runner(store)
    a = asyncio.run(first.run(RunConfig("classification", concurrency=8, run_id="a")))
    second = Runner(store)
    b = asyncio.run(second.run(RunConfig("classification", concurrency=8, run_id="b")))
    assert first.calls["model"] == 68 and second.calls == {"model": 0, "cache_hits": 68, "retries": 0}
    assert a["scores"] == b["scores"]


def test_runs_are_deterministic_across_stores(tmp_path):
    outs = []
    for n in range(2):
        st = open_store(tmp_path / f"{n}.db")
        asyncio.run(Runner(st).run(RunConfig("qa", limit=12, concurrency=4, run_id="r")))
        outs.append([(r["item_id"], r["scores"]) for r in results(st, "r")])
    assert outs[0] == outs[1]


def test_transient_errors_are_retried(store):
    runner = Runner(store, base_wait_s=0.01)
    out = asyncio.run(runner.run(RunConfig("classification", limit=6, concurrency=6, mock={"fail_first": 1})))
    assert out["errors"] == 0 and runner.calls["retries"] == 6


def test_permanent_errors_are_recorded_not_retried(store):
    runner = Runner(store, base_wait_s=0.01)
    out = asyncio.run(runner.run(RunConfig("classification", limit=4, concurrency=4, mock={"error_status": 400})))
    assert out["errors"] == 4 and runner.calls["retries"] == 0
    assert all("400" in r["error"] or "context" in r["error"] for r in results(store, out["run_id"]))


def test_concurrency_is_bounded(store):
    class Slow(Runner):
        in_flight = peak = 0

        async def complete(self, prompt, model, mock, **params):
            Slow.in_flight += 1
            Slow.peak = max(Slow.peak, Slow.in_flight)
            await asyncio.sleep(0.01)
            Slow.in_flight -= 1
            return "billing"

    asyncio.run(Slow(store).run(RunConfig("classification", limit=40, concurrency=5)))
    assert Slow.peak == 5


def test_pass_at_k_for_code(store):
    out = asyncio.run(Runner(store).run(RunConfig("code", limit=6, n_samples=4, k=[1, 4], concurrency=3)))
    scores = out["scores"]
    assert 0 <= scores["pass@1"]["mean"] <= scores["pass@4"]["mean"] <= 1
    rows = results(store, out["run_id"])
    assert len(rows) == 6 and all(r["error"] is None for r in rows)
    for r in rows:  # each item's pass@k is the estimator on its own count of passing samples
        c = r["scores"]["correct_samples"]
        assert 0 <= c <= 4
        assert r["scores"]["pass@1"] == pytest.approx(c / 4)
        assert r["scores"]["pass@4"] == (1.0 if c else 0.0)
    assert len({r["scores"]["correct_samples"] for r in rows}) > 1  # the samples differ: some pass, some fail


def test_bad_configurations_are_refused(store):
    runner = Runner(store)
    with pytest.raises(RunError):
        runner.start(RunConfig("extraction", scorers=["judge"]))
    with pytest.raises(RunError):
        runner.start(RunConfig("code", n_samples=2, k=[5]))
    runner.start(RunConfig("classification", run_id="x"))
    with pytest.raises(RunError, match="another configuration"):
        runner.start(RunConfig("classification", model="mock/assistant?variant=v2", run_id="x"))


def test_judged_runs_record_their_judges_bias_audit(store):
    out = asyncio.run(Runner(store).run(RunConfig("qa", limit=4, judge_mock={"position_bias": 0.9})))
    rows = {r["bias"]: r for r in out["judge_bias"]["rows"]}
    assert rows["position"]["before"] > 0.5 and rows["position"]["after"] == 0.0


def test_failure_reasons_are_counted_in_the_summary(store):
    """Issue 25 #12: a run said only `errors: 0, pass@1: 0`; now it says why samples and items failed."""
    out = asyncio.run(Runner(store).run(RunConfig("code", model="mock/lab08_hostile", limit=2, n_samples=2,
                                                  k=[1], run_id="hostile")))
    assert out["failures"] == {"error": 2, "timeout": 2}, out["failures"]  # steal exits; spawn sleeps
    bad = asyncio.run(Runner(store, base_wait_s=0.01).run(RunConfig("classification", limit=3, run_id="bad",
                                                                    mock={"error_status": 400})))
    assert bad["errors"] == 3 and bad["failures"] == {"BadRequestError": 3}, bad["failures"]


def test_a_run_stopped_by_its_job_says_so(store):
    def kill_after_3(done, total):
        if done >= 3:
            raise Killed("stopped")

    with pytest.raises(Killed):
        asyncio.run(Runner(store).run(RunConfig("classification", concurrency=1, run_id="k"), progress=kill_after_3))
    row = store.one("SELECT status, error FROM runs WHERE id='k'")
    assert row["status"] == "failed" and row["error"] == "Killed: stopped"
