"""Benchmark: the full audit (uncached) of 100k and 1M judgements in PostgreSQL.

Generates, directly in SQL (generate_series, seeded random()), one dataset per size in its own
database: 20k pairs x 5 judgements and 200k pairs x 5 judgements, 500 labellers, 8 named models,
5% gold pairs, 10% pairs marking the response that agrees with the user, 3% planned repeats, and
planted labellers: 10 position-biased, 10 length-biased, 10 random clickers, 10 too fast, the rest
honest (right 80% of the time, tie 10%, wrong 10%). Then times the full audit (load + every
statistic, no cache) per size, and prints seconds (wall, by phase, and this process's CPU), the
ratio and the 1-minute load average.

  .venv/bin/python bench/audit_scale.py [--db arbiter_bench_audit] [--regenerate] [--repeat 2] [--sizes bench-100k]
(PostgreSQL at ARBITER_BENCH_PG, default postgres://postgres@127.0.0.1:5432.)
"""
import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SIZES = {"bench-100k": 20_000, "bench-1m": 200_000}  # dataset -> pairs (5 judgements each)
N_LABELLERS = 500
MODELS = ["model-a", "model-b", "model-c", "model-d", "model-e", "model-f", "model-g", "model-h"]


def setup(db: str) -> None:
    import psycopg

    base = os.environ.get("ARBITER_BENCH_PG", "postgres://postgres@127.0.0.1:5432")
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [db]).fetchone():
            conn.execute(f'CREATE DATABASE "{db}"')
    os.environ["DATABASE_URL"] = f"{base}/{db}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def _fill(cursor, table: str, given: list[str]) -> tuple[str, str]:
    """Columns that are NOT NULL without a database default and that the generator does not set
    (fields other slices may add): filled with a neutral value so the insert stays valid."""
    cursor.execute(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = %s "
        "AND is_nullable = 'NO' AND column_default IS NULL", [table])
    neutral = {"integer": "0", "bigint": "0", "smallint": "0", "boolean": "false", "jsonb": "'{}'::jsonb",
               "double precision": "0", "timestamp with time zone": "now()"}
    # Columns whose empty value a check constraint refuses: their Python-side default.
    known = {("annotation_labeller", "kind"): "'human'"}
    extra = [(c, known.get((table, c), neutral.get(t, "''"))) for c, t in cursor.fetchall() if c not in given and c != "id"]
    return "".join(f", {c}" for c, _ in extra), "".join(f", {v}" for _, v in extra)


