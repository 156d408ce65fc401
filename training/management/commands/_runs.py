"""What the run_* commands share: the start model's flags, queue or run inline, wait, print."""
import json
import time

from django.core.management.base import CommandError

from common.models import JobStatus

ENDED = (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)


def add_common_arguments(parser):
    parser.add_argument("--name", default="")
    parser.add_argument("--config", default="{}", help="more options as a JSON object")
    parser.add_argument("--inline", action="store_true", help="run in this process instead of a Celery worker")
    parser.add_argument("--wait", action="store_true", help="wait for the worker to finish the run")
    parser.add_argument("--json", action="store_true", help="print the run as JSON")


def add_start_model_arguments(parser):
    """--sft-run ID | --base-model PATH: what a DPO, KTO, SPIN or GRPO run starts from."""
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--sft-run", type=int, help="start from this SFT run's model")
    source.add_argument("--base-model", help="start from a local Hugging Face causal-LM folder")


def add_sample_every_argument(parser):
    """--sample-every K: what a DPO or KTO run draws samples for (the monitors read them)."""
    parser.add_argument("--sample-every", type=int, dest="sample_every",
                        help="draw samples (and run the monitors on them) every K steps; 0: never")


def start_sft_run(options):
    """The SFT run named by --sft-run, or None (--base-model)."""
    from training.models import SFTRun

    if options["sft_run"] is None:
        return None
    sft_run = SFTRun.objects.filter(pk=options["sft_run"]).first()
    if sft_run is None:
        raise CommandError(f"No SFT run with id {options['sft_run']}.")
    return sft_run


def named_dataset(name: str):
    from annotation.models import Dataset

    dataset = Dataset.objects.filter(name=name).first()
    if dataset is None:
        raise CommandError(f"No dataset named “{name}”.")
    return dataset


def parse_config(options, names: list[str]) -> dict:
    try:
        config = json.loads(options["config"])
    except json.JSONDecodeError as exc:
        raise CommandError(f"--config is not valid JSON: {exc}") from exc
    if not isinstance(config, dict):
        raise CommandError("--config must be a JSON object.")
    for name in names:
        if options.get(name) is not None:
            config[name] = options[name]
    return config


def finish(command, run, options, execute):
    if options["inline"]:
        try:
            run = execute(run=run)
        except Exception as exc:  # the run is already marked failed; say why and exit non-zero
            run.refresh_from_db()
            raise CommandError(f"{run} failed: {exc}") from exc
    elif options["wait"]:
        while True:
            run.refresh_from_db()
            if run.status in ENDED:
                break
            time.sleep(2)
    if options["json"]:
        command.stdout.write(json.dumps({
            "id": run.pk, "status": run.status, "progress": run.progress, "artifact_path": run.artifact_path,
            "summary": run.summary, "error": run.error,
        }, default=str))
    else:
        command.stdout.write(f"{run} (id {run.pk}): {run.status}" + (f" -> {run.artifact_path}" if run.artifact_path else ""))
    if run.status == JobStatus.FAILED:
        raise CommandError(run.error)
