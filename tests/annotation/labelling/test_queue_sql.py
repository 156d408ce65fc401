"""The queue's SQL statements, each against the rule it stands for (on PostgreSQL the pick-and-lease
is one CTE with FOR UPDATE SKIP LOCKED; on SQLite the same rule in three statements)."""
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from annotation.labelling import queue_sql
from annotation.models import Assignment, Dataset, Judgement, Pair
from tests.factories import JudgementFactory, LabellerFactory

pytestmark = pytest.mark.django_db


def lease_open(labeller, dataset):
    now = timezone.now()
    with transaction.atomic():
        return queue_sql.lease_open_pair(
            labeller_id=labeller.pk, dataset_id=dataset.pk, overlap_k=dataset.overlap_k, shown_left="b",
            created_at=now, expires_at=now + timedelta(minutes=5),
        )


def test_lease_open_pair_takes_the_fullest_open_pair_and_one_of_its_slots(make_dataset):
    dataset, (empty, fuller, full), (labeller,) = make_dataset(n_pairs=3, overlap_k=2)
    Pair.objects.filter(pk=fuller.pk).update(n_judgements=1)
    Pair.objects.filter(pk=full.pk).update(n_judgements=1, n_leased=1)
    lease = Assignment.objects.get(pk=lease_open(labeller, dataset))
    assert (lease.pair_id, lease.labeller_id, lease.status, lease.shown_left) == (fuller.pk, labeller.pk, "active", "b")
    assert not lease.is_repeat and not lease.is_gold
    assert Pair.objects.get(pk=fuller.pk).n_leased == 1
    # the labeller now leases `fuller`; `full` has no slot left: only `empty` remains for them
    assert Assignment.objects.get(pk=lease_open(labeller, dataset)).pair_id == empty.pk
    assert lease_open(labeller, dataset) is None
    assert Pair.objects.get(pk=full.pk).n_leased == 1


def test_lease_open_pair_skips_pairs_the_labeller_judged_or_skipped_and_gold(make_dataset):
    dataset, (judged, skipped, gold, fresh), (labeller,) = make_dataset(n_pairs=4, overlap_k=3)
    JudgementFactory(pair=judged, labeller=labeller)
    Assignment.objects.create(pair=skipped, labeller=labeller, shown_left="a", status="skipped",
                              expires_at=timezone.now())
    Pair.objects.filter(pk=gold.pk).update(gold="a")
    assert Assignment.objects.get(pk=lease_open(labeller, dataset)).pair_id == fresh.pk
    assert lease_open(labeller, dataset) is None


def lease_current_or_open(labeller, dataset, shown_left="a"):
    now = timezone.now()
    with transaction.atomic():
        return queue_sql.lease_current_or_open_pair(
            labeller_id=labeller.pk, dataset_id=dataset.pk, shown_left=shown_left, created_at=now, now=now,
        )


def test_lease_current_or_open_pair_shows_the_new_lease_then_keeps_returning_it(make_dataset):
    dataset, (pair, other), (labeller,) = make_dataset(n_pairs=2, overlap_k=2)
    Pair.objects.filter(pk=pair.pk).update(n_judgements=1)
    shown = lease_current_or_open(labeller, dataset, shown_left="b")
    lease = Assignment.objects.get(pk=shown["id"])
    assert (lease.pair_id, lease.shown_left, shown["pair_id"]) == (pair.pk, "b", pair.pk)
    assert shown["messages"] == pair.prompt.messages and shown["expires_at"] == lease.expires_at
    assert (shown["left"], shown["right"]) == ({"side": "b", "text": pair.response_b.text},
                                               {"side": "a", "text": pair.response_a.text})
    assert lease_current_or_open(labeller, dataset)["id"] == lease.pk  # the current lease, not another one
    assert Assignment.objects.count() == 1 and Pair.objects.get(pk=pair.pk).n_leased == 1
    Assignment.objects.filter(pk=lease.pk).update(status="completed")
    assert lease_current_or_open(labeller, dataset)["pair_id"] == other.pk


def test_a_drawn_repeat_or_gold_check_leases_no_open_pair_but_keeps_the_current_lease(make_dataset):
    dataset, (pair, other), (labeller,) = make_dataset(n_pairs=2, repeat_rate=0.2)
    Dataset.objects.filter(pk=dataset.pk).update(gold_rate=0.1)
    now = timezone.now()
    args = dict(labeller_id=labeller.pk, dataset_id=dataset.pk, shown_left="a", created_at=now, now=now)
    with transaction.atomic():
        assert queue_sql.lease_current_or_open_pair(**args, repeat_draw=0.19) is None
        assert queue_sql.lease_current_or_open_pair(**args, gold_draw=0.05) is None
        assert not Assignment.objects.exists()
        current = queue_sql.lease_current_or_open_pair(**args, repeat_draw=0.2, gold_draw=0.1)
        assert queue_sql.lease_current_or_open_pair(**args, repeat_draw=0.0)["id"] == current["id"]


def test_membership_lock_and_lease_leases_nothing_for_a_labeller_not_assigned(make_dataset):
    dataset, _, (labeller,) = make_dataset(n_pairs=1)
    outsider = LabellerFactory()
    now = timezone.now()
    args = dict(dataset_id=dataset.pk, shown_left="a", created_at=now, now=now, repeat_draw=1.0, gold_draw=1.0)
    with transaction.atomic():
        assert queue_sql.membership_lock_and_lease(labeller_id=outsider.pk, **args) == (None, None)
        assert not Assignment.objects.exists()
        settings, shown = queue_sql.membership_lock_and_lease(labeller_id=labeller.pk, **args)
    assert settings == (dataset.overlap_k, dataset.repeat_rate, dataset.gold_rate, dataset.lease_minutes)
    lease = Assignment.objects.get()
    assert shown["id"] == lease.pk and lease.expires_at == now + timedelta(minutes=dataset.lease_minutes)


