"""Verifiable reward checkers: each scores one completion against what the task states, and returns
a Verdict (reward in [0, 1], the reason in words, details for the run's logs). Parameters that come
from a run's configuration (a regular expression, a JSON schema) are checked once, when the reward
spec is parsed (`training.rewards.spec`), and raise ValueError there, naming what is wrong.

Nothing here touches Django: the checkers run inside training processes under `accelerate launch`.
"""
import json
import math
import re
import unicodedata
from dataclasses import dataclass, field
from fractions import Fraction


@dataclass(frozen=True)
class Verdict:
    """What one checker concluded about one completion."""

    reward: float
    """In [0, 1]: 1 for a completion that fully satisfies the checker."""
    reason: str
    """Why, in words: "match", "no number found", "timeout", "tests failed: AssertionError ..."."""
    details: dict = field(default_factory=dict)
    """What the checker saw (the extracted answer, the sandbox's output tail), for logs."""

    def __post_init__(self):
        if not (0.0 <= self.reward <= 1.0) or math.isnan(self.reward):
            raise ValueError(f"A verdict's reward must lie in [0, 1]; got {self.reward!r} ({self.reason}).")


# ---- exact match ---------------------------------------------------------------------------------
_TRAILING_PUNCTUATION = ".,;:!?"


def normalise_answer(text: str) -> str:
    """Unicode NFKC, casefolded, whitespace collapsed to single spaces, stripped, and trailing
    punctuation (. , ; : ! ?) dropped: "  The  Cat.\n" -> "the cat"."""
    text = " ".join(unicodedata.normalize("NFKC", text).casefold().split())
    return text.rstrip(_TRAILING_PUNCTUATION + " ")


def exact_match(completion: str, reference: str) -> Verdict:
    """1 when the completion equals the reference once both are normalised (`normalise_answer`)."""
    got, expected = normalise_answer(completion), normalise_answer(reference)
    details = {"normalised": got, "expected": expected}
    if got == expected:
        return Verdict(1.0, "match", details)
    return Verdict(0.0, f"no match: got {got[:80]!r}, expected {expected[:80]!r}", details)


# ---- numeric match -------------------------------------------------------------------------------
# A signed number: thousands with commas ("1,234"), a decimal part, an exponent, or a fraction a/b.
_NUMBER = r"[-+−]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][-+]?\d{1,3}(?!\d))?|[-+−]?\.\d+"
_FRACTION = re.compile(rf"(?P<num>{_NUMBER})\s*/\s*(?P<den>{_NUMBER})")
_NUMBER_OR_FRACTION = re.compile(rf"(?:{_NUMBER})(?:\s*/\s*(?:{_NUMBER}))?")
_LATEX_FRACTION = re.compile(r"(?P<sign>[-+−]?)\\[dt]?frac\{(?P<num>[^{}]+)\}\{(?P<den>[^{}]+)\}")


def _to_fraction(text: str) -> Fraction:
    """"-1,234.5" / "3/4" / "2e3" -> an exact Fraction; ZeroDivisionError for a zero denominator."""
    text = text.replace("−", "-").replace(",", "")
    match = _FRACTION.fullmatch(text)
    if match:
        return Fraction(match["num"].replace(",", "")) / Fraction(match["den"].replace(",", ""))
    return Fraction(text)


def _last_boxed(text: str) -> str | None:
    """The contents of the last `\\boxed{...}` (or `\\fbox{...}`), nested braces balanced; None when
    there is none or its braces never close."""
    starts = [m.end() for m in re.finditer(r"\\(?:boxed|fbox)\{", text)]
    if not starts:
        return None
    depth, start = 1, starts[-1]
    for i in range(start, len(text)):
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        if depth == 0:
            return text[start:i]
    return None


def _boxed_number(boxed: str) -> tuple[str, Fraction] | None:
    """The number that a \\boxed{} states on its own: a plain number, a fraction a/b or a LaTeX
    \\frac{a}{b} (\\dfrac, \\tfrac); None for anything else (\\sqrt{2}, 3\\text{ cm}, x+1)."""
    text = boxed.strip().strip("$").strip()
    while text.startswith("{") and text.endswith("}"):
        text = text[1:-1].strip()
    latex = _LATEX_FRACTION.fullmatch(text)
    if latex:
        value = _to_fraction(latex["num"].strip()) / _to_fraction(latex["den"].strip())
        return text, -value if latex["sign"] in ("-", "−") else value
    return (text, _to_fraction(text)) if _NUMBER_OR_FRACTION.fullmatch(text) else None


