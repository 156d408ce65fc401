"""Trainer configs from the JSON a run stores."""
from dataclasses import fields


def dataclass_from_dict(cls, values: dict, *, what: str):
    """`cls(**values)`, with a ValueError naming the options `cls` does not have (a dataclass would
    raise a TypeError naming only the first); `what` names the options in the message ("DPO")."""
    unknown = sorted(set(values) - {f.name for f in fields(cls)})
    if unknown:
        raise ValueError(f"Unknown {what} option(s): {', '.join(unknown)}.")
    return cls(**values)
