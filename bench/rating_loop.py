"""The "rate one response" loop beside the comparison loop, in one process, alternating rounds:
each loop is what a labeller's tool sends through the API (lease the next item, submit), run
through Django's test client (no HTTP server), on the database DATABASE_URL names. Prints, per
mode, loops/s and CPU ms per loop in this process (the database server's own CPU not included),
and the ratio rate / compare. The rating queue is the ORM (annotation/ratings/services.py); the
comparison queue is hand-written SQL (annotation/labelling/queue_sql.py).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/arbiter_bench_ratings .venv/bin/python bench/rating_loop.py \
        --rounds 6 --loops 150
"""
import argparse
import hashlib
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def set_up(*, n_items: int, n_labellers: int, overlap_k: int):
    from django.contrib.auth import get_user_model
    from django.db import connection
    from rest_framework.authtoken.models import Token

    from annotation.models import Dataset, Labeller, Pair, Prompt, RatingItem, Response

    run = time.strftime("%Y%m%d-%H%M%S")
    compare = Dataset.objects.create(name=f"bench-compare-{run}", overlap_k=overlap_k, repeat_rate=0.05)
    rate = Dataset.objects.create(name=f"bench-rate-{run}", overlap_k=overlap_k, repeat_rate=0.05, mode="rate")

    def sha(text):
        return hashlib.sha256(text.encode()).hexdigest()

    texts = [("Use `sorted(xs)`; it returns a new list.", "m1"), ("Call `xs.sort()` to sort in place.", "m2")]
    for dataset in (compare, rate):
        prompts = Prompt.objects.bulk_create(
            Prompt(dataset=dataset, messages=[{"role": "user", "content": f"Question {i}: how do I sort a list?"}],
                   content_hash=sha(f"{dataset.name}-{i}")) for i in range(n_items))
        responses = Response.objects.bulk_create(
            Response(prompt=p, text=t, source=s, length_chars=len(t), content_hash=sha(t)) for p in prompts for t, s in texts)
        if dataset is compare:
            Pair.objects.bulk_create(Pair(dataset=dataset, prompt=p, response_a=responses[2 * i],
                                          response_b=responses[2 * i + 1], content_hash=sha(f"pair-{run}-{i}"))
                                     for i, p in enumerate(prompts))
        else:  # as many items as pairs: one response of each prompt
            RatingItem.objects.bulk_create(RatingItem(dataset=dataset, response=r) for r in responses[::2])
    with connection.cursor() as cursor:
        for model in (Dataset, Prompt, Response, Pair, RatingItem):
            cursor.execute(f"ANALYZE {model._meta.db_table}")
    tokens = []
    for i in range(n_labellers):
        user = get_user_model().objects.create_user(username=f"bench-rate-{run}-{i}", password=None)
        labeller = Labeller.objects.create(user=user)
        compare.labellers.add(labeller)
        rate.labellers.add(labeller)
        tokens.append(Token.objects.create(user=user).key)
    return compare.pk, rate.pk, tokens


def round_of(mode: str, dataset_id: int, clients, n: int, offset: int) -> tuple[float, float]:
    """(wall s, CPU s) of n loops in `mode`, the clients taking turns."""
    next_url = f"/api/datasets/{dataset_id}/next/" if mode == "compare" else f"/api/datasets/{dataset_id}/ratings/next/"
    w0, c0 = time.perf_counter(), time.process_time()
    for i in range(n):
        client = clients[(offset + i) % len(clients)]
        lease = client.post(next_url)
        assert lease.status_code == 200, (mode, lease.status_code)
        lease_id = lease.json()["id"]
        if mode == "compare":
            done = client.post(f"/api/assignments/{lease_id}/judgement/",
                               {"choice": "tie", "idempotency_key": f"b-{lease_id}"}, content_type="application/json")
        else:
            done = client.post(f"/api/rating-assignments/{lease_id}/rating/",
                               {"label": i % 2 == 0, "idempotency_key": f"b-{lease_id}"}, content_type="application/json")
        assert done.status_code == 201, (mode, done.status_code, done.content[:200])
    return time.perf_counter() - w0, time.process_time() - c0


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=6, help="rounds per mode, alternating compare / rate")
    p.add_argument("--loops", type=int, default=150, help="loops per round")
    p.add_argument("--labellers", type=int, default=8)
    p.add_argument("--items", type=int, default=3000, help="pairs (compare) and responses to rate (rate)")
    args = p.parse_args()
    os.environ["DJANGO_DEBUG"] = "0"
    from config import env

    if env.DATABASE_URL.startswith("postgres"):
        from bench.labeller_loop import ensure_postgres_database

        ensure_postgres_database(env.DATABASE_URL)
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, check=True)
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()
    from django.db import connection
    from django.test import Client
    from django.test.utils import override_settings

    compare_id, rate_id, tokens = set_up(n_items=args.items, n_labellers=args.labellers, overlap_k=3)
    clients = [Client(HTTP_AUTHORIZATION=f"Token {t}") for t in tokens]
    load_before = os.getloadavg()[0]
    results = {"compare": [], "rate": []}
    # No rate limit: the benchmark is one process sending as fast as it can.
    with override_settings(REST_FRAMEWORK={**django.conf.settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_CLASSES": []}):
        round_of("compare", compare_id, clients, 20, 0)  # warm-up: prepared statements, imports
        round_of("rate", rate_id, clients, 20, 0)
        for r in range(args.rounds):
            for mode, dataset_id in (("compare", compare_id), ("rate", rate_id))[:: 1 if r % 2 == 0 else -1]:
                results[mode].append(round_of(mode, dataset_id, clients, args.loops, r * args.loops))
    print(f"database: {connection.vendor}; {args.rounds} rounds x {args.loops} loops per mode, alternating; "
          f"{args.labellers} labellers; {args.items} items per dataset; overlap_k 3, repeat_rate 0.05")
    figures = {}
    for mode, rounds in results.items():
        rates = [args.loops / wall for wall, _ in rounds]
        cpu_ms = [1000 * cpu / args.loops for _, cpu in rounds]
        figures[mode] = (statistics.median(rates), statistics.median(cpu_ms))
        print(f"{mode:>7}: loops/s median {figures[mode][0]:.1f} (rounds {min(rates):.1f}-{max(rates):.1f}); "
              f"CPU in this process per loop median {figures[mode][1]:.2f} ms")
    print(f"ratio rate / compare: loops/s {figures['rate'][0] / figures['compare'][0]:.2f}, "
          f"CPU per loop {figures['rate'][1] / figures['compare'][1]:.2f}")
    print(f"load average (1 min): {load_before:.2f} before, {os.getloadavg()[0]:.2f} after; cpus: {os.cpu_count()}")


if __name__ == "__main__":
    main()
