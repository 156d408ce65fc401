"""The body of a training run, called by the Celery task (or inline by the CLI): select the data,
train with heartbeats and checkpoints, evaluate, write the artifact atomically."""
import json
import logging
import shutil
from dataclasses import asdict

from django.utils import timezone

from common.artifacts import atomic_directory
from common.exceptions import ApplicationError
from common.jobs import job_fail, job_heartbeat, job_mark_cancelled, job_start, job_succeed
from common.models import JobStatus
from rewardmodel.backbone import backbone_problem
from rewardmodel.models import RewardModelRun, RewardModelStep
from rewardmodel.selection import select_examples, selection_empty_message
from rewardmodel.services import run_config_parse, run_dir

logger = logging.getLogger("arbiter.rewardmodel")


def reward_run_execute(*, run_id: int, worker: str = "") -> RewardModelRun:
    """Trains a queued run to the end (succeeded), to a cancel (cancelled) or to an error (failed,
    with the reason). A run that is not queued is left alone: it was cancelled before it started,
    or this is a second delivery of a task another worker already took."""
    run = RewardModelRun.objects.get(pk=run_id)
    if run.status != JobStatus.QUEUED:
        return run
    job_start(run, worker=worker)
    try:
        _train(run)
    except ApplicationError as exc:
        job_fail(run, error=exc.message)
    except Exception as exc:  # the run must end failed, with the reason, whatever broke
        logger.exception("reward run %s failed", run.pk)
        job_fail(run, error=f"{type(exc).__name__}: {exc}")
    run.refresh_from_db()
    return run


def _train(run: RewardModelRun) -> None:
    import torch

    from rewardmodel.backbone import is_decoder, load_backbone
    from rewardmodel.evaluation import pair_metrics
    from rewardmodel.text import encode_examples
    from common.ml.precision import make_accelerator
    from rewardmodel.trainer import score_pairs, train

    # 1. settings, backbone and data (a resumed run reads exactly the judgements it started with)
    train_cfg, sel_cfg = run_config_parse(run.config)
    problem = backbone_problem(run.base_model_path)
    if problem:
        raise ApplicationError(problem)
    folder = run_dir(run)
    if run.attempt == 1:
        shutil.rmtree(folder, ignore_errors=True)  # leftovers of an older database's run with this id
    folder.mkdir(parents=True, exist_ok=True)
    ids_file, checkpoints = folder / "judgement_ids.json", folder / "checkpoints"
    resuming = ids_file.exists() and (checkpoints / "last").exists()
    selection = select_examples(
        dataset_id=run.dataset_id, config=sel_cfg, judgement_ids=json.loads(ids_file.read_text()) if resuming else None
    )
    if not selection.train:
        raise ApplicationError(selection_empty_message(selection.snapshot))
    ids_file.write_text(json.dumps(selection.judgement_ids))
    job_heartbeat(run)

    model, tokenizer = load_backbone(run.base_model_path, seed=train_cfg.seed)
    decoder = is_decoder(model)
    train_pairs, n_trunc_train = encode_examples(tokenizer, selection.train, max_length=train_cfg.max_length, decoder=decoder)
    eval_pairs, n_trunc_eval = encode_examples(tokenizer, selection.eval, max_length=train_cfg.max_length, decoder=decoder)
    gold_pairs, _ = encode_examples(tokenizer, selection.gold, max_length=train_cfg.max_length, decoder=decoder)
    human_pairs, _ = encode_examples(tokenizer, selection.human_eval, max_length=train_cfg.max_length, decoder=decoder)
    snapshot = {**selection.snapshot, "n_truncated_train": n_trunc_train, "n_truncated_eval": n_trunc_eval,
                "backbone": run.base_model_path, "decoder": decoder}
    RewardModelRun.objects.filter(pk=run.pk).update(data_snapshot=snapshot)
    if job_heartbeat(run, progress=0.0):
        job_mark_cancelled(run)
        return

    # 2. train: a step row and a heartbeat (which carries the cancel flag) per optimizer step
    def on_step(step, total, logs):
        RewardModelStep.objects.update_or_create(run=run, step=step, defaults={"metrics": logs})
        return job_heartbeat(run, progress=0.95 * step / total)

    accelerator = make_accelerator(train_cfg.mixed_precision)
    result = train(train_cfg, model=model, pad_token_id=tokenizer.pad_token_id, train_pairs=train_pairs,
                   eval_pairs=eval_pairs, checkpoint_dir=checkpoints, on_step=on_step, accelerator=accelerator)
    if result.stopped:
        job_mark_cancelled(run)
        return
    model = accelerator.unwrap_model(model)

    # 3. evaluate on the held-out prompts and on gold items
    job_heartbeat(run, progress=0.96)
    r_w, r_l = score_pairs(model, eval_pairs, pad_token_id=tokenizer.pad_token_id)
    evaluation = pair_metrics(r_w, r_l, [p.meta for p in eval_pairs])
    g_w, g_l = score_pairs(model, gold_pairs, pad_token_id=tokenizer.pad_token_id)
    evaluation["gold_accuracy"] = sum(w > lo for w, lo in zip(g_w, g_l)) / len(g_w) if g_w else None
    evaluation["n_gold"] = len(g_w)
    evaluation["gold_accuracy_scope"] = selection.snapshot["gold_accuracy_scope"]
    # held-out HUMAN accuracy: the same yardstick whichever judgements (people, AI, both) trained the run
    h_w, h_l = score_pairs(model, human_pairs, pad_token_id=tokenizer.pad_token_id)
    evaluation["human_accuracy"] = sum(w > lo for w, lo in zip(h_w, h_l)) / len(h_w) if h_w else None
    evaluation["n_human_eval"] = len(h_w)
    evaluation["human_accuracy_scope"] = selection.snapshot["human_eval_scope"]
    last = result.history[-1] if result.history else {}
    summary = {
        "evaluation": evaluation,
        "train": {k: last.get(k) for k in ("loss", "accuracy", "margin") if k in last},
        "steps": result.steps,
        "resumed_from_step": result.resumed_from,
        "loss_head": result.head,
        "n_truncated_train": n_trunc_train,
        "n_truncated_eval": n_trunc_eval,
        "n_train_pairs": len(train_pairs),
        "n_eval_pairs": len(eval_pairs),
        "device": str(accelerator.device),
        "torch": torch.__version__,
    }

    # 4. the artifact: a standard HF folder + model_card.json, renamed into place when complete
    target = folder / "model"
    with atomic_directory(target) as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        card = {
            "arbiter_run_id": run.pk,
            "name": str(run),
            "dataset": run.dataset.name,
            "base_model_path": run.base_model_path,
            "created_at": timezone.now().isoformat(),
            "data_snapshot": snapshot,
            "config": {"train": train_cfg.to_dict(), "selection": asdict(sel_cfg)},
            "metrics": summary,
            "usage": "AutoModelForSequenceClassification.from_pretrained(path) + AutoTokenizer; reward = logits[:, 0]",
        }
        (tmp / "model_card.json").write_text(json.dumps(card, indent=2, default=str))
    shutil.rmtree(checkpoints, ignore_errors=True)
    job_succeed(run, artifact_path=str(target), summary=summary)
