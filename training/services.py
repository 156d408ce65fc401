"""Writes for policy runs: create, cancel, resume, and sending a finished policy's samples back to
labellers (iterated RLHF)."""
import random
from datetime import timedelta
from pathlib import Path

from django.db import transaction

from annotation.dataio.hashing import pair_hash, prompt_hash, response_hash
from annotation.models import Dataset, Pair, Prompt, Response
from common.exceptions import ApplicationError
from common.jobs import STALE_AFTER, job_cancel, job_requeue, jobs_fail_stale
from common.ml.limits import positions_problem
from common.validation import checked_config, settings_type_errors
from common.models import Job, JobStatus
from rewardmodel.models import RewardModelRun
from rewardmodel.selection import selection_empty_message
from training.models import PolicyRun, SFTRun

SEND_MODES = ("policy_vs_sft", "two_policy")


def _enqueue(run: Job) -> None:
    from training.tasks import policy_run_task, sft_run_task

    task = sft_run_task if isinstance(run, SFTRun) else policy_run_task
    transaction.on_commit(lambda: task.delay(run.pk))  # routed by config.celery.route_task


def _validated(factory, config: dict, what: str):
    try:
        return factory(config)
    except (TypeError, ValueError) as exc:
        raise ApplicationError(f"Invalid {what} options: {exc}") from exc


@transaction.atomic
def sft_run_create(*, dataset: Dataset, base_model_path: str = "", config: dict | None = None, name: str = "",
                   created_by=None, enqueue: bool = True) -> SFTRun:
    from training.selectors import sft_demonstrations
    from training.sft import sft_config_from_dict

    config = dict(config or {})
    cfg = _validated(sft_config_from_dict, config, "SFT")
    if base_model_path and not (Path(base_model_path) / "config.json").is_file():
        raise ApplicationError(f"“{base_model_path}” is not a Hugging Face model folder (no config.json there).")
    problem = base_model_path and positions_problem(base_model_path, tokens=cfg.max_length, setting="max_length",
                                                    model=f"the base model {base_model_path}")
    if problem:
        raise ApplicationError(problem)
    if not sft_demonstrations(dataset_id=dataset.pk):
        raise ApplicationError(f"Dataset “{dataset.name}” has no pair with a majority-preferred response: nothing to fine-tune on.")
    run = SFTRun.objects.create(dataset=dataset, base_model_path=base_model_path, config=config, name=name,
                                created_by=created_by)
    if enqueue:
        _enqueue(run)
    return run


@transaction.atomic
def policy_run_create(*, sft_run: SFTRun, reward_run: RewardModelRun, dataset: Dataset | None = None,
                      held_out_reward_run: RewardModelRun | None = None, config: dict | None = None, name: str = "",
                      created_by=None, enqueue: bool = True) -> PolicyRun:
    from training.execute import RUN_OPTIONS

    config = dict(config or {})
    cfg = _validated(lambda c: policy_run_ppo_config(config=c, reward_run=reward_run), config, "PPO")
    run_options = {k: v for k, v in config.items() if k in RUN_OPTIONS}
    errors = settings_type_errors(run_options, {k: type(v) for k, v in RUN_OPTIONS.items()}, what="run", noun="option")
    if errors:
        raise ApplicationError(f"Invalid PPO options: {'; '.join(errors)}.")
    for label, job in (("SFT run", sft_run), ("Reward-model run", reward_run), ("Held-out reward-model run", held_out_reward_run)):
        if job is not None and job.status != JobStatus.SUCCEEDED:
            raise ApplicationError(f"{label} {job.pk} is {job.status}; only a succeeded run can be used.")
    policy_run_limits_check(cfg=cfg, sft_run=sft_run, reward_runs=[r for r in (reward_run, held_out_reward_run) if r])
    if held_out_reward_run is not None and held_out_reward_run.pk == reward_run.pk:
        raise ApplicationError("The held-out reward model must differ from the one being optimised.")
    dataset = dataset or reward_run.dataset
    if not dataset.prompts.exists():
        raise ApplicationError(f"Dataset “{dataset.name}” has no prompts to sample from.")
    run = PolicyRun.objects.create(sft_run=sft_run, reward_run=reward_run, held_out_reward_run=held_out_reward_run,
                                   dataset=dataset, config=config, name=name, created_by=created_by)
    if enqueue:
        _enqueue(run)
    return run