def test_repeat_due_pair_id_waits_for_the_gap_and_repeats_once(make_dataset):
    dataset, pairs, (labeller,) = make_dataset(n_pairs=6)
    start = timezone.now() - timedelta(hours=1)
    for i, pair in enumerate(pairs[:5]):
        JudgementFactory(pair=pair, labeller=labeller, created_at=start + timedelta(minutes=i))

    def due():
        return queue_sql.repeat_due_pair_id(labeller_id=labeller.pk, dataset_id=dataset.pk, gap=5)

    assert due() is None  # five judgements: none of them is five judgements old yet
    JudgementFactory(pair=pairs[5], labeller=labeller, created_at=start + timedelta(minutes=10))
    assert due() == pairs[0].pk
    JudgementFactory(pair=pairs[0], labeller=labeller, is_repeat=True, created_at=start + timedelta(minutes=11))
    assert due() == pairs[1].pk  # pairs[0] was repeated; the repeat itself counts towards the gap
    Assignment.objects.create(pair=pairs[1], labeller=labeller, shown_left="a", is_repeat=True,
                              expires_at=timezone.now() + timedelta(minutes=5))
    assert due() is None  # pairs[1] is leased as a repeat; pairs[2] is not five judgements old


def test_judgement_insert_and_lease_lock_round_trip(make_dataset):
    dataset, (pair,), (labeller,) = make_dataset(n_pairs=1)
    lease_id = lease_open(labeller, dataset)
    with transaction.atomic():
        lease, locked_dataset = queue_sql.lease_lock(labeller_id=labeller.pk, assignment_id=lease_id)
        assert (lease.pair_id, lease.status, lease.shown_left, locked_dataset.pk) == (pair.pk, "active", "b", dataset.pk)
        assert locked_dataset.choices == dataset.choices and locked_dataset.strength_scale == dataset.strength_scale
        now = timezone.now()
        made = queue_sql.judgement_insert_for_lease(lease=lease, labeller=labeller, slots=(1, -1), fields=dict(
            choice="a", strength=2, rationale="clearer", flags={"b": ["harmful"]}, time_ms=1200, created_at=now,
            idempotency_key="k1",
        ))
    stored = Judgement.objects.get(pk=made.pk)
    assert (stored.pair_id, stored.labeller_id, stored.choice, stored.strength, stored.flags, stored.shown_left) == (
        pair.pk, labeller.pk, "a", 2, {"b": ["harmful"]}, "b")
    assert stored.created_at == now and stored.source == "app" and not stored.superseded
    lease = Assignment.objects.get(pk=lease_id)
    assert (lease.status, lease.judgement_id) == ("completed", made.pk)
    pair.refresh_from_db()
    assert (pair.n_judgements, pair.n_leased) == (1, 0)
    assert queue_sql.lease_lock(labeller_id=LabellerFactory().pk, assignment_id=lease_id) is None


def test_judgement_insert_writes_nothing_when_the_lease_changed_since_it_was_read(make_dataset):
    dataset, (pair,), (labeller,) = make_dataset(n_pairs=1)
    lease_id = lease_open(labeller, dataset)
    lease, _ = queue_sql.lease_lock(labeller_id=labeller.pk, assignment_id=lease_id, lock=False)
    Assignment.objects.filter(pk=lease_id).update(status="expired")  # the sweep, in between
    made = queue_sql.judgement_insert_for_lease(lease=lease, labeller=labeller, slots=(1, -1), fields=dict(
        choice="a", strength=None, rationale="", flags={}, time_ms=5, created_at=timezone.now(), idempotency_key=""))
    assert made is None and not Judgement.objects.exists()
    assert Assignment.objects.get(pk=lease_id).status == "expired"
    pair.refresh_from_db()
    assert (pair.n_judgements, pair.n_leased) == (0, 1)


def test_token_user_loads_the_labeller_in_one_query(make_dataset, django_assert_num_queries):
    dataset, _, (labeller,) = make_dataset(n_pairs=1)
    key = Token.objects.create(user=labeller.user).key
    with django_assert_num_queries(1):
        user, token = queue_sql.token_user(key=key)
        assert (user.pk, user.labeller.pk, token.key) == (labeller.user_id, labeller.pk, key)
    assert queue_sql.token_user(key="no-such-token") is None
    labeller.user.is_active = False
    labeller.user.save()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    refused = client.post(f"/api/datasets/{dataset.pk}/next/")
    assert refused.status_code in (401, 403) and "inactive" in refused.json()["detail"]


def test_submit_input_of_the_wrong_type_is_a_400_naming_the_field(make_dataset):
    dataset, _, (labeller,) = make_dataset(n_pairs=1)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=labeller.user).key}")
    lease = client.post(f"/api/datasets/{dataset.pk}/next/").json()
    url = f"/api/assignments/{lease['id']}/judgement/"
    assert "choice" in client.post(url, {"strength": 2}, format="json").json()
    assert "rationale" in client.post(url, {"choice": "a", "rationale": ["x"]}, format="json").json()
    assert "flags" in client.post(url, {"choice": "a", "flags": {"a": [1]}}, format="json").json()
    assert "time_ms" in client.post(url, {"choice": "a", "time_ms": True}, format="json").json()
    assert client.post(url, [1, 2], format="json").status_code == 400
    assert not Judgement.objects.exists()
    assert client.post(url, {"choice": "a", "time_ms": "900"}, format="json").status_code == 201
