"""The audit document from the database: its shape, the cache, exclusions, repeats."""
from datetime import timedelta

import pytest
from django.utils import timezone

from annotation.audit.report import CACHE_KIND, audit_report
from annotation.audit.services import exclusion_create, exclusion_revoke
from annotation.models import AuditCache, Judgement, Labeller
from annotation.selectors import judgements_counted
from common.exceptions import ApplicationError
from tests.factories import UserFactory

from .factories import add_judgement, judged_dataset

pytestmark = pytest.mark.django_db

RATE_KEYS = {"value", "low", "high", "n"}
LABELLER_KEYS = {"username", "n", "agreement_with_majority", "gold_accuracy", "self_consistency", "length_bias",
                 "position_bias", "sycophancy", "quality", "flags"}


def test_report_has_the_documented_shape():
    dataset, _ = judged_dataset()
    report = audit_report(dataset=dataset)
    assert (report["dataset"], report["n_judgements"], report["n_pairs"], report["n_labellers"]) == (dataset.name, 72, 24, 3)
    assert set(report["agreement"]) == {"percent", "cohen_kappa_mean", "fleiss_kappa", "krippendorff_alpha_nominal",
                                        "krippendorff_alpha_ordinal"}
    assert all(set(figure) == RATE_KEYS for figure in report["agreement"].values())
    for row in report["labellers"]:
        assert LABELLER_KEYS <= set(row)
        assert all(set(row[key]) == RATE_KEYS for key in LABELLER_KEYS - {"username", "n", "quality", "flags"})
    # ann and bob always agree, cat on half the pairs: pairwise agreement (1 + 1/3)/2 per pair
    assert report["agreement"]["percent"]["value"] == pytest.approx((1 + 1 / 3) / 2)
    cat = next(r for r in report["labellers"] if r["username"] == "cat")
    assert cat["agreement_with_majority"]["value"] == pytest.approx(0.5)
    assert cat["gold_accuracy"] == {"value": None, "low": None, "high": None, "n": 0}


def test_cache_is_reused_until_a_new_judgement_arrives():
    dataset, labellers = judged_dataset()
    audit_report(dataset=dataset)
    cache = AuditCache.objects.get(dataset=dataset, kind=CACHE_KIND)
    cache.payload = {**cache.payload, "marker": "from cache"}
    cache.save()
    assert audit_report(dataset=dataset)["marker"] == "from cache"
    add_judgement(dataset=dataset, labeller=labellers[0])
    fresh = audit_report(dataset=dataset)
    assert "marker" not in fresh and fresh["n_judgements"] == 73


def test_exclusion_is_honoured_and_revoking_restores():
    dataset, (ann, bob, cat) = judged_dataset()
    admin = UserFactory(username="boss", is_staff=True)
    before = audit_report(dataset=dataset)
    exclusion = exclusion_create(labeller=cat, dataset=dataset, reason="random clicking", created_by=admin)
    assert not judgements_counted(dataset_id=dataset.pk).filter(labeller=cat).exists()
    after = audit_report(dataset=dataset)  # the exclusion changed the cache key
    assert (before["n_labellers"], after["n_labellers"]) == (3, 2)
    assert after["agreement"]["percent"]["value"] == pytest.approx(1.0)
    revoked = exclusion_revoke(exclusion_id=exclusion.pk, revoked_by=admin, reason="checked again")
    revoked.refresh_from_db()
    assert revoked.revoked_at is not None and (revoked.revoked_by, revoked.revoke_reason) == (admin, "checked again")
    assert revoked.reason == "random clicking"  # the first decision's reason is kept as it was
    assert audit_report(dataset=dataset)["n_labellers"] == 3


def test_time_range_exclusion_leaves_out_only_that_range():
    dataset, (ann, bob, cat) = judged_dataset()
    times = sorted(judgements_counted(dataset_id=dataset.pk).filter(labeller=cat).values_list("created_at", flat=True))
    exclusion_create(labeller=cat, dataset=None, start=times[0], end=times[10], reason="bad morning", created_by=None)
    assert judgements_counted(dataset_id=dataset.pk).filter(labeller=cat).count() == len(times) - 10


