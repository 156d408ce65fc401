"""How many tokens a model folder can take, checked before a run starts rather than found mid-run."""
import json
from pathlib import Path


def max_positions(path) -> int | None:
    """The most tokens a model folder's config allows (`n_positions` / `max_position_embeddings`),
    read from config.json without loading anything; None when it states none."""
    config_file = Path(path) / "config.json" if path else None
    if config_file is None or not config_file.is_file():
        return None
    config = json.loads(config_file.read_text())
    for key in ("n_positions", "max_position_embeddings", "n_ctx"):
        if isinstance(config.get(key), int):
            return config[key]
    return None


def positions_problem(path, *, tokens: int, setting: str, model: str) -> str | None:
    """What is wrong when `tokens` (what `setting` asks for) exceed the positions of the model in
    `path`, in words; None when they fit. Past its positions a model fails mid-run with a bare
    `IndexError: index out of range in self`."""
    limit = max_positions(path)
    if limit is not None and tokens > limit:
        return f"{setting} asks for {tokens} tokens, but {model} has only {limit} positions: at most {limit} tokens fit."
    return None
