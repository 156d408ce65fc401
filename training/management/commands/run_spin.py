from django.core.management.base import BaseCommand, CommandError

from common.exceptions import ApplicationError
from training.execute import spin_run_execute
from training.management.commands._runs import (
    add_common_arguments, add_start_model_arguments, finish, named_dataset, parse_config, start_sft_run,
)
from training.services import spin_run_create


class Command(BaseCommand):
    help = ("SPIN (self-play fine-tuning) of a policy on a dataset's demonstrations: each iteration the policy's own "
            "responses are \"rejected\" against the reference responses, trained DPO-style against the previous "
            "iteration. Queued for a Celery worker unless --inline. Example: manage.py run_spin --dataset hh-demo "
            "--sft-run 2 --iterations 3 --steps-per-iteration 20 --inline")

    def add_arguments(self, parser):
        parser.add_argument("--dataset", required=True, help="dataset name")
        add_start_model_arguments(parser)
        parser.add_argument("--iterations", type=int)
        parser.add_argument("--steps-per-iteration", type=int, dest="steps_per_iteration")
        parser.add_argument("--prompts-per-iteration", type=int, dest="prompts_per_iteration")
        parser.add_argument("--loss", choices=("sigmoid", "ipo"), dest="loss_type")
        parser.add_argument("--beta", type=float)
        parser.add_argument("--batch-size", type=int, dest="batch_size")
        parser.add_argument("--learning-rate", type=float, dest="learning_rate")
        parser.add_argument("--max-new-tokens", type=int, dest="max_new_tokens")
        add_common_arguments(parser)

    def handle(self, *args, **options):
        dataset = named_dataset(options["dataset"])
        sft_run = start_sft_run(options)
        config = parse_config(options, ["iterations", "steps_per_iteration", "prompts_per_iteration", "loss_type", "beta",
                                        "batch_size", "learning_rate", "max_new_tokens"])
        try:
            run = spin_run_create(dataset=dataset, sft_run=sft_run, base_model_path=options["base_model"] or "",
                                  config=config, name=options["name"], enqueue=not options["inline"])
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        finish(self, run, options, spin_run_execute)
