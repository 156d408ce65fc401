"""python manage.py train_reward_model --dataset NAME [--base-model PATH] [--epochs N ...] [--inline | --wait] [--json]"""
import json
import time

from django.core.management.base import BaseCommand, CommandError

from annotation.models import Dataset
from common.exceptions import ApplicationError
from rewardmodel.backbone import default_backbone_path
from rewardmodel.execution import reward_run_execute
from rewardmodel.models import RewardModelRun
from rewardmodel.services import reward_run_create


class Command(BaseCommand):
    help = "Trains a Bradley-Terry reward model on a dataset's counted judgements (queued, or --inline)."

    def add_arguments(self, parser):
        parser.add_argument("--dataset", required=True, help="Dataset name.")
        parser.add_argument("--base-model", default="", help="Local Hugging Face folder (default: the bundled MiniLM).")
        parser.add_argument("--name", default="")
        parser.add_argument("--epochs", type=int, default=1)
        parser.add_argument("--lr", type=float, default=5e-5)
        parser.add_argument("--batch-size", type=int, default=16)
        parser.add_argument("--max-length", type=int, default=256)
        parser.add_argument("--aggregation", choices=["majority", "per_judgement"], default="majority")
        parser.add_argument("--min-agreement", type=float, default=0.0)
        parser.add_argument("--eval-fraction", type=float, default=0.1)
        parser.add_argument("--loss", choices=["bradley_terry", "davidson"], default="bradley_terry")
        parser.add_argument("--margin", action="store_true", help="Llama 2 margin from vote strength.")
        parser.add_argument("--center-rewards", type=float, default=None, help="Reward centring coefficient.")
        parser.add_argument("--length-control", action="store_true")
        parser.add_argument("--config", default="", help="JSON {train: {...}, selection: {...}} merged over the flags.")
        parser.add_argument("--inline", action="store_true", help="Train in this process instead of queueing.")
        parser.add_argument("--wait", action="store_true", help="Queue, then wait until the run ends.")
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, **o):
        dataset = Dataset.objects.filter(name=o["dataset"]).first()
        if dataset is None:
            raise CommandError(f"No dataset named {o['dataset']!r}.")
        train = {"num_train_epochs": o["epochs"], "learning_rate": o["lr"], "batch_size": o["batch_size"],
                 "max_length": o["max_length"], "loss_type": o["loss"], "use_margin": o["margin"],
                 "center_rewards_coefficient": o["center_rewards"], "length_control": o["length_control"]}
        selection = {"aggregation": o["aggregation"], "min_agreement": o["min_agreement"], "eval_fraction": o["eval_fraction"]}
        try:
            extra = json.loads(o["config"]) if o["config"] else {}
        except json.JSONDecodeError as exc:
            raise CommandError(f"--config is not valid JSON: {exc}") from exc
        config = {"train": {**train, **extra.get("train", {})}, "selection": {**selection, **extra.get("selection", {})}}
        try:
            run = reward_run_create(dataset=dataset, base_model_path=o["base_model"] or default_backbone_path(),
                                    name=o["name"], config=config, enqueue=not o["inline"])
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        if o["inline"] and run.status == "queued":
            run = reward_run_execute(run_id=run.pk, worker="inline")
        elif o["wait"]:
            while run.is_active:
                time.sleep(2)
                run.refresh_from_db()
        self._print(run, o["json"])
        if run.status == "failed":
            raise CommandError(f"Run {run.pk} failed: {run.error}")

    def _print(self, run: RewardModelRun, as_json: bool):
        out = {"run": run.pk, "status": run.status, "error": run.error, "artifact_path": run.artifact_path,
               "evaluation": run.summary.get("evaluation"), "data_snapshot": run.data_snapshot}
        if as_json:
            self.stdout.write(json.dumps(out, indent=2, default=str))
        else:
            self.stdout.write(f"run {run.pk}: {run.status}" + (f" ({run.artifact_path})" if run.artifact_path else ""))
