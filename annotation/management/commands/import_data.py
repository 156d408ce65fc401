"""python manage.py import_data PATH --dataset NAME [--format auto|hh|trl|tasks|judgements] [--skip-invalid]
   python manage.py import_data PATH --task-set NAME [--format tasks]   (checkable tasks for GRPO)"""
import os

from django.core.management.base import BaseCommand, CommandError

from annotation.dataio.formats import FORMATS
from annotation.dataio.reading import open_binary
from annotation.dataio.services import ImportRejected, import_file
from common.exceptions import ApplicationError


class Command(BaseCommand):
    help = "Import preference data (JSON Lines, gzip or plain) into a dataset, creating it if needed."

    def add_arguments(self, parser):
        parser.add_argument("path")
        target = parser.add_mutually_exclusive_group(required=True)
        target.add_argument("--dataset", help="Dataset name (created if missing).")
        target.add_argument("--task-set", dest="task_set",
                            help="Import checkable tasks (prompt, reference, checker, split: training/rewards/tasks.py) "
                                 "into a new task set of this name, for GRPO. Every line is checked first; one bad "
                                 "line and nothing is written.")
        parser.add_argument("--format", default="auto", choices=("auto", *FORMATS, "unpaired"),
                            help="unpaired: ratings (prompt, completion, label) into a 'rate' dataset.")
        parser.add_argument("--skip-invalid", action="store_true", help="Import the good lines, list the bad ones.")

    def handle(self, *args, path, dataset, format, skip_invalid, task_set=None, **options):
        if not os.path.isfile(path):
            raise CommandError(f"No such file: {path}")
        if task_set is not None:
            return self._import_tasks(path, task_set, format, skip_invalid)
        try:
            batch = import_file(dataset_name=dataset, file=path, format=format, skip_invalid=skip_invalid)
        except ImportRejected as exc:
            for error in exc.errors:
                self.stderr.write(str(error))
            hint = "" if skip_invalid else " Fix them, or pass --skip-invalid to import the rest."
            raise CommandError(f"Rejected {path}: {exc.message}.{hint}") from None
        except ApplicationError as exc:
            raise CommandError(exc.message) from None
        for issue in batch.errors:
            label = "skipped" if issue["severity"] == "error" else "warning"
            self.stdout.write(f"{label}: line {issue['line']}, field {issue['field']}: {issue['message']}")
        rate = batch.n_lines / batch.duration_s if batch.duration_s else 0
        self.stdout.write(self.style.SUCCESS(
            f"Imported {path} into '{dataset}' as {batch.format}: {batch.n_lines} lines, "
            + (f"{batch.n_rating_items_created} new responses to rate, {batch.n_ratings_created} new ratings, "
               if batch.format == "unpaired" else
               f"{batch.n_pairs_created} new pairs, {batch.n_judgements_created} new judgements, ")
            + f"{batch.n_duplicates} already present, "
            f"{sum(1 for i in batch.errors if i['severity'] == 'error')} skipped; "
            f"{batch.duration_s:.2f} s ({rate:.0f} lines/s)."))

    def _import_tasks(self, path, name, format, skip_invalid):
        from training.services import TaskImportRejected, task_set_import

        if format not in ("auto", "tasks") or skip_invalid:
            raise CommandError("--task-set imports the tasks format only, and all lines or none (no --skip-invalid).")
        try:
            with open(path, "rb") as stream:
                task_set = task_set_import(name=name, lines=open_binary(stream), source_filename=os.path.basename(path))
        except TaskImportRejected as exc:
            for line, field, message in exc.errors:
                self.stderr.write(f"line {line}, field {field}: {message}")
            raise CommandError(f"Rejected {path}: {exc.message}.") from None
        except ApplicationError as exc:
            raise CommandError(exc.message) from None
        counts = {split: task_set.tasks.filter(split=split).count() for split in ("train", "held_out")}
        self.stdout.write(self.style.SUCCESS(
            f"Imported {path} into task set '{name}': {counts['train']} train and {counts['held_out']} held-out tasks."))
