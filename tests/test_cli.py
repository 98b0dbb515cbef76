"""The commands a reader types: make help, python -m labs list, and make up's supervisor."""

from __future__ import annotations

import os
import re
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


@pytest.mark.slow
def test_up_serves_everything_reports_a_crash_and_stops_on_ctrl_c(tmp_path):
    offset = 1000 + os.getpid() % 500  # away from a reader's own `make up`
    env = {**os.environ, "DATA_DIR": str(tmp_path), "LOG_LEVEL": "warning"}
    proc = subprocess.Popen([sys.executable, "-m", "labs", "up", "--port-offset", str(offset)], cwd=REPO_ROOT,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        ports = [MOCK_PORT + offset] + [lab.port + offset for lab in discover()]
        deadline = time.monotonic() + 240
        assert all(_wait_healthy(p, deadline) for p in ports), "not every service came up"
        mock_pid = None
        while mock_pid is None:
            line = proc.stdout.readline()
            match = re.search(r"started mock .*\(pid (\d+)\)", line)
            if match:
                mock_pid = int(match.group(1))
        os.kill(mock_pid, signal.SIGKILL)
        seen = ""
        deadline = time.monotonic() + 30
        while "mock exited" not in seen and time.monotonic() < deadline:
            seen += proc.stdout.readline()
        assert "mock exited" in seen
        assert all(_wait_healthy(p, time.monotonic() + 5) for p in ports[1:]), "the others keep running"
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 0
        for port in ports:
            with pytest.raises(httpx.HTTPError):
                httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
    finally:
        if proc.poll() is None:
            proc.kill()
