"""The sandbox against a hostile model: never root, no shadow file, no process that outlives the timeout.

Each layer is tested alone where it can be (the audit hook, the process limit, the process-group kill),
with a control that shows the attack works where nothing holds it, so these tests can fail.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from labs.lab08_eval import sandbox
from labs.lab08_eval.mock_plugin import HOSTILE_SLEEP, SPAWN, STEAL, attack_code
from labs.lab08_eval.runner import RunConfig, Runner, open_store, results
from shared import llm

ROOT = os.geteuid() == 0


def survivors() -> list[int]:
    """Live (not zombie) processes running the hostile model's `sleep`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if HOSTILE_SLEEP.encode() in argv and state != "Z":
            found.append(int(entry.name))
    return found


@pytest.fixture
def no_survivors():
    """Fails the test if a hostile `sleep` is alive afterwards (and kills it, so one failure stays one)."""
    assert survivors() == [], "a hostile sleep was already running before the test"
    yield
    left = survivors()
    for pid in left:
        os.kill(pid, 9)
    assert left == [], f"processes outlived the sandbox: {left}"


@pytest.fixture
def fresh_identity():
    sandbox.identity.cache_clear()
    yield
    sandbox.identity.cache_clear()


def test_the_hostile_model_answers_with_its_attacks():
    for attack, code in (("steal", STEAL), ("spawn", SPAWN)):
        text = llm.complete("Write f.", model="mock/lab08_hostile", mock={"attack": attack}).text
        assert code.strip() in text and attack_code(attack) == code


def test_generated_code_never_runs_as_root_and_cannot_read_the_shadow_file(tmp_path):
    out = sandbox.run_code(STEAL, ["True"])
    assert out.status == "error", out
    uid = int(out.detail.split("uid=", 1)[1].split()[0])
    assert uid != 0 and "euid=0" not in out.detail, out.detail
    assert "read /etc/shadow" not in out.detail and "/etc/shadow: Permission denied" in out.detail, out.detail
    assert "listed /root" not in out.detail
    assert not Path("/tmp/lab08-stolen-shadow").exists()


def test_the_steal_attack_works_where_nothing_holds_it():
    """The control: the same code run as root outside the sandbox reads the file, so the test above can fail."""
    if not ROOT:
        pytest.skip("only root can read /etc/shadow")
    proc = subprocess.run([sys.executable, "-c", STEAL.replace("/tmp/lab08-stolen-shadow", "/dev/null")],
                          capture_output=True, text=True, timeout=30)
    assert "read /etc/shadow" in proc.stderr and "uid=0" in proc.stderr


def test_no_process_outlives_the_timeout(no_survivors):
    start = time.monotonic()
    out = sandbox.run_code(SPAWN, ["True"], timeout_s=1.5)
    assert out.status == "timeout" and time.monotonic() - start < 6, out
    for way in ("fork", "fork_exec", "posix_spawn", "popen", "system", "forkpty", "spawnv"):
        line = next(x for x in out.log.splitlines() if x.startswith(f"{way}:"))
        assert "started" not in line, line


def test_the_audit_hook_refuses_every_way_of_starting_a_process(no_survivors, monkeypatch):
    monkeypatch.setattr(sandbox, "_limits", lambda cpu_s, memory_mb: "")  # no process limit: the hook alone
    out = sandbox.run_code(SPAWN, ["True"], timeout_s=1.5)
    refused = {x.split(":", 1)[0] for x in out.log.splitlines() if "refused in the sandbox" in x}
    assert refused == {"fork", "fork_exec", "posix_spawn", "popen", "system", "forkpty", "spawnv", "execv"}, out.log


def test_the_process_limit_alone_stops_new_processes(no_survivors, monkeypatch):
    monkeypatch.setattr(sandbox, "HARNESS", sandbox.HARNESS.replace("sys.addaudithook(_guard)", ""))
    out = sandbox.run_code(SPAWN, ["True"], timeout_s=1.5)
    lines = dict(x.split(":", 1) for x in out.log.splitlines() if ":" in x)
    for way in ("fork", "fork_exec", "posix_spawn", "popen", "forkpty", "spawnv"):
        assert "Resource temporarily unavailable" in lines[way], out.log
    assert lines["system"].strip() != "started 0", out.log  # the shell itself could not start its sleep


