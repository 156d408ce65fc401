"""An OpenAI-compatible chat-completions endpoint as a judge (vLLM, TGI, Ollama, `transformers
serve`, hosted APIs), over the standard library's urllib.

The verdict comes from the first answer token's top log-probabilities when the server returns them
(p(first better) from the "A" and "B" entries), else from the answer's text; an answer that names
neither is no verdict, recorded with its text. Requests are spaced to `requests_per_minute`, and a
refused or failed one (connection error, timeout, 429, 5xx) is retried with exponential back-off,
honouring Retry-After. The key is sent in the Authorization header only; it is never put in an
error, a log line or a recorded answer (redacted should a server echo it)."""
import json
import logging
import math
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from annotation.ai import prompting
from annotation.ai.aggregation import OrderVerdict, p_a_of_first, unshown, verdict_from_probability

logger = logging.getLogger("arbiter.ai")

RETRIABLE_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}
RETRY_AFTER_MAX_S = 60.0


class EndpointError(Exception):
    """The endpoint gave no usable answer (after the retries); the message holds no secret."""


@dataclass
class EndpointSettings:
    url: str  # the server's base URL, ending in /v1
    model: str
    temperature: float = 0.0
    max_tokens: int = 5
    timeout_s: float = 60.0
    retries: int = 3
    backoff_s: float = 1.0
    requests_per_minute: float = 60.0
    logprobs: bool = True

    @classmethod
    def from_labeller(cls, ai) -> "EndpointSettings":
        s = ai.settings or {}
        known = {k: s[k] for k in ("temperature", "max_tokens", "timeout_s", "retries", "backoff_s",
                                   "requests_per_minute", "logprobs") if k in s}
        return cls(url=ai.endpoint_url, model=ai.endpoint_model, **known)


def public_url(url: str) -> str:
    """The URL without user info, query or fragment: what may appear in an error."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.hostname + (f":{parts.port}" if parts.port else "") if parts.hostname else "",
                       parts.path, "", ""))


class RateLimiter:
    """At most `per_minute` requests a minute from this judge, spaced evenly."""

    def __init__(self, per_minute: float, *, clock=time.monotonic, sleep=time.sleep):
        self.interval = 60.0 / per_minute if per_minute and per_minute > 0 else 0.0
        self.next_at = 0.0
        self.lock = threading.Lock()
        self.clock, self.sleep = clock, sleep

    def wait(self) -> None:
        with self.lock:
            now = self.clock()
            if now < self.next_at:
                self.sleep(self.next_at - now)
            self.next_at = max(now, self.next_at) + self.interval


def letter_probability(top_logprobs: list[dict]) -> float | None:
    """p(first better) from a token's top log-probabilities: the "A" and "B" entries (surrounding
    spaces ignored, spellings summed); None when either letter is absent."""
    mass = {"A": 0.0, "B": 0.0}
    for entry in top_logprobs or []:
        token = str(entry.get("token", "")).strip()
        if token in mass and entry.get("logprob") is not None:
            mass[token] += math.exp(float(entry["logprob"]))
    if mass["A"] <= 0 or mass["B"] <= 0:
        return None
    return mass["A"] / (mass["A"] + mass["B"])


class ChatEndpointJudge:
    judges_positions = True

    def __init__(self, settings: EndpointSettings, *, api_key: str = "", template: str = "", tie_margin: float):
        self.settings = settings
        self.judge_model = settings.model
        self.template = template
        self.tie_margin = tie_margin
        self._key = api_key
        self.limiter = RateLimiter(settings.requests_per_minute)
        self.sleep = time.sleep

    def _clean(self, text: str) -> str:
        return text.replace(self._key, "[redacted]") if self._key else text

    def _request(self, body: dict) -> dict:
        url = self.settings.url.rstrip("/") + "/chat/completions"
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self._key:
            headers["Authorization"] = f"Bearer {self._key}"
        data = json.dumps(body).encode()
        last = ""
        for attempt in range(self.settings.retries + 1):
            if attempt:
                delay = self.settings.backoff_s * 2 ** (attempt - 1)
                self.sleep(delay)
            self.limiter.wait()
            try:
                with urllib.request.urlopen(urllib.request.Request(url, data=data, headers=headers, method="POST"),
                                            timeout=self.settings.timeout_s) as response:
                    return json.loads(response.read().decode("utf-8", "replace"))
            except urllib.error.HTTPError as exc:
                detail = exc.read(300).decode("utf-8", "replace")
                last = f"HTTP {exc.code} from {public_url(url)}: {self._clean(detail)}"
                if exc.code not in RETRIABLE_STATUS:
                    break
                retry_after = exc.headers.get("Retry-After") if exc.headers else None
                if retry_after and retry_after.replace(".", "", 1).isdigit():
                    self.sleep(min(float(retry_after), RETRY_AFTER_MAX_S))
            except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
                reason = getattr(exc, "reason", exc)
                last = f"No answer from {public_url(url)}: {type(exc).__name__}: {self._clean(str(reason))}"
            except ValueError as exc:  # not JSON
                last = f"An answer from {public_url(url)} that is not JSON: {exc}"
                break
            logger.warning("AI labeller endpoint, attempt %d: %s", attempt + 1, last)
        raise EndpointError(last)

    def judge(self, *, messages: list[dict], first: str, second: str, order: str, principle: str) -> OrderVerdict:
        prompt = prompting.render(self.template, messages=messages, first=first, second=second, principle=principle)
        body = {"model": self.settings.model, "messages": [{"role": "user", "content": prompt}],
                "temperature": self.settings.temperature, "max_tokens": self.settings.max_tokens, "stream": False}
        if self.settings.logprobs:
            body.update(logprobs=True, top_logprobs=5)
        try:
            answer = self._request(body)
            choice = answer["choices"][0]
            text = (choice.get("message") or {}).get("content") or ""
        except EndpointError as exc:
            return OrderVerdict(order=order, verdict=None, raw="", error=str(exc))
        except (KeyError, IndexError, TypeError, AttributeError):
            return OrderVerdict(order=order, verdict=None, raw=prompting.trimmed(self._clean(json.dumps(answer)[:500])),
                                error="The answer has no choices[0].message.content.")
        text = self._clean(text)
        p_first = self._first_token_probability(choice)
        if p_first is not None:
            p_a = p_a_of_first(p_first, order)
            return OrderVerdict(order=order, verdict=verdict_from_probability(p_a, tie_margin=self.tie_margin), p_a=p_a,
                                raw=prompting.trimmed(text))
        return OrderVerdict(order=order, verdict=unshown(prompting.parse_shown_letter(text), order), p_a=None,
                            raw=prompting.trimmed(text))

    @staticmethod
    def _first_token_probability(choice: dict) -> float | None:
        content = ((choice.get("logprobs") or {}).get("content") or []) if isinstance(choice, dict) else []
        for token in content:
            # the first token that is not only whitespace or punctuation carries the letter
            if str(token.get("token", "")).strip(" \n\t*([:"):
                return letter_probability(token.get("top_logprobs") or [])
        return None
