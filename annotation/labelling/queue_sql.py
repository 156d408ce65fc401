"""The queue's hot path in SQL: each loop of a labeller ("next pair", "submit") runs these few
statements, and building them with the ORM cost several times more CPU than running them.

Every function keeps the rule services.py describes: a pair's slots (n_judgements, n_leased) change
only under that pair's row lock. On PostgreSQL the locks are taken here (FOR UPDATE ... SKIP LOCKED,
FOR UPDATE OF); on SQLite every write transaction is BEGIN IMMEDIATE (settings), so the same
statements run one transaction at a time. The functions run in the caller's transaction, except
judgement_insert_for_lease, which is atomic on its own (a conditional write: see its docstring).
The two calls of a labeller's loop take six round trips in all on PostgreSQL (docs/benchmarks.md).
"""
import json
from datetime import datetime, timedelta, timezone as dt_timezone

from django.contrib.auth import get_user_model
from django.db import connection, transaction
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
# Statuses are written into the SQL, not passed as parameters: a prepared statement's generic plan
# can then use the partial indexes on active leases.
ACTIVE, COMPLETED, SKIPPED = Assignment.Status.ACTIVE.value, Assignment.Status.COMPLETED.value, Assignment.Status.SKIPPED.value
APP = Judgement.Source.APP.value


def _postgres() -> bool:
    return connection.vendor == "postgresql"


def _cursor(slot: int = 0):
    """A cursor for the queue's statements, kept for the database connection's life (`slot` tells
    apart the cursors of statements sent together, see _pipelined).

    On PostgreSQL it binds parameters on the server, so each statement is prepared once per
    connection (settings: prepare_threshold) and then only executed: planning the pick-and-lease
    statement took longer than running it. Django's other cursors bind on the client and are never
    prepared. Do not close it (no `with`): the next statement reuses it."""
    connection.ensure_connection()
    raw_connection = connection.connection
    kept = getattr(connection, "_queue_cursors", None)
    if kept is None or kept[0] is not raw_connection:
        kept = connection._queue_cursors = (raw_connection, {})
    if slot not in kept[1]:
        if _postgres():
            from django.db.backends.postgresql.base import ServerBindingCursor

            kept[1][slot] = ServerBindingCursor(raw_connection)
        else:
            kept[1][slot] = connection.create_cursor()
    with connection.wrap_database_errors:
        # The wrapper Django puts around its own cursors: errors as django.db exceptions,
        # statements logged under DEBUG.
        return connection._prepare_cursor(kept[1][slot])


def _fetchone(sql: str, params: list) -> tuple | None:
    cursor = _cursor()
    cursor.execute(sql, params)
    return cursor.fetchone()


def _execute(sql: str, params: list) -> None:
    _cursor().execute(sql, params)


def _pipelined(statements: list[tuple[str, list]]) -> list[tuple | None]:
    """PostgreSQL: sends the statements (and a BEGIN the transaction still owes) at once and reads
    their results together, one round trip instead of one each. The server still runs them one
    after the other, each with its own snapshot, so they mean what they would mean sent apart."""
    cursors = [_cursor(slot) for slot in range(len(statements))]
    with connection.wrap_database_errors, connection.connection.pipeline():
        for cursor, (sql, params) in zip(cursors, statements):
            cursor.execute(sql, params)
    return [cursor.fetchone() for cursor in cursors]


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


def _membership_lock_statement(*, labeller_id: int, dataset_id: int) -> tuple[str, list]:
    lock = " FOR UPDATE OF m" if _postgres() else ""
    return (
        f"SELECT d.overlap_k, d.repeat_rate, d.gold_rate, d.lease_minutes FROM {MEMBERSHIP} m "
        f"JOIN {DATASET} d ON d.id = m.dataset_id WHERE m.dataset_id = %s AND m.labeller_id = %s{lock}",
        [dataset_id, labeller_id],
    )


