"""Writes for AI labellers: constitutions, AI labeller profiles, and one pair judged in both
orders and recorded as a judgement (the `ai_label` job in annotation.ai.runs calls these)."""
import random
import time

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.utils import timezone

from annotation.ai import prompting
from annotation.ai.aggregation import ORDERS, Combined, OrderVerdict, combine
from annotation.ai.secrets import env_name_check
from annotation.models import AILabeller, Constitution, Judgement, Labeller, Pair
from common.exceptions import ApplicationError
from common.models import JobStatus
from common.validation import text_clean

PRINCIPLES_MAX = 100
PRINCIPLE_MAX_CHARS = 2000
TEMPLATE_MAX_CHARS = 20000
# settings key -> (type, lowest, highest); anything else is refused
SETTINGS_BOUNDS = {
    "both_orders": (bool, None, None),
    "tie_margin": (float, 0.0, 1.0),
    "temperature": (float, 0.0, 2.0),
    "max_tokens": (int, 1, 64),
    "max_length": (int, 16, 1_000_000),
    "timeout_s": (float, 1.0, 600.0),
    "retries": (int, 0, 10),
    "backoff_s": (float, 0.0, 60.0),
    "requests_per_minute": (float, 0.1, 100_000.0),
    "logprobs": (bool, None, None),
    "seed": (int, None, None),
}


@transaction.atomic
def constitution_create(*, name: str, principles: list[str], created_by=None) -> Constitution:
    """A new version of the constitution `name` (version 1 when it is new)."""
    name = text_clean(name or "", name="constitution name", max_chars=200)
    if not name:
        raise ApplicationError("A constitution needs a name.")
    if not isinstance(principles, list) or not principles:
        raise ApplicationError("A constitution needs at least one principle.")
    if len(principles) > PRINCIPLES_MAX:
        raise ApplicationError(f"At most {PRINCIPLES_MAX} principles.")
    cleaned = []
    for i, principle in enumerate(principles, 1):
        if not isinstance(principle, str):
            raise ApplicationError(f"Principle {i} is not text.")
        principle = text_clean(principle, name=f"principle {i}", max_chars=PRINCIPLE_MAX_CHARS)
        if not principle:
            raise ApplicationError(f"Principle {i} is empty.")
        cleaned.append(principle)
    # the lock on the latest version makes two concurrent creations take two versions, not fail
    latest = Constitution.objects.select_for_update().filter(name=name).order_by("-version").first()
    return Constitution.objects.create(name=name, version=(latest.version + 1) if latest else 1, principles=cleaned,
                                       created_by=created_by)


def _settings_clean(settings: dict | None) -> dict:
    if settings is None:
        return {}
    if not isinstance(settings, dict):
        raise ApplicationError("The settings must be an object.")
    cleaned = {}
    for key, value in settings.items():
        if key not in SETTINGS_BOUNDS:
            raise ApplicationError(f"Unknown setting '{key}'; the settings are {sorted(SETTINGS_BOUNDS)}.")
        kind, low, high = SETTINGS_BOUNDS[key]
        if kind is bool:
            if not isinstance(value, bool):
                raise ApplicationError(f"The setting '{key}' must be true or false.")
        elif isinstance(value, bool) or not isinstance(value, (int, float)) or (kind is int and value != int(value)):
            raise ApplicationError(f"The setting '{key}' must be a{'n integer' if kind is int else ' number'}.")
        else:
            value = kind(value)
            if (low is not None and value < low) or (high is not None and value > high):
                raise ApplicationError(f"The setting '{key}' must be between {low} and {high}.")
        cleaned[key] = value
    return cleaned


def _backend_check(*, backend, model_path, reward_run, endpoint_url, endpoint_model, api_key_env) -> None:
    if backend not in AILabeller.Backend.values:
        raise ApplicationError(f"Unknown backend '{backend}'; the backends are {AILabeller.Backend.values}.")
    if backend == AILabeller.Backend.CAUSAL_LM and not model_path:
        raise ApplicationError("A causal-LM judge needs the folder of its model (model_path).")
    if backend == AILabeller.Backend.REWARD_MODEL:
        if reward_run is None:
            raise ApplicationError("A reward-model judge needs a reward-model run.")
        if reward_run.status != JobStatus.SUCCEEDED or not reward_run.artifact_path:
            raise ApplicationError(f"Reward-model run {reward_run.pk} is {reward_run.status}; only a succeeded run can judge.")
    if backend == AILabeller.Backend.OPENAI:
        if not endpoint_url.startswith(("http://", "https://")):
            raise ApplicationError("A chat-endpoint judge needs the server's http(s) base URL, e.g. http://host:8000/v1.")
        if not endpoint_model:
            raise ApplicationError("A chat-endpoint judge needs the model name to ask the server for.")
        problem = env_name_check(api_key_env)
        if problem:
            raise ApplicationError(problem)


