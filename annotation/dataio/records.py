"""Plain, validated data that a parsed import line turns into, before anything touches the database."""
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class LineIssue:
    """A problem with one line of an import file. Errors reject the line; warnings only inform."""

    line: int
    field: str
    message: str
    severity: str = "error"

    def as_dict(self) -> dict:
        return {"line": self.line, "field": self.field, "message": self.message, "severity": self.severity}

    def __str__(self) -> str:
        return f"line {self.line}, field {self.field}: {self.message}"


class LineInvalid(Exception):
    """Raised by a parser for the first thing wrong with a line."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class SideRecord:
    text: str
    source: str = ""


@dataclass
class JudgementRecord:
    annotator: str
    choice: str
    strength: int | None = None
    shown_left: str = ""
    created_at: datetime | None = None
    is_repeat: bool = False
    time_ms: int | None = None
    rationale: str = ""
    flags: dict = field(default_factory=dict)


@dataclass
class PairRecord:
    """One pair from one line, with the judgement that line records (None for unlabelled tasks)."""

    line: int
    messages: list[dict]
    a: SideRecord
    b: SideRecord
    external_id: str = ""
    gold: str = ""
    agrees_with_user: str = ""
    tags: list[str] = field(default_factory=list)
    stated_belief: str = ""
    judgement: JudgementRecord | None = None