def policy_run_ppo_config(*, config: dict, reward_run: RewardModelRun):
    """The PPOConfig of a policy run's config (its monitor options left out). reward_max_length,
    unless the run sets it, is the reward model's own training length. ValueError naming a bad option."""
    from training.execute import RUN_OPTIONS
    from training.runner import config_from_dict

    ppo_options = {k: v for k, v in config.items() if k not in RUN_OPTIONS}
    trained_length = (reward_run.config or {}).get("train", {}).get("max_length")
    if trained_length and "reward_max_length" not in ppo_options:
        ppo_options["reward_max_length"] = int(trained_length)
    return config_from_dict(ppo_options)


def policy_run_limits_check(*, cfg, sft_run: SFTRun, reward_runs: list[RewardModelRun]) -> None:
    """ApplicationError naming the setting and the limit when prompt + new tokens exceed the
    policy's positions or reward_max_length a reward model's: such a run would fail mid-way."""
    from training.runner import ppo_limits_problems

    problems = ppo_limits_problems(cfg, policy=(sft_run.artifact_path, f"the policy of SFT run {sft_run.pk}"),
                                   reward_models=[(r.artifact_path, f"reward-model run {r.pk}") for r in reward_runs])
    if problems:
        raise ApplicationError(" ".join(problems))


def run_cancel(*, run: Job) -> Job:
    return job_cancel(run)


@transaction.atomic
def run_resume(*, run: Job, enqueue: bool = True) -> Job:
    """Queues a failed or cancelled run again; its task continues from the last checkpoint."""
    job_requeue(run)
    if enqueue:
        _enqueue(run)
    return run


def runs_fail_stale(*, older_than: timedelta = STALE_AFTER, restarted_node: str = "") -> int:
    """Ends the SFT and PPO runs whose worker died (failed, or cancelled when a user had asked), so
    none stays "running" for ever; they can be resumed from their last checkpoint (restarted_node:
    see jobs_fail_stale)."""
    return sum(jobs_fail_stale(model, older_than=older_than, restarted_node=restarted_node)
               for model in (SFTRun, PolicyRun))


def policy_samples_send_to_annotation(*, run: PolicyRun, dataset: Dataset, mode: str = "policy_vs_sft",
                                      n_prompts: int = 20, created_by=None, seed: int | None = None) -> list[Pair]:
    """Samples responses of a finished policy (and of its SFT model, or a second policy sample) to
    `n_prompts` of the run's prompts and adds them to `dataset` as pairs for labellers, sides
    randomised, `origin_run` naming the run. Prompts already in the dataset are reused."""
    from training.generate import generate_responses

    if mode not in SEND_MODES:
        raise ApplicationError(f"Unknown mode “{mode}”; expected one of {', '.join(SEND_MODES)}.")
    if run.status != JobStatus.SUCCEEDED or not run.artifact_path:
        raise ApplicationError(f"{run} is {run.status}; only a succeeded run has a policy to sample.")
    if mode == "policy_vs_sft" and run.sft_run_id is None:
        raise ApplicationError(f"{run} started from a base model and has no SFT run to compare with; use mode two_policy.")
    if not 1 <= n_prompts <= 1000:
        raise ApplicationError("n_prompts must be between 1 and 1000.")
    rng = random.Random(seed)
    messages = list(Prompt.objects.filter(dataset_id=run.dataset_id).order_by("pk").values_list("messages", flat=True))
    if not messages:
        raise ApplicationError(f"Dataset “{run.dataset.name}” has no prompts.")
    chosen = rng.sample(messages, min(n_prompts, len(messages)))
    policy_source, sft_source = f"{run.kind}:{run.pk}", f"sft:{run.sft_run_id}"
    # PPO and GRPO runs name their response length max_new_tokens; DPO, KTO and SPIN runs sample_max_new_tokens.
    max_new_tokens = int(run.config.get("max_new_tokens", run.config.get("sample_max_new_tokens", 32)))
    # Generation happens before the transaction: it is slow and writes nothing.
    first = generate_responses(run.artifact_path, chosen, max_new_tokens=max_new_tokens, seed=rng.randrange(2**31))
    if mode == "policy_vs_sft":
        second = generate_responses(run.sft_run.artifact_path, chosen, max_new_tokens=max_new_tokens, seed=rng.randrange(2**31))
        second_source = sft_source
    else:
        second = generate_responses(run.artifact_path, chosen, max_new_tokens=max_new_tokens, seed=rng.randrange(2**31))
        second_source = policy_source
    return _pairs_create(dataset=dataset, run=run, items=list(zip(chosen, first, second)),
                         sources=(policy_source, second_source), rng=rng)


