"""python manage.py score --run ID (--prompt TEXT --response TEXT | --input FILE.jsonl)"""
import json

from django.core.management.base import BaseCommand, CommandError

from common.exceptions import ApplicationError
from common.jsonl import read_jsonl
from rewardmodel.models import RewardModelRun
from rewardmodel.scoring import score_texts


class Command(BaseCommand):
    help = "Scores (prompt, response) texts with a trained run's reward model; prints JSON."

    def add_arguments(self, parser):
        parser.add_argument("--run", type=int, required=True)
        parser.add_argument("--prompt")
        parser.add_argument("--response")
        parser.add_argument("--input", help='JSONL, one {"prompt": str | messages, "response": str} per line.')

    def handle(self, *args, **o):
        run = RewardModelRun.objects.filter(pk=o["run"]).first()
        if run is None:
            raise CommandError(f"No reward-model run {o['run']}.")
        if o["input"]:
            try:
                rows = read_jsonl(o["input"], ("prompt", "response"))
                items = [(row["prompt"], str(row["response"])) for row in rows]
            except ValueError as exc:
                raise CommandError(str(exc)) from exc
        elif o["prompt"] is not None and o["response"] is not None:
            items = [(o["prompt"], o["response"])]
        else:
            raise CommandError("Give --prompt and --response, or --input FILE.")
        try:
            scores, n_truncated = score_texts(run=run, items=items)
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(json.dumps({"run": run.pk, "scores": scores, "n_truncated": n_truncated}))
