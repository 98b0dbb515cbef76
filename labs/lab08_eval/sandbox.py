"""Run generated code in a separate process with a timeout and resource limits, never in the harness.

    python -c "from labs.lab08_eval.sandbox import run_code; print(run_code('def f():\\n    while True: pass', ['f() == 1'], timeout_s=1))"

The child is a fresh `python -I` (isolated: no site, no env vars, no cwd on sys.path) in an empty
temporary directory, with limits set between fork and exec (resource.setrlimit): CPU seconds, address
space, file size, open files, and no new processes. The wall-clock timeout kills it if it sleeps.
Root ignores the process limit (and every file permission), so a harness running as root starts the
child as `nobody`: there it cannot fork, cannot write into the harness's files, and cannot read /root.

The network is cut twice. Between fork and exec the child moves into a network namespace of its own
(unshare(CLONE_NEWNET); an unprivileged user adds CLONE_NEWUSER): it holds only a loopback that is
down, so no address, the harness's 127.0.0.1 included, can be reached. Where the kernel or the
container forbids namespaces, that layer is missing (`network_isolation()` says which layers hold,
and the log warns). Inside the interpreter, an audit hook (PEP 578) installed before the solution
runs refuses socket connect/bind/send and name lookups, ctypes (the way around the hook) and
starting processes. A hook is not a security boundary on its own; for hostile code at scale, run
the sandbox in a container with no network as well.
"""

from __future__ import annotations

import ctypes
import functools
import logging
import os
import pwd
import resource
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass

log = logging.getLogger(__name__)

HARNESS = """
import sys

_REFUSED = ("socket.connect", "socket.bind", "socket.sendto", "socket.sendmsg", "socket.getaddrinfo",
            "socket.gethostbyname", "socket.gethostbyaddr", "ctypes.dlopen", "ctypes.dlsym", "ctypes.cdata",
            "os.system", "os.exec", "os.fork", "os.forkpty", "os.posix_spawn", "os.spawn", "subprocess.Popen",
            "pty.spawn")


def _guard(event, args):
    if event.startswith(_REFUSED):
        raise PermissionError(f"refused in the sandbox: {event}")


sys.addaudithook(_guard)
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


CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000


@functools.cache
def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)  # loaded in the parent: the child only calls it


def _cut_network() -> None:
    """Between fork and exec: a network namespace of its own (root may make one; nobody needs a user
    namespace around it). Failure leaves the audit hook as the only layer; network_isolation() tells."""
    libc = _libc()
    if libc.unshare(CLONE_NEWNET) != 0:
        libc.unshare(CLONE_NEWUSER | CLONE_NEWNET)


def _limits(cpu_s: int, memory_mb: int) -> None:
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s))
    resource.setrlimit(resource.RLIMIT_AS, (memory_mb * 2**20, memory_mb * 2**20))
    resource.setrlimit(resource.RLIMIT_FSIZE, (2**20, 2**20))
    resource.setrlimit(resource.RLIMIT_NOFILE, (32, 32))
    resource.setrlimit(resource.RLIMIT_NPROC, (0, 0))  # no fork bombs (this runs after the switch to nobody)


@functools.cache
def _identity() -> dict[str, object]:
    """subprocess arguments that start the child as `nobody` when the harness is root, else none.

    Checked once: if nobody cannot start this interpreter (a virtualenv under a 0700 /root, say), the
    child runs as root without a process limit, and the log says so.
    """
    if os.geteuid() != 0:
        return {}
    try:
        entry = pwd.getpwnam("nobody")
        ids: dict[str, object] = {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}
    except KeyError:
        ids = {"user": 65534, "group": 65534, "extra_groups": []}
    try:
        subprocess.run([sys.executable, "-I", "-c", "pass"], cwd="/", env={}, capture_output=True, timeout=30,
                       check=True, **ids)
    except (OSError, subprocess.SubprocessError) as exc:
        log.warning("nobody cannot start %s (%s): generated code will run as root, without a process limit",
                    sys.executable, exc)
        return {}
    return ids


def _preexec(cpu_s: int, memory_mb: int) -> None:
    _cut_network()
    _limits(cpu_s, memory_mb)


@functools.cache
def network_isolation() -> list[str]:
    """The layers that cut a child's network here: "namespace" (kernel) and "audit hook" (always).

    Checked once, by starting a child as run_code does and asking it which interfaces it can see."""
    probe = "import sys; sys.exit(0 if open('/proc/self/net/dev').read().count(':') == 1 else 3)"
    _libc()  # dlopen here, not between fork and exec
    try:
        proc = subprocess.run([sys.executable, "-I", "-c", probe], cwd="/", env={}, capture_output=True,
                              timeout=30, preexec_fn=_cut_network, **_identity())
        namespaced = proc.returncode == 0
    except (OSError, subprocess.SubprocessError):
        namespaced = False
    if not namespaced:
        log.warning("no network namespace for sandboxed code here: only the audit hook cuts its network")
    return ["namespace", "audit hook"] if namespaced else ["audit hook"]


def describe() -> str:
    """What holds generated code here, in one line (the lab's /readyz shows it)."""
    if _identity():
        who = "nobody"
    else:
        who = "root, without a process limit" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name
    return f"network cut by {' + '.join(network_isolation())}; generated code runs as {who}"


def run_code(code: str, tests: list[str], timeout_s: float = 2.0, memory_mb: int = 256) -> Outcome:
    """Run `code`, then each test expression; passed only if every test is truthy."""
    with tempfile.TemporaryDirectory(prefix="lab08-sandbox-") as tmp:
        with open(f"{tmp}/solution.py", "w") as f:
            f.write(code)
        with open(f"{tmp}/tests.txt", "w") as f:
            f.write("\n".join(t.replace("\n", " ") for t in tests))
        os.chmod(tmp, 0o755)  # nobody may read the two files, not write beside them
        cpu = int(timeout_s) + 1  # the wall clock should fire first; the CPU limit is the backstop
        _libc()  # dlopen here, not between fork and exec
        try:
            proc = subprocess.run([sys.executable, "-I", "-c", HARNESS], cwd=tmp, capture_output=True, text=True,
                                  timeout=timeout_s, env={}, preexec_fn=lambda: _preexec(cpu, memory_mb),
                                  **_identity())
        except subprocess.TimeoutExpired:
            return Outcome(False, "timeout", f"killed after {timeout_s}s")
    if proc.returncode == 0:
        return Outcome(True, "passed")
    if proc.returncode in (-signal.SIGXCPU, -signal.SIGKILL):
        return Outcome(False, "timeout", f"CPU limit: signal {-proc.returncode}")
    tail = proc.stderr.strip().splitlines()[-1:] or [f"exit status {proc.returncode}"]
    status = "failed" if tail[0].startswith("test ") else "error"
    return Outcome(False, status, tail[0][:300])