def membership_lock(*, labeller_id: int, dataset_id: int) -> tuple | None:
    """Locks the labeller's membership of the dataset (serialising one labeller's queue requests in
    it) and returns the dataset's (overlap_k, repeat_rate, gold_rate, lease_minutes), or None when
    the labeller is not assigned to it."""
    return _fetchone(*_membership_lock_statement(labeller_id=labeller_id, dataset_id=dataset_id))


# The labeller's oldest unexpired active lease in the dataset.
_CURRENT_LEASE = (
    f"SELECT a.id FROM {ASSIGNMENT} a JOIN {PAIR} p ON p.id = a.pair_id "
    f"WHERE a.labeller_id = %s AND p.dataset_id = %s AND a.status = '{ACTIVE}' AND a.expires_at > %s "
    "ORDER BY a.created_at LIMIT 1"
)


def active_lease_id(*, labeller_id: int, dataset_id: int, now: datetime) -> int | None:
    row = _fetchone(_CURRENT_LEASE, [labeller_id, dataset_id, _db_datetime(now)])
    return row[0] if row else None


# The open pair closest to overlap_k that the labeller has not judged, is not leasing and did not
# skip (the same rule as selectors.pairs_open_to); the ORDER BY expression is the pair_queue_order
# index's, so the query walks that index from the fullest open pair down. A pair a reviewer sent
# back wants extra_overlap more judgements than overlap_k: its slots left are
# overlap_k - (n_judgements + n_leased - extra_overlap).
_OPEN_PAIR_WHERE = (
    f"FROM {PAIR} p WHERE p.dataset_id = %s AND p.gold = '' "
    "AND p.n_judgements + p.n_leased - p.extra_overlap < {overlap_k} "
    f"AND NOT EXISTS (SELECT 1 FROM {JUDGEMENT} j WHERE j.pair_id = p.id AND j.labeller_id = %s "
    "AND j.is_repeat = false AND j.revision_of_id IS NULL) "
    f"AND NOT EXISTS (SELECT 1 FROM {ASSIGNMENT} s WHERE s.pair_id = p.id AND s.labeller_id = %s "
    f"AND s.status IN ('{ACTIVE}', '{SKIPPED}')) "
)
_OPEN_PAIR_ORDER = "ORDER BY p.n_judgements + p.n_leased - p.extra_overlap DESC, p.id DESC LIMIT 1"
_INSERT_LEASE = (
    f"INSERT INTO {ASSIGNMENT} (pair_id, labeller_id, status, shown_left, is_repeat, is_gold, skip_reason, "
    "judgement_id, created_at, expires_at) "
)
# What the API shows of a lease `l` (id, pair_id, shown_left, expires_at): see lease_shown.
_SHOWN = (
    "SELECT l.id, l.pair_id, l.expires_at, l.shown_left, pr.messages, ra.text, rb.text "
    f"FROM {{lease}} JOIN {PAIR} p ON p.id = l.pair_id JOIN {PROMPT} pr ON pr.id = p.prompt_id "
    f"JOIN {RESPONSE} ra ON ra.id = p.response_a_id JOIN {RESPONSE} rb ON rb.id = p.response_b_id"
)
# PostgreSQL: the current lease or, when there is none and no planned repeat or gold check was
# drawn, a new lease of the open pair closest to overlap_k, as shown, in one statement that reads
# the dataset's rules itself. The new lease's pair is picked and locked skipping pairs other
# labellers are leasing right now; after the lock PostgreSQL re-checks
# `n_judgements + n_leased - extra_overlap < overlap_k` on the newest row version, so a pair whose
# last slot another transaction just took is not returned.
_CURRENT_OR_NEW_LEASE_SHOWN = (
    f"WITH rules AS (SELECT overlap_k, lease_minutes, repeat_rate, gold_rate FROM {DATASET} WHERE id = %s), "
    f"current_lease AS ({_CURRENT_LEASE}), "
    f"picked AS (SELECT p.id {_OPEN_PAIR_WHERE.format(overlap_k='(SELECT overlap_k FROM rules)')} "
    "AND NOT EXISTS (SELECT 1 FROM current_lease) "
    "AND %s >= (SELECT repeat_rate FROM rules) AND %s >= (SELECT gold_rate FROM rules) "
    f"AND EXISTS (SELECT 1 FROM {MEMBERSHIP} m WHERE m.dataset_id = p.dataset_id AND m.labeller_id = %s) "
    f"{_OPEN_PAIR_ORDER} FOR UPDATE OF p SKIP LOCKED), "
    f"bumped AS (UPDATE {PAIR} SET n_leased = n_leased + 1 WHERE id = (SELECT id FROM picked) RETURNING id), "
    f"leased AS ({_INSERT_LEASE} SELECT bumped.id, %s, '{ACTIVE}', %s, false, false, '', NULL, %s, "
    "%s + (SELECT lease_minutes FROM rules) * interval '1 minute' FROM bumped "
    "RETURNING id, pair_id, shown_left, expires_at), "
    "lease AS (SELECT id, pair_id, shown_left, expires_at FROM leased UNION ALL "
    f"SELECT a.id, a.pair_id, a.shown_left, a.expires_at FROM {ASSIGNMENT} a WHERE a.id = (SELECT id FROM current_lease)) "
    + _SHOWN.format(lease="lease l")
)


