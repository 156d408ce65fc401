"""The queue's hot path in SQL: each loop of a labeller ("next pair", "submit") runs these few
statements, and building them with the ORM cost several times more CPU than running them.

Every function runs inside the caller's transaction and keeps the rule services.py describes: a
pair's slots (n_judgements, n_leased) change only under that pair's row lock. On PostgreSQL the
locks are taken here (FOR UPDATE ... SKIP LOCKED, FOR UPDATE OF); on SQLite every write transaction
is BEGIN IMMEDIATE (settings), so the same statements run one transaction at a time.
"""
import json
from datetime import datetime, timezone as dt_timezone

from django.contrib.auth import get_user_model
from django.db import connection
from django.utils.dateparse import parse_datetime

from rest_framework.authtoken.models import Token

from annotation.models import Assignment, Dataset, Judgement, Labeller, Pair, Prompt, Response

PAIR = Pair._meta.db_table
ASSIGNMENT = Assignment._meta.db_table
JUDGEMENT = Judgement._meta.db_table
DATASET = Dataset._meta.db_table
MEMBERSHIP = Dataset.labellers.through._meta.db_table
PROMPT = Prompt._meta.db_table
RESPONSE = Response._meta.db_table
ACTIVE, COMPLETED, SKIPPED = Assignment.Status.ACTIVE.value, Assignment.Status.COMPLETED.value, Assignment.Status.SKIPPED.value
APP = Judgement.Source.APP.value


def _postgres() -> bool:
    return connection.vendor == "postgresql"


def _db_datetime(value: datetime):
    """A datetime as the backend stores it (SQLite: naive UTC text, compared as text)."""
    return connection.ops.adapt_datetimefield_value(value)


def aware(value) -> datetime:
    """A datetime read by raw SQL as an aware datetime (SQLite returns naive UTC or text)."""
    if isinstance(value, str):
        value = parse_datetime(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt_timezone.utc)
    return value


def json_value(value):
    """A JSON column read by raw SQL (Django has psycopg return jsonb as text, as SQLite does)."""
    return json.loads(value) if isinstance(value, (str, bytes)) else value


def membership_lock(*, labeller_id: int, dataset_id: int) -> tuple | None:
    """Locks the labeller's membership of the dataset (serialising one labeller's queue requests in
    it) and returns the dataset's (overlap_k, repeat_rate, gold_rate, lease_minutes), or None when
    the labeller is not assigned to it."""
    lock = " FOR UPDATE OF m" if _postgres() else ""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT d.overlap_k, d.repeat_rate, d.gold_rate, d.lease_minutes FROM {MEMBERSHIP} m "
            f"JOIN {DATASET} d ON d.id = m.dataset_id WHERE m.dataset_id = %s AND m.labeller_id = %s{lock}",
            [dataset_id, labeller_id],
        )
        return cursor.fetchone()