@transaction.atomic
def _pairs_create(*, dataset, run, items, sources, rng) -> list[Pair]:
    pairs = []
    for messages, text_1, text_2 in items:
        if text_1 == text_2 and sources[0] == sources[1]:
            continue  # two identical samples make no comparison
        p_hash = prompt_hash(messages)
        prompt, _ = Prompt.objects.get_or_create(dataset=dataset, content_hash=p_hash, defaults={"messages": messages})
        responses = [
            Response.objects.get_or_create(prompt=prompt, source=source, content_hash=response_hash(text),
                                           defaults={"text": text, "length_chars": len(text)})[0]
            for source, text in ((sources[0], text_1), (sources[1], text_2))
        ]
        if responses[0].pk == responses[1].pk:
            continue
        if rng.random() < 0.5:
            responses.reverse()
        a, b = responses
        h = pair_hash(p_hash, a.source, a.content_hash, b.source, b.content_hash)
        pair, created = Pair.objects.get_or_create(
            dataset=dataset, content_hash=h,
            defaults={"prompt": prompt, "response_a": a, "response_b": b, "origin": Pair.Origin.GENERATED,
                      "origin_run": f"{run.kind}:{run.pk}"},
        )
        if created:
            pairs.append(pair)
    return pairs


def _start_model_checked(*, sft_run: SFTRun | None, base_model_path: str, tokens: int, setting: str) -> str:
    """The folder a DPO, KTO, SPIN or GRPO run starts from (and is referenced to): exactly one of a
    succeeded SFT run's model and a local HF folder, with room for `tokens` positions."""
    if (sft_run is None) == (not base_model_path):
        raise ApplicationError("Give either an SFT run or a base model folder to start from, not both or neither.")
    if sft_run is not None and sft_run.status != JobStatus.SUCCEEDED:
        raise ApplicationError(f"SFT run {sft_run.pk} is {sft_run.status}; only a succeeded run can be used.")
    start = sft_run.artifact_path if sft_run is not None else base_model_path
    if not (Path(start) / "config.json").is_file():
        raise ApplicationError(f"“{start}” is not a Hugging Face model folder (no config.json there).")
    problem = positions_problem(start, tokens=tokens, setting=setting, model=f"the model in {start}")
    if problem:
        raise ApplicationError(problem)
    return start


def dpo_run_configs(config: dict):
    """A DPO run's config -> (DPOConfig, SelectionConfig): DPOConfig fields, and the data selection
    (rewardmodel/selection.py) under "selection". ValueError naming a bad option."""
    from rewardmodel.selection import SelectionConfig
    from training.dpo import dpo_config_from_dict

    options = dict(config)
    selection = options.pop("selection", None) or {}
    cfg, sel_cfg = dpo_config_from_dict(options), checked_config(SelectionConfig, selection, what="selection", noun="option")
    if cfg.loss_type == "cdpo" and cfg.label_smoothing is None and sel_cfg.aggregation != "per_judgement":
        raise ValueError("loss_type 'cdpo' without label_smoothing takes each pair's soft label from its votes: "
                         "set selection aggregation to 'per_judgement', or give label_smoothing.")
    return cfg, sel_cfg


