"""The labs' own SQL through shared.store on both backends: lab-07's agent runs and checkpoints, lab-08's
eval runs (imported, summarized, compared, reconciled), unchanged code, the same answers."""

import pytest

from labs.lab07_agents.checkpoint import RUNS_SCHEMA, RunExists, RunState, insert, load, save
from labs.lab08_eval.compare import compare_runs
from labs.lab08_eval.runner import MIGRATIONS, get_run, import_tide, reconcile
from shared.store import Store


def test_agent_runs_and_checkpoints(tmp_path, store_url):
    runs = Store(tmp_path / "lab07" / "runs.db", migrations=[RUNS_SCHEMA], url=store_url)
    st = RunState(id="r1", task={"goal": "book"}, pattern="react", model="mock/agent", budget={"steps": 5},
                  deadline_at=1e10)
    insert(runs, st)
    with pytest.raises(RunExists):  # a second POST with the same id loses, on PostgreSQL too
        insert(runs, st)
    st.status, st.step, st.messages = "running", 3, [{"role": "user", "content": "100% sure? it's fine"}]
    save(runs, st)
    assert load(runs, "r1") == st and load(runs, "nope") is None
    assert runs.query("SELECT id, status FROM runs") == [{"id": "r1", "status": "running"}]


def test_eval_runs_import_compare_and_reconcile(tmp_path, store_url):
    store = Store(tmp_path / "lab08" / "lab08.db", migrations=MIGRATIONS, url=store_url)
    import_tide(store)
    import_tide(store)  # replace=True: INSERT OR REPLACE over the finished runs
    a = get_run(store, "tide-a")
    assert a["status"] == "finished" and a["done"] == a["n_items"] > 0 and a["summary"]
    local = Store(tmp_path / "ref" / "lab08.db", migrations=MIGRATIONS)  # the SQLite reference
    import_tide(local)
    assert compare_runs(store, "tide-a", "tide-b") == compare_runs(local, "tide-a", "tide-b")
    store.execute("UPDATE runs SET status='running' WHERE id='tide-b'")
    assert reconcile(store) == 1 and get_run(store, "tide-b")["status"] == "failed"
