"""python manage.py ai_label --dataset NAME --labeller USERNAME [--limit N] [--below-human-k K] [--seed S] [--inline] [--json]"""
import json

from django.core.management.base import BaseCommand, CommandError

from annotation.ai.runs import ai_label_run_create, ai_label_run_execute
from annotation.models import AILabeller, Dataset
from common.exceptions import ApplicationError


class Command(BaseCommand):
    help = "An AI labeller judges a dataset's pairs (queued for a worker, or --inline in this process)."

    def add_arguments(self, parser):
        parser.add_argument("--dataset", required=True, help="Dataset name.")
        parser.add_argument("--labeller", required=True, help="The AI labeller's username.")
        parser.add_argument("--limit", type=int, default=None, help="Judge at most N pairs.")
        parser.add_argument("--below-human-k", type=int, default=None,
                            help="Only pairs with fewer than K human judgements (default: every pair).")
        parser.add_argument("--seed", type=int, default=None, help="Seeds the principle drawn per pair.")
        parser.add_argument("--inline", action="store_true", help="Judge in this process instead of queueing.")
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, **o):
        dataset = Dataset.objects.filter(name=o["dataset"]).first()
        if dataset is None:
            raise CommandError(f"No dataset named {o['dataset']!r}.")
        ai = AILabeller.objects.filter(labeller__user__username=o["labeller"]).first()
        if ai is None:
            raise CommandError(f"No AI labeller named {o['labeller']!r} (create one with create_ai_labeller).")
        try:
            run = ai_label_run_create(ai_labeller=ai, dataset=dataset, limit=o["limit"], below_human_k=o["below_human_k"],
                                      seed=o["seed"], enqueue=not o["inline"])
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        if o["inline"]:
            run = ai_label_run_execute(run_id=run.pk, worker="inline")
        out = {"run": run.pk, "status": run.status, "n_pairs": run.n_pairs, "n_judged": run.n_judged,
               "n_failed": run.n_failed, "error": run.error, "failures": run.failures[:20]}
        if o["json"]:
            self.stdout.write(json.dumps(out, indent=2, default=str))
        else:
            self.stdout.write(f"AI labelling run {run.pk}: {run.status}; {run.n_judged} judged, {run.n_failed} failed "
                              f"of {run.n_pairs} pairs")
        if run.status == "failed":
            raise CommandError(f"Run {run.pk} failed: {run.error}")