@transaction.atomic
def ai_labeller_create(
    *, username: str, backend: str, model_path: str = "", reward_run=None, endpoint_url: str = "",
    endpoint_model: str = "", api_key_env: str = "", constitution: Constitution | None = None,
    prompt_template: str = "", settings: dict | None = None,
) -> AILabeller:
    """A labeller of kind "model" (with a user account that cannot log in) and how it judges. The
    endpoint's key is never taken here: name the environment variable that holds it."""
    username = text_clean(username or "", name="username", max_chars=150)
    if not username:
        raise ApplicationError("An AI labeller needs a username.")
    User = get_user_model()
    if User.objects.filter(username=username).exists():
        raise ApplicationError(f"The username '{username}' is taken.")
    _backend_check(backend=backend, model_path=model_path, reward_run=reward_run, endpoint_url=endpoint_url,
                   endpoint_model=endpoint_model, api_key_env=api_key_env)
    prompt_template = text_clean(prompt_template or "", name="prompt template", max_chars=TEMPLATE_MAX_CHARS)
    problem = prompting.template_check(prompt_template) if prompt_template else None
    if problem:
        raise ApplicationError(problem)
    settings = _settings_clean(settings)
    user = User.objects.create_user(username=username)  # no password: it cannot log in
    labeller = Labeller.objects.create(user=user, kind=Labeller.Kind.MODEL, role=Labeller.Role.AI)
    return AILabeller.objects.create(
        labeller=labeller, backend=backend, model_path=model_path, reward_run=reward_run, endpoint_url=endpoint_url,
        endpoint_model=endpoint_model, api_key_env=api_key_env, constitution=constitution,
        prompt_template=prompt_template, settings=settings,
    )


def principle_draw(*, constitution: Constitution | None, seed: int, pair_id: int) -> tuple[int | None, str]:
    """The principle for one pair: drawn at random, from an RNG seeded by (seed, pair), so a run
    draws the same principle for a pair however its pairs are ordered or resumed."""
    if constitution is None or not constitution.principles:
        return None, prompting.DEFAULT_PRINCIPLE
    rng = random.Random(f"{seed}:{pair_id}")
    index = rng.randrange(len(constitution.principles))
    return index, constitution.principles[index]


def pair_judge(*, ai: AILabeller, backend, pair: Pair, seed: int) -> tuple[Combined, dict]:
    """Judges one pair in both orders (one, when the labeller's settings say so or the backend
    cannot see positions): the combined verdict and the `ai_detail` to record."""
    index, principle = principle_draw(constitution=ai.constitution, seed=seed, pair_id=pair.pk)
    both = (ai.settings or {}).get("both_orders", True) and backend.judges_positions
    messages, a, b = pair.prompt.messages, pair.response_a.text, pair.response_b.text
    orders: list[OrderVerdict] = []
    for order in ORDERS if both else ORDERS[:1]:
        first, second = (a, b) if order == "ab" else (b, a)
        try:
            orders.append(backend.judge(messages=messages, first=first, second=second, order=order, principle=principle))
        except ApplicationError as exc:
            orders.append(OrderVerdict(order=order, verdict=None, error=exc.message))
    from annotation.ai.backends import strength_cuts

    combined = combine(orders, cuts=strength_cuts(ai))
    errors = [f"{o.order}: {o.error}" for o in orders if o.error]
    detail = {
        "principle": principle,
        "principle_index": index,
        "constitution": str(ai.constitution) if ai.constitution else None,
        "backend": ai.backend,
        "judge_model": backend.judge_model,
        "orders": [{"order": o.order, "verdict": o.verdict, "p_a": o.p_a, "raw": prompting.trimmed(o.raw)}
                   for o in orders],
        "agreed": combined.agreed,
        "p_a": combined.p_a,
        "seed": seed,
        "error": "; ".join(errors) or None,
    }
    return combined, detail


def ai_judgement_record(*, ai: AILabeller, pair: Pair, combined: Combined, detail: dict, time_ms: int | None = None,
                        now=None) -> Judgement | None:
    """The AI labeller's judgement of `pair`; None when it has one already (another delivery of
    the run wrote it). AI judgements do not take a human's overlap slot: pair.n_judgements, which
    the labelling queue counts, is left as it is."""
    if combined.choice is None:
        raise ApplicationError("No order gave a verdict: there is no judgement to record.")
    try:
        with transaction.atomic():
            return Judgement.objects.create(
                pair=pair, labeller=ai.labeller, choice=combined.choice, strength=combined.strength,
                ai_detail=detail, time_ms=time_ms, created_at=now or timezone.now(), source=Judgement.Source.APP,
            )
    except IntegrityError:
        if Judgement.objects.filter(pair=pair, labeller=ai.labeller, is_repeat=False, revision_of__isnull=True).exists():
            return None
        raise


def clock_ms(start: float) -> int:
    return int((time.monotonic() - start) * 1000)
