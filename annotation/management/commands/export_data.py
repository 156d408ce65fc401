"""python manage.py export_data --dataset NAME --format trl|judgements|unpaired [--csv] --output PATH
[--min-agreement X] [--all-ratings]"""
from django.core.management.base import BaseCommand, CommandError

from annotation.dataio.exports import export_judgements, export_trl
from annotation.models import Dataset
from annotation.ratings.exports import export_ratings


class Command(BaseCommand):
    help = "Export a dataset: TRL preference pairs (majority of counted judgements) or every judgement."

    def add_arguments(self, parser):
        parser.add_argument("--dataset", required=True)
        parser.add_argument("--format", required=True, choices=("trl", "judgements", "unpaired"),
                            help="unpaired: the ratings of a 'rate' dataset in TRL's unpaired format (KTO).")
        parser.add_argument("--csv", action="store_true", help="judgements and unpaired: CSV instead of JSON Lines.")
        parser.add_argument("--all-ratings", action="store_true",
                            help="unpaired only: also planned repeats and excluded labellers' ratings (marked).")
        parser.add_argument("--output", required=True, help="File to write ('-' for standard output).")
        parser.add_argument("--min-agreement", type=float, default=0.0,
                            help="trl only: leave out pairs whose winning share of votes is below this (0-1).")

    def handle(self, *args, dataset, format, csv, output, min_agreement, all_ratings, **options):
        found = Dataset.objects.filter(name=dataset).first()
        if found is None:
            raise CommandError(f"No dataset named {dataset!r}")
        if csv and format == "trl":
            raise CommandError("--csv applies to --format judgements and unpaired only")
        if all_ratings and format != "unpaired":
            raise CommandError("--all-ratings applies to --format unpaired only")
        if not 0 <= min_agreement <= 1:
            raise CommandError("--min-agreement must be between 0 and 1")
        out = self.stdout._out if output == "-" else open(output, "w", encoding="utf-8", newline="")
        try:
            if format == "unpaired":
                n = export_ratings(found, out, fmt="csv" if csv else "jsonl", everything=all_ratings)
                what = "ratings"
            elif format == "trl":
                n = export_trl(found, out, min_agreement=min_agreement)
                what = "pairs"
            else:
                n = export_judgements(found, out, fmt="csv" if csv else "jsonl")
                what = "judgements"
        finally:
            if out is not self.stdout._out:
                out.close()
        self.stderr.write(f"Wrote {n} {what} of '{dataset}' to {output}")
