"""python manage.py import_data PATH --dataset NAME [--format auto|hh|trl|tasks|judgements] [--skip-invalid]"""
import os

from django.core.management.base import BaseCommand, CommandError

from annotation.dataio.formats import FORMATS
from annotation.dataio.services import ImportRejected, import_file
from common.exceptions import ApplicationError


class Command(BaseCommand):
    help = "Import preference data (JSON Lines, gzip or plain) into a dataset, creating it if needed."

    def add_arguments(self, parser):
        parser.add_argument("path")
        parser.add_argument("--dataset", required=True, help="Dataset name (created if missing).")
        parser.add_argument("--format", default="auto", choices=("auto", *FORMATS, "unpaired"),
                            help="unpaired: ratings (prompt, completion, label) into a 'rate' dataset.")
        parser.add_argument("--skip-invalid", action="store_true", help="Import the good lines, list the bad ones.")

    def handle(self, *args, path, dataset, format, skip_invalid, **options):
        if not os.path.isfile(path):
            raise CommandError(f"No such file: {path}")
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
