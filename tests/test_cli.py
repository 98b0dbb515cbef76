"""The commands a reader types: make help, python -m labs list, and make up's supervisor."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time

import httpx
import pytest

from labs import MOCK_PORT, discover
from shared.config import REPO_ROOT


def test_make_help_lists_every_target():
    out = subprocess.run(["make", "-s", "help"], cwd=REPO_ROOT, capture_output=True, text=True, check=True).stdout
    for target in ("setup", "mock", "up", "test", "bench", "lint", "doctor"):
        assert re.search(rf"make {target}\b", out), target
    for lab in discover():
        assert f"make lab-{lab.key}" in out


def test_a_lab_answers_to_every_name_a_reader_may_type():
    from labs import get

    lab = discover()[5]
    for name in (lab.number, lab.key, f"lab{lab.key}", f"lab-{lab.key}", lab.name, lab.name.upper(), f" {lab.key} "):
        assert get(name) is lab or get(name) == lab, name
    for wrong in ("99", "lab", "", "lab06_nothing", "..", "-1"):
        with pytest.raises(KeyError, match="python -m labs list"):
            get(wrong)
    out = subprocess.run([sys.executable, "-m", "labs", "serve", "nope"], cwd=REPO_ROOT, capture_output=True, text=True)
    assert out.returncode == 2 and "no lab 'nope'" in out.stderr and "Traceback" not in out.stderr


def test_labs_list():
    out = subprocess.run([sys.executable, "-m", "labs", "list"], cwd=REPO_ROOT, capture_output=True, text=True,
                         check=True).stdout
    assert "make mock" in out
    for lab in discover():
        assert f"make lab-{lab.key}" in out and str(lab.port) in out


def _wait_healthy(port: int, deadline: float) -> bool:
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    return False


class _Lines:
    """A child's output, read by a thread so the test can wait for a line without blocking on the pipe."""

    def __init__(self, stream):
        import threading

        self.lines: list[str] = []
        threading.Thread(target=lambda: self.lines.extend(stream), daemon=True).start()

    def wait_for(self, pattern: str, timeout_s: float) -> re.Match | None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if match := re.search(pattern, line):
                    return match
            time.sleep(0.2)
        return None


@pytest.mark.slow
def test_up_serves_everything_reports_a_crash_and_stops_on_ctrl_c(tmp_path):
    offset = 1000 + os.getpid() % 500  # away from a reader's own `make up`
    env = {**os.environ, "DATA_DIR": str(tmp_path), "LOG_LEVEL": "warning"}
    proc = subprocess.Popen([sys.executable, "-m", "labs", "up", "--port-offset", str(offset)], cwd=REPO_ROOT,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)  # its own process group: a failed test kills every child
    out = _Lines(proc.stdout)
    try:
        ports = [MOCK_PORT + offset] + [lab.port + offset for lab in discover()]
        summary = out.wait_for(r"^== .*", 600)  # 'all ready', or which service exited or is not ready
        ready = re.match(r"^== all ready in \d+ s: home (\S+)/ ", summary.group(0)) if summary else None
        assert ready, "no 'all ready' line:\n" + "".join(out.lines[-30:])
        assert all(f":{port}" in ready.string for port in ports), ready.string
        assert all(_wait_healthy(p, time.monotonic() + 5) for p in ports), "'all ready' was printed too early"
        home = ready.group(1)
        status = httpx.get(f"{home}/status", timeout=10).json()
        assert {s["name"] for s in status} == {"mock", *(lab.name for lab in discover())}
        assert all(s["state"] == "ready" for s in status), status
        assert "/dashboard" in next(s for s in status if s["name"] == "lab09_gateway")["pages"]
        page = httpx.get(f"{home}/", timeout=5).text
        assert all(f'data-port="{lab.port + offset}"' in page for lab in discover())
        for lab in discover():  # every link the page makes resolves
            assert httpx.get(f"http://127.0.0.1:{lab.port + offset}/docs", timeout=5).status_code == 200
            assert httpx.get(f"{home}/readme/{lab.key}", timeout=5).status_code == 200
        mock_pid = int(out.wait_for(r"started mock .*\(pid (\d+)\)", 5).group(1))
        assert any(line.startswith("lab06_rag") and " | " in line for line in out.lines), "child lines are prefixed"
        os.kill(mock_pid, signal.SIGKILL)
        assert out.wait_for(r"!! mock exited", 30), "the crash was not reported"
        assert all(_wait_healthy(p, time.monotonic() + 5) for p in ports[1:]), "the others keep running"
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 0
        for port in ports:
            with pytest.raises(httpx.HTTPError):
                httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_make_mock_serves_every_lab_plugin():
    """`make mock` runs `python -m labs mock`, which loads `labs.mock_plugins()` (tests/mockllm/test_lab_plugins.py)."""
    out = subprocess.run(["make", "-n", "mock"], cwd=REPO_ROOT, capture_output=True, text=True, check=True).stdout
    assert "-m labs mock" in out, out
    assert "--port 9100" in subprocess.run(["make", "-n", "mock", "PORT=9100"], cwd=REPO_ROOT, capture_output=True,
                                           text=True, check=True).stdout