@transaction.atomic
def dpo_run_create(*, dataset: Dataset, sft_run: SFTRun | None = None, base_model_path: str = "",
                   config: dict | None = None, name: str = "", created_by=None, enqueue: bool = True) -> PolicyRun:
    """A DPO policy run on `dataset`'s labelled pairs, starting from (and referenced to) a
    succeeded SFT run's model or a local base model folder: exactly one of the two."""
    from rewardmodel.selection import select_examples

    config = dict(config or {})
    cfg, sel_cfg = _validated(dpo_run_configs, config, "DPO")
    _start_model_checked(sft_run=sft_run, base_model_path=base_model_path, tokens=cfg.max_length, setting="max_length")
    for extra in sel_cfg.extra_dataset_ids:
        if not Dataset.objects.filter(pk=extra).exists():
            raise ApplicationError(f"No dataset with id {extra} (selection extra_dataset_ids).")
    selection = select_examples(dataset_id=dataset.pk, config=sel_cfg)
    if not selection.train:
        raise ApplicationError(selection_empty_message(selection.snapshot))
    run = PolicyRun.objects.create(kind=PolicyRun.Kind.DPO, dataset=dataset, sft_run=sft_run,
                                   base_model_path=base_model_path, config=config, name=name, created_by=created_by)
    if enqueue:
        _enqueue(run)
    return run


# ---- GRPO: task sets and runs ---------------------------------------------------------------------
GRPO_RUN_OPTIONS = {"sample_every": 5}
"""Options of a GRPO run's config that are not GRPOConfig fields (besides "reward_spec"): keep
the step's completions every `sample_every` steps (and at steps 1 and the last)."""
REFERENCE_READING = {"exact", "numeric", "code_tests"}


class TaskImportRejected(ApplicationError):
    """A task file with bad lines: nothing was written. `errors` is [(line, field, message)]."""

    def __init__(self, message: str, errors: list[tuple[int, str, str]]):
        super().__init__(message)
        self.errors = errors


@transaction.atomic
def task_set_import(*, name: str, lines, description: str = "", source_filename: str = ""):
    """A new TaskSet named `name` with the tasks of JSONL `lines` (training/rewards/tasks.py's
    format). Every line is validated before anything is written: TaskImportRejected lists each bad
    line with its field."""
    from training.models import Task, TaskSet
    from training.rewards.tasks import parse_task_lines

    name = (name or "").strip()
    if not name or len(name) > 200:
        raise ApplicationError("A task set needs a name of 1 to 200 characters.")
    if TaskSet.objects.filter(name=name).exists():
        raise ApplicationError(f"A task set named “{name}” already exists; choose another name.")
    tasks, errors = parse_task_lines(lines)
    if errors:
        raise TaskImportRejected(f"{len(errors)} bad line(s); nothing was imported", errors)
    if not tasks:
        raise ApplicationError("The file holds no tasks.")
    task_set = TaskSet.objects.create(name=name, description=description, source_filename=source_filename[:500])
    Task.objects.bulk_create([
        Task(task_set=task_set, external_id=t.id, prompt=t.prompt, reference=t.reference, checker=t.checker,
             split=t.split)
        for t in tasks
    ], batch_size=1000)
    return task_set


def grpo_run_configs(config: dict, *, checkers: set[str]):
    """A GRPO run's config -> (GRPOConfig, reward spec entries, run options): GRPOConfig fields,
    "reward_spec" (training/rewards/spec.py; default: one term per checker of the task set) and
    GRPO_RUN_OPTIONS. ValueError naming a bad option."""
    from training.grpo import grpo_config_from_dict

    options = dict(config)
    entries = options.pop("reward_spec", None) or [{"checker": c} for c in sorted(checkers)]
    run_options = {k: options.pop(k) for k in list(options) if k in GRPO_RUN_OPTIONS}
    errors = settings_type_errors(run_options, {k: type(v) for k, v in GRPO_RUN_OPTIONS.items()}, what="run", noun="option")
    if errors:
        raise ValueError("; ".join(errors))
    if run_options.get("sample_every", 1) < 1:
        raise ValueError("sample_every must be at least 1")
    return grpo_config_from_dict(options), entries, {**GRPO_RUN_OPTIONS, **run_options}


