"""Imports: validate every line, then write everything in one transaction, adding only what the
dataset does not hold yet."""
import time
from pathlib import Path
from typing import BinaryIO

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.db.models import Count, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from annotation.dataio import fields
from annotation.dataio.hashing import judgement_key
from annotation.dataio.planning import Plan, PlannedRecord, chunks, plan_import
from annotation.dataio.reading import parse_file
from annotation.dataio.records import LineIssue
from annotation.models import Dataset, ImportBatch, Judgement, Labeller, Pair, Prompt, Response
from annotation.ratings import imports as rating_imports
from common.exceptions import ApplicationError

BATCH_SIZE = 1000
MAX_DATASET_NAME = Dataset._meta.get_field("name").max_length


class ImportRejected(ApplicationError):
    """Nothing was imported: the file had invalid lines and skip_invalid was off, or it could not
    be read to its end, or (skip_invalid on) none of its lines was valid."""

    def __init__(self, errors: list[LineIssue], batch: ImportBatch | None, *, reason: str = ""):
        super().__init__(f"{reason or f'{len(errors)} invalid line(s)'}; nothing was imported",
                         extra={"errors": [e.as_dict() for e in errors]})
        self.reason = reason
        self.skipping_helps = not reason  # skip_invalid would import the valid lines
        self.errors = errors
        self.batch = batch


def import_file(*, dataset_name: str, file: str | Path | BinaryIO, format: str = "auto", skip_invalid: bool = False,
                created_by=None, filename: str = "", on_progress=None) -> ImportBatch:
    """Imports a JSON Lines file (gzip or plain) into the dataset named, creating it if needed.

    Raises ImportRejected listing every bad line (line, field, message) when any line is invalid
    and skip_invalid is off; whatever skip_invalid says, when the file cannot be read to its end
    (a corrupt or truncated gzip: nothing of it is trusted) or no line of it is valid. A rejection
    is recorded as a failed ImportBatch when the dataset already exists (a rejected first import
    creates no dataset)."""
    started = time.monotonic()
    if not dataset_name.strip() or len(dataset_name) > MAX_DATASET_NAME or fields.UNSTORABLE.search(dataset_name):
        raise ApplicationError(f"The dataset name must be 1 to {MAX_DATASET_NAME} characters of storable text, "
                               f"not {ascii(dataset_name[:40])}")
    filename = filename or (Path(file).name if isinstance(file, (str, Path)) else getattr(file, "name", "upload"))
    filename = fields.storable_name(filename)
    if format == rating_imports.FORMAT or (format == "auto" and rating_imports.file_is_unpaired(file)):
        return rating_imports.import_ratings_file(dataset_name=dataset_name, file=file, skip_invalid=skip_invalid,
                                                  created_by=created_by, filename=filename, on_progress=on_progress,
                                                  started=started)
    dataset = Dataset.objects.filter(name=dataset_name).first()
    if dataset is not None and dataset.mode == Dataset.Mode.RATE:
        raise ApplicationError(f"Dataset {dataset_name!r} is for rating single responses: import ratings into it "
                               "(format unpaired: prompt, completion, label), or pairs into a dataset in 'compare' mode.")
    parsed = parse_file(file, format=format, on_progress=on_progress)
    plan = plan_import(parsed, dataset)
    bad = parsed.bad_lines
    plan.records = [p for p in plan.records if p.record.line not in bad]
    reason = ("the file cannot be read to its end" if parsed.unreadable
              else "no line is valid" if parsed.errors and not plan.records else "")
    if parsed.errors and (reason or not skip_invalid):
        batch = None
        if dataset is not None:
            batch = ImportBatch.objects.create(
                dataset=dataset, format=parsed.format, filename=filename[:500], status=ImportBatch.Status.FAILED,
                n_lines=parsed.n_lines, errors=[i.as_dict() for i in parsed.issues], created_by=created_by,
                duration_s=time.monotonic() - started)
        raise ImportRejected(parsed.errors, batch, reason=reason)
    try:
        return write_import(dataset_name=dataset_name, plan=plan, format=parsed.format, filename=filename,
                            n_lines=parsed.n_lines, issues=parsed.issues, created_by=created_by, started=started)
    except IntegrityError as exc:  # another import wrote the same rows meanwhile
        raise ApplicationError(f"The import clashed with data written at the same time; try again ({exc})") from exc


