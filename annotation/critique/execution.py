"""The body of a critique-and-revise run, called by the Celery task (or inline by the command):
1. settings and principles, 2. the model, loaded once, 3. per batch of responses: critiques, then
revisions, each result stored with its provenance (and its pair), a heartbeat that carries the
cancel flag, 4. the summary. Principles and sampling are seeded per response, so a resumed run
draws what the first attempt would have."""
import logging
import random

from annotation.critique.prompts import DEFAULT_PRINCIPLES, critique_messages, principle_draw, revision_messages
from annotation.critique.selectors import responses_to_revise
from annotation.critique.services import critique_revision_record
from annotation.models import CritiqueRun, Response
from common.exceptions import ApplicationError
from common.jobs import job_fail, job_heartbeat, job_mark_cancelled, job_start, job_succeed
from common.models import JobStatus

logger = logging.getLogger("arbiter.critique")
MAX_PROMPT_TOKENS = 1024


def critique_run_execute(*, run_id: int, worker: str = "") -> CritiqueRun:
    """Runs a queued run to the end (succeeded), a cancel (cancelled) or an error (failed, with the
    reason); a run that is not queued is left alone (another delivery took it, or it was cancelled)."""
    run = CritiqueRun.objects.get(pk=run_id)
    if run.status != JobStatus.QUEUED:
        return run
    job_start(run, worker=worker)
    try:
        _revise(run)
    except ApplicationError as exc:
        job_fail(run, error=exc.message)
    except Exception as exc:  # the run must end failed, with the reason, whatever broke
        logger.exception("critique run %s failed", run.pk)
        job_fail(run, error=f"{type(exc).__name__}: {exc}")
    run.refresh_from_db()
    return run


def _revise(run: CritiqueRun) -> None:
    import torch

    from training.generate import generate_with, load_generator

    # 1. settings, principles, the responses left to revise
    cfg = run.config
    principles = list(run.constitution.principles) if run.constitution_id else DEFAULT_PRINCIPLES
    todo = responses_to_revise(run=run)
    total = len(todo) + run.revisions.count()
    # 2. the model, once; prompts keep their end (the request) when longer than the positions left
    model, tok = load_generator(run.model_path)
    positions = getattr(model.config, "max_position_embeddings", None) or getattr(model.config, "n_positions", None) or 2048
    max_prompt = min(MAX_PROMPT_TOKENS, positions - cfg["max_new_tokens"])
    if max_prompt < 8:
        raise ApplicationError(f"max_new_tokens {cfg['max_new_tokens']} leaves no room for the prompt in the model's "
                               f"{positions} positions.")
    sample = dict(max_new_tokens=cfg["max_new_tokens"], temperature=cfg["temperature"], top_p=cfg["top_p"],
                  max_prompt_tokens=max_prompt, batch_size=cfg["batch_size"], chat_template=cfg["chat_template"])
    # 3. batch by batch: critiques, revisions, records, heartbeat
    for start in range(0, len(todo), cfg["batch_size"]):
        ids = todo[start:start + cfg["batch_size"]]
        sources = list(Response.objects.filter(id__in=ids).select_related("prompt").order_by("id"))
        rngs = [random.Random(f"{cfg['seed']}:{s.pk}") for s in sources]
        drawn = [principle_draw(principles, rng) for rng in rngs]
        generator = torch.Generator().manual_seed(cfg["seed"] * 1_000_003 + ids[0])
        critiques = generate_with(model, tok, [critique_messages(s.prompt.messages, s.text, p) for s, p in zip(sources, drawn)],
                                  generator=generator, **sample)
        revisions = generate_with(model, tok, [revision_messages(s.prompt.messages, s.text, p, c)
                                               for s, p, c in zip(sources, drawn, critiques)], generator=generator, **sample)
        for source, principle, critique, revision, rng in zip(sources, drawn, critiques, revisions, rngs):
            critique_revision_record(run=run, source=source, principle=principle, critique=critique, revision=revision, rng=rng)
        done = run.revisions.count()
        if job_heartbeat(run, progress=done / max(total, 1)):
            job_mark_cancelled(run)
            return
    # 4. summary
    revisions = run.revisions
    job_succeed(run, summary={
        "n_revisions": revisions.count(),
        "n_pairs": revisions.filter(pair__isnull=False).count(),
        "n_without_pair": revisions.filter(pair__isnull=True).count() if run.output == CritiqueRun.Output.PAIR else 0,
        "n_principles": len(principles),
    })
