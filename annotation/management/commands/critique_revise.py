"""python manage.py critique_revise --dataset NAME --model PATH [--limit N] [--constitution NAME]
[--output pair|sft] [--max-new-tokens N] [--seed N] [--inline] [--json]

Constitutional AI's supervised stage: the model critiques each response of the dataset against a
principle drawn at random, then revises it. Without --inline the run is queued for a worker."""
import json

from django.core.management.base import BaseCommand, CommandError

from annotation.critique.execution import critique_run_execute
from annotation.critique.services import critique_run_create
from annotation.models import Constitution, CritiqueRun, Dataset
from common.exceptions import ApplicationError


class Command(BaseCommand):
    help = "Critique and revise a dataset's responses with a local causal LM (Constitutional AI, supervised stage)."

    def add_arguments(self, parser):
        parser.add_argument("--dataset", required=True, help="Dataset name.")
        parser.add_argument("--model", required=True, help="A local Hugging Face causal LM folder.")
        parser.add_argument("--limit", type=int, help="At most this many responses.")
        parser.add_argument("--constitution", help="Constitution name (its latest version); default: built-in principles.")
        parser.add_argument("--output", default="pair", choices=["pair", "sft"],
                            help="pair: original vs revision become a new pair for labellers; sft: stored only.")
        parser.add_argument("--max-new-tokens", type=int, default=64)
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--inline", action="store_true", help="Run here and now instead of queueing it.")
        parser.add_argument("--json", action="store_true", help="Print the run as JSON.")

    def handle(self, *args, **o):
        dataset = Dataset.objects.filter(name=o["dataset"]).first()
        if dataset is None:
            raise CommandError(f"No dataset named {o['dataset']!r}.")
        constitution = None
        if o["constitution"]:
            constitution = Constitution.objects.filter(name=o["constitution"]).order_by("-version").first()
            if constitution is None:
                raise CommandError(f"No constitution named {o['constitution']!r}.")
        try:
            run = critique_run_create(dataset=dataset, model_path=o["model"], constitution=constitution, limit=o["limit"],
                                      output=o["output"], config={"max_new_tokens": o["max_new_tokens"], "seed": o["seed"]},
                                      enqueue=not o["inline"])
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        if o["inline"]:
            run = critique_run_execute(run_id=run.pk)
        doc = run_document(run)
        if o["json"]:
            self.stdout.write(json.dumps(doc, indent=2, ensure_ascii=False))
        else:
            self.stdout.write(f"critique run {run.pk}: {run.status}; {doc['summary'] or 'queued for a worker'}"
                              + (f"; error: {run.error}" if run.error else ""))
        if run.status == "failed":
            raise CommandError(run.error)


def run_document(run: CritiqueRun) -> dict:
    return {"id": run.pk, "dataset": run.dataset.name, "model_path": run.model_path, "status": run.status,
            "output": run.output, "limit": run.limit, "config": run.config, "summary": run.summary, "error": run.error,
            "revisions": [{"source_response": r.source_response_id, "principle": r.principle, "critique": r.critique,
                           "revision": r.revision, "pair": r.pair_id, "expected_side": r.expected_side, "note": r.note}
                          for r in run.revisions.order_by("id")]}
