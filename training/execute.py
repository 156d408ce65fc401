"""The work a training task does: run SFT or PPO for one run row, recording progress, metrics,
samples and monitor warnings, honouring cancel, resuming from the last checkpoint, and leaving the
row succeeded, cancelled or failed, never running."""
import json
import socket
from collections import deque
from pathlib import Path

from django.conf import settings
from django.db import transaction

from common.jobs import job_fail, job_heartbeat, job_mark_cancelled, job_start, job_succeed
from common.models import JobStatus
from training.models import MonitorWarning, PolicyRun, PolicySample, PolicyStep, SFTRun
from training.monitors import MonitorThresholds, check_metrics, check_text, text_stats
from training.selectors import policy_prompts, sft_demonstrations
from training.text import clean_response

# Options of a PolicyRun's config that are not PPOConfig fields.
RUN_OPTIONS = {"sample_every": 5, "kl_limit": 20.0, "monitor_window": 3}


def run_dir(run) -> Path:
    """The run's own folder. The creation time is in the name so that a database rebuilt from
    scratch (ids starting at 1 again) never resumes from another run's checkpoint."""
    kind = "sft-runs" if isinstance(run, SFTRun) else "policy-runs"
    return Path(settings.ARBITER_ARTIFACTS_DIR) / kind / f"{run.pk}-{run.created_at:%Y%m%d%H%M%S%f}"


def _worker_name(worker: str) -> str:
    return worker or socket.gethostname()


def _trained_run_end(run, summary: dict):
    """Succeeded with the trainer's final folder, or cancelled when it stopped early (no folder)."""
    if summary["model_path"] is None:
        return job_mark_cancelled(run)
    return job_succeed(run, artifact_path=summary["model_path"], summary=summary)


def sft_run_execute(*, run: SFTRun, worker: str = "") -> SFTRun:
    from training.sft import sft_config_from_dict, sft_train

    if run.status != JobStatus.QUEUED:
        return run  # cancelled while queued, or a duplicate delivery
    job_start(run, worker=_worker_name(worker))
    try:
        cfg = sft_config_from_dict(run.config)
        examples = sft_demonstrations(dataset_id=run.dataset_id)
        if not examples:
            raise ValueError(f"Dataset “{run.dataset.name}” has no pair with a majority-preferred response to learn from.")
        losses = list(run.losses)

        def on_step(step: int, loss: float) -> bool:
            nonlocal losses
            # A resumed run repeats the steps after its last checkpoint: keep each step once.
            losses = [row for row in losses if row[0] < step] + [[step, round(loss, 5)]]
            SFTRun.objects.filter(pk=run.pk).update(losses=losses)
            return job_heartbeat(run, progress=step / cfg.steps)

        summary = sft_train(cfg, examples, run_dir(run), base_model_path=run.base_model_path or None, on_step=on_step)
        return _trained_run_end(run, summary)
    except Exception as exc:
        job_fail(run, error=f"{type(exc).__name__}: {exc}")
        raise


