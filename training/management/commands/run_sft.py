from django.core.management.base import BaseCommand, CommandError

from annotation.models import Dataset
from common.exceptions import ApplicationError
from training.execute import sft_run_execute
from training.management.commands._runs import add_common_arguments, finish, parse_config
from training.services import sft_run_create


class Command(BaseCommand):
    help = ("Fine-tune a causal LM on a dataset's preferred responses (SFT). Queued for a Celery worker unless "
            "--inline. Example: manage.py run_sft --dataset hh-demo --from-scratch --steps 300 --inline")

    def add_arguments(self, parser):
        parser.add_argument("--dataset", required=True, help="dataset name")
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument("--base-model", help="a local Hugging Face causal-LM folder")
        source.add_argument("--from-scratch", action="store_true",
                            help="a small GPT-2 and a tokenizer trained on the dataset (no download)")
        parser.add_argument("--steps", type=int)
        parser.add_argument("--batch-size", type=int, dest="batch_size")
        parser.add_argument("--learning-rate", type=float, dest="learning_rate")
        parser.add_argument("--max-length", type=int, dest="max_length")
        add_common_arguments(parser)

    def handle(self, *args, **options):
        dataset = Dataset.objects.filter(name=options["dataset"]).first()
        if dataset is None:
            raise CommandError(f"No dataset named “{options['dataset']}”.")
        config = parse_config(options, ["steps", "batch_size", "learning_rate", "max_length"])
        try:
            run = sft_run_create(dataset=dataset, base_model_path=options["base_model"] or "", config=config,
                                 name=options["name"], enqueue=not options["inline"])
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        finish(self, run, options, sft_run_execute)
