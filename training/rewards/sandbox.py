"""Runs a completion's code and a task's unit tests in a subprocess sandbox, so that whatever the
code does ends as a Verdict (reward 0 with the reason recorded) and the calling process lives on.

Each run gets:
- a fresh temporary directory as its working directory, removed afterwards;
- `python -I -S` (isolated: no PYTHON* variables, no user or venv site packages) and an
  environment scrubbed to PATH and LANG;
- resource limits that the child sets on itself before the code runs (not in preexec_fn, unsafe
  in a threaded caller): RLIMIT_AS (memory), RLIMIT_CPU, RLIMIT_NPROC (0 more processes; not
  enforced for root, so the audit hook also refuses them), RLIMIT_FSIZE (files it writes, its
  output included), RLIMIT_NOFILE;
- an audit hook (`sandbox_child.py`) that ends the child with the reason recorded when the code
  starts a process, opens a socket, changes the filesystem outside its directory, raises its
  limits or introspects the interpreter;
- a wall-clock timeout that kills its whole process group (it runs in a new session);
- no network, twice over: the audit hook ends the child with "network blocked" at the first
  socket, on every machine; and where `unshare -n` works (root, or
  unprivileged user namespaces) the child also runs in an empty network namespace, so code that
  got past the hook still finds no route out.
"""
import json
import math
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from training.rewards.checkers import Verdict

CHILD = Path(__file__).with_name("sandbox_child.py")
OUTPUT_TAIL = 2000


@dataclass(frozen=True)
class SandboxLimits:
    """What one run of untrusted code may use."""

    timeout_s: float = 5.0
    """Wall-clock seconds before the whole process group is killed ("timeout"); CPU seconds are
    capped at the same figure, rounded up."""
    memory_mb: int = 512
    """Address space of the child (RLIMIT_AS), in MiB; beyond it allocations fail ("memory limit")."""
    output_kb: int = 256
    """Largest file the child may write, its stdout and stderr included (RLIMIT_FSIZE), in KiB."""
    open_files: int = 64
    """Most file descriptors open at once (RLIMIT_NOFILE)."""

    def __post_init__(self):
        for name in ("timeout_s", "memory_mb", "output_kb", "open_files"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
                raise ValueError(f"Sandbox limit {name} must be a positive number; got {value!r}.")
        if self.memory_mb < 64:
            raise ValueError(f"Sandbox limit memory_mb must be at least 64 (Python itself needs it); got {self.memory_mb}.")


@lru_cache(maxsize=1)
def network_namespace_available() -> bool:
    """Whether `unshare -n` can put a child in an empty network namespace on this machine."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return False
    try:
        return subprocess.run([unshare, "-n", "true"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _child_limits(limits: SandboxLimits) -> dict:
    """The resource limits the child sets on itself before the code runs (`sandbox_child.set_limits`)."""
    return {"memory_bytes": limits.memory_mb * 1024 * 1024, "cpu_s": math.ceil(limits.timeout_s),
            "file_bytes": limits.output_kb * 1024, "open_files": limits.open_files}


_SIGNAL_REASONS = {signal.SIGXCPU: "timeout (CPU limit)", signal.SIGXFSZ: "output limit"}


def _tail(path: Path) -> str:
    try:
        with path.open("rb") as f:
            f.seek(max(0, path.stat().st_size - OUTPUT_TAIL))
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


def _outcome(result_file: Path, token: str) -> dict | None:
    """The child's last well-formed outcome line; None when it wrote none."""
    try:
        lines = result_file.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    for line in reversed(lines):
        try:
            outcome = json.loads(line)
        except ValueError:
            continue
        if isinstance(outcome, dict) and isinstance(outcome.get("reason"), str):
            if outcome.get("status") == "passed" and outcome.get("token") != token:
                return {"status": "forged", "reason": "a pass without the run's token (the tests did not finish)"}
            return outcome
    return None


def run_code_tests(code: str, tests: str, limits: SandboxLimits = SandboxLimits()) -> Verdict:
    """Runs `code` then `tests` (Python source sharing one namespace: any exception fails) in the
    sandbox. Reward 1 only when the tests ran to the end; otherwise 0 with the reason recorded:
    "timeout", "memory limit", "process limit", "network blocked", "output limit", "syntax error: ...",
    "error in code: ...", "tests failed: ...", "exited before the tests finished ..."."""
    for name, source in (("code", code), ("tests", tests)):
        if not isinstance(source, str):
            raise ValueError(f"The {name} must be Python source as a string; got {type(source).__name__}.")
    token = secrets.token_hex(16)
    command = [sys.executable, "-I", "-S", str(CHILD), "outcome.jsonl"]
    if network_namespace_available():
        command = [shutil.which("unshare"), "-n", *command]
    with tempfile.TemporaryDirectory(prefix="arbiter-sandbox-", ignore_cleanup_errors=True) as workdir:
        work = Path(workdir)
        with (work / "stdout.txt").open("wb") as stdout, (work / "stderr.txt").open("wb") as stderr:
            child = subprocess.Popen(
                command, cwd=work, stdin=subprocess.PIPE, stdout=stdout, stderr=stderr,
                env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}, start_new_session=True,
            )
            timed_out = False
            try:
                child.communicate(json.dumps({"token": token, "code": code, "tests": tests,
                                             "limits": _child_limits(limits)}).encode(),
                                  timeout=limits.timeout_s)
            except subprocess.TimeoutExpired:
                timed_out = True
            finally:
                try:
                    os.killpg(child.pid, signal.SIGKILL)  # whatever the code left behind in its group
                except ProcessLookupError:
                    pass
                child.wait()
        details = {"returncode": child.returncode, "stdout": _tail(work / "stdout.txt"),
                   "stderr": _tail(work / "stderr.txt")}
        outcome = None if timed_out else _outcome(work / "outcome.jsonl", token)
    if timed_out:
        return Verdict(0.0, "timeout", details)
    if outcome is None:
        returncode = child.returncode
        reason = (_SIGNAL_REASONS.get(-returncode, f"killed by signal {signal.Signals(-returncode).name}") if returncode < 0
                  else f"exited before the tests finished (exit code {returncode})")
        return Verdict(0.0, reason, details)
    details.update({k: v for k, v in outcome.items() if k not in ("status", "reason", "token")})
    return Verdict(1.0 if outcome["status"] == "passed" else 0.0, outcome["reason"], details)


_CODE_FENCE = re.compile(r"```(?:python|py)?[ \t]*\n(.*?)```", re.DOTALL)


def extract_code(completion: str) -> str:
    """The code of a completion: its last ```python (or bare ```) fenced block, else all of it."""
    blocks = _CODE_FENCE.findall(completion)
    return blocks[-1] if blocks else completion


def code_tests(completion: str, tests: str, limits: SandboxLimits = SandboxLimits()) -> Verdict:
    """1 when the completion's code (`extract_code`) passes the task's tests in the sandbox
    (`run_code_tests`): `tests` is Python source, asserts typically, run after the code in its
    namespace; the reward is all or nothing."""
    return run_code_tests(extract_code(completion), tests, limits)
