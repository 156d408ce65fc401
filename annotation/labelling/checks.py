"""Server-side checks of a judgement's fields against its dataset, before anything is written."""
from annotation.models import RESPONSE_FLAGS, Dataset
from common.exceptions import ApplicationError

TIME_MS_MAX = 24 * 3600 * 1000


def clean_judgement(*, dataset: Dataset, shown_left: str, choice: str, strength, flags) -> tuple[str, int | None, dict]:
    """Validates a judgement's fields against the dataset; `choice` may also be 'left'/'right',
    resolved against the side shown on the left. Returns (choice in A/B terms, strength, flags)."""
    if choice in ("left", "right"):
        other = "b" if shown_left == "a" else "a"
        choice = shown_left if choice == "left" else other
    if choice not in dataset.choices:
        raise ApplicationError(f"Choice '{choice}' is not one of this dataset's choices: {', '.join(dataset.choices)}.")
    if strength in ("", None):
        strength = None
    elif choice not in ("a", "b"):
        raise ApplicationError("Strength only applies when one response is better (not to a tie or both bad).")
    elif str(strength) not in dataset.strength_scale:
        raise ApplicationError(f"Strength '{strength}' is not on this dataset's scale: {', '.join(dataset.strength_scale)}.")
    else:
        strength = int(strength)
    flags = flags or {}
    if not isinstance(flags, dict) or set(flags) - {"a", "b"}:
        raise ApplicationError('Flags must look like {"a": [...], "b": [...]}.')
    for side, names in flags.items():
        if not isinstance(names, list):
            raise ApplicationError(f"Flags for response {side.upper()} must be a list of names.")
        unknown = set(names) - set(RESPONSE_FLAGS)
        if unknown:
            raise ApplicationError(f"Unknown flag(s) for response {side.upper()}: {', '.join(sorted(unknown))}.")
    return choice, strength, {side: sorted(set(names)) for side, names in flags.items() if names}


def clean_time_ms(time_ms) -> int | None:
    if time_ms in ("", None):
        return None
    try:
        time_ms = int(time_ms)
    except (TypeError, ValueError):
        raise ApplicationError(f"time_ms must be a whole number of milliseconds, not '{time_ms}'.") from None
    if not 0 <= time_ms <= TIME_MS_MAX:
        raise ApplicationError(f"time_ms {time_ms} is outside 0..{TIME_MS_MAX}.")
    return time_ms
