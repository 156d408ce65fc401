"""python manage.py audit --dataset NAME [--json] [--no-cache] [--count-overrides]"""
import json

from django.core.management.base import BaseCommand, CommandError

from annotation.audit.report import audit_report
from annotation.models import Dataset


class Command(BaseCommand):
    help = "Audit a dataset: agreement, labeller biases and quality, model leaderboard."

    def add_arguments(self, parser):
        parser.add_argument("--dataset", required=True, help="Dataset name.")
        parser.add_argument("--json", action="store_true", help="Print the whole audit as one JSON document.")
        parser.add_argument("--no-cache", action="store_true", help="Recompute even if a cached audit is valid.")
        parser.add_argument("--count-overrides", action="store_true",
                            help="Count reviewers' overrides: an overridden pair's judgements are compared with the "
                                 "reviewer's choice instead of the labellers' majority.")

    def handle(self, *args, dataset, json: bool, no_cache: bool, count_overrides: bool = False, **options):
        ds = Dataset.objects.filter(name=dataset).first()
        if ds is None:
            raise CommandError(f"No dataset named {dataset!r}.")
        report = audit_report(dataset=ds, use_cache=not no_cache, count_overrides=count_overrides)
        if json:
            self.stdout.write(_dumps(report))
            return
        a = report["agreement"]
        self.stdout.write(f"{report['dataset']}: {report['n_judgements']} judgements, {report['n_pairs']} pairs, "
                          f"{report['n_labellers']} labellers")
        for name, figure in a.items():
            self.stdout.write(f"  {name}: {_fmt(figure)}")
        review = report.get("review") or {}
        self.stdout.write(f"  reviewers' overrides: {review.get('n_overrides', 0)}, "
                          f"{'counted' if review.get('overrides_counted') else 'ignored (--count-overrides counts them)'}")
        for key in ("length", "position", "sycophancy", "speed"):
            self.stdout.write(f"  {key}: {report['biases'][key]['sentence']}")
        ratings = report.get("ratings")
        if ratings and ratings["n_ratings"]:
            self.stdout.write(f"  ratings: {ratings['n_ratings']} of {ratings['n_items']} responses by "
                              f"{ratings['n_labellers']} labellers")
            for name, figure in (("thumbs up", ratings["positivity"]),
                                 ("alpha (label)", ratings["agreement"]["krippendorff_alpha"]),
                                 ("gold accuracy", ratings["gold_accuracy"]),
                                 ("self-consistency", ratings["self_consistency"]),
                                 ("length correlation", ratings["length_bias"]["correlation"])):
                self.stdout.write(f"    {name}: {_fmt(figure)}")
        flagged = [row for row in report["labellers"] if row["flags"]]
        self.stdout.write(f"  flagged labellers: {len(flagged)}")
        for row in flagged:
            for flag in row["flags"]:
                self.stdout.write(f"    {row['username']}: {flag['reason']}")


def _dumps(report: dict) -> str:
    return json.dumps(report, indent=2, ensure_ascii=False)


def _fmt(figure: dict) -> str:
    if figure["value"] is None:
        return "no data"
    if figure["low"] is None:
        return f"{figure['value']:.3f} (n={figure['n']})"
    return f"{figure['value']:.3f} [{figure['low']:.3f}, {figure['high']:.3f}] (n={figure['n']})"
