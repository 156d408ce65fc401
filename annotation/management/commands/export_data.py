"""python manage.py export_data --dataset NAME --format trl|judgements [--csv] --output PATH [--min-agreement X]"""
from django.core.management.base import BaseCommand, CommandError

from annotation.dataio.exports import export_judgements, export_trl
from annotation.models import Dataset


class Command(BaseCommand):
    help = "Export a dataset: TRL preference pairs (majority of counted judgements) or every judgement."

    def add_arguments(self, parser):
        parser.add_argument("--dataset", required=True)
        parser.add_argument("--format", required=True, choices=("trl", "judgements"))
        parser.add_argument("--csv", action="store_true", help="judgements only: CSV instead of JSON Lines.")
        parser.add_argument("--output", required=True, help="File to write ('-' for standard output).")
        parser.add_argument("--min-agreement", type=float, default=0.0,
                            help="trl only: leave out pairs whose winning share of votes is below this (0-1).")

    def handle(self, *args, dataset, format, csv, output, min_agreement, **options):
        found = Dataset.objects.filter(name=dataset).first()
        if found is None:
            raise CommandError(f"No dataset named {dataset!r}")
        if csv and format != "judgements":
            raise CommandError("--csv applies to --format judgements only")
        if not 0 <= min_agreement <= 1:
            raise CommandError("--min-agreement must be between 0 and 1")
        out = self.stdout._out if output == "-" else open(output, "w", encoding="utf-8", newline="")
        try:
            if format == "trl":
                n = export_trl(found, out, min_agreement=min_agreement)
                what = "pairs"
            else:
                n = export_judgements(found, out, fmt="csv" if csv else "jsonl")
                what = "judgements"
        finally:
            if out is not self.stdout._out:
                out.close()
        self.stderr.write(f"Wrote {n} {what} of '{dataset}' to {output}")