class _PolicyRecorder:
    """Stores each PPO step, keeps samples every `sample_every` steps, runs the monitors."""

    def __init__(self, run: PolicyRun, steps: int, options: dict):
        self.run, self.steps = run, steps
        self.sample_every = max(int(options["sample_every"]), 1)
        self.thresholds = MonitorThresholds(kl_limit=float(options["kl_limit"]))
        self.recent = deque(maxlen=max(int(options["monitor_window"]), 1))
        self.history = list(PolicyStep.objects.filter(run=run).order_by("step").values_list("metrics", flat=True))

    def __call__(self, step: int, metrics: dict, batch: list[dict]) -> bool:
        run = self.run
        responses = [clean_response(b["response"]) for b in batch]
        with transaction.atomic():
            PolicyStep.objects.update_or_create(run=run, step=step, defaults={"metrics": metrics})
            if step == 1 or step % self.sample_every == 0 or step == self.steps:
                PolicySample.objects.bulk_create([
                    PolicySample(run=run, step=step, prompt=b["prompt"], response=r, score=b["score"], kl=b["kl"],
                                 held_out_score=b["held_out_score"])
                    for b, r in zip(batch, responses)
                ])
            if not run.baseline:
                # The first batch is sampled before any update: it is the SFT model's behaviour.
                run.baseline = text_stats(responses)
                PolicyRun.objects.filter(pk=run.pk).update(baseline=run.baseline)
            self.history.append(metrics)
            self.recent.append(responses)
            alerts = check_text(run.baseline, text_stats([r for rs in self.recent for r in rs]), self.thresholds)
            alerts += check_metrics(self.history, self.thresholds)
            for alert in alerts:
                self._record(step, alert)
        return job_heartbeat(run, progress=step / self.steps)

    def _record(self, step, alert) -> None:
        row = MonitorWarning.objects.filter(run=self.run, kind=alert.kind).first()
        if row is None:
            MonitorWarning.objects.create(run=self.run, kind=alert.kind, message=alert.message, step=step,
                                          first_step=step, value=alert.value, threshold=alert.threshold)
        else:
            MonitorWarning.objects.filter(pk=row.pk).update(message=alert.message, step=step, value=alert.value,
                                                            times_fired=row.times_fired + 1)


def _forget_after(run: PolicyRun, step: int) -> None:
    """Steps after the last checkpoint are run again on a resume: forget what they recorded."""
    PolicyStep.objects.filter(run=run, step__gt=step).delete()
    PolicySample.objects.filter(run=run, step__gt=step).delete()


def _check_source(label: str, job) -> str:
    if job.status != JobStatus.SUCCEEDED or not job.artifact_path or not Path(job.artifact_path).is_dir():
        raise ValueError(f"{label} {job.pk} has no finished model (status {job.status}, path “{job.artifact_path}”).")
    return job.artifact_path


def policy_run_execute(*, run: PolicyRun, worker: str = "") -> PolicyRun:
    from training.runner import checkpoint_step, ppo_run
    from training.services import policy_run_ppo_config

    if run.status != JobStatus.QUEUED:
        return run
    job_start(run, worker=_worker_name(worker))
    try:
        options = {**RUN_OPTIONS, **{k: v for k, v in run.config.items() if k in RUN_OPTIONS}}
        cfg = policy_run_ppo_config(config=run.config, reward_run=run.reward_run)
        sft_path = _check_source("SFT run", run.sft_run)
        reward_path = _check_source("Reward-model run", run.reward_run)
        held_out_path = _check_source("Held-out reward-model run", run.held_out_reward_run) if run.held_out_reward_run else None
        prompts = policy_prompts(dataset_id=run.dataset_id)
        if not prompts:
            raise ValueError(f"Dataset “{run.dataset.name}” has no prompts to sample from.")
        out = run_dir(run)
        _forget_after(run, checkpoint_step(out))
        recorder = _PolicyRecorder(run, cfg.steps, options)
        summary = ppo_run(cfg, sft_path=sft_path, reward_path=reward_path, prompts=prompts, out_dir=out,
                          held_out_path=held_out_path, on_step=recorder)
        if summary["policy_path"] is None:
            return job_mark_cancelled(run)
        last = recorder.history[-1] if recorder.history else {}
        return job_succeed(run, artifact_path=summary["policy_path"], summary={**summary, "last_metrics": last})
    except Exception as exc:
        job_fail(run, error=f"{type(exc).__name__}: {exc}")
        raise