def active_lease_id(*, labeller_id: int, dataset_id: int, now: datetime) -> int | None:
    """The labeller's oldest unexpired active lease in the dataset."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT a.id FROM {ASSIGNMENT} a JOIN {PAIR} p ON p.id = a.pair_id "
            "WHERE a.labeller_id = %s AND p.dataset_id = %s AND a.status = %s AND a.expires_at > %s "
            "ORDER BY a.created_at LIMIT 1",
            [labeller_id, dataset_id, ACTIVE, _db_datetime(now)],
        )
        row = cursor.fetchone()
    return row[0] if row else None


# The open pair closest to overlap_k that the labeller has not judged, is not leasing and did not
# skip (the same rule as selectors.pairs_open_to); the ORDER BY expression is the pair_queue_order
# index's, so the query walks that index from the fullest open pair down.
_OPEN_PAIR = (
    f"SELECT p.id FROM {PAIR} p WHERE p.dataset_id = %s AND p.gold = '' "
    "AND p.n_judgements + p.n_leased < %s "
    f"AND NOT EXISTS (SELECT 1 FROM {JUDGEMENT} j WHERE j.pair_id = p.id AND j.labeller_id = %s "
    "AND j.is_repeat = %s AND j.revision_of_id IS NULL) "
    f"AND NOT EXISTS (SELECT 1 FROM {ASSIGNMENT} s WHERE s.pair_id = p.id AND s.labeller_id = %s "
    "AND s.status IN (%s, %s)) "
    "ORDER BY p.n_judgements + p.n_leased DESC, p.id DESC LIMIT 1"
)
_INSERT_LEASE = (
    f"INSERT INTO {ASSIGNMENT} (pair_id, labeller_id, status, shown_left, is_repeat, is_gold, skip_reason, "
    "judgement_id, created_at, expires_at) "
)


def lease_open_pair(
    *, labeller_id: int, dataset_id: int, overlap_k: int, shown_left: str, created_at, expires_at
) -> int | None:
    """Leases the open pair closest to overlap_k to the labeller, taking one of its slots; returns
    the new lease's id, or None when no pair is open to them (or all open ones are being leased by
    others right now: on PostgreSQL locked pairs are skipped, not waited for).

    On PostgreSQL this is one statement: pick and lock the pair, bump n_leased, insert the lease.
    After the lock, PostgreSQL re-checks `n_judgements + n_leased < overlap_k` on the newest row
    version, so a pair whose last slot another transaction just took is not returned."""
    open_params = [dataset_id, overlap_k, labeller_id, False, labeller_id, ACTIVE, SKIPPED]
    lease_values = [labeller_id, ACTIVE, shown_left, False, False, "", None, _db_datetime(created_at), _db_datetime(expires_at)]
    with connection.cursor() as cursor:
        if _postgres():
            cursor.execute(
                f"WITH picked AS ({_OPEN_PAIR} FOR UPDATE OF p SKIP LOCKED), "
                f"bumped AS (UPDATE {PAIR} SET n_leased = n_leased + 1 WHERE id = (SELECT id FROM picked) RETURNING id) "
                f"{_INSERT_LEASE} SELECT bumped.id, %s, %s, %s, %s, %s, %s, %s, %s, %s FROM bumped RETURNING id",
                open_params + lease_values,
            )
            row = cursor.fetchone()
            return row[0] if row else None
        cursor.execute(_OPEN_PAIR, open_params)
        row = cursor.fetchone()
        if row is None:
            return None
        return insert_lease(cursor, pair_id=row[0], values=lease_values, holds_slot=True)


def lease_pair(
    *, pair_id: int, labeller_id: int, shown_left: str, is_repeat: bool, is_gold: bool, created_at, expires_at
) -> int:
    """Leases a chosen pair (a planned repeat or a gold check, which take no slot)."""
    values = [labeller_id, ACTIVE, shown_left, is_repeat, is_gold, "", None, _db_datetime(created_at), _db_datetime(expires_at)]
    with connection.cursor() as cursor:
        return insert_lease(cursor, pair_id=pair_id, values=values, holds_slot=not is_repeat and not is_gold)


def insert_lease(cursor, *, pair_id: int, values: list, holds_slot: bool) -> int:
    if holds_slot:
        cursor.execute(f"UPDATE {PAIR} SET n_leased = n_leased + 1 WHERE id = %s", [pair_id])
    cursor.execute(f"{_INSERT_LEASE} VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id", [pair_id] + values)
    return cursor.fetchone()[0]


def repeat_due_pair_id(*, labeller_id: int, dataset_id: int, gap: int) -> int | None:
    """The pair of the labeller's oldest first judgement in the dataset made before their last
    `gap` judgements there, that they have neither repeated nor been leased as a repeat (the lease
    active or skipped)."""
    mine = (f"FROM {JUDGEMENT} {{j}} JOIN {PAIR} {{p}} ON {{p}}.id = {{j}}.pair_id "
            "WHERE {j}.labeller_id = %s AND {p}.dataset_id = %s AND {j}.source = %s")
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT j.pair_id {mine.format(j='j', p='p')} AND j.is_repeat = %s AND j.revision_of_id IS NULL "
            f"AND j.created_at < (SELECT g.created_at {mine.format(j='g', p='gp')} "
            "ORDER BY g.created_at DESC LIMIT 1 OFFSET %s) "
            f"AND NOT EXISTS (SELECT 1 FROM {JUDGEMENT} r WHERE r.pair_id = j.pair_id AND r.labeller_id = %s "
            "AND r.is_repeat = %s) "
            f"AND NOT EXISTS (SELECT 1 FROM {ASSIGNMENT} a WHERE a.pair_id = j.pair_id AND a.labeller_id = %s "
            "AND a.is_repeat = %s AND a.status IN (%s, %s)) "
            "ORDER BY j.created_at LIMIT 1",
            [labeller_id, dataset_id, APP, False, labeller_id, dataset_id, APP, gap - 1,
             labeller_id, True, labeller_id, True, ACTIVE, SKIPPED],
        )
        row = cursor.fetchone()
    return row[0] if row else None


def lease_lock(*, labeller_id: int, assignment_id: int) -> tuple[Assignment, Dataset] | None:
    """Locks the labeller's lease and returns it with its dataset's judging rules, or None when the
    lease is not theirs or they are no longer assigned to its dataset."""
    lock = " FOR UPDATE OF a" if _postgres() else ""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT a.status, a.pair_id, a.shown_left, a.is_repeat, a.is_gold, a.created_at, "
            "d.id, d.overlap_k, d.choices, d.strength_scale "
            f"FROM {ASSIGNMENT} a JOIN {PAIR} p ON p.id = a.pair_id JOIN {DATASET} d ON d.id = p.dataset_id "
            f"WHERE a.id = %s AND a.labeller_id = %s AND EXISTS (SELECT 1 FROM {MEMBERSHIP} m "
            f"WHERE m.dataset_id = d.id AND m.labeller_id = %s){lock}",
            [assignment_id, labeller_id, labeller_id],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    status, pair_id, shown_left, is_repeat, is_gold, created_at, dataset_id, overlap_k, choices, strength_scale = row
    lease = Assignment(
        id=assignment_id, labeller_id=labeller_id, pair_id=pair_id, status=status, shown_left=shown_left,
        is_repeat=bool(is_repeat), is_gold=bool(is_gold), created_at=aware(created_at),
    )
    dataset = Dataset(id=dataset_id, overlap_k=overlap_k, choices=json_value(choices),
                      strength_scale=json_value(strength_scale))
    return lease, dataset


def pair_slots_change(*, pair_id: int, judgements: int, leased: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {PAIR} SET n_judgements = n_judgements + %s, n_leased = n_leased + %s WHERE id = %s",
            [judgements, leased, pair_id],
        )


def judgement_insert_for_lease(*, lease: Assignment, labeller, fields: dict) -> Judgement:
    """Inserts the labeller's judgement of their leased pair and marks the lease completed. `fields`
    are the judgement's cleaned choice, strength, rationale, flags, time_ms, created_at and
    idempotency_key. A second first judgement of the pair, or a reused idempotency key, fails on
    the table's unique constraints (IntegrityError), as Judgement.objects.create would."""
    judgement = Judgement(pair_id=lease.pair_id, labeller=labeller, shown_left=lease.shown_left,
                          is_repeat=lease.is_repeat, **fields)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {JUDGEMENT} (pair_id, labeller_id, choice, strength, rationale, flags, shown_left, time_ms, "
            "created_at, is_repeat, idempotency_key, revision_of_id, superseded, source, import_batch_id) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, NULL, %s, %s, NULL) RETURNING id",
            [judgement.pair_id, labeller.pk, judgement.choice, judgement.strength, judgement.rationale,
             connection.ops.adapt_json_value(judgement.flags, None), judgement.shown_left, judgement.time_ms,
             _db_datetime(judgement.created_at), judgement.is_repeat, judgement.idempotency_key, False,
             APP],
        )
        judgement.pk = cursor.fetchone()[0]
        cursor.execute(f"UPDATE {ASSIGNMENT} SET status = %s, judgement_id = %s WHERE id = %s",
                       [COMPLETED, judgement.pk, lease.pk])
    judgement._state.adding = False
    return judgement


