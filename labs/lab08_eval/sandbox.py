"""Run generated code in a separate, unprivileged, resource-limited process, never in the harness.

    python -c "from labs.lab08_eval.sandbox import run_code; print(run_code('def f():\\n    while True: pass', ['f() == 1'], timeout_s=1))"

The child is a fresh `python -I` (isolated: no site, no env vars, no cwd on sys.path) in an empty
temporary directory, in a session and process group of its own. Before the solution runs it lowers its
own limits (resource.setrlimit): CPU seconds, address space, file size, open files, and no new
processes (RLIMIT_NPROC = 0). No Python runs between fork and exec (a preexec_fn would run the
parent's at-fork hooks, which start threads in the child). At the wall-clock timeout the whole process
group is killed, not only the child.

It fails closed. Root ignores the process limit and every file permission, so a root harness starts
the child as `nobody`, with an interpreter `nobody` can execute: this one, else its base interpreter,
else a system python3 (a virtualenv whose Python lives under a 0700 /root is not one). Generated code
needs only the standard library, so any of them will do. If none works, nothing runs: `run_code`
raises SandboxUnavailable (the run records it per item) and `/readyz` says why. It never falls back
to running generated code as root.

The network is cut twice. The child starts through `unshare --user --net` (util-linux), so it runs in a
network namespace of its own: it holds only a loopback that is down, so no address, the harness's
127.0.0.1 included, can be reached. Where the kernel or the
container forbids namespaces, that layer is missing (`network_isolation()` says which layers hold,
and the log warns). Inside the interpreter, an audit hook (PEP 578) installed before the solution
runs refuses socket connect/bind/send and name lookups, ctypes (the way around the hook), signals to
other processes, and every way of starting a process: os.fork/forkpty, os.exec*, os.posix_spawn*,
os.spawn*, os.system, subprocess.Popen, pty.spawn, and importing _posixsubprocess, whose fork_exec
raises no audit event of its own. A hook is not a security boundary on its own (the process limit
and the group kill hold without it); for hostile code at scale, run the sandbox in a container with
no network as well.
"""

from __future__ import annotations

import functools
import logging
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

LIMITS = """
import resource

resource.setrlimit(resource.RLIMIT_CPU, ({cpu_s}, {cpu_s} + 1))  # SIGXCPU at the soft limit, SIGKILL past it
resource.setrlimit(resource.RLIMIT_AS, ({memory_b}, {memory_b}))
resource.setrlimit(resource.RLIMIT_FSIZE, (2**20, 2**20))
resource.setrlimit(resource.RLIMIT_NOFILE, (32, 32))
resource.setrlimit(resource.RLIMIT_NPROC, (0, 0))  # no new processes: it holds because the child is never root
"""

HARNESS = """
import sys

_REFUSED = ("socket.connect", "socket.bind", "socket.sendto", "socket.sendmsg", "socket.getaddrinfo",
            "socket.gethostbyname", "socket.gethostbyaddr", "ctypes.dlopen", "ctypes.dlsym", "ctypes.cdata",
            "os.system", "os.exec", "os.fork", "os.forkpty", "os.posix_spawn", "os.spawn", "subprocess.Popen",
            "pty.spawn", "os.kill", "os.killpg", "signal.pthread_kill")
_MODULES = {"_posixsubprocess", "_ctypes", "ctypes", "_xxsubinterpreters", "_testcapi", "_testinternalcapi"}


def _guard(event, args):
    if event.startswith(_REFUSED) or (event == "import" and args[0] in _MODULES):
        raise PermissionError(f"refused in the sandbox: {event} {args[0] if event == 'import' else ''}".rstrip())


sys.addaudithook(_guard)
src = open("solution.py").read()
ns = {}
exec(compile(src, "solution.py", "exec"), ns)
for i, expr in enumerate(open("tests.txt").read().split("\\n")):
    if expr.strip() and not eval(expr, ns):
        print(f"test {i} failed: {expr}", file=sys.stderr)
        sys.exit(1)
"""


class SandboxUnavailable(RuntimeError):
    """Generated code cannot run unprivileged and resource-limited here, so it does not run at all."""


@dataclass
class Outcome:
    passed: bool
    status: str  # passed | failed | error | timeout | memory | killed
    detail: str = ""
    log: str = ""  # the end of what the code wrote to stderr (what an attack got, a traceback)


@dataclass(frozen=True)
class Identity:
    """Who runs generated code, with which interpreter; `ids` go to subprocess (user, group, extra_groups)."""

    user: str
    python: str
    ids: dict[str, object] = field(default_factory=dict)


SYSTEM_PATH = "/usr/local/bin:/usr/bin:/bin"


def _limits(cpu_s: int, memory_mb: int) -> str:
    """The code the child runs first, lowering its own limits (any user may lower them)."""
    return LIMITS.format(cpu_s=cpu_s, memory_b=memory_mb * 2**20)


def candidates() -> list[str]:
    """Interpreters that could run generated code, best first: this one, its base, a system python3."""
    found = [sys.executable, getattr(sys, "_base_executable", ""), os.path.realpath(sys.executable)]
    found += [shutil.which(name, path=SYSTEM_PATH) or "" for name in
              (f"python{sys.version_info.major}.{sys.version_info.minor}", "python3")]
    return list(dict.fromkeys(p for p in found if p))


def _can_run(python: str, ids: dict[str, object]) -> str | None:
    """None if `python` starts as this user with the stdlib the harness needs, else why not."""
    try:
        subprocess.run([python, "-I", "-c", "import sys, json, math, re; assert sys.version_info >= (3, 8)"],
                       cwd="/", env={}, capture_output=True, timeout=30, check=True, **ids)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"{python}: {exc}"
    return None


