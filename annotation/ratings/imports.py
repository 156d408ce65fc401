"""Import of ratings in TRL's unpaired preference format ("unpaired"): one rating a line,
`{"prompt", "completion", "label"}`, prompt as text or messages, completion as text or one
assistant message, label true (thumbs up) or false; optional `annotator`, `id`, `model`,
`rationale`, `flags`, `created_at`, `time_ms`, `is_repeat`, `gold_label`. Every line is checked
(annotation.ratings.parsing), against the file and the dataset, before anything is written."""
import time

from django.db import transaction
from django.db.models import Count, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from annotation.dataio.hashing import canonical, prompt_hash, response_hash, sha256
from annotation.dataio.planning import chunks
from annotation.dataio.records import LineIssue
from annotation.models import Dataset, ImportBatch, Prompt, Rating, RatingItem, Response
from annotation.ratings.parsing import FORMAT, ParsedRatings, file_is_unpaired, parse_ratings  # noqa: F401

BATCH_SIZE = 1000


def plan_ratings(parsed: ParsedRatings, dataset: Dataset | None, *, dataset_name: str) -> None:
    """Hashes every record and checks it against the file's earlier lines and the dataset: a
    response's gold label must agree everywhere, and an annotator's first rating of a response may
    come once (the same again is a duplicate; the other label is an error: revise it in Arbiter).
    Adds the errors to parsed.issues and marks duplicates (key "")."""
    gold: dict[tuple, tuple[int, bool]] = {}
    firsts: dict[tuple, tuple[int, bool]] = {}
    occurrences: dict[str, int] = {}
    for r in parsed.records:
        r.prompt_hash, r.response_hash = prompt_hash(r.messages), response_hash(r.completion)
        recorded = [r.annotator, r.label, r.is_repeat, r.rationale, r.flags, r.time_ms,
                    r.created_at.isoformat() if r.created_at else None]
        # The dataset by name (it may not exist yet); keys are unique per labeller across datasets.
        base = sha256(canonical([dataset_name, list(r.response_key), recorded]))
        occurrences[base] = occurrences.get(base, 0) + 1
        r.key = "import:" + sha256(canonical([base, occurrences[base]]))
    if dataset is not None:
        existing_gold = dict(
            ((h, s, rh), g) for h, s, rh, g in RatingItem.objects.filter(dataset=dataset, gold_label__isnull=False)
            .values_list("response__prompt__content_hash", "response__source", "response__content_hash", "gold_label"))
        gold.update({k: (0, v) for k, v in existing_gold.items()})
        for name, h, s, rh, label in (Rating.objects.filter(item__dataset=dataset, is_repeat=False, revision_of__isnull=True)
                                      .values_list("labeller__user__username", "item__response__prompt__content_hash",
                                                   "item__response__source", "item__response__content_hash", "label")):
            firsts[(name, h, s, rh)] = (0, label)
        existing_keys = set(Rating.objects.filter(item__dataset=dataset, idempotency_key__startswith="import:")
                            .values_list("idempotency_key", flat=True))
    else:
        existing_keys = set()
    for r in parsed.records:
        where = lambda line: f"line {line}" if line else "the dataset"  # noqa: E731
        if r.gold_label is not None:
            seen = gold.setdefault(r.response_key, (r.line, r.gold_label))
            if seen[1] != r.gold_label:
                parsed.issues.append(LineIssue(r.line, "gold_label", f"differs from the gold label in {where(seen[0])} "
                                               "for the same response"))
                continue
        if r.key in existing_keys:
            r.key = ""  # already imported
            continue
        if not r.is_repeat:
            seen = firsts.setdefault((r.annotator,) + r.response_key, (r.line, r.label))
            if seen[0] != r.line:
                if seen[1] != r.label:
                    parsed.issues.append(LineIssue(r.line, "label", f"{r.annotator} already rated this response "
                                                   f"{'up' if seen[1] else 'down'} in {where(seen[0])}; mark a second "
                                                   "rating is_repeat, or revise it in Arbiter"))
                else:
                    r.key = ""  # the same first rating again
    bad = {i.line for i in parsed.errors}
    parsed.records = [r for r in parsed.records if r.line not in bad]


def import_ratings_file(*, dataset_name: str, file, skip_invalid: bool = False, created_by=None, filename: str = "",
                        on_progress=None, started: float | None = None) -> ImportBatch:
    """import_file for the unpaired format (it comes here when the format is "unpaired" or the file
    looks like it). Same rules: every line checked first, nothing written when a line is bad unless
    skip_invalid; a rejection recorded as a failed ImportBatch when the dataset exists."""
    from annotation.dataio.services import ImportRejected

    started = started or time.monotonic()
    parsed = parse_ratings(file, on_progress=on_progress)
    dataset = Dataset.objects.filter(name=dataset_name).first()
    if dataset is not None and dataset.mode != Dataset.Mode.RATE:
        parsed.issues.insert(0, LineIssue(1, "file", f"dataset {dataset_name!r} is for comparing pairs; import "
                                          "ratings into a dataset in 'rate' mode (or a new one)"))
    elif not parsed.unreadable:
        plan_ratings(parsed, dataset, dataset_name=dataset_name)
    reason = ("the file cannot be read to its end" if parsed.unreadable
              else "no line is valid" if parsed.errors and not parsed.records else "")
    if parsed.errors and (reason or not skip_invalid):
        batch = None
        if dataset is not None:
            batch = ImportBatch.objects.create(
                dataset=dataset, format=FORMAT, filename=filename[:500], status=ImportBatch.Status.FAILED,
                n_lines=parsed.n_lines, errors=[i.as_dict() for i in parsed.issues], created_by=created_by,
                duration_s=time.monotonic() - started)
        raise ImportRejected(parsed.errors, batch, reason=reason)
    return _write(dataset_name=dataset_name, parsed=parsed, filename=filename, created_by=created_by, started=started)