def _current_or_new_lease_params(*, labeller_id, dataset_id, shown_left, created_at, now, repeat_draw, gold_draw):
    return [
        dataset_id,
        labeller_id, dataset_id, _db_datetime(now),
        dataset_id, labeller_id, labeller_id, repeat_draw, gold_draw, labeller_id,
        labeller_id, shown_left, _db_datetime(created_at), _db_datetime(now),
    ]


def lease_current_or_open_pair(
    *, labeller_id: int, dataset_id: int, shown_left: str, created_at, now,
    repeat_draw: float = 1.0, gold_draw: float = 1.0,
) -> dict | None:
    """The labeller's current lease in the dataset or, when they have none, a new lease of the open
    pair closest to overlap_k (taking one of its slots), as lease_shown returns it. None when they
    have no lease and either a planned repeat or gold check was drawn (a draw below the dataset's
    repeat_rate or gold_rate: the caller looks for one) or no pair is open to them (or all open ones
    are being leased by others right now: on PostgreSQL locked pairs are skipped, not waited for).
    The lease lasts the dataset's lease_minutes from `now`."""
    if _postgres():
        row = _fetchone(_CURRENT_OR_NEW_LEASE_SHOWN, _current_or_new_lease_params(
            labeller_id=labeller_id, dataset_id=dataset_id, shown_left=shown_left, created_at=created_at, now=now,
            repeat_draw=repeat_draw, gold_draw=gold_draw,
        ))
        return None if row is None else _shown(row)
    settings = _fetchone(f"SELECT overlap_k, repeat_rate, gold_rate, lease_minutes FROM {DATASET} WHERE id = %s",
                         [dataset_id])
    return _current_or_open_in_steps(settings=settings, labeller_id=labeller_id, dataset_id=dataset_id,
                                     shown_left=shown_left, created_at=created_at, now=now,
                                     repeat_draw=repeat_draw, gold_draw=gold_draw)


def _current_or_open_in_steps(*, settings, labeller_id, dataset_id, shown_left, created_at, now, repeat_draw, gold_draw):
    """SQLite: lease_current_or_open_pair in three statements, with the dataset's settings already read
    (the transaction is BEGIN IMMEDIATE: no other writer runs in between)."""
    overlap_k, repeat_rate, gold_rate, lease_minutes = settings
    lease_id = active_lease_id(labeller_id=labeller_id, dataset_id=dataset_id, now=now)
    if lease_id is None and repeat_draw >= repeat_rate and gold_draw >= gold_rate:
        lease_id = lease_open_pair(labeller_id=labeller_id, dataset_id=dataset_id, overlap_k=overlap_k,
                                   shown_left=shown_left, created_at=created_at,
                                   expires_at=now + timedelta(minutes=lease_minutes))
    return None if lease_id is None else lease_shown(assignment_id=lease_id)


