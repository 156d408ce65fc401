"""The sandbox's child: runs a completion's code and then the task's tests, in one namespace, and
reports the outcome. Standard library only: it runs as `python -I -S` (no site, no venv packages).

Protocol: stdin carries one JSON object {"token", "code", "tests"}; the outcome goes to the file
named by argv[1], one JSON line {"status", "reason", ...}; only a pass carries the token, so code
that exits early (os._exit(0), sys.exit()) cannot pass for tests that never ran.

An audit hook, installed before the completion runs and never removed, ends the process at once
(`os._exit`) with the reason recorded when the code tries to open a socket ("network blocked"),
start a process ("process limit"; importing subprocess counts), signal another process, load a C library with ctypes, trace or
introspect the interpreter (gc, tracebacks' frames, settrace), or read /proc. Known hole:
`sys._getframe(0).f_back` reaches this module's frames (namedtuple and enum need _getframe, so it
stays allowed); a completion written to read the token that way could fake a pass. The sandbox
contains accidents and reward hacking by early exit, not a determined adversary.
"""
import errno
import json
import os
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
}
# Modules whose functions bypass the audited calls above: _posixsubprocess.fork_exec starts a
# process without "subprocess.Popen", and _ctypes reads and writes raw memory.
BLOCKED_IMPORTS = {"_posixsubprocess": "process limit", "_ctypes": "blocked: ctypes"}


def main() -> None:
    request = json.loads(sys.stdin.read())
    token = request["token"]
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    out = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)

    def report(status: str, reason: str, **extra) -> None:
        """Writes the outcome and ends the process here: no atexit handler or finaliser of the
        completion runs after it."""
        line = {"status": status, "reason": reason[:500], **extra}
        if status == "passed":
            line["token"] = token
        os.write(out, (json.dumps(line) + "\n").encode())
        os._exit(0)

    def guard(event: str, args: tuple) -> None:
        reason = VIOLATIONS.get(event)
        if event == "import":
            reason = BLOCKED_IMPORTS.get(args[0])
        if reason is None and event == "open" and isinstance(args[0], (str, bytes)):
            path = os.fsdecode(args[0])
            reason = "blocked: reading /proc" if path.startswith("/proc") else None
        if reason is not None:
            report("violation", reason, event=event)

    def failure(exc: BaseException, stage: str) -> tuple[str, str]:
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

    try:
        code = compile(request["code"], "code.py", "exec")
    except (SyntaxError, ValueError) as exc:
        report("failed", f"syntax error: {getattr(exc, 'msg', exc)} (line {getattr(exc, 'lineno', '?')})")
    try:
        tests = compile(request["tests"], "tests.py", "exec")
    except (SyntaxError, ValueError) as exc:
        report("failed", f"the tests do not compile: {getattr(exc, 'msg', exc)}")

    namespace = {"__name__": "__main__", "__builtins__": __builtins__}
    sys.addaudithook(guard)
    for stage, compiled in (("code", code), ("tests", tests)):
        try:
            exec(compiled, namespace)
        except BaseException as exc:  # noqa: BLE001: every way the completion ends is an outcome
            report(*failure(exc, stage))
    report("passed", "passed")


if __name__ == "__main__":
    main()
