"""The chat endpoint's key. Read from the environment variable the AI labeller names, at the
moment a judge is built; never stored in a row this installation can show, never returned by a
page or the API. Storing it encrypted in the database (`AILabeller.api_key_encrypted`) needs the
`cryptography` package, which is not part of this stack (STACK.md): such keys are refused, and the
environment is the only source."""
import os
import re

from common.exceptions import ApplicationError

ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,99}$")


def env_name_check(name: str) -> str | None:
    if name and not ENV_NAME.match(name):
        return "The key's environment variable must be a name like OPENAI_API_KEY (letters, digits, underscores)."
    return None


def api_key_for(ai) -> str:
    """The key for `ai`'s endpoint ("" when it names no variable: servers that need none)."""
    if ai.api_key_encrypted:
        raise ApplicationError("This AI labeller has a stored key, but stored keys need the 'cryptography' package, "
                               "which is not installed: name an environment variable instead.")
    if not ai.api_key_env:
        return ""
    key = os.environ.get(ai.api_key_env, "")
    if not key:
        raise ApplicationError(f"The environment variable {ai.api_key_env} that holds this AI labeller's key is not "
                               "set in the worker's environment.")
    return key
