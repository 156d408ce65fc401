"""A run's reward: several checkers combined with weights, e.g. correctness + format, optionally
with a trained reward model from rewardmodel/, so one run mixes verifiable and learnt rewards.

A reward spec is a list of terms, parsed and validated once, before anything runs:

    [{"checker": "numeric", "weight": 1.0, "rel_tol": 1e-6},
     {"checker": "regex", "weight": 0.2, "pattern": "(?s).*#### -?\\\\d+", "mode": "fullmatch"},
     {"checker": "reward_model", "weight": 0.5}]

Each term: "checker" (one of CHECKERS), "weight" (a finite number, default 1), "name" (default:
the checker; names must be unique), and that checker's parameters:
- "exact": none (the task's reference);         - "numeric": rel_tol, abs_tol (the reference);
- "regex": pattern, mode;                       - "json_schema": schema;
  (without pattern / schema, the task's reference is the pattern / the schema: per-task formats);
- "code_tests": timeout_s, memory_mb, output_kb, open_files (the reference is the tests' source);
- "reward_model": none; the learnt scorer is passed to `parse_reward_spec`, and its raw score s
  becomes the reward sigmoid(s) in (0, 1), the Bradley-Terry probability of beating a response
  of score 0; the raw score is kept in the verdict's details.
"""
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache, partial

from scipy.special import expit

from training.rewards.checkers import (
    Verdict,
    check_format_mode,
    compile_format,
    exact_match,
    json_schema_valid,
    json_schema_validator,
    numeric_match,
    regex_format,
)
from training.rewards.sandbox import SandboxLimits, code_tests

LearntReward = Callable[[list, list[str]], list[float]]
"""Raw scores of (prompts, completions), one float per completion (`reward_model_scorer`)."""

CHECKERS = ("exact", "numeric", "regex", "json_schema", "code_tests", "reward_model")
_PARAMETERS = {
    "exact": set(), "numeric": {"rel_tol", "abs_tol"}, "regex": {"pattern", "mode"}, "json_schema": {"schema"},
    "code_tests": {"timeout_s", "memory_mb", "output_kb", "open_files"}, "reward_model": set(),
}
_REQUIRED: dict[str, set] = {}


@dataclass(frozen=True)
class RewardTerm:
    """One validated entry of a reward spec."""

    name: str
    checker: str
    weight: float
    check: Callable[[str, str], Verdict] | None
    """(completion, reference) -> Verdict; None for the learnt term, scored a batch at a time."""


def _tolerance(entry: dict, key: str, default: float, where: str) -> float:
    value = entry.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{where}: {key} must be a non-negative number; got {value!r}.")
    return float(value)


def _bind(checker: str, entry: dict, where: str) -> Callable[[str, str], Verdict] | None:
    """The checker with its parameters validated and bound."""
    if checker == "exact":
        return exact_match
    if checker == "numeric":
        return partial(numeric_match, rel_tol=_tolerance(entry, "rel_tol", 1e-6, where),
                       abs_tol=_tolerance(entry, "abs_tol", 1e-9, where))
    try:
        if checker == "regex":
            bound_mode = check_format_mode(entry.get("mode", "fullmatch"))
            if "pattern" not in entry:  # the task's reference is its pattern (re caches the compiled one)
                return lambda completion, reference: regex_format(completion, reference, mode=bound_mode)
            pattern = compile_format(entry["pattern"])
            return lambda completion, reference: regex_format(completion, pattern, mode=bound_mode)
        if checker == "json_schema":
            if "schema" not in entry:  # the task's reference is its schema, as JSON text
                return lambda completion, reference: json_schema_valid(completion, _reference_schema(reference))
            validator = json_schema_validator(entry["schema"])
            return lambda completion, reference: json_schema_valid(completion, validator)
        if checker == "code_tests":
            limits = SandboxLimits(**{k: entry[k] for k in _PARAMETERS["code_tests"] if k in entry})
            return partial(code_tests, limits=limits)
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from exc
    return None


@lru_cache(maxsize=256)
def _reference_schema(reference: str):
    """The validator of a task's JSON-schema reference (checked when the task was imported)."""
    import json

    return json_schema_validator(json.loads(reference))