@functools.cache
def identity() -> Identity:
    """Who runs generated code here, found once; SandboxUnavailable if nobody safe can.

    A harness that is not root runs it as itself (the process limit holds for it); a root harness as
    `nobody` with the first interpreter `nobody` can execute, and otherwise not at all.
    """
    if os.geteuid() != 0:
        return Identity(pwd.getpwuid(os.geteuid()).pw_name, sys.executable)
    try:
        entry = pwd.getpwnam("nobody")
        ids: dict[str, object] = {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}
    except KeyError:
        ids = {"user": 65534, "group": 65534, "extra_groups": []}
    why = []
    for python in candidates():
        problem = _can_run(python, ids)
        if problem is None:
            if python != sys.executable:
                log.info("generated code runs as nobody with %s (nobody cannot execute %s)", python, sys.executable)
            return Identity("nobody", python, ids)
        why.append(problem)
    raise SandboxUnavailable(
        "generated code never runs as root, and user nobody can execute none of the Python interpreters here, "
        "so it does not run: install a system python3 (e.g. /usr/bin/python3) or put the virtualenv's base "
        f"Python where nobody can read it (tried {'; '.join(why)})"[:1000])


def _unshare() -> list[str]:
    """The command that starts a program in a user and network namespace of its own, if this system has one."""
    found = shutil.which("unshare", path=SYSTEM_PATH)
    return [found, "--user", "--net"] if found else []


@functools.cache
def network_isolation() -> list[str]:
    """The layers that cut a child's network here: "namespace" (kernel) and "audit hook" (always).

    Checked once, by starting a child as run_code does and asking it which interfaces it can see."""
    probe = "import sys; sys.exit(0 if open('/proc/self/net/dev').read().count(':') == 1 else 3)"
    namespaced = False
    who = identity()  # raises (and so caches nothing) where generated code cannot run at all
    if _unshare():
        try:
            proc = subprocess.run([*_unshare(), who.python, "-I", "-c", probe], cwd="/", env={},
                                  capture_output=True, timeout=30, **who.ids)
            namespaced = proc.returncode == 0
        except (OSError, subprocess.SubprocessError):
            pass
    if not namespaced:
        log.warning("no network namespace for sandboxed code here: only the audit hook cuts its network")
    return ["namespace", "audit hook"] if namespaced else ["audit hook"]


def network_prefix() -> list[str]:
    """What goes before the interpreter on the child's command line: the namespace, where it works here."""
    return _unshare() if "namespace" in network_isolation() else []


def describe() -> str:
    """What holds generated code here, in one line (the lab's /readyz shows it; raises if nothing safe can)."""
    who = identity()
    return (f"network cut by {' + '.join(network_isolation())}; generated code runs as {who.user} "
            f"({who.python}), no new processes, process group killed at the timeout")


def kill_group(pgid: int) -> None:
    """SIGKILL every process left in the group (the child and anything it started)."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def run_group(argv: list[str], timeout_s: float, **popen: object) -> tuple[int | None, str, str]:
    """Run argv in a new session (its own process group); at the timeout, or when the child exits, kill the
    whole group, so no descendant outlives it. Returns (exit status or None on timeout, stdout, stderr)."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, **popen)
    try:
        out, err = proc.communicate(timeout=timeout_s)
        code: int | None = proc.returncode
    except subprocess.TimeoutExpired:
        code = None
        kill_group(proc.pid)  # before the leader is reaped: its pid is still the group's id
        try:
            out, err = proc.communicate(timeout=2)
        except subprocess.TimeoutExpired:  # a descendant that left the group still holds the pipes
            proc.kill()
            out, err = "", ""
    finally:
        kill_group(proc.pid)  # descendants left behind by a child that exited on its own
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return code, out or "", err or ""


def run_code(code: str, tests: list[str], timeout_s: float = 2.0, memory_mb: int = 256) -> Outcome:
    """Run `code`, then each test expression; passed only if every test is truthy.

    Raises SandboxUnavailable where the code cannot run unprivileged and limited (it is then not run)."""
    who = identity()
    with tempfile.TemporaryDirectory(prefix="lab08-sandbox-") as tmp:
        with open(f"{tmp}/solution.py", "w") as f:
            f.write(code)
        with open(f"{tmp}/tests.txt", "w") as f:
            f.write("\n".join(t.replace("\n", " ") for t in tests))
        os.chmod(tmp, 0o755)  # nobody may read the two files, not write beside them
        cpu = int(timeout_s) + 1  # the wall clock should fire first; the CPU limit is the backstop
        argv = [*network_prefix(), who.python, "-I", "-c", _limits(cpu, memory_mb) + HARNESS]
        returncode, _, stderr = run_group(argv, timeout_s, cwd=tmp, env={}, **who.ids)
    outcome = classify(returncode, stderr, timeout_s)
    outcome.log = stderr[-2000:]
    return outcome


def classify(returncode: int | None, stderr: str, timeout_s: float) -> Outcome:
    """An Outcome with the reason a run did not pass: timeout, memory, killed, failed (a test), error."""
    if returncode is None:
        return Outcome(False, "timeout", f"killed after {timeout_s}s")
    if returncode == 0:
        return Outcome(True, "passed")
    if returncode == -signal.SIGXCPU:
        return Outcome(False, "timeout", f"CPU limit: signal {-returncode}")
    if returncode < 0:
        return Outcome(False, "killed", f"killed by signal {-returncode}")
    tail = stderr.strip().splitlines()[-1:] or [f"exit status {returncode}"]
    if tail[0].startswith("MemoryError"):
        return Outcome(False, "memory", tail[0][:300])
    status = "failed" if tail[0].startswith("test ") else "error"
    return Outcome(False, status, tail[0][:300])