def _reward_spec_check(entries, *, tasks, reward_run: RewardModelRun | None) -> None:
    """ValueError when the spec is invalid, asks for a learnt reward without a reward-model run (or
    the reverse), reads a reference of another checker's kind, or cannot measure held-out accuracy."""
    from training.grpo import correctness_term
    from training.rewards.spec import parse_reward_spec

    learnt = isinstance(entries, list) and any(isinstance(e, dict) and e.get("checker") == "reward_model" for e in entries)
    if learnt != (reward_run is not None):
        raise ValueError("A reward_model term needs a reward-model run, and a reward-model run needs a reward_model "
                         "term in the reward spec.")
    spec = parse_reward_spec(entries, learnt=(lambda prompts, completions: [0.0] * len(completions)) if learnt else None)
    checkers = {t.checker for t in tasks}
    for entry in entries:
        reads = entry["checker"] in REFERENCE_READING or (entry["checker"] == "regex" and "pattern" not in entry) or (
            entry["checker"] == "json_schema" and "schema" not in entry)
        if reads and checkers != {entry["checker"]}:
            raise ValueError(f"The {entry['checker']} term reads each task's reference, but the task set's tasks are "
                             f"checked by {', '.join(sorted(checkers))}.")
    held_out = [t for t in tasks if t.split == "held_out"]
    if held_out:
        correctness_term(spec, held_out)


@transaction.atomic
def grpo_run_create(*, task_set, sft_run: SFTRun | None = None, base_model_path: str = "",
                    reward_run: RewardModelRun | None = None, config: dict | None = None, name: str = "",
                    created_by=None, enqueue: bool = True) -> PolicyRun:
    """A GRPO policy run on `task_set`'s train tasks, starting from a succeeded SFT run's model or a
    local model folder (exactly one), rewarded by the config's reward spec, optionally mixed with
    `reward_run`'s learnt reward. Everything is validated before the row is written."""
    from training.selectors import task_set_tasks

    config = dict(config or {})
    tasks = task_set_tasks(task_set_id=task_set.pk)
    if not any(t.split == "train" for t in tasks):
        raise ApplicationError(f"Task set “{task_set.name}” has no train tasks to learn from.")
    cfg, entries, _ = _validated(lambda c: grpo_run_configs(c, checkers={t.checker for t in tasks}), config, "GRPO")
    if reward_run is not None and reward_run.status != JobStatus.SUCCEEDED:
        raise ApplicationError(f"Reward-model run {reward_run.pk} is {reward_run.status}; only a succeeded run can be used.")
    try:
        _reward_spec_check(entries, tasks=tasks, reward_run=reward_run)
    except ValueError as exc:
        raise ApplicationError(f"Invalid reward spec: {exc}") from exc
    _start_model_checked(sft_run=sft_run, base_model_path=base_model_path,
                         tokens=cfg.max_prompt_tokens + cfg.max_new_tokens, setting="max_prompt_tokens + max_new_tokens")
    run = PolicyRun.objects.create(kind=PolicyRun.Kind.GRPO, task_set=task_set, sft_run=sft_run,
                                   base_model_path=base_model_path, reward_run=reward_run, config=config, name=name,
                                   created_by=created_by)
    if enqueue:
        _enqueue(run)
    return run


def grpo_samples_send_to_annotation(*, run: PolicyRun, dataset: Dataset, step: int | None = None,
                                    n_prompts: int = 20, seed: int | None = None) -> list[Pair]:
    """Pairs for labellers from a GRPO run's kept completions (of `step`, default the latest kept):
    for each of up to `n_prompts` prompts, two different completions of its group, the best- and
    the worst-rewarded, sides randomised, `origin_run` naming the run."""
    from training.models import PolicySample
    from training.text import prompt_messages

    if run.kind != PolicyRun.Kind.GRPO:
        raise ApplicationError(f"{run} is not a GRPO run.")
    if not 1 <= n_prompts <= 1000:
        raise ApplicationError("n_prompts must be between 1 and 1000.")
    samples = PolicySample.objects.filter(run=run)
    step = step if step is not None else samples.order_by("-step").values_list("step", flat=True).first()
    groups: dict[str, list] = {}
    for s in samples.filter(step=step).order_by("id"):
        groups.setdefault(s.prompt, []).append(s)
    items = []
    for prompt, group in groups.items():
        ranked = sorted(group, key=lambda s: s.score)
        worst = next((s for s in ranked if s.response != ranked[-1].response), None)
        if worst is not None:
            items.append((prompt_messages(prompt), ranked[-1].response, worst.response))
    if not items:
        raise ApplicationError(f"{run} kept no group with two different completions at step {step}.")
    rng = random.Random(seed)
    items = rng.sample(items, min(n_prompts, len(items)))
    source = f"{run.kind}:{run.pk}:step{step}"
    return _pairs_create(dataset=dataset, run=run, items=items, sources=(source, source), rng=rng)