def test_the_group_kill_alone_takes_every_descendant(no_survivors):
    script = f"sleep {HOSTILE_SLEEP} & echo $! >&2; sleep {HOSTILE_SLEEP} & echo $! >&2; wait"
    code, _, err = sandbox.run_group(["/bin/sh", "-c", script], timeout_s=1.0)
    pids = [int(x) for x in err.split()]
    assert code is None and len(pids) == 2
    assert not [p for p in pids if p in survivors()]


def test_killing_only_the_child_would_leave_its_descendants():
    """The control for the group kill: kill the shell alone and its sleeps live on (reparented)."""
    script = f"sleep {HOSTILE_SLEEP} & echo $! >&2; sleep {HOSTILE_SLEEP} & echo $! >&2; wait"
    proc = subprocess.Popen(["/bin/sh", "-c", script], stderr=subprocess.PIPE, text=True, start_new_session=True)
    pids = [int(proc.stderr.readline()) for _ in range(2)]
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not set(pids) <= set(survivors()):
        time.sleep(0.05)  # each background sleep may not have exec'd yet
    proc.kill()
    proc.wait()
    try:
        time.sleep(0.2)
        assert sorted(p for p in pids if p in survivors()) == sorted(pids)
    finally:
        os.killpg(proc.pid, 9)


def test_an_interpreter_nobody_cannot_execute_is_passed_over(fresh_identity, monkeypatch, tmp_path):
    if not ROOT:
        pytest.skip("a harness that is not root runs code as itself with its own interpreter")
    hidden = tmp_path / "root-only"
    hidden.mkdir(mode=0o700)
    (hidden / "python").symlink_to(sys.executable)  # like a venv under a 0700 /root
    real = sandbox.candidates()
    monkeypatch.setattr(sandbox, "candidates", lambda: [str(hidden / "python"), *real])
    who = sandbox.identity()
    assert who.user == "nobody" and who.python != str(hidden / "python")
    assert sandbox.run_code("import os\n", ["os.getuid() != 0"]).passed


def test_with_no_interpreter_nobody_can_run_it_refuses_instead_of_running_as_root(fresh_identity, monkeypatch,
                                                                                 tmp_path):
    if not ROOT:
        pytest.skip("a harness that is not root runs code as itself with its own interpreter")
    hidden = tmp_path / "root-only"
    hidden.mkdir(mode=0o700)
    (hidden / "python").symlink_to(sys.executable)
    monkeypatch.setattr(sandbox, "candidates", lambda: [str(hidden / "python")])
    with pytest.raises(sandbox.SandboxUnavailable, match="never runs as root"):
        sandbox.run_code("import os\n", ["True"])
    with pytest.raises(sandbox.SandboxUnavailable):
        sandbox.describe()


def test_a_run_with_the_hostile_model_scores_nothing_and_leaves_nothing(tmp_path, no_survivors):
    store = open_store(tmp_path / "lab08.db")
    config = RunConfig("code", model="mock/lab08_hostile", limit=2, n_samples=2, k=[1], run_id="hostile")
    out = asyncio.run(Runner(store).run(config))
    assert out["n"] == 2 and out["scores"]["pass@1"]["mean"] == 0.0
    assert all(r["scores"]["correct_samples"] == 0 for r in results(store, "hostile"))
    assert not Path("/tmp/lab08-stolen-shadow").exists()


def test_the_network_namespace_holds_after_the_harness_has_started_threads():
    """A preexec_fn ran the parent's at-fork hooks (OpenTelemetry's span processor starts a thread in the
    child), and a multithreaded process may not make a user namespace: the namespace silently went away."""
    import threading

    if "namespace" not in sandbox.network_isolation():
        pytest.skip("this kernel or container allows no network namespace: only the audit hook holds here")
    stop = threading.Event()
    worker = threading.Thread(target=stop.wait, daemon=True)
    worker.start()
    armed = [True]  # a hook cannot be unregistered: disarmed afterwards, it does nothing in later tests
    os.register_at_fork(after_in_child=lambda: armed and threading.Thread(target=time.sleep, args=(1,)).start())
    try:
        probe = "def f():\n    return open('/proc/self/net/dev').read().count(':')\n"
        assert sandbox.run_code(probe, ["f() == 1"]).passed
    finally:
        armed.clear()
        stop.set()