def extract_final_number(text: str) -> tuple[str, Fraction, str] | None:
    """(the answer as written, its exact value, where it was found) of a completion's final answer:
    1. after the last `####` (GSM8K), the first number there;
    2. else the last `\\boxed{...}` (MATH), when it holds just a number, a/b or \\frac{a}{b};
    3. else the last number in the text.
    Numbers may carry a sign, thousands commas ("1,234"), a decimal part or an exponent of at most
    three digits (larger ones are not read as numbers, so no answer builds a huge integer). Not
    supported (None or another number is read): mixed numbers ("1 1/2"), percentages as fractions
    ("50%" reads 50), words ("twelve"), symbolic answers (\\sqrt{2}, \\pi), nested \\frac.
    None when no number is found or a denominator is zero."""
    try:
        if "####" in text:
            after = text.rsplit("####", 1)[1]
            found = _NUMBER_OR_FRACTION.search(after)
            return (found.group(0), _to_fraction(found.group(0)), "####") if found else None
        boxed = _last_boxed(text)
        if boxed is not None:
            number = _boxed_number(boxed)
            return (*number, "boxed") if number else None
        found = _NUMBER_OR_FRACTION.findall(text)
        return (found[-1], _to_fraction(found[-1]), "last number") if found else None
    except (ZeroDivisionError, ValueError):
        return None


def parse_reference_number(reference: str) -> Fraction:
    """A task's numeric reference ("42", "-3/4", "1,000", "\\frac{3}{4}") as an exact value;
    ValueError naming it when it states no single number."""
    number = extract_final_number(str(reference))
    if number is None:
        raise ValueError(f"The reference {reference!r} is not a number (e.g. 42, -1.5, 3/4).")
    return number[1]


def numeric_match(completion: str, reference: str, *, rel_tol: float = 1e-6, abs_tol: float = 1e-9) -> Verdict:
    """1 when the completion's final answer (`extract_final_number`) equals the reference within
    `math.isclose(answer, reference, rel_tol=rel_tol, abs_tol=abs_tol)`."""
    expected = parse_reference_number(reference)
    found = extract_final_number(completion)
    if found is None:
        return Verdict(0.0, "no number found", {"expected": str(reference)})
    written, value, source = found
    details = {"extracted": written, "source": source, "value": str(value), "expected": str(expected)}
    try:
        close = value == expected or math.isclose(float(value), float(expected), rel_tol=rel_tol, abs_tol=abs_tol)
    except OverflowError:  # beyond a float (1e999): exact equality above was the only way to match
        close = False
    if close:
        return Verdict(1.0, "match", details)
    return Verdict(0.0, f"wrong answer: {written} ({source}), expected {reference}", details)


# ---- regular-expression format -------------------------------------------------------------------
FORMAT_MODES = ("fullmatch", "search")


def compile_format(pattern: str) -> re.Pattern:
    """The compiled pattern; ValueError naming the pattern and the error when it does not compile.
    Flags go inline: "(?s)" lets "." cross lines, "(?i)" ignores case."""
    if not isinstance(pattern, str):
        raise ValueError(f"A format pattern must be a string; got {type(pattern).__name__}.")
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"The format pattern {pattern!r} is not a valid regular expression: {exc}.") from exc


def check_format_mode(mode: str) -> str:
    if mode not in FORMAT_MODES:
        raise ValueError(f"A format mode must be one of {', '.join(FORMAT_MODES)}; got {mode!r}.")
    return mode


def regex_format(completion: str, pattern: str | re.Pattern, *, mode: str = "fullmatch") -> Verdict:
    """1 when the completion has the required format. mode="fullmatch": the whole completion
    (leading/trailing whitespace stripped) must match the pattern; mode="search": the pattern must
    occur somewhere in it."""
    check_format_mode(mode)
    compiled = compile_format(pattern) if isinstance(pattern, str) else pattern
    matched = compiled.fullmatch(completion.strip()) if mode == "fullmatch" else compiled.search(completion)
    if matched:
        return Verdict(1.0, "format ok", {"mode": mode})
    return Verdict(0.0, f"format mismatch ({mode} of {compiled.pattern[:80]!r})", {"mode": mode})


# ---- JSON-schema validity ------------------------------------------------------------------------
_JSON_FENCE = re.compile(r"```(?:json)?\s*\n(.*?)```", re.DOTALL)


def json_schema_validator(schema: dict):
    """A validator for `schema` (its own $schema draft, else 2020-12); ValueError when the schema
    itself is invalid."""
    import jsonschema

    if not isinstance(schema, dict):
        raise ValueError(f"A JSON schema must be an object; got {type(schema).__name__}.")
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    try:
        cls.check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise ValueError(f"The JSON schema is invalid: {exc.message}.") from exc
    return cls(schema)


def json_schema_valid(completion: str, schema) -> Verdict:
    """1 when the completion is JSON that the schema accepts. The JSON is the whole completion
    (stripped), or the last ```json fenced block when it has one. `schema` is a dict or a validator
    from `json_schema_validator`."""
    validator = json_schema_validator(schema) if isinstance(schema, dict) else schema
    fenced = _JSON_FENCE.findall(completion)
    text = (fenced[-1] if fenced else completion).strip()
    try:
        document = json.loads(text)
    except ValueError as exc:
        return Verdict(0.0, f"not JSON: {exc}", {})
    error = next(iter(sorted(validator.iter_errors(document), key=lambda e: list(e.path))), None)
    if error is None:
        return Verdict(1.0, "valid", {})
    where = "/".join(str(p) for p in error.path) or "(root)"
    return Verdict(0.0, f"schema violation at {where}: {error.message[:200]}", {"path": where})