def lease_display(*, assignment_id: int) -> dict | None:
    """What the API shows of a lease: the conversation and the two responses in left/right order."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT a.pair_id, a.expires_at, a.shown_left, pr.messages, ra.text, rb.text "
            f"FROM {ASSIGNMENT} a JOIN {PAIR} p ON p.id = a.pair_id JOIN {PROMPT} pr ON pr.id = p.prompt_id "
            f"JOIN {RESPONSE} ra ON ra.id = p.response_a_id JOIN {RESPONSE} rb ON rb.id = p.response_b_id "
            "WHERE a.id = %s",
            [assignment_id],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    pair_id, expires_at, shown_left, messages, text_a, text_b = row
    sides = {"a": {"side": "a", "text": text_a}, "b": {"side": "b", "text": text_b}}
    return {
        "id": assignment_id, "pair_id": pair_id, "expires_at": aware(expires_at), "messages": json_value(messages),
        "left": sides[shown_left], "right": sides["b" if shown_left == "a" else "a"],
    }


def token_user(*, key: str):
    """(user, token) for an API token, with the user's labeller profile attached (or None when the
    account has none), in one query; None when no such token exists."""
    user_model = get_user_model()
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT u.id, u.is_active, l.id FROM {Token._meta.db_table} t JOIN {user_model._meta.db_table} u "
            f"ON u.id = t.user_id LEFT JOIN {Labeller._meta.db_table} l ON l.user_id = u.id WHERE t.key = %s",
            [key],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    user_id, is_active, labeller_id = row
    # Only the fields the API uses are loaded; any other is fetched on first access, as deferred.
    user = user_model.from_db(connection.alias, ["id", "is_active"], [user_id, bool(is_active)])
    if labeller_id is not None:
        user.labeller = Labeller.from_db(connection.alias, ["id", "user_id"], [labeller_id, user_id])
    return user, Token(key=key, user=user)
