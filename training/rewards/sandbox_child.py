"""The sandbox's child: runs a completion's code and then the task's tests, in one namespace, and
reports the outcome. Standard library only: it runs as `python -I -S` (no site, no venv packages).

Protocol: stdin carries one JSON object {"token", "code", "tests", "limits"}; the outcome goes to
the file named by argv[1], one JSON line {"status", "reason", ...}; only a pass carries the token,
so code that exits early (os._exit(0), sys.exit()) cannot pass for tests that never ran.

An audit hook, installed before the completion runs and never removed, ends the process at once
(`os._exit`) with the reason recorded when the code tries to open a socket ("network blocked"),
start a process ("process limit"; importing subprocess counts), signal another process, load a C
library with ctypes, trace or introspect the interpreter (gc, tracebacks' frames, settrace),
change its limits, read /proc, or change the filesystem outside its working directory (write,
create, remove, rename, chmod). Reading files elsewhere stays allowed (imports need it).
The run's token never sits in a frame the code can walk to (see `install_guard`). What the
sandbox cannot stop is code that games the tests themselves (an object equal to everything).
"""
import errno
import json
import os
import resource
import sys

VIOLATIONS = {
    "socket.__new__": "network blocked", "socket.connect": "network blocked", "socket.bind": "network blocked",
    "socket.getaddrinfo": "network blocked", "socket.gethostbyname": "network blocked",
    "os.fork": "process limit", "os.forkpty": "process limit", "os.system": "process limit",
    "os.exec": "process limit", "os.posix_spawn": "process limit", "os.spawn": "process limit",
    "subprocess.Popen": "process limit", "pty.spawn": "process limit",
    "os.kill": "blocked: signalling a process", "os.killpg": "blocked: signalling a process",
    "signal.pthread_kill": "blocked: signalling a process",
    "ctypes.dlopen": "blocked: ctypes", "ctypes.dlsym": "blocked: ctypes",
    "sys.settrace": "blocked: tracing", "sys.setprofile": "blocked: tracing",
    "sys.monitoring.register_callback": "blocked: tracing", "sys._current_frames": "blocked: introspection",
    "gc.get_objects": "blocked: introspection", "gc.get_referrers": "blocked: introspection",
    "gc.get_referents": "blocked: introspection", "object.__getattr__": "blocked: introspection",
    "resource.setrlimit": "blocked: changing limits", "resource.prlimit": "blocked: changing limits",
}
# Modules whose functions bypass the audited calls above: _posixsubprocess.fork_exec starts a
# process without "subprocess.Popen", and _ctypes reads and writes raw memory.
BLOCKED_IMPORTS = {"_posixsubprocess": "process limit", "_ctypes": "blocked: ctypes"}


# Events that change the filesystem: (index of a path argument, index of its dir_fd or None).
FILESYSTEM_EVENTS = {
    "os.remove": ((0, 1),), "os.rmdir": ((0, 1),), "os.rename": ((0, 2), (1, 3)), "os.mkdir": ((0, 2),),
    "os.chmod": ((0, 2),), "os.chown": ((0, 3),), "os.link": ((0, 2), (1, 3)), "os.symlink": ((1, 2),),
    "os.utime": ((0, 3),), "os.truncate": ((0, None),), "os.setxattr": ((0, None),),
    "os.removexattr": ((0, None),), "shutil.rmtree": ((0, 1),),
}
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


def set_limits(limits: dict) -> None:
    """Set here rather than in the parent's preexec_fn, which is unsafe in a threaded parent (a
    web or Celery worker); the completion's code only ever runs under them."""
    for name, value in (("RLIMIT_AS", limits["memory_bytes"]), ("RLIMIT_CPU", limits["cpu_s"]),
                        ("RLIMIT_FSIZE", limits["file_bytes"]), ("RLIMIT_NOFILE", limits["open_files"]),
                        ("RLIMIT_NPROC", 0)):
        resource.setrlimit(getattr(resource, name), (value, value))


def resolved(path, dir_fd) -> str | None:
    """The real path an event's path argument names (a path relative to dir_fd, or an open fd);
    None when it cannot be told."""
    try:
        if isinstance(path, int):
            return os.path.realpath(f"/proc/self/fd/{path}")
        path = os.fsdecode(path)
        if isinstance(dir_fd, int) and dir_fd >= 0 and not os.path.isabs(path):
            path = os.path.join(os.readlink(f"/proc/self/fd/{dir_fd}"), path)
        return os.path.realpath(path)
    except (OSError, TypeError, ValueError):
        return None


