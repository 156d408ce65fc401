from django.core.management.base import BaseCommand, CommandError

from annotation.models import Dataset
from common.exceptions import ApplicationError
from rewardmodel.models import RewardModelRun
from training.execute import policy_run_execute
from training.management.commands._runs import add_common_arguments, finish, parse_config
from training.models import SFTRun
from training.services import policy_run_create


class Command(BaseCommand):
    help = ("PPO of an SFT model against a reward model with a KL penalty. Queued for a Celery worker unless "
            "--inline. Example: manage.py run_ppo --reward-run 3 --sft-run 2 --steps 50 --inline --json")

    def add_arguments(self, parser):
        parser.add_argument("--reward-run", type=int, required=True)
        parser.add_argument("--sft-run", type=int, required=True)
        parser.add_argument("--held-out-reward-run", type=int)
        parser.add_argument("--dataset", help="prompts from this dataset (default: the reward run's)")
        parser.add_argument("--steps", type=int)
        parser.add_argument("--batch-size", type=int, dest="batch_size")
        parser.add_argument("--mini-batch-size", type=int, dest="mini_batch_size")
        parser.add_argument("--learning-rate", type=float, dest="learning_rate")
        parser.add_argument("--init-kl-coef", type=float, dest="init_kl_coef")
        parser.add_argument("--target", type=float)
        parser.add_argument("--max-new-tokens", type=int, dest="max_new_tokens")
        add_common_arguments(parser)

    def handle(self, *args, **options):
        def get(model, pk, label):
            row = model.objects.filter(pk=pk).first()
            if row is None:
                raise CommandError(f"No {label} with id {pk}.")
            return row

        dataset = None
        if options["dataset"]:
            dataset = Dataset.objects.filter(name=options["dataset"]).first()
            if dataset is None:
                raise CommandError(f"No dataset named “{options['dataset']}”.")
        held_out = options["held_out_reward_run"]
        config = parse_config(options, ["steps", "batch_size", "mini_batch_size", "learning_rate", "init_kl_coef",
                                        "target", "max_new_tokens"])
        try:
            run = policy_run_create(
                sft_run=get(SFTRun, options["sft_run"], "SFT run"),
                reward_run=get(RewardModelRun, options["reward_run"], "reward-model run"),
                held_out_reward_run=get(RewardModelRun, held_out, "reward-model run") if held_out else None,
                dataset=dataset, config=config, name=options["name"], enqueue=not options["inline"],
            )
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        finish(self, run, options, policy_run_execute)
