"""Benchmark: the Team page with 500 labellers and 100k (or 1M) judgements in PostgreSQL.

Generates the data with bench/audit_scale.py's generator (500 labellers, 5 judgements per pair) in a
database of its own, makes every labeller a member of the dataset, stores the dataset's audit once,
then times, best of --repeat: the progress query over every labeller (selectors.labellers_with_progress),
the whole table (selectors.team_rows, reading the stored audit) and the page itself (GET /team/ through
Django's test client, rendering page 1 of 20), with the 1-minute load average. There is no peer to set
beside it: Label Studio and Argilla have no page that is comparable and that runs here.

  .venv/bin/python bench/team_scale.py [--db arbiter_bench_team] [--sizes bench-100k] [--repeat 3]
(PostgreSQL at ARBITER_BENCH_PG, default postgres://postgres@127.0.0.1:5432.)
"""
import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from audit_scale import SIZES, generate, setup  # noqa: E402 (bench/ is not a package)


def best_of(repeat: int, fn) -> tuple[float, list[float]]:
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - started)
    return min(runs), runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", default="arbiter_bench_team")
    parser.add_argument("--sizes", nargs="+", choices=list(SIZES), default=["bench-100k"])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    setup(args.db)
    from django.test import Client

    from annotation.audit.report import audit_report
    from annotation.models import Dataset, Judgement, Labeller
    from annotation.team.selectors import audit_figures, labellers_with_progress, team_rows
    from tests.factories import AdminLabellerFactory

    admin = Labeller.objects.filter(user__username="bench-team-admin").first() or AdminLabellerFactory(
        user__username="bench-team-admin")
    client = Client()
    client.force_login(admin.user)
    for name in args.sizes:
        if not Dataset.objects.filter(name=name).exists():
            generate(name, SIZES[name])
        dataset = Dataset.objects.get(name=name)
        dataset.labellers.add(*Labeller.objects.exclude(pk=admin.pk))
        audit_report(dataset=dataset)  # stored once, as the audit page would
        n = Judgement.objects.filter(pair__dataset=dataset).count()
        n_labellers = Labeller.objects.count()
        progress, progress_runs = best_of(args.repeat, lambda: list(labellers_with_progress()))
        table, table_runs = best_of(args.repeat, lambda: team_rows(sort="quality", audit=audit_figures(dataset=dataset)))

        def page():
            response = client.get(f"/team/?dataset={dataset.pk}&sort=progress&dir=desc")
            assert response.status_code == 200

        page_s, page_runs = best_of(args.repeat, page)
        print(f"{name}: {n:,} judgements, {n_labellers} labellers; best of {args.repeat}: progress query "
              f"{progress:.3f} s ({', '.join(f'{r:.3f}' for r in progress_runs)}), table {table:.3f} s "
              f"({', '.join(f'{r:.3f}' for r in table_runs)}), GET /team/ {page_s:.3f} s "
              f"({', '.join(f'{r:.3f}' for r in page_runs)}); load average {os.getloadavg()[0]:.2f}", flush=True)


if __name__ == "__main__":
    main()
