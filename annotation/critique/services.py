"""Writes for critique-and-revise runs: create, cancel, resume, and recording one result."""
import random

from django.db import transaction

from annotation.critique.selectors import CRITIQUE_SOURCE_PREFIX
from annotation.dataio.hashing import pair_hash, prompt_hash, response_hash
from annotation.models import Constitution, CritiqueRevision, CritiqueRun, Dataset, Pair, Response
from common.exceptions import ApplicationError
from common.jobs import job_cancel, job_requeue
from common.validation import text_storable

DEFAULTS = {"max_new_tokens": 64, "temperature": 0.7, "top_p": 1.0, "seed": 0, "chat_template": True, "batch_size": 8}


def critique_config_check(config: dict) -> dict:
    """The run's generation settings with the defaults filled in; ApplicationError naming a bad one."""
    unknown = set(config) - set(DEFAULTS)
    if unknown:
        raise ApplicationError(f"Unknown critique setting(s): {', '.join(sorted(unknown))}; known: {', '.join(DEFAULTS)}.")
    cfg = {**DEFAULTS, **config}
    checks = [
        (isinstance(cfg["max_new_tokens"], int) and 1 <= cfg["max_new_tokens"] <= 2048, "max_new_tokens must be 1 to 2048"),
        (isinstance(cfg["temperature"], (int, float)) and 0 < cfg["temperature"] <= 5, "temperature must be in (0, 5]"),
        (isinstance(cfg["top_p"], (int, float)) and 0 < cfg["top_p"] <= 1, "top_p must be in (0, 1]"),
        (isinstance(cfg["seed"], int), "seed must be an integer"),
        (isinstance(cfg["chat_template"], bool), "chat_template must be true or false"),
        (isinstance(cfg["batch_size"], int) and 1 <= cfg["batch_size"] <= 256, "batch_size must be 1 to 256"),
    ]
    for ok, message in checks:
        if not ok:
            raise ApplicationError(f"Invalid critique setting: {message}.")
    return cfg


@transaction.atomic
def critique_run_create(*, dataset: Dataset, model_path: str, constitution: Constitution | None = None,
                        limit: int | None = None, output: str = CritiqueRun.Output.PAIR, config: dict | None = None,
                        created_by=None, enqueue: bool = True) -> CritiqueRun:
    """A queued run over `dataset`'s responses; the model folder is checked here, before anything is written."""
    from pathlib import Path

    if not model_path or not (Path(model_path) / "config.json").is_file():
        raise ApplicationError(f"{model_path or 'The model path'} is not a local Hugging Face model folder (no config.json).")
    if output not in CritiqueRun.Output.values:
        raise ApplicationError(f"output must be one of {', '.join(CritiqueRun.Output.values)}, not {output!r}.")
    if limit is not None and limit < 1:
        raise ApplicationError("limit must be at least 1 (or blank for every response).")
    if constitution is not None and not (isinstance(constitution.principles, list) and constitution.principles):
        raise ApplicationError(f"The constitution {constitution} has no principles.")
    cfg = critique_config_check(config or {})
    run = CritiqueRun.objects.create(dataset=dataset, model_path=model_path, constitution=constitution, limit=limit,
                                     output=output, config=cfg, created_by=created_by)
    if enqueue:
        _enqueue(run)
    return run


def _enqueue(run: CritiqueRun) -> None:
    from annotation.tasks import critique_run_task

    transaction.on_commit(lambda: critique_run_task.delay(run.pk))


def critique_run_cancel(*, run: CritiqueRun) -> CritiqueRun:
    return job_cancel(run)


def critique_run_resume(*, run: CritiqueRun, enqueue: bool = True) -> CritiqueRun:
    """Queues a failed or cancelled run again: it revises the responses it had not reached."""
    job_requeue(run)
    if enqueue:
        _enqueue(run)
    return run


@transaction.atomic
def critique_revision_record(*, run: CritiqueRun, source: Response, principle: str, critique: str, revision: str,
                             rng: random.Random) -> CritiqueRevision:
    """Stores one result; with output "pair" and a revision that differs from the original, also the
    revision as a Response (source "critique:<run id>") and a new Pair original vs revision, sides
    at random, the revision's side recorded as the one expected to win."""
    critique, revision = text_storable(critique), text_storable(revision)  # a model's text may hold NUL
    record = CritiqueRevision(run=run, source_response=source, principle=principle, critique=critique,
                              revision=revision, model=run.model_path)
    if run.output == CritiqueRun.Output.PAIR:
        if not revision.strip():
            record.note = "The model wrote an empty revision: no pair."
        elif revision.strip() == source.text.strip():
            record.note = "The revision repeats the original: no pair."
        else:
            _pair_add(record, run=run, source=source, revision=revision, rng=rng)
    record.save()
    return record


def _pair_add(record: CritiqueRevision, *, run: CritiqueRun, source: Response, revision: str, rng: random.Random) -> None:
    prompt = source.prompt
    revised, _ = Response.objects.get_or_create(
        prompt=prompt, source=f"{CRITIQUE_SOURCE_PREFIX}{run.pk}", content_hash=response_hash(revision),
        defaults={"text": revision, "length_chars": len(revision),
                  "metadata": {"critique_of_response": source.pk, "model": run.model_path}},
    )
    a, b = (source, revised) if rng.random() < 0.5 else (revised, source)
    h = pair_hash(prompt_hash(prompt.messages), a.source, a.content_hash, b.source, b.content_hash)
    pair, _ = Pair.objects.get_or_create(
        dataset=run.dataset, content_hash=h,
        defaults={"prompt": prompt, "response_a": a, "response_b": b, "origin": Pair.Origin.CRITIQUE,
                  "origin_run": f"critique:{run.pk}"},
    )
    record.revision_response, record.pair = revised, pair
    record.expected_side = "a" if pair.response_a_id == revised.pk else "b"