def membership_lock_and_lease(
    *, labeller_id: int, dataset_id: int, shown_left: str, created_at, now, repeat_draw: float, gold_draw: float
) -> tuple[tuple | None, dict | None]:
    """membership_lock, then lease_current_or_open_pair in a statement of its own (it sees what
    committed while the lock was awaited): (the dataset's settings or None when the labeller is not
    assigned to it, the lease shown or None). Runs in the caller's transaction; on PostgreSQL both
    statements go in one round trip (_pipelined)."""
    lease_args = dict(labeller_id=labeller_id, dataset_id=dataset_id, shown_left=shown_left, created_at=created_at,
                      now=now, repeat_draw=repeat_draw, gold_draw=gold_draw)
    if not _postgres():
        settings = membership_lock(labeller_id=labeller_id, dataset_id=dataset_id)
        return settings, None if settings is None else _current_or_open_in_steps(settings=settings, **lease_args)
    settings, row = _pipelined([
        _membership_lock_statement(labeller_id=labeller_id, dataset_id=dataset_id),
        (_CURRENT_OR_NEW_LEASE_SHOWN, _current_or_new_lease_params(**lease_args)),
    ])
    return settings, None if settings is None or row is None else _shown(row)


def lease_open_pair(
    *, labeller_id: int, dataset_id: int, overlap_k: int, shown_left: str, created_at, expires_at
) -> int | None:
    """Leases the open pair closest to overlap_k to the labeller, taking one of its slots; returns
    the new lease's id, or None when no pair is open to them. On SQLite every write transaction runs
    alone (BEGIN IMMEDIATE), so reading the pair and then taking its slot is exact."""
    open_params = [dataset_id, overlap_k, labeller_id, labeller_id]
    lease_values = [labeller_id, ACTIVE, shown_left, False, False, "", None, _db_datetime(created_at), _db_datetime(expires_at)]
    lock = " FOR UPDATE OF p SKIP LOCKED" if _postgres() else ""
    row = _fetchone(f"SELECT p.id {_OPEN_PAIR_WHERE.format(overlap_k='%s')}{_OPEN_PAIR_ORDER}{lock}", open_params)
    if row is None:
        return None
    return insert_lease(pair_id=row[0], values=lease_values, holds_slot=True)


def lease_pair(
    *, pair_id: int, labeller_id: int, shown_left: str, is_repeat: bool, is_gold: bool, created_at, expires_at
) -> int:
    """Leases a chosen pair (a planned repeat or a gold check, which take no slot)."""
    values = [labeller_id, ACTIVE, shown_left, is_repeat, is_gold, "", None, _db_datetime(created_at), _db_datetime(expires_at)]
    return insert_lease(pair_id=pair_id, values=values, holds_slot=not is_repeat and not is_gold)


def insert_lease(*, pair_id: int, values: list, holds_slot: bool) -> int:
    if holds_slot:
        _execute(f"UPDATE {PAIR} SET n_leased = n_leased + 1 WHERE id = %s", [pair_id])
    return _fetchone(f"{_INSERT_LEASE} VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id", [pair_id] + values)[0]


def repeat_due_pair_id(*, labeller_id: int, dataset_id: int, gap: int) -> int | None:
    """The pair of the labeller's oldest first judgement in the dataset made before their last
    `gap` judgements there, that they have neither repeated nor been leased as a repeat (the lease
    active or skipped)."""
    mine = (f"FROM {JUDGEMENT} {{j}} JOIN {PAIR} {{p}} ON {{p}}.id = {{j}}.pair_id "
            "WHERE {j}.labeller_id = %s AND {p}.dataset_id = %s AND {j}.source = %s")
    row = _fetchone(
        f"SELECT j.pair_id {mine.format(j='j', p='p')} AND j.is_repeat = %s AND j.revision_of_id IS NULL "
        f"AND j.created_at < (SELECT g.created_at {mine.format(j='g', p='gp')} "
        "ORDER BY g.created_at DESC LIMIT 1 OFFSET %s) "
        f"AND NOT EXISTS (SELECT 1 FROM {JUDGEMENT} r WHERE r.pair_id = j.pair_id AND r.labeller_id = %s "
        "AND r.is_repeat = %s) "
        f"AND NOT EXISTS (SELECT 1 FROM {ASSIGNMENT} a WHERE a.pair_id = j.pair_id AND a.labeller_id = %s "
        f"AND a.is_repeat = %s AND a.status IN ('{ACTIVE}', '{SKIPPED}')) "
        "ORDER BY j.created_at LIMIT 1",
        [labeller_id, dataset_id, APP, False, labeller_id, dataset_id, APP, gap - 1,
         labeller_id, True, labeller_id, True],
    )
    return row[0] if row else None


