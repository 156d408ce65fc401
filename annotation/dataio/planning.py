"""The read-only half of an import: hash every record, compare it with what the dataset already
holds, and find the judgements that clash. Nothing here writes."""
from dataclasses import dataclass, field

from annotation.dataio.formats import HH_ANNOTATOR, TRL_ANNOTATOR
from annotation.dataio.hashing import pair_hash, prompt_hash, response_hash
from annotation.dataio.reading import ParsedFile
from annotation.dataio.records import LineIssue, PairRecord
from annotation.models import Dataset, Judgement, Pair

CHUNK = 900  # stays under SQLite's bound on query parameters


def chunks(items: list, size: int = CHUNK):
    for start in range(0, len(items), size):
        yield items[start : start + size]


@dataclass
class PlannedRecord:
    record: PairRecord
    prompt_hash: str
    a_hash: str
    b_hash: str
    pair_hash: str
    # The judgement's recorded fields (its identity with pair and occurrence); None: nothing to add.
    judgement_fields: dict | None = None
    occurrence: int = 0
    # Set while writing: whether this record added a pair or a judgement (else it was a duplicate).
    added: bool = False


@dataclass
class Plan:
    records: list[PlannedRecord] = field(default_factory=list)
    existing_pairs: dict[str, int] = field(default_factory=dict)


def judgement_fields(record: PairRecord) -> dict:
    j = record.judgement
    return {"annotator": j.annotator, "choice": j.choice, "strength": j.strength, "shown_left": j.shown_left,
            "created_at": j.created_at.isoformat() if j.created_at else None, "is_repeat": j.is_repeat,
            "time_ms": j.time_ms, "rationale": j.rationale, "flags": j.flags}


def plan_import(parsed: ParsedFile, dataset: Dataset | None) -> Plan:
    """Hashes the records and decides which judgements are new; clashes become line errors in
    `parsed.issues`."""
    plan = Plan()
    for record in parsed.records:
        ph, ah, bh = prompt_hash(record.messages), response_hash(record.a.text), response_hash(record.b.text)
        plan.records.append(PlannedRecord(record, ph, ah, bh, pair_hash(ph, record.a.source, ah, record.b.source, bh)))
    if dataset is not None:
        hashes = list({p.pair_hash for p in plan.records})
        for part in chunks(hashes):
            plan.existing_pairs.update(
                Pair.objects.filter(dataset=dataset, content_hash__in=part).values_list("content_hash", "id"))
    current = existing_current_judgements(plan.existing_pairs)
    seen_first: dict[tuple[str, str], tuple[int, dict]] = {}
    occurrences: dict[str, int] = {}
    for planned in plan.records:
        record = planned.record
        if record.judgement is None:
            continue
        if dataset is not None and (issue := _outside_dataset_rules(record, dataset)) is not None:
            parsed.issues.append(issue)
            continue
        fields = judgement_fields(record)
        if record.judgement.is_repeat:
            # Repeats are told apart by content and by how many identical ones came before.
            identity = repr((planned.pair_hash, sorted(fields.items())))
            planned.occurrence = occurrences[identity] = occurrences.get(identity, -1) + 1
            planned.judgement_fields = fields
            continue
        who = record.judgement.annotator
        earlier = seen_first.get((planned.pair_hash, who))
        if earlier is not None:
            if earlier[1] == fields:
                continue
            if who in (HH_ANNOTATOR, TRL_ANNOTATOR):
                message = (f"repeats the comparison on line {earlier[0]} with the opposite preference; "
                           "this format holds one preference a comparison")
                parsed.issues.append(LineIssue(record.line, "chosen", message))
            else:
                parsed.issues.append(LineIssue(record.line, "annotator",
                                               f"{who} already judged this pair on line {earlier[0]} with different "
                                               "fields; mark one of them is_repeat: true"))
            continue
        seen_first[(planned.pair_hash, who)] = (record.line, fields)
        existing = current.get((plan.existing_pairs.get(planned.pair_hash), who))
        if existing is not None:
            if existing == record.judgement.choice:
                continue
            parsed.issues.append(LineIssue(record.line, "choice",
                                           f"{who} already has a current judgement of this pair in the dataset "
                                           f"with choice {existing!r}, not {record.judgement.choice!r}"))
            continue
        planned.judgement_fields = fields
    return plan


def _outside_dataset_rules(record: PairRecord, dataset: Dataset) -> LineIssue | None:
    """A judgement the existing dataset's labellers could not have given: a choice it does not
    offer, or a strength off its scale (a new dataset takes the defaults, which allow every value)."""
    j = record.judgement
    if j.choice not in dataset.choices:
        return LineIssue(record.line, "choice", f"dataset {dataset.name!r} offers {', '.join(dataset.choices)}, "
                                                f"not {j.choice!r}")
    if j.strength is not None and str(j.strength) not in dataset.strength_scale:
        return LineIssue(record.line, "strength", f"dataset {dataset.name!r} has the strength scale "
                                                  f"{', '.join(dataset.strength_scale)}, not {j.strength}")
    return None


def existing_current_judgements(pair_ids: dict[str, int]) -> dict[tuple[int, str], str]:
    """{(pair id, username): choice} of the current first judgements of pairs already stored."""
    found = {}
    for part in chunks(list(pair_ids.values())):
        rows = Judgement.objects.filter(pair_id__in=part, is_repeat=False, superseded=False).values_list(
            "pair_id", "labeller__user__username", "choice")
        found.update({(pair, who): choice for pair, who, choice in rows})
    return found
