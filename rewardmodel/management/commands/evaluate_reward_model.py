"""python manage.py evaluate_reward_model --run ID --input FILE [--format hh|trl] [--json]"""
import json

from django.core.management.base import BaseCommand, CommandError

from common.exceptions import ApplicationError
from rewardmodel.models import RewardModelRun
from rewardmodel.scoring import preference_file_evaluate


class Command(BaseCommand):
    help = "Scores every pair of a preference file (HH or TRL, .jsonl or .jsonl.gz) with a run's model."

    def add_arguments(self, parser):
        parser.add_argument("--run", type=int, required=True)
        parser.add_argument("--input", required=True)
        parser.add_argument("--format", choices=["auto", "hh", "trl"], default="auto")
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, **o):
        run = RewardModelRun.objects.filter(pk=o["run"]).first()
        if run is None:
            raise CommandError(f"No reward-model run {o['run']}.")
        try:
            result = preference_file_evaluate(run=run, path=o["input"], format=o["format"])
        except (ApplicationError, OSError, ValueError) as exc:
            raise CommandError(getattr(exc, "message", str(exc))) from exc
        if result.get("n_pairs", 0) == 0:
            raise CommandError(f"No pair of {o['input']} could be read: {'; '.join(result['first_errors'])}")
        if o["json"]:
            self.stdout.write(json.dumps(result, indent=2))
        else:
            self.stdout.write(f"{result['n_pairs']} pairs: accuracy {result['accuracy']:.3f}, ECE {result['ece']:.3f}, "
                              f"reward-length correlation {result['reward_length_correlation']}")