def lease_lock(*, labeller_id: int, assignment_id: int, lock: bool = True) -> tuple[Assignment, Dataset] | None:
    """Locks the labeller's lease (only reads it when `lock` is false) and returns it with its
    dataset's judging rules, or None when the lease is not theirs or they are no longer assigned to
    its dataset."""
    lock = " FOR UPDATE OF a" if lock and _postgres() else ""
    row = _fetchone(
        "SELECT a.status, a.pair_id, a.shown_left, a.is_repeat, a.is_gold, a.created_at, "
        "d.id, d.overlap_k, d.choices, d.strength_scale "
        f"FROM {ASSIGNMENT} a JOIN {PAIR} p ON p.id = a.pair_id JOIN {DATASET} d ON d.id = p.dataset_id "
        f"WHERE a.id = %s AND a.labeller_id = %s AND EXISTS (SELECT 1 FROM {MEMBERSHIP} m "
        f"WHERE m.dataset_id = d.id AND m.labeller_id = %s){lock}",
        [assignment_id, labeller_id, labeller_id],
    )
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


_PAIR_SLOTS_CHANGE = f"UPDATE {PAIR} SET n_judgements = n_judgements + %s, n_leased = n_leased + %s WHERE id = %s"


def pair_slots_change(*, pair_id: int, judgements: int, leased: int) -> None:
    _execute(_PAIR_SLOTS_CHANGE, [judgements, leased, pair_id])


_JUDGEMENT_COLUMNS = (
    "(pair_id, labeller_id, choice, strength, rationale, flags, shown_left, time_ms, created_at, is_repeat, "
    "idempotency_key, revision_of_id, superseded, source, import_batch_id, ai_detail)"
)
_JUDGEMENT_VALUES = "%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, NULL, false, %s, NULL, '{}'"
_INSERT_JUDGEMENT = f"INSERT INTO {JUDGEMENT} {_JUDGEMENT_COLUMNS} VALUES ({_JUDGEMENT_VALUES}) RETURNING id"
# PostgreSQL: lock the lease if it still has the status it was read with, then (only then) count
# the judgement in the pair's slots, insert it and close the lease, in one statement.
_JUDGE_LEASE = (
    f"WITH lease AS (SELECT id FROM {ASSIGNMENT} WHERE id = %s AND status = %s FOR UPDATE), "
    f"slots AS (UPDATE {PAIR} SET n_judgements = n_judgements + %s, n_leased = n_leased + %s "
    "WHERE id = %s AND EXISTS (SELECT 1 FROM lease)), "
    f"judged AS (INSERT INTO {JUDGEMENT} {_JUDGEMENT_COLUMNS} SELECT {_JUDGEMENT_VALUES} FROM lease RETURNING id), "
    f"closed AS (UPDATE {ASSIGNMENT} SET status = '{COMPLETED}', judgement_id = (SELECT id FROM judged) "
    "WHERE id = (SELECT id FROM lease)) "
    "SELECT id FROM judged"
)