@pytest.mark.parametrize("kwargs, message", [
    ({"reason": "  "}, "needs a reason"),
    ({"reason": "x", "start": timezone.now(), "end": timezone.now() - timedelta(hours=1)}, "before its end"),
])
def test_exclusion_create_rejects_bad_input(kwargs, message):
    dataset, (ann, *_) = judged_dataset(n_pairs=2)
    with pytest.raises(ApplicationError, match=message):
        exclusion_create(labeller=ann, dataset=dataset, created_by=None, **kwargs)


def test_exclusion_cannot_be_duplicated_or_revoked_twice():
    dataset, (ann, *_) = judged_dataset(n_pairs=2)
    exclusion = exclusion_create(labeller=ann, dataset=dataset, reason="why", created_by=None)
    with pytest.raises(ApplicationError, match="already active"):
        exclusion_create(labeller=ann, dataset=dataset, reason="again", created_by=None)
    exclusion_revoke(exclusion_id=exclusion.pk, revoked_by=None)
    with pytest.raises(ApplicationError, match="already revoked"):
        exclusion_revoke(exclusion_id=exclusion.pk, revoked_by=None)


def test_repeats_measure_self_consistency_without_counting():
    dataset, (ann, bob, cat) = judged_dataset()
    first = Judgement.objects.filter(pair__dataset=dataset, labeller=cat).order_by("id")[:3]
    for i, judgement in enumerate(first):
        Judgement.objects.create(pair=judgement.pair, labeller=cat, is_repeat=True, created_at=timezone.now(),
                                 choice=judgement.choice if i < 2 else "tie")
    report = audit_report(dataset=dataset)
    cat_row = next(r for r in report["labellers"] if r["username"] == "cat")
    assert report["n_judgements"] == 72
    assert cat_row["self_consistency"]["n"] == 3 and cat_row["self_consistency"]["value"] == pytest.approx(2 / 3)


def test_empty_dataset_gives_nulls_not_numbers():
    from tests.factories import DatasetFactory

    report = audit_report(dataset=DatasetFactory())
    assert report["n_judgements"] == 0 and report["labellers"] == []
    assert all(figure["value"] is None for figure in report["agreement"].values())
    assert report["leaderboard"] is None


def test_one_labeller_gives_null_agreement_but_still_reports_biases():
    dataset, _ = judged_dataset(usernames=("solo",))
    report = audit_report(dataset=dataset)
    assert report["n_judgements"] == 24
    assert all(figure["value"] is None for figure in report["agreement"].values())
    assert report["labellers"][0]["agreement_with_majority"]["n"] == 0
    assert report["biases"]["position"]["left_wins"]["n"] == 24


def test_breakdowns_by_locale_and_expertise():
    dataset, (ann, bob, cat) = judged_dataset()
    Labeller.objects.filter(pk__in=[ann.pk, bob.pk]).update(locale="de-DE", expertise_tags=["medicine"])
    Labeller.objects.filter(pk=cat.pk).update(locale="en-GB")
    biases = audit_report(dataset=dataset)["biases"]
    by_locale = {g["group"]: g for g in biases["by_locale"]}
    assert set(by_locale) == {"de-DE", "en-GB"}
    assert (by_locale["de-DE"]["n_labellers"], by_locale["de-DE"]["n"]) == (2, 48)
    assert by_locale["de-DE"]["agreement_with_majority"]["value"] == pytest.approx(1.0)
    assert by_locale["en-GB"]["agreement_with_majority"]["value"] == pytest.approx(0.5)
    assert [g["group"] for g in biases["by_expertise"]] == ["medicine"]


def test_flipping_a_gold_mark_serves_a_fresh_audit():
    dataset, _ = judged_dataset()
    pair = dataset.pairs.order_by("id").first()
    pair.gold = "a"  # everyone chose a on the first pair
    pair.save(update_fields=["gold"])
    before = audit_report(dataset=dataset)
    pair.gold = "b"
    pair.save(update_fields=["gold"])
    after = audit_report(dataset=dataset)
    ann = lambda report: next(r for r in report["labellers"] if r["username"] == "ann")  # noqa: E731
    assert (ann(before)["gold_accuracy"]["value"], ann(after)["gold_accuracy"]["value"]) == (1.0, 0.0)
