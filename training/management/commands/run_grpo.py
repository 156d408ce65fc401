from django.core.management.base import BaseCommand, CommandError

from common.exceptions import ApplicationError
from training.execute_grpo import grpo_run_execute
from training.grpo import LOSS_TYPES
from training.management.commands._runs import (
    add_common_arguments, add_start_model_arguments, finish, parse_config, start_sft_run,
)
from training.models import TaskSet
from training.services import grpo_run_create


class Command(BaseCommand):
    help = ("GRPO of a policy on a task set's checkable tasks (import one with import_data --task-set). Queued for a "
            "Celery worker unless --inline. The reward spec goes in --config under \"reward_spec\" (default: one term "
            "per checker of the task set). Example: manage.py run_grpo --tasks \"Arithmetic (demo)\" --base-model DIR "
            "--steps 40 --inline")

    def add_arguments(self, parser):
        parser.add_argument("--tasks", required=True, help="task set name")
        add_start_model_arguments(parser)
        parser.add_argument("--steps", type=int)
        parser.add_argument("--num-generations", type=int, dest="num_generations", help="group size G")
        parser.add_argument("--prompts-per-step", type=int, dest="prompts_per_step")
        parser.add_argument("--learning-rate", type=float, dest="learning_rate")
        parser.add_argument("--loss", choices=LOSS_TYPES, dest="loss_type")
        parser.add_argument("--beta", type=float, help="k3 KL coefficient (0: no reference model)")
        add_common_arguments(parser)

    def handle(self, *args, **options):
        task_set = TaskSet.objects.filter(name=options["tasks"]).first()
        if task_set is None:
            raise CommandError(f"No task set named “{options['tasks']}”.")
        sft_run = start_sft_run(options)
        config = parse_config(options, ["steps", "num_generations", "prompts_per_step", "learning_rate", "loss_type",
                                        "beta"])
        try:
            run = grpo_run_create(task_set=task_set, sft_run=sft_run, base_model_path=options["base_model"] or "",
                                  config=config, name=options["name"], enqueue=not options["inline"])
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        finish(self, run, options, grpo_run_execute)
