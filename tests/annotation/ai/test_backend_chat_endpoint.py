"""The chat-endpoint judge against a real local HTTP server: log-probabilities, text, retries with
back-off, errors, the key."""
import math

import pytest

from annotation.ai.backends import backend_for
from annotation.ai.backends.chat_endpoint import RateLimiter
from annotation.ai.services import ai_labeller_create
from common.exceptions import ApplicationError
from tests.annotation.ai.endpoint_stub import StubEndpoint, completion

pytestmark = pytest.mark.django_db
KEY = "sk-test-5f3a9c1e-never-shown"
ARGS = dict(messages=[{"role": "user", "content": "hi"}], first="one", second="two", principle="Be kind.")


def endpoint_judge(url, *, api_key_env="", **settings):
    ai = ai_labeller_create(username="api-judge", backend="openai", endpoint_url=url, endpoint_model="judge-1",
                            api_key_env=api_key_env, settings={"backoff_s": 0.01, **settings})
    return backend_for(ai)


def test_verdict_from_the_log_probabilities_when_the_server_returns_them():
    answer = completion("A", [("A", math.log(0.6)), (" B", math.log(0.2)), ("C", math.log(0.1))])
    with StubEndpoint(lambda body, n: (200, answer, {})) as server:
        verdict = endpoint_judge(server.url).judge(order="ba", **ARGS)
        assert server.requests[0]["body"]["logprobs"] is True and server.requests[0]["body"]["model"] == "judge-1"
    # first shown (B in "ba") has p = 0.6 / (0.6 + 0.2) = 0.75, so p_a = 0.25
    assert verdict.p_a == pytest.approx(0.25)
    assert (verdict.verdict, verdict.raw) == ("b", "A")


def test_verdict_from_the_text_when_there_are_no_log_probabilities():
    with StubEndpoint(lambda body, n: (200, completion("Answer: B"), {})) as server:
        verdict = endpoint_judge(server.url).judge(order="ba", **ARGS)
    assert (verdict.verdict, verdict.p_a, verdict.raw) == ("a", None, "Answer: B")


def test_an_unreadable_answer_is_no_verdict_with_its_text_recorded():
    with StubEndpoint(lambda body, n: (200, completion("Both have merits."), {})) as server:
        verdict = endpoint_judge(server.url).judge(order="ab", **ARGS)
    assert (verdict.verdict, verdict.raw, verdict.error) == (None, "Both have merits.", None)


def test_refusals_and_server_errors_are_retried_with_growing_back_off():
    def answer(body, n):
        if n == 0:
            return 429, {"error": "slow down"}, {"Retry-After": "0"}
        if n == 1:
            return 503, {"error": "busy"}, {}
        return 200, completion("B"), {}

    with StubEndpoint(answer) as server:
        judge = endpoint_judge(server.url, backoff_s=0.02, retries=3)
        slept = []
        judge.sleep = slept.append
        verdict = judge.judge(order="ab", **ARGS)
        assert len(server.requests) == 3
    assert verdict.verdict == "b"
    assert [s for s in slept if s > 0] == [0.02, 0.04]  # backoff_s * 2 ** (retry - 1); Retry-After 0 adds 0


def test_retries_end_in_an_error_on_the_verdict_not_an_exception():
    with StubEndpoint(lambda body, n: (500, {"error": "down"}, {})) as server:
        judge = endpoint_judge(server.url, retries=2)
        judge.sleep = lambda s: None
        verdict = judge.judge(order="ab", **ARGS)
        assert len(server.requests) == 3
    assert verdict.verdict is None and verdict.error.startswith("HTTP 500 from http://127.0.0.1")


def test_the_key_is_sent_but_never_in_an_error_even_when_the_server_echoes_it(monkeypatch, caplog):
    monkeypatch.setenv("ARBITER_TEST_JUDGE_KEY", KEY)
    with StubEndpoint(lambda body, n: (401, {"error": f"bad key Bearer {KEY}"}, {})) as server:
        verdict = endpoint_judge(server.url, api_key_env="ARBITER_TEST_JUDGE_KEY").judge(order="ab", **ARGS)
        assert server.requests[0]["headers"]["Authorization"] == f"Bearer {KEY}"
        assert len(server.requests) == 1  # a 401 is not retried
    assert "HTTP 401" in verdict.error and "[redacted]" in verdict.error
    assert KEY not in verdict.error and KEY not in caplog.text


def test_a_key_variable_that_is_not_set_is_an_error_naming_the_variable(monkeypatch):
    monkeypatch.delenv("ARBITER_TEST_JUDGE_KEY", raising=False)
    with pytest.raises(ApplicationError, match="ARBITER_TEST_JUDGE_KEY"):
        endpoint_judge("http://127.0.0.1:9/v1", api_key_env="ARBITER_TEST_JUDGE_KEY")


def test_requests_are_spaced_to_the_rate_limit():
    slept = []
    limiter = RateLimiter(600, clock=lambda: 100.0, sleep=slept.append)  # a clock that stands still
    for _ in range(3):
        limiter.wait()
    assert slept == pytest.approx([0.1, 0.2])  # 60 / 600 s apart: the 2nd waits 0.1 s, the 3rd 0.2 s
