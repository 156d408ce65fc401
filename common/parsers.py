"""The API's JSON parser (settings: REST_FRAMEWORK["DEFAULT_PARSER_CLASSES"]). A module of its own:
DRF reads that setting while rest_framework.views loads, so it must not import the views."""
from rest_framework import exceptions
from rest_framework.parsers import JSONParser

from common.validation import text_problem


def _unstorable_text(value, path: str) -> str | None:
    """The first string in parsed JSON (a key or a value) that the database cannot store, as
    "<where> <problem>"; None when there is none. Keys are checked before the values under them,
    so a path never quotes a bad key."""
    if isinstance(value, str):
        problem = text_problem(value)
        return f"{path} {problem}" if problem else None
    if isinstance(value, dict):
        children = [(f"a key of {path}", key) for key in value]
        children += [(f"{path}.{key}", item) for key, item in value.items()]
    elif isinstance(value, list):
        children = [(f"{path}[{index}]", item) for index, item in enumerate(value)]
    else:
        return None
    return next(filter(None, (_unstorable_text(item, where) for where, item in children)), None)


class StorableJSONParser(JSONParser):
    """JSON whose every string the database can store: a NUL or a lone surrogate (which JSON's
    \\u escapes allow) anywhere in the body is a 400 naming where, before any view reads it. Error
    messages that quote the input then cannot fail to render either."""

    def parse(self, stream, media_type=None, parser_context=None):
        data = super().parse(stream, media_type, parser_context)
        problem = _unstorable_text(data, "body")
        if problem:
            raise exceptions.ParseError(f"{problem}.")
        return data