def test_every_lab_and_exercise_target_runs_its_command():
    """`make -n` shows what each target would run; a .PHONY target with only a pattern rule shows nothing."""
    for lab in discover():
        serve = subprocess.run(["make", "-n", f"lab-{lab.key}"], cwd=REPO_ROOT, capture_output=True, text=True,
                               check=True).stdout
        assert f"-m labs serve {lab.key}" in serve, serve
        exercises = subprocess.run(["make", "-n", f"exercises-{lab.key}"], cwd=REPO_ROOT, capture_output=True,
                                   text=True, check=True).stdout
        assert "exercises" in exercises and f"labs/lab{lab.key}_" in exercises, exercises


@pytest.mark.slow
def test_make_lab_serves_and_prints_a_curl_that_works(tmp_path):
    lab = discover()[0]
    port = 20000 + os.getpid() % 5000
    env = {**os.environ, "DATA_DIR": str(tmp_path), "LOG_LEVEL": "warning"}
    proc = subprocess.Popen(["make", "-s", f"lab-{lab.key}", f"PORT={port}"], cwd=REPO_ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        assert _wait_healthy(port, time.monotonic() + 120), "make lab-NN did not serve"
        printed = ""
        while "curl" not in printed:
            printed += proc.stdout.readline()
        assert f"http://127.0.0.1:{port}" in printed
        curl = re.search(r"(curl .+)$", printed, re.M).group(1)
        if shutil.which("curl"):
            done = subprocess.run(curl, shell=True, capture_output=True, text=True, timeout=30)
            # ready, or honestly not yet: /readyz names the start-up step still running
            assert done.returncode == 0 and ('"status"' in done.stdout or "warming up" in done.stdout), done
            deadline = time.monotonic() + 120
            while '"ready"' not in done.stdout and time.monotonic() < deadline:
                time.sleep(1)
                done = subprocess.run(curl, shell=True, capture_output=True, text=True, timeout=30)
            assert '"ready"' in done.stdout, done
        else:  # a machine without curl: fetch the URL the printed command names
            url = re.search(r"(http://\S+)", curl).group(1)
            assert '"status"' in httpx.get(url, timeout=30).text
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def test_a_child_of_a_killed_supervisor_does_not_outlive_it(tmp_path):
    """`make up` killed with SIGKILL (no chance to clean up) must not leave labs holding their ports."""
    pid_file = tmp_path / "child.pid"
    supervisor = (
        "import subprocess, sys, time\n"
        "from labs.__main__ import die_with_parent\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)'], preexec_fn=die_with_parent())\n"
        f"open({str(pid_file)!r}, 'w').write(str(child.pid))\n"
        "time.sleep(120)\n")
    proc = subprocess.Popen([sys.executable, "-c", supervisor], cwd=REPO_ROOT)
    deadline = time.monotonic() + 60
    while not (pid_file.exists() and pid_file.read_text()) and time.monotonic() < deadline:
        time.sleep(0.1)
    child = int(pid_file.read_text())
    proc.kill()
    proc.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _alive(child):
        time.sleep(0.1)
    assert not _alive(child), "the child outlived its supervisor"


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"  # a zombie has exited
    except FileNotFoundError:
        return False
