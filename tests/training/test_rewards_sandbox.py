"""The code sandbox: whatever a completion's code does ends as a verdict with the reason recorded,
and the calling process lives on to run the next check."""
import pytest

from training.rewards.sandbox import SandboxLimits, code_tests, run_code_tests

FAST = SandboxLimits(timeout_s=1.5, memory_mb=256)
TESTS = "assert add(2, 3) == 5"
GOOD = "def add(a, b):\n    return a + b\n"


def run(code: str, tests: str = TESTS):
    return run_code_tests(code, tests, FAST)


def test_code_that_passes_its_tests_gets_reward_1():
    verdict = run(GOOD)
    assert (verdict.reward, verdict.reason) == (1.0, "passed")


def test_a_failed_assertion_is_recorded_with_its_line():
    verdict = run("def add(a, b):\n    return a - b\n", "assert add(0, 0) == 0\nassert add(2, 3) == 5, 'add(2, 3)'")
    assert (verdict.reward, verdict.reason) == (0.0, "tests failed: AssertionError: add(2, 3) (tests.py line 2)")


def test_an_error_in_the_code_is_not_a_test_failure():
    assert run("def add(a, b):\n    return a + b\nundefined_name\n").reason.startswith("error in code: NameError")


def test_a_syntax_error_is_recorded():
    assert run("def add(a, b)\n    return a + b\n").reason.startswith("syntax error")


def test_an_infinite_loop_times_out():
    verdict = run("while True:\n    pass\n")
    assert (verdict.reward, verdict.reason) == (0.0, "timeout")


def test_a_fork_bomb_hits_the_process_limit():
    verdict = run("import os\nwhile True:\n    os.fork()\n")
    assert (verdict.reward, verdict.reason) == (0.0, "process limit")


def test_importing_subprocess_hits_the_process_limit():
    assert run("import subprocess\nsubprocess.run(['true'])\n").reason == "process limit"


def test_a_large_allocation_hits_the_memory_limit():
    verdict = run("blob = bytearray(4 * 1024 ** 3)\n")
    assert (verdict.reward, verdict.reason) == (0.0, "memory limit")


def test_a_network_call_is_blocked():
    verdict = run("import urllib.request\nurllib.request.urlopen('http://example.com', timeout=1)\n")
    assert (verdict.reward, verdict.reason) == (0.0, "network blocked")


def test_signalling_the_calling_process_is_blocked():
    assert run("import os\nos.kill(os.getppid(), 0)\n").reason == "blocked: signalling a process"


def test_too_much_output_hits_the_output_limit():
    assert run("print('x' * 10_000_000)\n").reason == "output limit"


@pytest.mark.parametrize("code", ["import os\nos._exit(0)\n", "import sys\nsys.exit(0)\n"])
def test_exiting_before_the_tests_run_is_not_a_pass(code):
    verdict = run(GOOD + code)
    assert verdict.reward == 0.0 and verdict.reason.startswith("exited before the tests finished")


def test_a_forged_pass_without_the_run_token_is_not_a_pass():
    forged = ("import json, os\nwith open('outcome.jsonl', 'a') as f:\n"
              "    f.write(json.dumps({'status': 'passed', 'reason': 'passed', 'token': 'guess'}) + '\\n')\nos._exit(0)\n")
    verdict = run(forged)
    assert verdict.reward == 0.0 and verdict.reason.startswith("a pass without the run's token")


def test_each_run_starts_in_a_fresh_directory():
    assert run(GOOD + "open('left-behind.txt', 'w').write('x')\n").reward == 1.0
    assert run(GOOD, TESTS + "\nimport os\nassert not os.path.exists('left-behind.txt')").reward == 1.0


def test_the_environment_is_scrubbed(monkeypatch):
    monkeypatch.setenv("ARBITER_SECRET_FOR_TEST", "s3cret")
    verdict = run(GOOD, TESTS + "\nimport os\nassert sorted(os.environ) == ['LANG', 'PATH'], sorted(os.environ)")
    assert verdict.reward == 1.0, verdict.reason