@transaction.atomic
def write_import(*, dataset_name: str, plan: Plan, format: str, filename: str, n_lines: int,
                 issues: list[LineIssue], created_by, started: float) -> ImportBatch:
    dataset, _ = Dataset.objects.get_or_create(name=dataset_name)
    batch = ImportBatch.objects.create(dataset=dataset, format=format, filename=filename[:500], n_lines=n_lines,
                                       created_by=created_by)
    prompt_ids = write_prompts(dataset, plan.records)
    response_ids = write_responses(plan.records, prompt_ids)
    pair_ids, n_pairs = write_pairs(dataset, plan, prompt_ids, response_ids)
    labeller_ids = ensure_labellers({p.record.judgement.annotator for p in plan.records if p.record.judgement})
    n_judgements, touched = write_judgements(dataset, batch, plan, pair_ids, labeller_ids)
    recount_judgements(touched)
    if labeller_ids:
        dataset.labellers.add(*labeller_ids.values())
    batch.status = ImportBatch.Status.SUCCEEDED
    batch.n_pairs_created = n_pairs
    batch.n_judgements_created = n_judgements
    batch.n_duplicates = sum(1 for p in plan.records if not p.added)
    batch.errors = [i.as_dict() for i in issues]
    batch.duration_s = time.monotonic() - started
    batch.save()
    return batch


def write_prompts(dataset: Dataset, records: list[PlannedRecord]) -> dict[str, int]:
    ids: dict[str, int] = {}
    wanted = {p.prompt_hash: p.record for p in reversed(records)}  # the first line that has it wins
    for part in chunks(list(wanted)):
        ids.update(Prompt.objects.filter(dataset=dataset, content_hash__in=part).values_list("content_hash", "id"))
    new = [Prompt(dataset=dataset, messages=r.messages, content_hash=h, tags=r.tags, stated_belief=r.stated_belief)
           for h, r in wanted.items() if h not in ids]
    Prompt.objects.bulk_create(new, batch_size=BATCH_SIZE)
    ids.update({p.content_hash: p.id for p in new})
    return ids


def write_responses(records: list[PlannedRecord], prompt_ids: dict[str, int]) -> dict[tuple, int]:
    """{(prompt id, source, content hash): response id}"""
    wanted = {}
    for p in records:
        prompt_id = prompt_ids[p.prompt_hash]
        wanted.setdefault((prompt_id, p.record.a.source, p.a_hash), p.record.a.text)
        wanted.setdefault((prompt_id, p.record.b.source, p.b_hash), p.record.b.text)
    ids: dict[tuple, int] = {}
    for part in chunks(sorted({k[0] for k in wanted})):
        rows = Response.objects.filter(prompt_id__in=part).values_list("prompt_id", "source", "content_hash", "id")
        ids.update({(prompt, source, h): rid for prompt, source, h, rid in rows})
    new = [Response(prompt_id=k[0], source=k[1], content_hash=k[2], text=text, length_chars=len(text))
           for k, text in wanted.items() if k not in ids]
    Response.objects.bulk_create(new, batch_size=BATCH_SIZE)
    ids.update({(r.prompt_id, r.source, r.content_hash): r.id for r in new})
    return ids


