"""Server-side checks of a rating's fields, before anything is written."""
from annotation.models import RESPONSE_FLAGS
from common.exceptions import ApplicationError

LABEL_WORDS = {"up": True, "down": False, "true": True, "false": False, "1": True, "0": False}


def clean_label(label) -> bool:
    """True (thumbs up) or False (thumbs down) from a bool or "up"/"down"/"true"/"false"/1/0."""
    if isinstance(label, bool):
        return label
    if isinstance(label, int) and label in (0, 1):
        return bool(label)
    if isinstance(label, str) and label.strip().lower() in LABEL_WORDS:
        return LABEL_WORDS[label.strip().lower()]
    raise ApplicationError(f"The label must be thumbs up or down (up/down, true/false), not {str(label)[:40]!r}.")


def clean_flags(flags) -> list[str]:
    flags = flags or []
    if not isinstance(flags, list) or not all(isinstance(name, str) for name in flags):
        raise ApplicationError("Flags must be a list of flag names.")
    unknown = set(flags) - set(RESPONSE_FLAGS)
    if unknown:
        raise ApplicationError(f"Unknown flag(s): {', '.join(sorted(unknown))}; known: {', '.join(RESPONSE_FLAGS)}.")
    return sorted(set(flags))
