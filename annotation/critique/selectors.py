"""Reads for critique-and-revise runs."""
from django.db.models import QuerySet

from annotation.models import CritiqueRevision, CritiqueRun, Response

CRITIQUE_SOURCE_PREFIX = "critique:"


def critique_runs() -> QuerySet[CritiqueRun]:
    return CritiqueRun.objects.select_related("dataset", "constitution").order_by("-created_at")


def revisions_of_run(*, run: CritiqueRun) -> QuerySet[CritiqueRevision]:
    return run.revisions.select_related("source_response__prompt", "pair").order_by("id")


def responses_to_revise(*, run: CritiqueRun) -> list[int]:
    """Ids of the dataset's responses the run revises, in id order, those it already revised left
    out (a resumed run picks up there); revisions made by critique runs are not revised again."""
    done = run.revisions.values_list("source_response_id", flat=True)
    qs = (Response.objects.filter(prompt__dataset_id=run.dataset_id).exclude(source__startswith=CRITIQUE_SOURCE_PREFIX)
          .order_by("id").values_list("id", flat=True))
    ids = list(qs)
    if run.limit is not None:
        ids = ids[:run.limit]
    skip = set(done)
    return [i for i in ids if i not in skip]


def revision_outcomes(*, run: CritiqueRun) -> dict:
    """How labellers judged the run's pairs: counted votes for the revision and for the original."""
    from annotation.selectors import judgements_counted

    rows = judgements_counted(dataset_id=run.dataset_id).filter(pair__critique_revisions__run=run).values_list(
        "choice", "pair__critique_revisions__expected_side")
    out = {"revision": 0, "original": 0, "other": 0}
    for choice, expected in rows:
        out["revision" if choice == expected else "original" if choice in ("a", "b") else "other"] += 1
    return out


def sft_records(*, run: CritiqueRun):
    """The run's revisions as SFT demonstrations: the conversation followed by the revised answer,
    with provenance; empty revisions left out."""
    for r in revisions_of_run(run=run).exclude(revision="").iterator(chunk_size=500):
        yield {"messages": [*r.source_response.prompt.messages, {"role": "assistant", "content": r.revision}],
               "principle": r.principle, "critique": r.critique, "original": r.source_response.text,
               "source_response": r.source_response_id, "model": r.model, "critique_run": run.pk}