def dpo_run_execute(*, run: PolicyRun, worker: str = "") -> PolicyRun:
    """Selects the labelled pairs (a resumed run reads exactly the judgements it started with),
    encodes them for the policy, trains, and records each step as a PolicyStep."""
    from common.ml.loading import load_tokenizer
    from rewardmodel.selection import select_examples, selection_empty_message
    from training.dpo import CHECKPOINT, dpo_train
    from training.runner import checkpoint_step
    from training.preference_data import encode_preference_pairs
    from training.services import dpo_run_configs

    if run.status != JobStatus.QUEUED:
        return run
    job_start(run, worker=_worker_name(worker))
    try:
        cfg, sel_cfg = dpo_run_configs(run.config)
        start = _check_source("SFT run", run.sft_run) if run.sft_run_id else run.base_model_path
        if not Path(start, "config.json").is_file():
            raise ValueError(f"“{start}” is not a Hugging Face model folder (no config.json there).")
        out = run_dir(run)
        out.mkdir(parents=True, exist_ok=True)
        ids_file = out / "judgement_ids.json"
        resuming = ids_file.exists() and (out / CHECKPOINT).exists()
        selection = select_examples(dataset_id=run.dataset_id, config=sel_cfg,
                                    judgement_ids=json.loads(ids_file.read_text()) if resuming else None)
        if not selection.train:
            raise ValueError(selection_empty_message(selection.snapshot))
        ids_file.write_text(json.dumps(selection.judgement_ids))
        tokenizer = load_tokenizer(start)
        train_pairs = encode_preference_pairs(tokenizer, selection.train, cfg)
        eval_pairs = encode_preference_pairs(tokenizer, selection.eval, cfg)
        gold_pairs = encode_preference_pairs(tokenizer, selection.gold, cfg)
        PolicyRun.objects.filter(pk=run.pk).update(data_snapshot={**selection.snapshot, "start_model": start})
        _forget_after(run, checkpoint_step(out))
        on_sample = _implicit_reward_sampler(run, cfg, tokenizer, selection.eval + selection.train, start=start)

        def on_step(step: int, metrics: dict) -> bool:
            PolicyStep.objects.update_or_create(run=run, step=step, defaults={"metrics": metrics})
            return job_heartbeat(run, progress=step / cfg.steps)

        summary = dpo_train(cfg, start_path=start, train_pairs=train_pairs, eval_pairs=eval_pairs, out_dir=out,
                            on_step=on_step, gold_pairs=gold_pairs, on_sample=on_sample)
        return _trained_run_end(run, summary)
    except Exception as exc:
        job_fail(run, error=f"{type(exc).__name__}: {exc}")
        raise



def _kto_examples(run: PolicyRun, *, source: str, sel_cfg, seed: int, out: Path, resuming: bool):
    """(unpaired training examples, held-out comparisons, data snapshot) of a KTO run. The ids of
    what it trains on are kept in the run's folder, so that a resumed run reads exactly those."""
    import hashlib

    from rewardmodel.selection import select_examples, selection_empty_message
    from training.kto_data import unpair, unpaired_from_ratings

    ids_file = out / "source_ids.json"
    kept = json.loads(ids_file.read_text()) if resuming and ids_file.exists() else None
    if source == "comparisons":
        selection = select_examples(dataset_id=run.dataset_id, config=sel_cfg, judgement_ids=kept)
        if not selection.train:
            raise ValueError(selection_empty_message(selection.snapshot))
        ids_file.write_text(json.dumps(selection.judgement_ids))
        return unpair(selection.train, seed=seed), selection.eval, selection.snapshot
    examples = unpaired_from_ratings(dataset_id=run.dataset_id, seed=seed, rating_ids=kept)
    ids = sorted(e.source_id for e in examples)
    ids_file.write_text(json.dumps(ids))
    return examples, [], {"n_ratings": len(ids), "rating_ids_sha256": hashlib.sha256(",".join(map(str, ids)).encode()).hexdigest()}