def generate(name: str, n_pairs: int) -> None:
    from django.db import connection, transaction

    from annotation.models import Dataset

    Dataset.objects.filter(name=name).delete()
    ds = Dataset.objects.create(name=name, overlap_k=5)
    with transaction.atomic(), connection.cursor() as c:
        c.execute("SELECT setseed(0.42)")
        c.execute(f"""INSERT INTO auth_user (password, is_superuser, username, first_name, last_name, email, is_staff,
                      is_active, date_joined)
                      SELECT '!', false, 'bench-' || g, '', '', '', false, true, now() FROM generate_series(0, {N_LABELLERS - 1}) g
                      ON CONFLICT (username) DO NOTHING""")
        cols, vals = _fill(c, "annotation_labeller", ["user_id", "role", "locale", "expertise_tags", "metadata", "created_at"])
        c.execute(f"""INSERT INTO annotation_labeller (user_id, role, locale, expertise_tags, metadata, created_at{cols})
                      SELECT u.id, 'imported', (ARRAY['en-GB','en-US','de-DE','fr-FR'])[1 + (substr(u.username, 7)::int % 4)],
                             '[]'::jsonb, '{{}}'::jsonb, now(){vals}
                      FROM auth_user u WHERE u.username LIKE 'bench-%'
                      AND NOT EXISTS (SELECT 1 FROM annotation_labeller l WHERE l.user_id = u.id)""")
        # One prompt and two responses per pair; lengths 50-2000 characters.
        cols, vals = _fill(c, "annotation_prompt", ["dataset_id", "messages", "content_hash", "tags", "stated_belief", "metadata", "created_at"])
        c.execute(f"""INSERT INTO annotation_prompt (dataset_id, messages, content_hash, tags, stated_belief, metadata, created_at{cols})
                      SELECT {ds.pk}, jsonb_build_array(jsonb_build_object('role', 'user', 'content', 'Question ' || g || '?')),
                             md5('{name}p' || g), '[]'::jsonb, '', '{{}}'::jsonb, now(){vals}
                      FROM generate_series(0, {n_pairs - 1}) g""")
        cols, vals = _fill(c, "annotation_response", ["prompt_id", "text", "source", "metadata", "length_chars", "content_hash", "created_at"])
        c.execute(f"""INSERT INTO annotation_response (prompt_id, text, source, metadata, length_chars, content_hash, created_at{cols})
                      SELECT p.id, 'answer ' || s || ' to ' || p.id, (ARRAY{MODELS!r})[1 + ((p.id * 2 + s) % {len(MODELS)})],
                             '{{}}'::jsonb, 50 + floor(random() * 1950)::int, md5(p.id || '-' || s), now(){vals}
                      FROM annotation_prompt p CROSS JOIN generate_series(0, 1) s WHERE p.dataset_id = {ds.pk}""")
        cols, vals = _fill(c, "annotation_pair", ["dataset_id", "prompt_id", "response_a_id", "response_b_id", "origin", "origin_run",
                                                  "external_id", "content_hash", "gold", "agrees_with_user", "n_judgements", "created_at"])
        c.execute(f"""INSERT INTO annotation_pair (dataset_id, prompt_id, response_a_id, response_b_id, origin, origin_run, external_id,
                             content_hash, gold, agrees_with_user, n_judgements, created_at{cols})
                      SELECT {ds.pk}, p.id, min(r.id), max(r.id), 'imported', '', '', md5('{name}' || p.id), '', '', 5, now(){vals}
                      FROM annotation_prompt p JOIN annotation_response r ON r.prompt_id = p.id
                      WHERE p.dataset_id = {ds.pk} GROUP BY p.id""")
        # The hidden truth per pair: the better side (the longer one 60% of the time).
        c.execute(f"""CREATE TEMP TABLE truth ON COMMIT DROP AS
                      SELECT p.id AS pair_id, row_number() OVER (ORDER BY p.id) - 1 AS k,
                             CASE WHEN (ra.length_chars >= rb.length_chars) = (random() < 0.6) THEN 'a' ELSE 'b' END AS better,
                             CASE WHEN ra.length_chars >= rb.length_chars THEN 'a' ELSE 'b' END AS longer
                      FROM annotation_pair p JOIN annotation_response ra ON ra.id = p.response_a_id
                      JOIN annotation_response rb ON rb.id = p.response_b_id WHERE p.dataset_id = {ds.pk}""")
        c.execute("""UPDATE annotation_pair p SET gold = CASE WHEN random() < 0.05 THEN t.better ELSE '' END,
                         agrees_with_user = CASE WHEN random() < 0.10 THEN (ARRAY['a','b'])[1 + floor(random() * 2)::int] ELSE '' END
                      FROM truth t WHERE t.pair_id = p.id""")
        cols, vals = _fill(c, "annotation_judgement", [
            "pair_id", "labeller_id", "choice", "strength", "rationale", "flags", "shown_left", "time_ms", "created_at",
            "is_repeat", "idempotency_key", "revision_of_id", "superseded", "source", "import_batch_id"])
        # Five labellers per pair (distinct: steps of 101 modulo 500); their kind comes from their number.
        c.execute(f"""CREATE TEMP TABLE draws ON COMMIT DROP AS
                      SELECT t.pair_id, t.better, t.longer, l.id AS labeller_id, substr(u.username, 7)::int AS who,
                             CASE WHEN random() < 0.5 THEN 'a' ELSE 'b' END AS left_side, random() AS u1, random() AS u2
                      FROM truth t CROSS JOIN generate_series(0, 4) j
                      JOIN auth_user u ON u.username = 'bench-' || ((t.k * 7 + j * 101) % {N_LABELLERS})
                      JOIN annotation_labeller l ON l.user_id = u.id""")
        choice = """CASE WHEN who < 10 AND u1 < 0.8 THEN left_side
                         WHEN who BETWEEN 10 AND 19 AND u1 < 0.8 THEN longer
                         WHEN who BETWEEN 20 AND 29 THEN (ARRAY['a','b','tie','both_bad'])[1 + floor(u1 * 4)::int]
                         WHEN u2 < 0.8 THEN better WHEN u2 < 0.9 THEN 'tie'
                         WHEN better = 'a' THEN 'b' ELSE 'a' END"""
        c.execute(f"""INSERT INTO annotation_judgement (pair_id, labeller_id, choice, strength, rationale, flags, shown_left, time_ms,
                             created_at, is_repeat, idempotency_key, revision_of_id, superseded, source, import_batch_id{cols})
                      SELECT pair_id, labeller_id, {choice}, NULL, '', '{{}}'::jsonb, left_side,
                             CASE WHEN who BETWEEN 30 AND 39 THEN 1000 + floor(random() * 2000)::int
                                  ELSE 20000 + floor(random() * 100000)::int END,
                             timestamptz '2026-01-05' + random() * interval '90 days', false, '', NULL, false, 'import', NULL{vals}
                      FROM draws""")
        c.execute(f"""INSERT INTO annotation_judgement (pair_id, labeller_id, choice, strength, rationale, flags, shown_left, time_ms,
                             created_at, is_repeat, idempotency_key, revision_of_id, superseded, source, import_batch_id{cols})
                      SELECT j.pair_id, j.labeller_id,
                             CASE WHEN random() < 0.85 THEN j.choice ELSE (ARRAY['a','b','tie'])[1 + floor(random() * 3)::int] END,
                             NULL, '', '{{}}'::jsonb, j.shown_left, j.time_ms, j.created_at + interval '1 day', true, '', NULL, false,
                             'import', NULL{vals}
                      FROM annotation_judgement j JOIN annotation_pair p ON p.id = j.pair_id
                      WHERE p.dataset_id = {ds.pk} AND random() < 0.03""")
    with connection.cursor() as c:
        c.execute("ANALYZE")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", default="arbiter_bench_audit")
    parser.add_argument("--regenerate", action="store_true", help="Drop and regenerate the datasets.")
    parser.add_argument("--repeat", type=int, default=2, help="Timed runs per size; the best is reported.")
    parser.add_argument("--sizes", nargs="+", choices=list(SIZES), default=list(SIZES),
                        help="Which datasets to time (default: both; bench-100k alone takes well under a minute).")
    args = parser.parse_args()
    setup(args.db)
    from annotation.audit.data import audit_data_load
    from annotation.audit.report import audit_from_data
    from annotation.models import Dataset, Judgement

    results = {}
    for name in args.sizes:
        n_pairs = SIZES[name]
        if args.regenerate or not Dataset.objects.filter(name=name).exists():
            started = time.perf_counter()
            generate(name, n_pairs)
            print(f"generated {name}: {n_pairs:,} pairs in {time.perf_counter() - started:.1f} s", flush=True)
        ds = Dataset.objects.get(name=name)
        n = Judgement.objects.filter(pair__dataset=ds, is_repeat=False).count()
        runs = []
        for _ in range(args.repeat):
            # The full uncached audit (what report.audit_compute does), timed in its two phases.
            wall0, cpu0 = time.perf_counter(), time.process_time()
            data = audit_data_load(dataset_id=ds.pk)
            wall1 = time.perf_counter()
            report = audit_from_data(data)
            wall2, cpu2 = time.perf_counter(), time.process_time()
            runs.append((wall2 - wall0, wall1 - wall0, wall2 - wall1, cpu2 - cpu0))
        best = min(runs)
        flagged = {f["rule"] for row in report["labellers"] for f in row["flags"]}
        results[name] = (n, best[0])
        print(f"{name}: {n:,} judgements, audit {best[0]:.2f} s (load {best[1]:.2f} s + statistics {best[2]:.2f} s; "
              f"Python CPU {best[3]:.2f} s; all runs: {', '.join(f'{r[0]:.2f}' for r in runs)}), "
              f"load average {os.getloadavg()[0]:.2f}; Fleiss {report['agreement']['fleiss_kappa']['value']:.3f}, "
              f"flag rules fired: {sorted(flagged)}", flush=True)
    if len(results) < 2:
        return
    (n1, t1), (n2, t2) = results["bench-100k"], results["bench-1m"]
    print(f"ratio 1M/100k: {t2 / t1:.2f}x time for {n2 / n1:.1f}x judgements; load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
