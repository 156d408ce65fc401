from django.core.management.base import BaseCommand, CommandError

from common.exceptions import ApplicationError
from training.dpo import LOSS_TYPES
from training.execute import dpo_run_execute
from training.management.commands._runs import (
    add_common_arguments, add_sample_every_argument, add_start_model_arguments, finish, named_dataset, parse_config,
    start_sft_run,
)
from training.services import dpo_run_create


class Command(BaseCommand):
    help = ("DPO (or IPO, conservative DPO) of a policy on a dataset's labelled pairs, the start model also the "
            "reference. Queued for a Celery worker unless --inline. Data selection options go in --config under "
            "\"selection\". Example: manage.py run_dpo --dataset hh-demo --sft-run 2 --steps 50 --loss ipo --inline")

    def add_arguments(self, parser):
        parser.add_argument("--dataset", required=True, help="dataset name")
        add_start_model_arguments(parser)
        parser.add_argument("--steps", type=int)
        parser.add_argument("--loss", choices=LOSS_TYPES, dest="loss_type")
        parser.add_argument("--beta", type=float)
        parser.add_argument("--label-smoothing", type=float, dest="label_smoothing")
        parser.add_argument("--batch-size", type=int, dest="batch_size")
        parser.add_argument("--learning-rate", type=float, dest="learning_rate")
        parser.add_argument("--precompute-ref", action="store_true", default=None, dest="precompute_ref",
                            help="reference log-probs in one pass before training, then the reference is freed")
        add_sample_every_argument(parser)
        add_common_arguments(parser)

    def handle(self, *args, **options):
        dataset = named_dataset(options["dataset"])
        sft_run = start_sft_run(options)
        config = parse_config(options, ["steps", "loss_type", "beta", "label_smoothing", "batch_size", "learning_rate",
                                        "precompute_ref", "sample_every"])
        try:
            run = dpo_run_create(dataset=dataset, sft_run=sft_run, base_model_path=options["base_model"] or "",
                                 config=config, name=options["name"], enqueue=not options["inline"])
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        finish(self, run, options, dpo_run_execute)