def write_pairs(dataset, plan: Plan, prompt_ids, response_ids) -> tuple[dict[str, int], int]:
    ids = dict(plan.existing_pairs)
    new = {}
    for p in plan.records:
        if p.pair_hash in ids or p.pair_hash in new:
            continue
        prompt_id = prompt_ids[p.prompt_hash]
        r = p.record
        p.added = True
        new[p.pair_hash] = Pair(
            dataset=dataset, prompt_id=prompt_id, origin=Pair.Origin.IMPORTED, external_id=r.external_id,
            response_a_id=response_ids[(prompt_id, r.a.source, p.a_hash)],
            response_b_id=response_ids[(prompt_id, r.b.source, p.b_hash)],
            content_hash=p.pair_hash, gold=r.gold, agrees_with_user=r.agrees_with_user)
    Pair.objects.bulk_create(new.values(), batch_size=BATCH_SIZE)
    ids.update({h: pair.id for h, pair in new.items()})
    return ids, len(new)


def ensure_labellers(usernames: set[str]) -> dict[str, int]:
    """{username: labeller id}; annotators seen for the first time become users who cannot log in,
    with an 'imported' labeller role. An existing account of that name is reused."""
    if not usernames:
        return {}
    User = get_user_model()
    names = sorted(usernames)
    users = dict(User.objects.filter(username__in=names).values_list("username", "id"))
    new_users = []
    for name in names:
        if name not in users:
            user = User(username=name)
            user.set_unusable_password()
            new_users.append(user)
    User.objects.bulk_create(new_users, batch_size=BATCH_SIZE)
    users.update({u.username: u.id for u in new_users})
    labellers = dict(Labeller.objects.filter(user_id__in=users.values()).values_list("user_id", "id"))
    new_labellers = [Labeller(user_id=uid, role=Labeller.Role.IMPORTED) for uid in users.values() if uid not in labellers]
    Labeller.objects.bulk_create(new_labellers, batch_size=BATCH_SIZE)
    labellers.update({lab.user_id: lab.id for lab in new_labellers})
    return {name: labellers[uid] for name, uid in users.items()}


def write_judgements(dataset, batch, plan: Plan, pair_ids, labeller_ids) -> tuple[int, set[int]]:
    now = timezone.now()
    wanted: dict[tuple[int, str], Judgement] = {}
    for p in plan.records:
        if p.judgement_fields is None:
            continue
        j = p.record.judgement
        key = judgement_key(dataset_id=dataset.id, pair_hash_=p.pair_hash, fields=p.judgement_fields,
                            occurrence=p.occurrence)
        labeller_id = labeller_ids[j.annotator]
        wanted[(labeller_id, key)] = p, Judgement(
            pair_id=pair_ids[p.pair_hash], labeller_id=labeller_id, choice=j.choice, strength=j.strength,
            rationale=j.rationale, flags=j.flags, shown_left=j.shown_left, time_ms=j.time_ms,
            created_at=j.created_at or now, is_repeat=j.is_repeat, idempotency_key=key,
            source=Judgement.Source.IMPORT, import_batch=batch)
    existing = set()
    for part in chunks(list({k for _, k in wanted})):
        existing.update(Judgement.objects.filter(idempotency_key__in=part).values_list("labeller_id", "idempotency_key"))
    new = []
    for k, (p, judgement) in wanted.items():
        if k not in existing:
            p.added = True
            new.append(judgement)
    Judgement.objects.bulk_create(new, batch_size=BATCH_SIZE)
    return len(new), {j.pair_id for j in new}


def recount_judgements(pair_ids: set[int]) -> None:
    """Keeps Pair.n_judgements equal to its counted (first, current) judgements."""
    counted = (Judgement.objects.filter(pair_id=OuterRef("pk"), is_repeat=False, superseded=False)
               .order_by().values("pair_id").annotate(n=Count("id")).values("n"))
    for part in chunks(sorted(pair_ids)):
        # Lock the rows first, as the labelling services do, so the count (a new statement, hence a
        # fresh snapshot) includes any judgement committed meanwhile.
        list(Pair.objects.select_for_update().filter(id__in=part).values_list("id", flat=True))
        Pair.objects.filter(id__in=part).update(n_judgements=Coalesce(Subquery(counted), Value(0)))