def kto_run_execute(*, run: PolicyRun, worker: str = "") -> PolicyRun:
    """Reads the run's unpaired feedback (both sides of selected comparisons, or ratings), encodes
    each completion with its mismatched KL completion, trains KTO, and records each step as a
    PolicyStep; the class weights used are in the data snapshot."""
    from common.ml.loading import load_tokenizer
    from training.dpo import CHECKPOINT
    from training.kto import class_weights, kto_train
    from training.kto_data import encode_unpaired
    from training.preference_data import encode_preference_pairs
    from training.runner import checkpoint_step
    from training.services import kto_run_configs

    if run.status != JobStatus.QUEUED:
        return run
    job_start(run, worker=_worker_name(worker))
    try:
        cfg, sel_cfg, source = kto_run_configs(run.config)
        start = _check_source("SFT run", run.sft_run) if run.sft_run_id else run.base_model_path
        if not Path(start, "config.json").is_file():
            raise ValueError(f"“{start}” is not a Hugging Face model folder (no config.json there).")
        out = run_dir(run)
        out.mkdir(parents=True, exist_ok=True)
        examples, eval_examples, snapshot = _kto_examples(run, source=source, sel_cfg=sel_cfg, seed=cfg.seed, out=out,
                                                          resuming=(out / CHECKPOINT).exists())
        tokenizer = load_tokenizer(start)
        train_rows = encode_unpaired(tokenizer, examples, cfg)
        eval_pairs = encode_preference_pairs(tokenizer, eval_examples, cfg)
        n_desirable = sum(1 for e in examples if e.desirable)
        weights = class_weights(desirable_weight=cfg.desirable_weight, undesirable_weight=cfg.undesirable_weight,
                                n_desirable=n_desirable, n_undesirable=len(examples) - n_desirable)
        PolicyRun.objects.filter(pk=run.pk).update(data_snapshot={
            **snapshot, "source": source, "start_model": start, "n_train_completions": len(examples),
            "n_desirable": n_desirable, "n_undesirable": len(examples) - n_desirable, "n_eval_pairs": len(eval_pairs),
            "desirable_weight": weights[0], "undesirable_weight": weights[1]})
        _forget_after(run, checkpoint_step(out))
        on_sample = _implicit_reward_sampler(run, cfg, tokenizer, eval_examples + examples, start=start)

        def on_step(step: int, metrics: dict) -> bool:
            PolicyStep.objects.update_or_create(run=run, step=step, defaults={"metrics": metrics})
            return job_heartbeat(run, progress=step / cfg.steps)

        summary = kto_train(cfg, start_path=start, train_rows=train_rows, eval_pairs=eval_pairs, out_dir=out,
                            on_step=on_step, on_sample=on_sample)
        return _trained_run_end(run, summary)
    except Exception as exc:
        job_fail(run, error=f"{type(exc).__name__}: {exc}")
        raise


class _SampleRecorder(_PolicyRecorder):
    """DPO's, KTO's and SPIN's samples: stored as PolicySample rows, and the text monitors run on them (the
    first draw, before any update, is the baseline). Their metrics are stored by the run's on_step."""

    def record_samples(self, step: int, batch: list[dict], *, iteration: int | None = None) -> None:
        run = self.run
        responses = [b["response"] for b in batch]
        with transaction.atomic():
            PolicySample.objects.bulk_create([
                PolicySample(run=run, step=step, prompt=b["prompt"], response=b["response"], score=b["score"], kl=b["kl"],
                             iteration=iteration)
                for b in batch
            ])
            if not run.baseline:
                run.baseline = text_stats(responses)
                PolicyRun.objects.filter(pk=run.pk).update(baseline=run.baseline)
            self.recent.append(responses)
            for alert in check_text(run.baseline, text_stats([r for rs in self.recent for r in rs]), self.thresholds):
                self._record(step, alert)


def _sample_prompts(tokenizer, examples, n: int) -> list[str]:
    """The first `n` distinct prompts of `examples` as the policy reads them (chat template or HH)."""
    from rewardmodel.text import as_messages
    from training.preference_data import policy_prompt_and_response

    out = []
    for e in examples:
        prompt, _ = policy_prompt_and_response(tokenizer, as_messages(e.messages), "")
        if prompt not in out:
            out.append(prompt)
        if len(out) == n:
            break
    return out