@transaction.atomic
def _write(*, dataset_name, parsed: ParsedRatings, filename, created_by, started) -> ImportBatch:
    from annotation.dataio.services import ensure_labellers

    dataset, _ = Dataset.objects.get_or_create(name=dataset_name, defaults={"mode": Dataset.Mode.RATE})
    batch = ImportBatch.objects.create(dataset=dataset, format=FORMAT, filename=filename[:500], n_lines=parsed.n_lines,
                                       created_by=created_by)
    records = parsed.records
    prompt_ids = _prompts(dataset, records)
    response_ids = _responses(records, prompt_ids)
    item_ids, n_items = _rating_items(dataset, records, prompt_ids, response_ids)
    labeller_ids = ensure_labellers({r.annotator for r in records})
    now = timezone.now()
    new = [Rating(item_id=item_ids[r.response_key], labeller_id=labeller_ids[r.annotator], label=r.label,
                  rationale=r.rationale, flags=r.flags, time_ms=r.time_ms, created_at=r.created_at or now,
                  is_repeat=r.is_repeat, idempotency_key=r.key, source=Rating.Source.IMPORT, import_batch=batch)
           for r in records if r.key]
    Rating.objects.bulk_create(new, batch_size=BATCH_SIZE)
    ratings_recount({rating.item_id for rating in new})
    if labeller_ids:
        dataset.labellers.add(*labeller_ids.values())
    batch.status = ImportBatch.Status.SUCCEEDED
    batch.n_rating_items_created, batch.n_ratings_created = n_items, len(new)
    batch.n_duplicates = sum(1 for r in records if not r.key)
    batch.errors = [i.as_dict() for i in parsed.issues]
    batch.duration_s = time.monotonic() - started
    batch.save()
    return batch


def _prompts(dataset, records) -> dict[str, int]:
    wanted = {r.prompt_hash: r.messages for r in reversed(records)}
    ids = {}
    for part in chunks(list(wanted)):
        ids.update(Prompt.objects.filter(dataset=dataset, content_hash__in=part).values_list("content_hash", "id"))
    new = [Prompt(dataset=dataset, messages=m, content_hash=h) for h, m in wanted.items() if h not in ids]
    Prompt.objects.bulk_create(new, batch_size=BATCH_SIZE)
    ids.update({p.content_hash: p.id for p in new})
    return ids


def _responses(records, prompt_ids) -> dict[tuple, int]:
    """{(prompt id, source, content hash): response id}"""
    wanted = {}
    for r in records:
        wanted.setdefault((prompt_ids[r.prompt_hash], r.model, r.response_hash), r.completion)
    ids = {}
    for part in chunks(sorted({k[0] for k in wanted})):
        rows = Response.objects.filter(prompt_id__in=part).values_list("prompt_id", "source", "content_hash", "id")
        ids.update({(p, s, h): rid for p, s, h, rid in rows})
    new = [Response(prompt_id=k[0], source=k[1], content_hash=k[2], text=text, length_chars=len(text))
           for k, text in wanted.items() if k not in ids]
    Response.objects.bulk_create(new, batch_size=BATCH_SIZE)
    ids.update({(r.prompt_id, r.source, r.content_hash): r.id for r in new})
    return ids


def _rating_items(dataset, records, prompt_ids, response_ids) -> tuple[dict[tuple, int], int]:
    """{record.response_key: item id} and how many items are new. A gold label is set on new items
    (plan_ratings made sure the file agrees with those already there)."""
    by_key = {r.response_key: response_ids[(prompt_ids[r.prompt_hash], r.model, r.response_hash)] for r in records}
    existing = {}
    for part in chunks(sorted(set(by_key.values()))):
        existing.update(RatingItem.objects.filter(response_id__in=part).values_list("response_id", "id"))
    gold = {r.response_key: r.gold_label for r in records if r.gold_label is not None}
    ext = {}
    for r in records:
        ext.setdefault(r.response_key, r.external_id)
    new = {key: RatingItem(dataset=dataset, response_id=rid, gold_label=gold.get(key), external_id=ext[key])
           for key, rid in by_key.items() if rid not in existing}
    RatingItem.objects.bulk_create(new.values(), batch_size=BATCH_SIZE)
    existing.update({item.response_id: item.id for item in new.values()})
    return {key: existing[rid] for key, rid in by_key.items()}, len(new)


def ratings_recount(item_ids: set[int]) -> None:
    """Keeps RatingItem.n_ratings equal to its counted (first, current) ratings, under the items' locks."""
    counted = (Rating.objects.filter(item_id=OuterRef("pk"), is_repeat=False, superseded=False)
               .order_by().values("item_id").annotate(n=Count("id")).values("n"))
    for part in chunks(sorted(item_ids)):
        list(RatingItem.objects.select_for_update().filter(id__in=part).values_list("id", flat=True))
        RatingItem.objects.filter(id__in=part).update(n_ratings=Coalesce(Subquery(counted), Value(0)))