def kto_run_configs(config: dict):
    """A KTO run's config -> (KTOConfig, SelectionConfig, source): KTOConfig fields, "source"
    ("comparisons", the default, or "ratings") and, for comparisons, the data selection
    (rewardmodel/selection.py) under "selection". ValueError naming a bad option."""
    from rewardmodel.selection import SelectionConfig
    from training.kto import kto_config_from_dict
    from training.kto_data import SOURCES

    options = dict(config)
    selection = options.pop("selection", None) or {}
    source = options.pop("source", "comparisons")
    if source not in SOURCES:
        raise ValueError(f"source must be one of {', '.join(SOURCES)}, not {source!r}")
    if source == "ratings" and selection:
        raise ValueError("selection options are for source 'comparisons'; ratings are read as they are")
    return kto_config_from_dict(options), checked_config(SelectionConfig, selection, what="selection", noun="option"), source


@transaction.atomic
def kto_run_create(*, dataset: Dataset, sft_run: SFTRun | None = None, base_model_path: str = "",
                   config: dict | None = None, name: str = "", created_by=None, enqueue: bool = True) -> PolicyRun:
    """A KTO policy run on `dataset`'s comparisons (each side an unpaired example: chosen =
    desirable, rejected = undesirable) or thumbs-up/down ratings, starting from (and referenced to)
    a succeeded SFT run's model or a local base model folder: exactly one of the two."""
    from rewardmodel.selection import select_examples

    config = dict(config or {})
    cfg, sel_cfg, source = _validated(kto_run_configs, config, "KTO")
    _start_model_checked(sft_run=sft_run, base_model_path=base_model_path, tokens=cfg.max_length, setting="max_length")
    if source == "comparisons":
        for extra in sel_cfg.extra_dataset_ids:
            if not Dataset.objects.filter(pk=extra).exists():
                raise ApplicationError(f"No dataset with id {extra} (selection extra_dataset_ids).")
        selection = select_examples(dataset_id=dataset.pk, config=sel_cfg)
        if not selection.train:
            raise ApplicationError(selection_empty_message(selection.snapshot))
    else:
        from training.kto_data import unpaired_from_ratings

        try:
            unpaired_from_ratings(dataset_id=dataset.pk, seed=cfg.seed)
        except ValueError as exc:
            raise ApplicationError(str(exc)) from exc
    run = PolicyRun.objects.create(kind=PolicyRun.Kind.KTO, dataset=dataset, sft_run=sft_run,
                                   base_model_path=base_model_path, config=config, name=name, created_by=created_by)
    if enqueue:
        _enqueue(run)
    return run


def spin_run_configs(config: dict):
    """A SPIN run's config -> SPINConfig (ValueError naming a bad option)."""
    from training.spin import spin_config_from_dict

    return spin_config_from_dict(dict(config))


@transaction.atomic
def spin_run_create(*, dataset: Dataset, sft_run: SFTRun | None = None, base_model_path: str = "",
                    config: dict | None = None, name: str = "", created_by=None, enqueue: bool = True) -> PolicyRun:
    """A SPIN policy run on `dataset`'s demonstrations (each pair's majority-preferred response),
    starting from a succeeded SFT run's model or a local base model folder: exactly one of the two."""
    from training.selectors import sft_demonstrations

    config = dict(config or {})
    cfg = _validated(spin_run_configs, config, "SPIN")
    _start_model_checked(sft_run=sft_run, base_model_path=base_model_path, tokens=cfg.max_length, setting="max_length")
    if not sft_demonstrations(dataset_id=dataset.pk):
        raise ApplicationError(f"Dataset “{dataset.name}” has no pair with a majority-preferred response: "
                               "SPIN has no reference responses to learn from.")
    run = PolicyRun.objects.create(kind=PolicyRun.Kind.SPIN, dataset=dataset, sft_run=sft_run,
                                   base_model_path=base_model_path, config=config, name=name, created_by=created_by)
    if enqueue:
        _enqueue(run)
    return run