def _implicit_reward_sampler(run: PolicyRun, cfg, tokenizer, examples, *, start: str):
    """The `on_sample` of a DPO or KTO run (`cfg` a DPOConfig or KTOConfig): draws responses to the
    first `cfg.sample_prompts` distinct prompts of `examples` (held-out ones first), stores them with
    their implicit rewards, and runs the text monitors on them."""
    recorder = _SampleRecorder(run, cfg.steps, options=RUN_OPTIONS)
    prompts = _sample_prompts(tokenizer, examples, cfg.sample_prompts)

    def on_sample(step: int, policy, reference, tokenizer) -> None:
        recorder.record_samples(step, _implicit_reward_samples(
            policy, reference, tokenizer, prompts, start=start, beta=cfg.beta, seed=cfg.seed + step,
            max_new_tokens=cfg.sample_max_new_tokens, temperature=cfg.sample_temperature,
            max_prompt_tokens=cfg.max_length - cfg.sample_max_new_tokens))

    return on_sample


def _implicit_reward_samples(policy, reference, tokenizer, prompts: list[str], *, start: str, beta: float, seed: int,
                             max_new_tokens: int, temperature: float, max_prompt_tokens: int) -> list[dict]:
    """One seeded response per prompt, with score = its implicit reward beta * (log pi - log ref)
    and kl = the log-ratio, summed over its tokens. With precomputed reference log-probs the
    reference is loaded from `start` for the draw and dropped after it."""
    from transformers import AutoModelForCausalLM

    from common.ml.loading import from_pretrained_strict
    from training.samples import draw_samples

    if reference is None:
        device = next(policy.parameters()).device
        reference = from_pretrained_strict(AutoModelForCausalLM, start).to(device).eval()
    drawn = draw_samples(policy, tokenizer, prompts, reference=reference, max_new_tokens=max_new_tokens,
                         max_prompt_tokens=max(max_prompt_tokens, 1), temperature=temperature, seed=seed)
    return [{"prompt": d.prompt, "response": d.response, "score": beta * (d.logp - d.ref_logp), "kl": d.logp - d.ref_logp}
            for d in drawn]


def spin_run_execute(*, run: PolicyRun, worker: str = "") -> PolicyRun:
    """SPIN on the dataset's demonstrations: each iteration's generated responses stored as
    PolicySample rows (with the iteration; the text monitors watch them), each step as a PolicyStep."""
    from training.services import spin_run_configs
    from training.spin import spin_steps_done, spin_train

    if run.status != JobStatus.QUEUED:
        return run
    job_start(run, worker=_worker_name(worker))
    try:
        cfg = spin_run_configs(run.config)
        start = _check_source("SFT run", run.sft_run) if run.sft_run_id else run.base_model_path
        if not Path(start, "config.json").is_file():
            raise ValueError(f"“{start}” is not a Hugging Face model folder (no config.json there).")
        demonstrations = sft_demonstrations(dataset_id=run.dataset_id)
        if not demonstrations:
            raise ValueError(f"Dataset “{run.dataset.name}” has no pair with a majority-preferred response to learn from.")
        out = run_dir(run)
        PolicyRun.objects.filter(pk=run.pk).update(
            data_snapshot={"n_demonstrations": len(demonstrations), "start_model": start})
        # Steps after the last checkpoint are run again: forget what they recorded.
        PolicyStep.objects.filter(run=run, step__gt=spin_steps_done(cfg, out)).delete()
        recorder = _SampleRecorder(run, cfg.total_steps, options=RUN_OPTIONS)

        def on_samples(iteration: int, step: int, drawn) -> None:
            PolicySample.objects.filter(run=run, iteration__gte=iteration).delete()  # drawn again on a resume
            recorder.record_samples(step, [{"prompt": d.prompt, "response": d.response, "score": d.logp, "kl": 0.0}
                                           for d in drawn], iteration=iteration)
            job_heartbeat(run, progress=step / cfg.total_steps)  # generation can take a while: still alive

        def on_step(step: int, metrics: dict) -> bool:
            PolicyStep.objects.update_or_create(run=run, step=step, defaults={"metrics": metrics})
            return job_heartbeat(run, progress=step / cfg.total_steps)

        summary = spin_train(cfg, start_path=start, demonstrations=demonstrations, out_dir=out, on_step=on_step,
                             on_samples=on_samples)
        return _trained_run_end(run, summary)
    except Exception as exc:
        job_fail(run, error=f"{type(exc).__name__}: {exc}")
        raise
