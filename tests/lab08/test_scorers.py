"""Scorers, and the sandbox that runs generated code outside the harness's process."""

from __future__ import annotations

import errno
import os
import socket
import time

import pytest

from labs.lab08_eval import sandbox, scorers
from labs.lab08_eval.datasets import load
from labs.lab08_eval.sandbox import run_code


@pytest.mark.parametrize("name,response,item,expected", [
    ("exact", "Lima", {"answer": "Lima"}, 1.0),
    ("exact", "lima", {"answer": "Lima"}, 0.0),
    ("exact", "The capital is Lima.\n\n**Answer:** Lima", {"answer": "Lima"}, 1.0),
    ("normalized", "**Answer:** the Lima!", {"answer": "Lima"}, 1.0),
    ("includes", "It is Buenos Aires, of course.", {"answer": "Buenos Aires"}, 1.0),
    ("includes", "It is Buenos.", {"answer": "Buenos Aires"}, 0.0),
    ("regex", "SEV2 declared", {"answer": "x", "pattern": r"SEV[12]"}, 1.0),
    ("numeric", "About 3.1416.", {"answer": 3.14159}, 1.0),
    ("numeric", "There are 1,250 disks.", {"answer": 1250}, 1.0),
    ("numeric", "About 3.2.", {"answer": 3.14159}, 0.0),
    ("numeric", "no idea", {"answer": 3}, 0.0),
])
def test_string_and_number_scorers(name, response, item, expected):
    assert scorers.score(name, response, item) == expected


def test_json_scorers_validate_against_the_items_schema():
    item = load("extraction").items[0]
    good = dict(item["answer"])
    assert scorers.json_schema(f"```json\n{__import__('json').dumps(good)}\n```", item) == 1.0
    assert scorers.json_schema('{"service": "x", "severity": "sev1", "minutes": 3}', item) == 0.0
    assert scorers.json_schema("not json", item) == 0.0
    half = {**good, "minutes": good["minutes"] + 1, "severity": "SEV9"}
    assert scorers.json_fields(__import__("json").dumps(half), item) == pytest.approx(1 / 3)


def test_every_code_items_solution_passes_and_its_bug_fails():
    for item in load("code").items[:8]:
        assert run_code(item["solution"], item["tests"]).passed, item["id"]
        assert not run_code(item["bug"], item["tests"]).passed, item["id"]


def test_sandbox_kills_endless_loops_within_the_timeout():
    start = time.perf_counter()
    out = run_code("def f():\n    while True:\n        pass\n", ["f()"], timeout_s=1.0)
    assert out.status == "timeout" and time.perf_counter() - start < 3


def test_sandbox_limits_memory_and_reports_errors():
    assert run_code("x = bytearray(2 * 1024**3)\n", ["True"], memory_mb=128).status == "memory"
    assert run_code("def f(:\n    pass\n", ["True"]).status == "error"
    assert run_code("def f():\n    return 2\n", ["f() == 1"]).status == "failed"


def test_generated_code_never_runs_in_the_harness_process():
    code = "import os\nos.environ['LAB08_LEAK'] = '1'\nraise SystemExit(0)\n"
    out = run_code(code, ["True"])
    assert out.passed  # it ran ...
    assert "LAB08_LEAK" not in os.environ  # ... but in another process: our state is untouched


def test_generated_code_cannot_start_processes():
    for test in ("os.fork() is None", "subprocess.run(['true']).returncode == 0", "os.system('true') == 0",
                 "os.posix_spawn('/bin/true', ['true'], {})", "os.execv('/bin/true', ['true'])",
                 "__import__('_posixsubprocess')", "__import__('pty').spawn('/bin/true')"):
        out = run_code("import os\nimport subprocess\n", [test])
        assert out.status == "error" and "refused in the sandbox" in out.detail, out


def test_the_process_limit_holds_without_the_audit_hook(monkeypatch):
    monkeypatch.setattr(sandbox, "HARNESS", sandbox.HARNESS.replace("sys.addaudithook(_guard)", ""))
    out = run_code("import os\n", ["os.fork() is None"])
    assert out.status == "error" and "Resource temporarily unavailable" in out.detail, out


REACH = """
import socket


def reach(port):
    s = socket.socket()
    s.settimeout(2)
    try:
        return s.connect_ex(("127.0.0.1", port))
    except OSError as exc:
        return repr(exc)
"""


@pytest.fixture
def listener():
    """A port on the harness's loopback; afterwards, whether anything connected to it."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    sock.settimeout(0.3)

    def connected() -> bool:
        try:
            sock.accept()[0].close()
            return True
        except TimeoutError:
            return False

    yield sock.getsockname()[1], connected
    sock.close()


def test_generated_code_cannot_reach_the_harness_over_the_network(listener):
    port, connected = listener
    assert not run_code(REACH, [f"reach({port}) == 0"]).passed
    assert run_code(REACH, [f"'refused in the sandbox: socket.connect' in reach({port})"]).passed
    assert run_code("import socket\n", ["socket.getaddrinfo('localhost', 80)"]).status == "error"
    assert run_code("import ctypes\n", ["True"]).status == "error", "ctypes would step around the hook"
    assert not connected()


def test_the_namespace_alone_cuts_the_network(listener, monkeypatch):
    if "namespace" not in sandbox.network_isolation():
        pytest.skip("this kernel or container allows no network namespace: only the audit hook holds here")
    port, connected = listener
    monkeypatch.setattr(sandbox, "HARNESS", sandbox.HARNESS.replace("sys.addaudithook(_guard)", ""))
    out = run_code(REACH, [f"reach({port}) == 0"])
    assert out.status == "failed", out  # the connect ran (no hook) and failed: the loopback is not ours
    assert run_code(REACH, [f"reach({port}) == {errno.ENETUNREACH}"]).passed
    assert not connected()


def test_the_audit_hook_alone_cuts_the_network(listener, monkeypatch):
    port, connected = listener
    monkeypatch.setattr(sandbox, "network_prefix", lambda: [])
    assert not run_code(REACH, [f"reach({port}) == 0"]).passed
    assert run_code(REACH, [f"'refused in the sandbox: socket.connect' in reach({port})"]).passed
    assert not connected()


def test_without_either_layer_the_probe_would_connect(listener, monkeypatch):
    """The control: the same code with both layers off reaches the port, so the tests above can fail."""
    port, connected = listener
    monkeypatch.setattr(sandbox, "network_prefix", lambda: [])
    monkeypatch.setattr(sandbox, "HARNESS", sandbox.HARNESS.replace("sys.addaudithook(_guard)", ""))
    assert run_code(REACH, [f"reach({port}) == 0"]).passed
    assert connected()


def test_a_root_harness_runs_generated_code_as_nobody():
    if os.geteuid() != 0:
        pytest.skip("only a root harness switches user")
    assert sandbox.identity().user == "nobody"
    assert run_code("import os\n", ["os.getuid() != 0"]).passed