def judgement_insert_for_lease(*, lease: Assignment, labeller, fields: dict, slots: tuple[int, int]) -> Judgement | None:
    """Inserts the labeller's judgement of their leased pair, marks the lease completed and changes
    the pair's (n_judgements, n_leased) by `slots`, all or nothing, only if the lease still has the
    status `lease.status` it was read with: None when it has another. Atomic on its own (one
    statement on PostgreSQL, a transaction on SQLite), so it needs no lock taken before.

    `fields` are the judgement's cleaned choice, strength, rationale, flags, time_ms, created_at and
    idempotency_key. A second first judgement of the pair, or a reused idempotency key, fails on
    the table's unique constraints (IntegrityError), as Judgement.objects.create would."""
    judgement = Judgement(pair_id=lease.pair_id, labeller=labeller, shown_left=lease.shown_left,
                          is_repeat=lease.is_repeat, **fields)
    insert_params = [
        judgement.pair_id, labeller.pk, judgement.choice, judgement.strength, judgement.rationale,
        connection.ops.adapt_json_value(judgement.flags, None), judgement.shown_left, judgement.time_ms,
        _db_datetime(judgement.created_at), judgement.is_repeat, judgement.idempotency_key, APP,
    ]
    if _postgres():
        params = [lease.pk, lease.status, *slots, lease.pair_id, *insert_params]
        if connection.in_atomic_block:
            with transaction.atomic():  # a savepoint: a unique violation must not abort the caller's transaction
                row = _fetchone(_JUDGE_LEASE, params)
        else:
            row = _fetchone(_JUDGE_LEASE, params)  # one statement: its own transaction
        if row is None:
            return None
        judgement.pk = row[0]
    else:
        with transaction.atomic():  # BEGIN IMMEDIATE: alone among writers from the status check on
            closing = _cursor()
            closing.execute(f"UPDATE {ASSIGNMENT} SET status = '{COMPLETED}' WHERE id = %s AND status = %s",
                            [lease.pk, lease.status])
            if closing.rowcount == 0:
                return None
            if slots != (0, 0):
                pair_slots_change(pair_id=lease.pair_id, judgements=slots[0], leased=slots[1])
            judgement.pk = _fetchone(_INSERT_JUDGEMENT, insert_params)[0]
            _execute(f"UPDATE {ASSIGNMENT} SET judgement_id = %s WHERE id = %s", [judgement.pk, lease.pk])
    judgement._state.adding = False
    return judgement


def _shown(row) -> dict:
    lease_id, pair_id, expires_at, shown_left, messages, text_a, text_b = row
    sides = {"a": {"side": "a", "text": text_a}, "b": {"side": "b", "text": text_b}}
    return {
        "id": lease_id, "pair_id": pair_id, "expires_at": aware(expires_at), "messages": json_value(messages),
        "left": sides[shown_left], "right": sides["b" if shown_left == "a" else "a"],
    }


def lease_shown(*, assignment_id: int) -> dict | None:
    """What the API shows of a lease: the conversation and the two responses in left/right order."""
    row = _fetchone(_SHOWN.format(lease=f"{ASSIGNMENT} l") + " WHERE l.id = %s", [assignment_id])
    return None if row is None else _shown(row)


def token_user(*, key: str):
    """(user, token) for an API token, with the user's labeller profile attached (or None when the
    account has none), in one query; None when no such token exists."""
    user_model = get_user_model()
    row = _fetchone(
        f"SELECT u.id, u.is_active, l.id, t.created FROM {Token._meta.db_table} t JOIN {user_model._meta.db_table} u "
        f"ON u.id = t.user_id LEFT JOIN {Labeller._meta.db_table} l ON l.user_id = u.id WHERE t.key = %s",
        [key],
    )
    if row is None:
        return None
    user_id, is_active, labeller_id, created = row
    # Only the fields the API uses are loaded; any other is fetched on first access, as deferred.
    user = user_model.from_db(connection.alias, ["id", "is_active"], [user_id, bool(is_active)])
    if labeller_id is not None:
        user.labeller = Labeller.from_db(connection.alias, ["id", "user_id"], [labeller_id, user_id])
    return user, Token(key=key, user=user, created=created)
