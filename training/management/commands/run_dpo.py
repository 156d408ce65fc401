from django.core.management.base import BaseCommand, CommandError

from annotation.models import Dataset
from common.exceptions import ApplicationError
from training.dpo import LOSS_TYPES
from training.execute import dpo_run_execute
from training.management.commands._runs import add_common_arguments, finish, parse_config
from training.models import SFTRun
from training.services import dpo_run_create


class Command(BaseCommand):
    help = ("DPO (or IPO, conservative DPO) of a policy on a dataset's labelled pairs, the start model also the "
            "reference. Queued for a Celery worker unless --inline. Data selection options go in --config under "
            "\"selection\". Example: manage.py run_dpo --dataset hh-demo --sft-run 2 --steps 50 --loss ipo --inline")

    def add_arguments(self, parser):
        parser.add_argument("--dataset", required=True, help="dataset name")
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument("--sft-run", type=int, help="start from this SFT run's model")
        source.add_argument("--base-model", help="start from a local Hugging Face causal-LM folder")
        parser.add_argument("--steps", type=int)
        parser.add_argument("--loss", choices=LOSS_TYPES, dest="loss_type")
        parser.add_argument("--beta", type=float)
        parser.add_argument("--label-smoothing", type=float, dest="label_smoothing")
        parser.add_argument("--batch-size", type=int, dest="batch_size")
        parser.add_argument("--learning-rate", type=float, dest="learning_rate")
        parser.add_argument("--precompute-ref", action="store_true", default=None, dest="precompute_ref",
                            help="reference log-probs in one pass before training, then the reference is freed")
        parser.add_argument("--sample-every", type=int, dest="sample_every",
                            help="draw samples (and run the monitors on them) every K steps; 0: never")
        add_common_arguments(parser)

    def handle(self, *args, **options):
        dataset = Dataset.objects.filter(name=options["dataset"]).first()
        if dataset is None:
            raise CommandError(f"No dataset named “{options['dataset']}”.")
        sft_run = None
        if options["sft_run"] is not None:
            sft_run = SFTRun.objects.filter(pk=options["sft_run"]).first()
            if sft_run is None:
                raise CommandError(f"No SFT run with id {options['sft_run']}.")
        config = parse_config(options, ["steps", "loss_type", "beta", "label_smoothing", "batch_size", "learning_rate",
                                        "precompute_ref", "sample_every"])
        try:
            run = dpo_run_create(dataset=dataset, sft_run=sft_run, base_model_path=options["base_model"] or "",
                                 config=config, name=options["name"], enqueue=not options["inline"])
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        finish(self, run, options, dpo_run_execute)
