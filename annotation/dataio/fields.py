"""Validators for the values import lines carry. Each raises LineInvalid naming the field."""
from datetime import datetime, timezone

from annotation.models import RESPONSE_FLAGS, Choice, Side
from annotation.dataio.records import LineInvalid

ROLES = {"system", "user", "assistant"}
MAX_SOURCE = 200
MAX_EXTERNAL_ID = 200
MAX_USERNAME = 150
USERNAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789@.+-_")


def required(data: dict, key: str):
    if key not in data or data[key] is None:
        raise LineInvalid(key, "is required")
    return data[key]


def text(value, key: str) -> str:
    if not isinstance(value, str):
        raise LineInvalid(key, f"must be a string, not {type(value).__name__}")
    return value


def optional_text(data: dict, key: str, *, max_length: int | None = None) -> str:
    value = data.get(key)
    if value is None:
        return ""
    value = text(value, key)
    if max_length is not None and len(value) > max_length:
        raise LineInvalid(key, f"is longer than {max_length} characters")
    return value


def messages(value, key: str) -> list[dict]:
    """A prompt: a non-empty string (one user turn) or a non-empty list of {role, content} turns."""
    if isinstance(value, str):
        if not value.strip():
            raise LineInvalid(key, "is empty")
        return [{"role": "user", "content": value}]
    if not isinstance(value, list) or not value:
        raise LineInvalid(key, "must be a non-empty string or a non-empty list of {role, content} messages")
    turns = []
    for i, turn in enumerate(value):
        if not isinstance(turn, dict):
            raise LineInvalid(f"{key}[{i}]", "must be an object with role and content")
        role, content = turn.get("role"), turn.get("content")
        if role not in ROLES:
            raise LineInvalid(f"{key}[{i}].role", f"must be one of {', '.join(sorted(ROLES))}, not {role!r}")
        if not isinstance(content, str):
            raise LineInvalid(f"{key}[{i}].content", "must be a string")
        turns.append({"role": role, "content": content})
    return turns


def side(data: dict, key: str, *, allow_null: bool = True) -> str:
    value = data.get(key)
    if value is None or value == "":
        if allow_null:
            return ""
        raise LineInvalid(key, "is required")
    if value not in (Side.A, Side.B):
        raise LineInvalid(key, f"must be 'a' or 'b'{' or null' if allow_null else ''}, not {value!r}")
    return value


def choice(data: dict) -> str:
    value = required(data, "choice")
    valid = [c.value for c in Choice]
    if value not in valid:
        raise LineInvalid("choice", f"must be one of {', '.join(valid)}, not {value!r}")
    return value


def optional_int(data: dict, key: str, *, low: int, high: int | None = None) -> int | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise LineInvalid(key, f"must be an integer, not {value!r}")
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise LineInvalid(key, f"must be {bound}, not {value}")
    return value


def optional_bool(data: dict, key: str) -> bool:
    value = data.get(key)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise LineInvalid(key, f"must be true or false, not {value!r}")
    return value


def optional_datetime(data: dict, key: str) -> datetime | None:
    value = data.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise LineInvalid(key, "must be an ISO 8601 string")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise LineInvalid(key, f"is not an ISO 8601 date-time: {value[:40]!r}") from None
    # A time without a zone is read as UTC, the zone Arbiter stores.
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def username(data: dict, key: str) -> str:
    value = text(required(data, key), key).strip()
    if not value:
        raise LineInvalid(key, "is empty")
    if len(value) > MAX_USERNAME:
        raise LineInvalid(key, f"is longer than {MAX_USERNAME} characters")
    if not set(value) <= USERNAME_CHARS:
        raise LineInvalid(key, "may contain only letters, digits and @ . + - _")
    return value


def flags(data: dict) -> dict:
    value = data.get("flags")
    if value is None:
        return {}
    if not isinstance(value, dict) or not set(value) <= {"a", "b"}:
        raise LineInvalid("flags", 'must be an object like {"a": ["harmful"], "b": []}')
    cleaned = {}
    for key, names in value.items():
        if not isinstance(names, list) or any(n not in RESPONSE_FLAGS for n in names):
            raise LineInvalid(f"flags.{key}", f"must be a list of {', '.join(RESPONSE_FLAGS)}")
        cleaned[key] = list(names)
    return cleaned


def external_id(data: dict, key: str, *, required_: bool) -> str:
    value = data.get(key)
    if value is None or value == "":
        if required_:
            raise LineInvalid(key, "is required")
        return ""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise LineInvalid(key, "must be a string or an integer")
    value = str(value)
    if len(value) > MAX_EXTERNAL_ID:
        raise LineInvalid(key, f"is longer than {MAX_EXTERNAL_ID} characters")
    return value