@dataclass(frozen=True)
class RewardSpec:
    """A parsed reward spec (`parse_reward_spec`): its terms, in the order given, and how to combine them."""

    terms: tuple[RewardTerm, ...]
    normalise: bool
    learnt: LearntReward | None

    @property
    def weights(self) -> dict[str, float]:
        return {t.name: t.weight for t in self.terms}

    def score(self, prompts: Sequence, completions: Sequence[str],
              references: Sequence[str]) -> list[tuple[float, dict[str, Verdict]]]:
        """(combined reward, {term name: Verdict}) of each completion; the learnt term, if any,
        scores all of them in one call."""
        if not len(prompts) == len(completions) == len(references):
            raise ValueError(f"{len(prompts)} prompts, {len(completions)} completions and {len(references)} "
                             "references: there must be one of each per completion.")
        learnt = [t for t in self.terms if t.check is None]
        raw = [float(s) for s in self.learnt(list(prompts), list(completions))] if learnt else []
        if learnt and len(raw) != len(completions):
            raise ValueError(f"The learnt reward returned {len(raw)} scores for {len(completions)} completions.")
        results = []
        for i, (completion, reference) in enumerate(zip(completions, references)):
            verdicts = {}
            for term in self.terms:
                if term.check is None:
                    verdicts[term.name] = Verdict(float(expit(raw[i])), "reward model", {"score": raw[i]})
                else:
                    verdicts[term.name] = term.check(completion, reference)
            results.append((combined_reward(verdicts, self.weights, normalise=self.normalise), verdicts))
        return results


def combined_reward(verdicts_by_name: dict[str, Verdict], weights: dict[str, float], *, normalise: bool = False) -> float:
    """sum_k weights[k] * verdicts[k].reward; with normalise=True divided by sum_k weights[k] (then,
    with non-negative weights, it stays in [0, 1]). Unnormalised is TRL's GRPO combination of
    several reward functions with `reward_weights`. Every weighted name needs a verdict."""
    missing = sorted(set(weights) - set(verdicts_by_name))
    if missing:
        raise ValueError(f"No verdict for the weighted reward(s) {', '.join(missing)}.")
    total = sum(w * verdicts_by_name[name].reward for name, w in weights.items())
    if not normalise:
        return total
    weight_sum = sum(weights.values())
    if weight_sum <= 0:
        raise ValueError(f"Normalised rewards need weights that sum to more than 0; they sum to {weight_sum}.")
    return total / weight_sum


def parse_reward_spec(entries, *, learnt: LearntReward | None = None, normalise: bool = False) -> RewardSpec:
    """The validated spec of a list of terms (this module's docstring); ValueError naming the bad
    entry (by its position) and what is wrong with it."""
    if not isinstance(entries, list) or not entries:
        raise ValueError("A reward spec must be a non-empty list of terms like {\"checker\": \"numeric\", \"weight\": 1}.")
    terms, names = [], set()
    for index, entry in enumerate(entries):
        where = f"Reward term {index}"
        if not isinstance(entry, dict):
            raise ValueError(f"{where} must be an object; got {type(entry).__name__}.")
        checker = entry.get("checker")
        if checker not in CHECKERS:
            raise ValueError(f"{where}: checker must be one of {', '.join(CHECKERS)}; got {checker!r}.")
        where = f"Reward term {index} ({checker})"
        unknown = sorted(set(entry) - {"checker", "weight", "name"} - _PARAMETERS[checker])
        if unknown:
            raise ValueError(f"{where}: unknown parameter(s) {', '.join(unknown)}; it takes "
                             f"{', '.join(sorted(_PARAMETERS[checker])) or 'none'}.")
        missing = sorted(_REQUIRED.get(checker, set()) - set(entry))
        if missing:
            raise ValueError(f"{where}: missing {', '.join(missing)}.")
        weight = entry.get("weight", 1.0)
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not math.isfinite(weight):
            raise ValueError(f"{where}: weight must be a finite number; got {weight!r}.")
        if normalise and weight < 0:
            raise ValueError(f"{where}: a normalised spec needs non-negative weights; got {weight}.")
        name = entry.get("name", checker)
        if not isinstance(name, str) or not name or name in names:
            raise ValueError(f"{where}: name {name!r} must be a non-empty string not used by another term.")
        if checker == "reward_model" and learnt is None:
            raise ValueError(f"{where}: a learnt reward needs a reward model scorer (see reward_model_scorer).")
        names.add(name)
        terms.append(RewardTerm(name=name, checker=checker, weight=float(weight), check=_bind(checker, entry, where)))
    if normalise and sum(t.weight for t in terms) <= 0:
        raise ValueError("A normalised spec needs weights that sum to more than 0.")
    return RewardSpec(terms=tuple(terms), normalise=normalise, learnt=learnt)


def reward_model_scorer(path: str, *, max_length: int) -> LearntReward:
    """A learnt reward from the trained reward model saved in `path`: loaded once, strictly, and
    read exactly as rewardmodel/ trains and serves it (`rewardmodel.reward.score_conversations`)."""
    from rewardmodel.backbone import load_reward_model
    from rewardmodel.reward import score_conversations

    model, tokenizer = load_reward_model(path)
    model.eval()

    def score(prompts: list, completions: list[str]) -> list[float]:
        return score_conversations(model, tokenizer, list(zip(prompts, completions)), max_length=max_length)[0]

    return score