def test_code_tests_runs_the_last_fenced_block():
    completion = "First try:\n```python\ndef add(a, b):\n    return 0\n```\nFixed:\n```python\n" + GOOD + "```\n"
    assert code_tests(completion, TESTS, FAST).reward == 1.0


def test_the_caller_keeps_running_after_every_kind_of_failure():
    reasons = [run(code).reason for code in ("while True:\n    pass\n", "import os\nwhile True:\n    os.fork()\n",
                                             "blob = bytearray(4 * 1024 ** 3)\n")]
    assert reasons == ["timeout", "process limit", "memory limit"]
    assert run(GOOD).reward == 1.0


@pytest.mark.parametrize("field, value", [("timeout_s", 0), ("memory_mb", 8), ("output_kb", float("nan"))])
def test_bad_sandbox_limits_are_value_errors(field, value):
    with pytest.raises(ValueError, match=field):
        SandboxLimits(**{field: value})


def test_the_network_stays_blocked_without_a_network_namespace(monkeypatch):
    """Where `unshare -n` is refused (no root, no user namespaces) the audit hook alone blocks it."""
    from training.rewards import sandbox

    monkeypatch.setattr(sandbox, "network_namespace_available", lambda: False)
    assert run("import socket\nsocket.create_connection(('127.0.0.1', 6379), timeout=1)\n").reason == "network blocked"


def test_removing_a_file_outside_its_directory_is_blocked(tmp_path):
    victim = tmp_path / "precious.txt"
    victim.write_text("keep me")
    verdict = run(f"import os\nos.remove({str(victim)!r})\n")
    assert verdict.reason == "blocked: writing outside its directory"
    assert victim.read_text() == "keep me"


def test_writing_a_file_outside_its_directory_is_blocked(tmp_path):
    verdict = run(f"open({str(tmp_path / 'new.txt')!r}, 'w').write('x')\n")
    assert verdict.reason == "blocked: writing outside its directory"
    assert not (tmp_path / "new.txt").exists()


def test_a_directory_fd_outside_its_directory_is_refused(tmp_path):
    """os.remove(name, dir_fd=...) would reach outside through a directory opened for reading."""
    (tmp_path / "precious.txt").write_text("keep me")
    verdict = run(f"import os\nfd = os.open({str(tmp_path)!r}, os.O_RDONLY)\nos.remove('precious.txt', dir_fd=fd)\n")
    assert verdict.reason == "blocked: a directory outside its own"
    assert (tmp_path / "precious.txt").exists()


def test_raising_its_own_limits_is_blocked():
    code = "import resource\nresource.setrlimit(resource.RLIMIT_AS, (-1, -1))\n"
    assert run(code).reason == "blocked: changing limits"


def test_a_crash_is_recorded_with_its_signal():
    verdict = run("import signal\nsignal.raise_signal(signal.SIGSEGV)\n")
    assert (verdict.reward, verdict.reason) == (0.0, "killed by signal SIGSEGV")


READ_TOKEN_FROM_FRAMES = """
import json, os, re, sys
found, frame = set(), sys._getframe(0)
while frame is not None:
    for value in list(frame.f_locals.values()):
        for text in ([value] if isinstance(value, str) else list(value.values()) if isinstance(value, dict) else []):
            if isinstance(text, str) and re.fullmatch('[0-9a-f]{32}', text):
                found.add(text)
    frame = frame.f_back
with open('outcome.jsonl', 'a') as out:
    for token in found:
        out.write(json.dumps({'status': 'passed', 'reason': 'passed', 'token': token}) + '\\n')
os._exit(0)
"""


def test_the_run_token_cannot_be_read_from_the_harness_frames():
    verdict = run(READ_TOKEN_FROM_FRAMES)
    assert verdict.reward == 0.0, verdict.reason


def test_raising_the_pass_event_itself_is_a_forged_pass():
    verdict = run("import sys\nsys.audit('arbiter.sandbox.passed')\n")
    assert (verdict.reward, verdict.reason) == (0.0, "blocked: a forged pass")


def test_tests_that_are_not_text_are_a_value_error():
    with pytest.raises(ValueError, match="tests must be Python source as a string; got NoneType"):
        run_code_tests(GOOD, None, FAST)
