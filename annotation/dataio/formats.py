"""The four import formats. Each parser turns one decoded JSON line into PairRecords (or raises
LineInvalid naming the field); nothing here touches the database."""
from collections.abc import Callable
from itertools import combinations

from annotation.dataio import fields
from annotation.dataio.hashing import response_hash
from annotation.dataio.hh import split_pair
from annotation.dataio.records import JudgementRecord, LineInvalid, PairRecord, SideRecord

FORMATS = ("hh", "trl", "tasks", "judgements")
HH_ANNOTATOR = "hh-imported"
TRL_ANNOTATOR = "trl-imported"
MAX_TASK_RESPONSES = 16


def ordered_by_content(chosen: SideRecord, rejected: SideRecord) -> tuple[SideRecord, SideRecord, str]:
    """(a, b, choice): A/B follow the responses' content hashes, not chosen/rejected, so the
    labelling queue never learns that 'A' means 'preferred'. Deterministic, so re-imports match."""
    if (response_hash(chosen.text), chosen.source) <= (response_hash(rejected.text), rejected.source):
        return chosen, rejected, "a"
    return rejected, chosen, "b"


def empty_warnings(record: PairRecord, a_key: str, b_key: str) -> list[tuple[str, str]]:
    return [
        (key, "response is empty; imported as an empty response")
        for key, side in ((a_key, record.a), (b_key, record.b))
        if not side.text.strip()
    ]


def parse_hh(data: dict, line: int) -> list[PairRecord]:
    chosen = fields.text(fields.required(data, "chosen"), "chosen")
    rejected = fields.text(fields.required(data, "rejected"), "rejected")
    prompt, chosen_text, rejected_text = split_pair(chosen, rejected)
    a, b, choice = ordered_by_content(SideRecord(chosen_text), SideRecord(rejected_text))
    return [PairRecord(line=line, messages=prompt, a=a, b=b, external_id=str(line),
                       judgement=JudgementRecord(annotator=HH_ANNOTATOR, choice=choice))]


def trl_completion(data: dict, key: str) -> str:
    """TRL's chosen/rejected: a string, or (conversational) a list of one assistant message."""
    value = fields.required(data, key)
    if isinstance(value, str):
        return value
    turns = fields.messages(value, key)
    if len(turns) != 1 or turns[0]["role"] != "assistant":
        raise LineInvalid(key, "must be a string or a list of exactly one assistant message "
                               "(put earlier turns in prompt)")
    return turns[0]["content"]


def parse_trl(data: dict, line: int) -> list[PairRecord]:
    prompt = fields.messages(fields.required(data, "prompt"), "prompt")
    chosen = SideRecord(trl_completion(data, "chosen"), fields.optional_text(data, "model_chosen", max_length=fields.MAX_SOURCE))
    rejected = SideRecord(trl_completion(data, "rejected"),
                          fields.optional_text(data, "model_rejected", max_length=fields.MAX_SOURCE))
    if chosen == rejected:
        raise LineInvalid("rejected", "is identical to chosen: there is nothing to compare")
    a, b, choice = ordered_by_content(chosen, rejected)
    return [PairRecord(line=line, messages=prompt, a=a, b=b,
                       external_id=fields.external_id(data, "id", required_=False),
                       judgement=JudgementRecord(annotator=TRL_ANNOTATOR, choice=choice))]


def task_response(value, key: str) -> SideRecord:
    if isinstance(value, str):
        return SideRecord(value)
    if isinstance(value, dict):
        body = fields.text(fields.required(value, "text"), f"{key}.text")
        model = value.get("model", value.get("source"))
        if model is not None and (not isinstance(model, str) or len(model) > fields.MAX_SOURCE):
            raise LineInvalid(f"{key}.model", f"must be a string of at most {fields.MAX_SOURCE} characters")
        return SideRecord(body, model or "")
    raise LineInvalid(key, 'must be a string or {"text", "model"}')


def parse_tasks(data: dict, line: int) -> list[PairRecord]:
    if "prompt" in data and "messages" in data:
        raise LineInvalid("messages", "give prompt or messages, not both")
    key = "messages" if "messages" in data else "prompt"
    prompt = fields.messages(fields.required(data, key), key)
    responses = fields.required(data, "responses")
    if not isinstance(responses, list) or not 2 <= len(responses) <= MAX_TASK_RESPONSES:
        raise LineInvalid("responses", f"must be a list of 2 to {MAX_TASK_RESPONSES} responses")
    sides = [task_response(r, f"responses[{i}]") for i, r in enumerate(responses)]
    for i, s in enumerate(sides):
        if s in sides[:i]:
            raise LineInvalid(f"responses[{i}]", f"repeats responses[{sides.index(s)}]")
    tags = data.get("tags") or []
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise LineInvalid("tags", "must be a list of strings")
    belief = fields.optional_text(data, "stated_belief")
    base_id = fields.external_id(data, "id", required_=False)
    records = []
    # Every unordered pair of the responses, A/B by content hash (see ordered_by_content).
    for (i, x), (j, y) in combinations(enumerate(sides), 2):
        a, b, _ = ordered_by_content(x, y)
        ext = f"{base_id}:{i}-{j}" if base_id and len(sides) > 2 else base_id
        records.append(PairRecord(line=line, messages=prompt, a=a, b=b, external_id=ext, tags=tags,
                                  stated_belief=belief))
    return records


def parse_judgements(data: dict, line: int) -> list[PairRecord]:
    pair_id = fields.external_id(data, "pair_id", required_=True)
    prompt = fields.messages(fields.required(data, "prompt"), "prompt")
    a = SideRecord(fields.text(fields.required(data, "response_a"), "response_a"),
                   fields.optional_text(data, "model_a", max_length=fields.MAX_SOURCE))
    b = SideRecord(fields.text(fields.required(data, "response_b"), "response_b"),
                   fields.optional_text(data, "model_b", max_length=fields.MAX_SOURCE))
    if a == b:
        raise LineInvalid("response_b", "is identical to response_a (same text and model)")
    judgement = JudgementRecord(
        annotator=fields.username(data, "annotator"),
        choice=fields.choice(data),
        strength=fields.optional_int(data, "strength", low=1, high=3),
        shown_left=fields.side(data, "shown_left"),
        created_at=fields.optional_datetime(data, "created_at"),
        is_repeat=fields.optional_bool(data, "is_repeat"),
        time_ms=fields.optional_int(data, "time_ms", low=0, high=2**31 - 1),
        rationale=fields.optional_text(data, "rationale"),
        flags=fields.flags(data),
    )
    return [PairRecord(line=line, messages=prompt, a=a, b=b, external_id=pair_id,
                       gold=fields.side(data, "gold"), agrees_with_user=fields.side(data, "agrees_with_user"),
                       judgement=judgement)]


PARSERS: dict[str, Callable[[dict, int], list[PairRecord]]] = {
    "hh": parse_hh, "trl": parse_trl, "tasks": parse_tasks, "judgements": parse_judgements,
}


def detect_format(data: dict) -> str | None:
    """The format a line's keys say it is in, or None."""
    if "pair_id" in data or {"annotator", "choice"} <= data.keys():
        return "judgements"
    if "responses" in data:
        return "tasks"
    if {"chosen", "rejected"} <= data.keys():
        return "trl" if "prompt" in data else "hh"
    return None
