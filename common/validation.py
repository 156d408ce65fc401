"""Checks shared by every input the project takes: text the database can store, ids within the
database's integer range (in URLs and query strings), and run settings of the right types."""
import dataclasses
import re
import types
import typing

from common.exceptions import ApplicationError

# Every primary key is a BigAutoField (settings.DEFAULT_AUTO_FIELD): a signed 64-bit integer.
ID_MAX = 2**63 - 1


# PostgreSQL cannot store NUL in text, and a lone surrogate cannot be encoded as UTF-8.
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def unstorable(text: str) -> bool:
    """UNSTORABLE.search(text), several times faster on long texts: NUL by memchr, and a lone
    surrogate is the one thing UTF-8 cannot encode."""
    if "\x00" in text:
        return True
    if text.isascii():
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def text_storable(value: str) -> str:
    """Text a model wrote, made storable: NUL and lone surrogates replaced by U+FFFD (a model's
    output is not refused for them, as a person's input is)."""
    return UNSTORABLE.sub("\ufffd", value) if unstorable(value) else value


def unstorable_what(found: str) -> str:
    """An UNSTORABLE match in words (escaped: the words are shown and stored)."""
    return "a NUL character" if found == "\x00" else f"a lone surrogate ({ascii(found)[1:-1]})"


def text_problem(value: str) -> str | None:
    """Why the database cannot store the text, as "contains ..."; None when it can."""
    if not unstorable(value):
        return None
    return f"contains {unstorable_what(UNSTORABLE.search(value).group())}, which is not text that can be stored"


def text_clean(value: str, *, name: str, max_chars: int) -> str:
    """The text stripped, or ApplicationError naming the field when it cannot be stored or is longer
    than `max_chars`."""
    problem = text_problem(value)
    if problem:
        raise ApplicationError(f"The {name} {problem}.")
    value = value.strip()
    if len(value) > max_chars:
        raise ApplicationError(f"The {name} is too long ({len(value)} characters; at most {max_chars}).")
    return value


class BoundedIdConverter:
    """`<id:name>` in a URL pattern: a database id, 1 to ID_MAX. A larger number does not match (a
    404), instead of reaching the database driver, which cannot send it (OverflowError)."""

    regex = "[0-9]{1,19}"

    def to_python(self, value: str) -> int:
        number = int(value)
        if not 1 <= number <= ID_MAX:
            raise ValueError(f"{value} is not a database id")
        return number

    def to_url(self, value) -> str:
        return str(value)


def ids_from_query(values: list[str], *, limit: int) -> list[int]:
    """The ids among `?ids=` values (at most `limit`), skipping what is not a database id."""
    ids = [int(value) for value in values if value.isdigit() and len(value) <= 19]
    return [i for i in ids if 1 <= i <= ID_MAX][:limit]


def _type_matches(value, annotation) -> bool:
    if annotation is typing.Any:
        return True
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        return any(_type_matches(value, arm) for arm in typing.get_args(annotation))
    if annotation is type(None):
        return value is None
    if typing.get_origin(annotation) is list:
        (item,) = typing.get_args(annotation) or (typing.Any,)
        return isinstance(value, list) and all(_type_matches(v, item) for v in value)
    if annotation is bool:
        return isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if annotation is float:  # JSON writes 1.0 as 1
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, annotation)


def _type_name(annotation) -> str:
    return getattr(annotation, "__name__", str(annotation))


def settings_type_errors(values: dict, types_by_name: dict, *, what: str, noun: str = "setting") -> list[str]:
    """What is wrong with `values` against `types_by_name` (name -> type): unknown names and values
    of the wrong type, one message each ("Unknown <what> <noun>(s): ...")."""
    unknown = sorted(set(values) - set(types_by_name))
    errors = [f"Unknown {what} {noun}(s): {', '.join(unknown)}"] if unknown else []
    errors += [
        f"{what} {noun} {name} must be {_type_name(types_by_name[name])}, not {type(value).__name__} {value!r}"
        for name, value in values.items() if name in types_by_name and not _type_matches(value, types_by_name[name])
    ]
    return errors


def checked_config(cls, values, *, what: str, noun: str = "setting"):
    """The config dataclass `cls` built from a JSON object, its values checked by type first; raises
    ValueError naming the unknown or mistyped setting, or the one __post_init__ refuses."""
    if not isinstance(values, dict):
        raise ValueError(f"{what} {noun}s must be an object of name: value, not {type(values).__name__}")
    hints = typing.get_type_hints(cls)
    errors = settings_type_errors(values, {f.name: hints[f.name] for f in dataclasses.fields(cls)}, what=what,
                                  noun=noun)
    if errors:
        raise ValueError("; ".join(errors) + ".")
    return cls(**values)
