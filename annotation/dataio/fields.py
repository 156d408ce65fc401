"""Validators for the values import lines carry. Each raises LineInvalid naming the field."""
from datetime import datetime, timezone

from annotation.models import RESPONSE_FLAGS, Choice, Side
from annotation.dataio.records import LineInvalid
from common.validation import UNSTORABLE, unstorable, unstorable_what

ROLES = {"system", "user", "assistant"}
MAX_SOURCE = 200
MAX_EXTERNAL_ID = 200
MAX_USERNAME = 150
USERNAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789@.+-_")
# Bounds on any value of a line, whether a format reads it or not (annotation/dataio/README.md).
MAX_TEXT_CHARS = 1_000_000  # one string: a response, a message's content, a rationale, a key
MAX_DEPTH = 32  # objects and lists nested in a line (a line's own object is depth 1)
MAX_INT_DIGITS = MAX_EXTERNAL_ID  # an integer id is at most as long as a string one


class LongInteger:
    """What the JSON reader gives for an integer over MAX_INT_DIGITS digits, for storable_tree to
    name its field. Never converted: Python refuses over 4,300 digits, and converting is quadratic."""

    def __init__(self, digits: str):
        self.n_digits = len(digits.lstrip("-"))


def parse_json_int(digits: str) -> int | LongInteger:
    """json.loads's parse_int: a LongInteger past MAX_INT_DIGITS digits."""
    return LongInteger(digits) if len(digits.lstrip("-")) > MAX_INT_DIGITS else int(digits)


def shown_name(name: str) -> str:
    """A key as an error names it: escaped when it holds characters that cannot be stored."""
    return ascii(name)[1:-1] if UNSTORABLE.search(name) else name


def storable_name(name: str) -> str:
    """A name Arbiter only shows (an uploaded file's), with what cannot be stored replaced by U+FFFD."""
    return UNSTORABLE.sub("\ufffd", name)


def storable_text(value: str, key: str) -> None:
    if len(value) > MAX_TEXT_CHARS:
        raise LineInvalid(key, f"is longer than {MAX_TEXT_CHARS:,} characters")
    if (found := UNSTORABLE.search(value)) is not None:
        raise LineInvalid(key, f"contains {unstorable_what(found.group())}, which is not text that can be stored")


def storable_tree(data: dict) -> None:
    """Every key and value of a decoded line, whether a format reads it or not, within the bounds
    above: strings storable and at most MAX_TEXT_CHARS long, integers of at most MAX_INT_DIGITS
    digits, nesting at most MAX_DEPTH deep. Raises LineInvalid naming the first value out of them."""
    if not within_bounds(data):
        name_what_is_out_of_bounds(data)


def within_bounds(data: dict) -> bool:
    """storable_tree's check, a level of nesting at a time with one regex search over all of the
    level's texts: a third of the cost of a walk that tracks each value's path."""
    level, depth = [data], 1
    while level:
        texts, below = [], []
        for value in level:
            if isinstance(value, dict):
                texts.extend(value)
                below.extend(value.values())
            elif isinstance(value, list):
                below.extend(value)
            elif isinstance(value, str):
                texts.append(value)
            elif isinstance(value, LongInteger):
                return False
            if isinstance(value, (dict, list)) and depth > MAX_DEPTH:
                return False
        if texts and (max(map(len, texts)) > MAX_TEXT_CHARS or unstorable("".join(texts))):
            return False
        level, depth = below, depth + 1
    return True


def name_what_is_out_of_bounds(data: dict) -> None:
    """Raises LineInvalid for the first value of the line out of storable_tree's bounds, named by
    its path (prompt[0].content). Walks with a stack, not recursion, so depth is no risk."""
    for key in data:
        storable_text(key, shown_name(key))
    stack = [(value, shown_name(key), key, 2) for key, value in reversed(data.items())]  # popped in order
    while stack:
        value, path, top_key, depth = stack.pop()
        if isinstance(value, str):
            storable_text(value, path)
        elif isinstance(value, LongInteger):
            raise LineInvalid(path, f"is an integer of {value.n_digits:,} digits; at most {MAX_INT_DIGITS} are read")
        elif isinstance(value, (dict, list)):
            if depth > MAX_DEPTH:
                raise LineInvalid(shown_name(top_key), f"nests objects and lists deeper than {MAX_DEPTH} levels")
            if isinstance(value, dict):
                for key in value:
                    storable_text(key, f"{path}.{shown_name(key)}")
                children = [(f"{path}.{shown_name(key)}", item) for key, item in value.items()]
            else:
                children = [(f"{path}[{i}]", item) for i, item in enumerate(value)]
            stack.extend((item, child_path, top_key, depth + 1) for child_path, item in reversed(children))


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
