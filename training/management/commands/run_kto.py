from django.core.management.base import BaseCommand, CommandError

from common.exceptions import ApplicationError
from training.execute import kto_run_execute
from training.kto_data import SOURCES
from training.management.commands._runs import (
    add_common_arguments, add_sample_every_argument, add_start_model_arguments, finish, named_dataset, parse_config,
    start_sft_run,
)
from training.services import kto_run_create


class Command(BaseCommand):
    help = ("KTO of a policy on a dataset's unpaired feedback: both sides of its comparisons (chosen = desirable, "
            "rejected = undesirable) or its thumbs-up/down ratings; the start model is also the reference. Queued for "
            "a Celery worker unless --inline. Data selection options (comparisons) go in --config under \"selection\". "
            "Example: manage.py run_kto --dataset hh-demo --sft-run 2 --steps 50 --precompute-ref --inline")

    def add_arguments(self, parser):
        parser.add_argument("--dataset", required=True, help="dataset name")
        add_start_model_arguments(parser)
        parser.add_argument("--source", choices=SOURCES, help="comparisons (default) or ratings")
        parser.add_argument("--steps", type=int)
        parser.add_argument("--beta", type=float)
        parser.add_argument("--desirable-weight", type=float, dest="desirable_weight",
                            help="default: balanced from the data (lambda_D n_D / lambda_U n_U in [1, 4/3])")
        parser.add_argument("--undesirable-weight", type=float, dest="undesirable_weight")
        parser.add_argument("--batch-size", type=int, dest="batch_size", help="completions per step (at least 2)")
        parser.add_argument("--learning-rate", type=float, dest="learning_rate")
        parser.add_argument("--precompute-ref", action="store_true", default=None, dest="precompute_ref",
                            help="reference log-probs in one pass before training, then the reference is freed")
        add_sample_every_argument(parser)
        add_common_arguments(parser)

    def handle(self, *args, **options):
        dataset = named_dataset(options["dataset"])
        sft_run = start_sft_run(options)
        config = parse_config(options, ["source", "steps", "beta", "desirable_weight", "undesirable_weight",
                                        "batch_size", "learning_rate", "precompute_ref", "sample_every"])
        try:
            run = kto_run_create(dataset=dataset, sft_run=sft_run, base_model_path=options["base_model"] or "",
                                 config=config, name=options["name"], enqueue=not options["inline"])
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        finish(self, run, options, kto_run_execute)
