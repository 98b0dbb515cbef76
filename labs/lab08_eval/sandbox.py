"""Run generated code in a separate process with a timeout and resource limits, never in the harness.

    python -c "from labs.lab08_eval.sandbox import run_code; print(run_code('def f():\\n    while True: pass', ['f() == 1'], timeout_s=1))"

The child is a fresh `python -I` (isolated: no site, no env vars, no cwd on sys.path) in an empty
temporary directory, with limits set between fork and exec (resource.setrlimit): CPU seconds, address
space, file size, open files, and no new processes. The wall-clock timeout kills it if it sleeps.
"""

from __future__ import annotations

import resource
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass

HARNESS = """
import sys
src = open("solution.py").read()
ns = {}
exec(compile(src, "solution.py", "exec"), ns)
for i, expr in enumerate(open("tests.txt").read().split("\\n")):
    if expr.strip() and not eval(expr, ns):
        print(f"test {i} failed: {expr}", file=sys.stderr)
        sys.exit(1)
"""


@dataclass
class Outcome:
    passed: bool
    status: str  # passed | failed | error | timeout
    detail: str = ""


def _limits(cpu_s: int, memory_mb: int) -> None:
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s))
    resource.setrlimit(resource.RLIMIT_AS, (memory_mb * 2**20, memory_mb * 2**20))
    resource.setrlimit(resource.RLIMIT_FSIZE, (2**20, 2**20))
    resource.setrlimit(resource.RLIMIT_NOFILE, (32, 32))
    resource.setrlimit(resource.RLIMIT_NPROC, (0, 0))  # no fork bombs (root is exempt; run as a user)


def run_code(code: str, tests: list[str], timeout_s: float = 2.0, memory_mb: int = 256) -> Outcome:
    """Run `code`, then each test expression; passed only if every test is truthy."""
    with tempfile.TemporaryDirectory(prefix="lab08-sandbox-") as tmp:
        with open(f"{tmp}/solution.py", "w") as f:
            f.write(code)
        with open(f"{tmp}/tests.txt", "w") as f:
            f.write("\n".join(t.replace("\n", " ") for t in tests))
        cpu = int(timeout_s) + 1  # the wall clock should fire first; the CPU limit is the backstop
        try:
            proc = subprocess.run([sys.executable, "-I", "-c", HARNESS], cwd=tmp, capture_output=True, text=True,
                                  timeout=timeout_s, env={}, preexec_fn=lambda: _limits(cpu, memory_mb))
        except subprocess.TimeoutExpired:
            return Outcome(False, "timeout", f"killed after {timeout_s}s")
    if proc.returncode == 0:
        return Outcome(True, "passed")
    if proc.returncode in (-signal.SIGXCPU, -signal.SIGKILL):
        return Outcome(False, "timeout", f"CPU limit: signal {-proc.returncode}")
    tail = proc.stderr.strip().splitlines()[-1:] or [f"exit status {proc.returncode}"]
    status = "failed" if tail[0].startswith("test ") else "error"
    return Outcome(False, status, tail[0][:300])
