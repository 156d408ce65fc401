"""The work a GRPO run's task does (training/execute.py's machinery for the GRPO kind): load the
task set and the reward spec, train (training/grpo.py), record each step's metrics and, every
`sample_every` steps, the completions with each reward term's reward and verdict; honour cancel,
resume from the last checkpoint, and leave the row succeeded, cancelled or failed, never running."""
from django.db import transaction

from common.jobs import job_fail, job_heartbeat, job_start
from common.models import JobStatus
from training.execute import _check_source, _trained_run_end, _worker_name, run_dir
from training.models import PolicyRun, PolicySample, PolicyStep


def _learnt_reward(run: PolicyRun, entries: list, cfg):
    """The reward-model run's scorer when the spec has a reward_model term, else None."""
    from training.rewards.spec import reward_model_scorer

    if not any(e.get("checker") == "reward_model" for e in entries):
        return None
    path = _check_source("Reward-model run", run.reward_run)
    max_length = int((run.reward_run.config or {}).get("train", {}).get("max_length")
                     or cfg.max_prompt_tokens + cfg.max_new_tokens)
    return reward_model_scorer(path, max_length=max_length)


def grpo_run_execute(*, run: PolicyRun, worker: str = "") -> PolicyRun:
    from training.grpo import CHECKPOINT, grpo_train
    from training.rewards.spec import parse_reward_spec
    from training.runner import checkpoint_step
    from training.selectors import task_set_tasks
    from training.services import grpo_run_configs

    if run.status != JobStatus.QUEUED:
        return run  # cancelled while queued, or a duplicate delivery
    job_start(run, worker=_worker_name(worker))
    try:
        tasks = task_set_tasks(task_set_id=run.task_set_id)
        cfg, entries, options = grpo_run_configs(run.config, checkers={t.checker for t in tasks})
        spec = parse_reward_spec(entries, learnt=_learnt_reward(run, entries, cfg))
        start = _check_source("SFT run", run.sft_run) if run.sft_run_id else run.base_model_path
        out = run_dir(run)
        out.mkdir(parents=True, exist_ok=True)
        # Steps after the last checkpoint are run again: forget what they recorded.
        done = checkpoint_step(out) if (out / CHECKPOINT).exists() else 0
        PolicyStep.objects.filter(run=run, step__gt=done).delete()
        PolicySample.objects.filter(run=run, step__gt=done).delete()
        sample_every = options["sample_every"]

        def on_step(step: int, metrics: dict) -> bool:
            PolicyStep.objects.update_or_create(run=run, step=step, defaults={"metrics": metrics})
            return job_heartbeat(run, progress=step / cfg.steps)

        def on_samples(step: int, rows: list[dict]) -> None:
            if not (step == 1 or step % sample_every == 0 or step == cfg.steps):
                return
            with transaction.atomic():
                PolicySample.objects.bulk_create([
                    PolicySample(run=run, step=step, prompt=r["prompt"], response=r["completion"], score=r["reward"],
                                 kl=r["kl"], details={"task_id": r["task_id"], "rewards": r["rewards"],
                                                      "verdicts": r["verdicts"]})
                    for r in rows
                ])

        PolicyRun.objects.filter(pk=run.pk).update(data_snapshot={
            "start_model": start, "n_train_tasks": sum(t.split == "train" for t in tasks),
            "n_held_out_tasks": sum(t.split == "held_out" for t in tasks), "reward_spec": entries})
        summary = grpo_train(cfg, start, tasks, spec, out, on_step=on_step, on_samples=on_samples)
        summary.pop("history")  # every step is a PolicyStep row already
        return _trained_run_end(run, summary)
    except Exception as exc:
        job_fail(run, error=f"{type(exc).__name__}: {exc}")
        raise
