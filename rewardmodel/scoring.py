"""Scoring (prompt, response) texts with a trained run's model, and batch scoring of a dataset's pairs."""
import threading
from functools import lru_cache

from django.db import transaction

from annotation.models import Pair
from common.exceptions import ApplicationError
from common.models import JobStatus
from rewardmodel.models import PairScore, RewardModelRun

MAX_ITEMS = 256
_lock = threading.Lock()


@lru_cache(maxsize=2)
def _load(artifact_path: str):
    from rewardmodel.backbone import is_decoder, load_reward_model

    try:
        model, tokenizer = load_reward_model(artifact_path)
    except (OSError, ValueError) as exc:
        raise ApplicationError(f"The model of {artifact_path} cannot be loaded: {exc}") from exc
    model.eval()
    return model, tokenizer, is_decoder(model)


def _scorable(run: RewardModelRun) -> str:
    if run.status != JobStatus.SUCCEEDED or not run.artifact_path:
        raise ApplicationError(f"Run {run.pk} is {run.status}; only a succeeded run has a model to score with.")
    return run.artifact_path


def score_texts(*, run: RewardModelRun, items: list[tuple[object, str]]) -> tuple[list[float], int]:
    """Rewards of (prompt, response) items, prompt as text or [{role, content}]; also how many
    were truncated to the run's max_length (from the left, keeping the response)."""
    from rewardmodel.reward import score_conversations

    path = _scorable(run)
    max_length = int(run.config.get("train", {}).get("max_length", 256))
    model, tokenizer, _ = _load(path)
    with _lock:  # one model shared by the threads of a web worker
        return score_conversations(model, tokenizer, items, max_length=max_length)


def pair_scores_compute(*, run_id: int, dataset_id: int) -> int:
    """Scores both responses of every pair of a dataset with the run's model and stores them
    (one PairScore row per pair, replaced on a re-score). Returns how many pairs were scored."""
    run = RewardModelRun.objects.get(pk=run_id)
    _scorable(run)
    pairs = list(Pair.objects.filter(dataset_id=dataset_id).select_related("prompt", "response_a", "response_b").order_by("id"))
    done = 0
    for start in range(0, len(pairs), 256):
        chunk = pairs[start : start + 256]
        items = [(p.prompt.messages, p.response_a.text) for p in chunk] + [(p.prompt.messages, p.response_b.text) for p in chunk]
        scores, _ = score_texts(run=run, items=items)
        with transaction.atomic():
            PairScore.objects.filter(run=run, pair__in=chunk).delete()
            PairScore.objects.bulk_create(
                [PairScore(run=run, pair=p, score_a=scores[i], score_b=scores[len(chunk) + i]) for i, p in enumerate(chunk)]
            )
        done += len(chunk)
    return done


def preference_file_evaluate(*, run: RewardModelRun, path: str, format: str = "auto") -> dict:
    """Scores every pair of an HH or TRL preference file (parsed by the importer's parser) with the
    run's model: accuracy, calibration and the reward-length correlation on data it never saw."""
    from annotation.dataio.reading import parse_file
    from rewardmodel.evaluation import pair_metrics
    from rewardmodel.text import PairExample
    from rewardmodel.text import encode_examples
    from rewardmodel.trainer import score_pairs

    model, tokenizer, decoder = _load(_scorable(run))
    parsed = parse_file(path, format=format)
    examples = []
    for record in parsed.records:
        if record.judgement is None or record.judgement.choice not in ("a", "b"):
            continue
        chosen, rejected = (record.a, record.b) if record.judgement.choice == "a" else (record.b, record.a)
        examples.append(PairExample(pair_id=record.line, prompt_id=record.line, messages=record.messages,
                                    chosen=chosen.text, rejected=rejected.text))
    max_length = int(run.config.get("train", {}).get("max_length", 256))
    pairs, n_truncated = encode_examples(tokenizer, examples, max_length=max_length, decoder=decoder)
    with _lock:
        r_w, r_l = score_pairs(model, pairs, pad_token_id=tokenizer.pad_token_id)
    return {
        "run": run.pk,
        "file": str(path),
        "format": parsed.format,
        "n_lines": parsed.n_lines,
        "n_lines_rejected": len(parsed.bad_lines),
        "first_errors": [str(i) for i in parsed.errors[:5]],
        "n_truncated": n_truncated,
        **pair_metrics(r_w, r_l, [p.meta for p in pairs]),
    }
