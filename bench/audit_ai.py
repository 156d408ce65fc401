"""Benchmark: what AI labellers add to the audit's cost (issue 14).

Uses bench/audit_scale.py's generated dataset bench-100k (20k pairs x 5 human judgements, 500
labellers) in its own database, and adds two AI labellers that judge every pair in both orders
(ai_detail as the ai_label job records it; one judge's model names a response source, so
self-preference is computed): 140k counted judgements in all. Then, in ONE invocation and
alternating, times the audit's statistics on the people's judgements alone (what the audit computes
when no AI labeller judged) and on all of them (people's statistics + AI rows + the AI vs humans
panel), from the same loaded data; and times the load with the AI labellers' records.

  .venv/bin/python bench/audit_ai.py [--db arbiter_h6_bench_ai] [--repeat 5]
(PostgreSQL at ARBITER_BENCH_PG, default postgres://postgres@127.0.0.1:5432.)
"""
import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import audit_scale  # noqa: E402

NAME, N_PAIRS = "bench-100k", audit_scale.SIZES["bench-100k"]
JUDGES = [("bench-ai-1", "model-a"), ("bench-ai-2", "judge-not-a-source")]


def add_ai_labellers(dataset_id: int) -> None:
    """Two AI labellers judging every pair of the dataset in both orders (one order in four flips)."""
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction

    from annotation.models import AILabeller, Labeller

    with transaction.atomic(), connection.cursor() as c:
        for username, judge_model in JUDGES:
            user, _ = get_user_model().objects.get_or_create(username=username)
            labeller, _ = Labeller.objects.get_or_create(user=user, defaults={"kind": "model", "role": "ai"})
            AILabeller.objects.get_or_create(labeller=labeller, defaults={"backend": "causal_lm", "model_path": f"/models/{judge_model}"})
            if labeller.judgements.exists():
                continue
            c.execute("""INSERT INTO annotation_judgement (pair_id, labeller_id, choice, rationale, flags, shown_left,
                             created_at, is_repeat, idempotency_key, superseded, source, ai_detail)
                         SELECT id, %s, CASE WHEN flip THEN 'tie' ELSE v END, '', '{}'::jsonb, '', now(), false, '', false, 'app',
                                jsonb_build_object('principle', 'Be helpful.', 'constitution', 'bench v1', 'backend', 'causal_lm',
                                  'judge_model', %s::text, 'agreed', NOT flip, 'error', NULL, 'orders', jsonb_build_array(
                                    jsonb_build_object('order', 'ab', 'verdict', v, 'p_a', NULL, 'raw', v),
                                    jsonb_build_object('order', 'ba', 'verdict', CASE WHEN flip THEN (CASE WHEN v = 'a' THEN 'b' ELSE 'a' END) ELSE v END,
                                                       'p_a', NULL, 'raw', v)))
                         FROM (SELECT id, CASE WHEN random() < 0.7 THEN 'a' ELSE 'b' END AS v, random() < 0.25 AS flip
                               FROM annotation_pair WHERE dataset_id = %s) p""", [labeller.pk, judge_model, dataset_id])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", default="arbiter_h6_bench_ai")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    audit_scale.setup(args.db)
    from annotation.audit.ai import human_only
    from annotation.audit.data import audit_data_load
    from annotation.audit.report import audit_from_data
    from annotation.models import Dataset

    if not Dataset.objects.filter(name=NAME).exists():
        started = time.perf_counter()
        audit_scale.generate(NAME, N_PAIRS)
        print(f"generated {NAME} in {time.perf_counter() - started:.1f} s", flush=True)
    ds = Dataset.objects.get(name=NAME)
    add_ai_labellers(ds.pk)

    loads = []
    for _ in range(args.repeat):
        w0, c0 = time.perf_counter(), time.process_time()
        data = audit_data_load(dataset_id=ds.pk)
        loads.append((time.perf_counter() - w0, time.process_time() - c0))
    from annotation.audit.data import _attach_ai
    from annotation.selectors import exclusions_active

    honour = exclusions_active(dataset_id=ds.pk).exists()
    attach = []
    for _ in range(args.repeat):  # the part of the load that reads the AI labellers' records
        w0, c0 = time.perf_counter(), time.process_time()
        _attach_ai(data, dataset_id=ds.pk, honour=honour)
        attach.append((time.perf_counter() - w0, time.process_time() - c0))
    people = human_only(data)
    times = {"people only": [], "people + AI": []}
    for _ in range(args.repeat):  # alternating, so both see the same machine
        for label, d in (("people only", people), ("people + AI", data)):
            w0, c0 = time.perf_counter(), time.process_time()
            report = audit_from_data(d)
            times[label].append((time.perf_counter() - w0, time.process_time() - c0))
    print(f"{NAME} + {len(JUDGES)} AI labellers: {data.n:,} counted judgements ({people.n:,} by people); "
          f"load with the AI records: best {min(loads)[0]:.2f} s wall, {min(c for _, c in loads):.2f} s CPU, "
          f"of which reading the AI records {min(attach)[0]:.2f} s wall, {min(c for _, c in attach):.2f} s CPU")
    for label, ts in times.items():
        print(f"  statistics, {label}: best {min(ts)[0]:.2f} s wall, {min(c for _, c in ts):.2f} s CPU (of {args.repeat})")
    base, with_ai = (min(c for _, c in times[k]) for k in times)
    print(f"ratio people+AI / people only (CPU): {with_ai / base:.2f}x; load average {os.getloadavg()[0]:.2f}")
    panel = report["ai_vs_humans"]
    for col in panel["labellers"]:
        print(f"  {col['username']}: agreement with the human majority {col['agreement_with_human_majority']['value']:.3f}, "
              f"orders disagree {col['order_disagreement']['value']:.3f}, self-preference n={col['self_preference']['n']}")


if __name__ == "__main__":
    main()