def filesystem_violation(event: str, args: tuple, workdir: str) -> str | None:
    """Why an event must be refused: a change to the filesystem outside `workdir`, or opening a
    directory outside it (a dir_fd that the audited "open" would not show); None when allowed."""
    def inside(path) -> bool:
        return path is not None and (path == workdir or path.startswith(workdir + os.sep))

    if event == "open":
        path, mode, flags = args
        if isinstance(path, (str, bytes)) and os.fsdecode(path).startswith("/proc"):
            return "blocked: reading /proc"
        real = resolved(path, None)
        writes = bool((flags or 0) & WRITE_FLAGS) or any(c in (mode or "") for c in "wax+")
        if not inside(real) and (writes or (real is not None and os.path.isdir(real))):
            return "blocked: writing outside its directory" if writes else "blocked: a directory outside its own"
        return None
    for path_index, dir_fd_index in FILESYSTEM_EVENTS.get(event, ()):
        dir_fd = args[dir_fd_index] if dir_fd_index is not None else None
        if not inside(resolved(args[path_index], dir_fd)):
            return "blocked: writing outside its directory"
    return None


PASSED_EVENT = "arbiter.sandbox.passed"


def report(out: int, status: str, reason: str, **extra) -> None:
    """Writes an outcome line (never a pass: only the guard can) and ends the process here, so no
    atexit handler or finaliser of the completion runs after it."""
    os.write(out, (json.dumps({"status": status, "reason": reason[:500], **extra}) + "\n").encode())
    os._exit(0)


def failure(exc: BaseException, stage: str) -> tuple[str, str]:
    """(status, reason) of an exception that ended the code's or the tests' stage."""
    if isinstance(exc, MemoryError):
        return "violation", "memory limit"
    if isinstance(exc, OSError) and exc.errno == errno.EFBIG:
        return "violation", "output limit"
    if isinstance(exc, SystemExit):
        return "exited", f"exited before the tests finished (sys.exit({exc.code!r}))"
    line = exc.__traceback__.tb_next.tb_lineno if exc.__traceback__ and exc.__traceback__.tb_next else None
    where = f" ({stage}.py line {line})" if line else ""
    text = str(exc)
    message = (f"{type(exc).__name__}: {text}" if text else type(exc).__name__)[:300]
    return "failed", (f"tests failed: {message}{where}" if stage == "tests" else f"error in code: {message}{where}")


def run_stages(code, tests, namespace: dict, out: int) -> None:
    """Runs the code, then the tests, in one namespace; only when both end without an exception
    does it raise PASSED_EVENT, on which the guard writes the pass."""
    audit = sys.audit  # taken before the code runs: replacing sys.audit cannot silence a pass
    for stage, compiled in (("code", code), ("tests", tests)):
        try:
            exec(compiled, namespace)
        except BaseException as exc:  # noqa: BLE001: every way the completion ends is an outcome
            report(out, *failure(exc, stage))
    audit(PASSED_EVENT)


def install_guard(*, token: str, out: int, workdir: str, tests, stages_code) -> None:
    """Installs the audit hook for good. The token lives only in its closure, which nothing the
    code can reach refers to (the hook list is not visible from Python, gc is blocked), so walking
    the frames finds no token. A pass is written only for PASSED_EVENT raised by `run_stages`'s
    own code (`stages_code`) with the real tests: the code cannot read f_code (audited) to make a
    function of its own from it, and raising the event itself is a forged pass."""
    checking = []

    def guard(event: str, args: tuple) -> None:
        if checking:  # the events raised by the check below (sys._getframe, f_code)
            return
        if event == PASSED_EVENT:
            checking.append(True)
            caller = sys._getframe(1)
            genuine = caller.f_code is stages_code and caller.f_locals.get("tests") is tests
            if genuine:
                line = {"status": "passed", "reason": "passed", "token": token}
                os.write(out, (json.dumps(line) + "\n").encode())
                os._exit(0)
            report(out, "violation", "blocked: a forged pass", event=event)
        reason = BLOCKED_IMPORTS.get(args[0]) if event == "import" else VIOLATIONS.get(event)
        if reason is None:
            reason = filesystem_violation(event, args, workdir)
        if reason is not None:
            report(out, "violation", reason, event=event)

    sys.addaudithook(guard)


def main() -> None:
    request = json.loads(sys.stdin.read())
    os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
    out = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        code = compile(request["code"], "code.py", "exec")
    except (SyntaxError, ValueError) as exc:
        report(out, "failed", f"syntax error: {getattr(exc, 'msg', exc)} (line {getattr(exc, 'lineno', '?')})")
    try:
        tests = compile(request["tests"], "tests.py", "exec")
    except (SyntaxError, ValueError) as exc:
        report(out, "failed", f"the tests do not compile: {getattr(exc, 'msg', exc)}")
    set_limits(request["limits"])
    install_guard(token=request.pop("token"), out=out, workdir=os.path.realpath(os.getcwd()), tests=tests,
                  stages_code=run_stages.__code__)
    run_stages(code, tests, {"__name__": "__main__", "__builtins__": __builtins__}, out)


if __name__ == "__main__":
    main()
