"""The ratings audit against independent computations: the krippendorff package, scipy's Pearson
correlation and Wilson interval, and counts by hand."""
import io
import json
import random

import krippendorff
import numpy as np
import pytest
from django.core.management import call_command
from django.utils import timezone
from scipy.stats import binomtest, pearsonr

from annotation.audit.ratings import ratings_audit
from annotation.audit.report import audit_report
from annotation.models import LabellerExclusion, Rating
from tests.annotation.ratings.factories import RateDatasetFactory, RatingItemFactory
from tests.factories import AdminLabellerFactory, LabellerFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def rated():
    """A rate dataset of 24 responses of varied length, rated by 4 labellers (each about 3 in 4 of
    them; longer ones get thumbs up more often), 6 gold items and a few repeats."""
    rng = random.Random(7)
    dataset = RateDatasetFactory()
    items = [RatingItemFactory(dataset=dataset, response__text="word " * rng.randint(1, 200),
                               gold_label=(i % 2 == 0) if i < 6 else None) for i in range(24)]
    labellers = [LabellerFactory() for _ in range(4)]
    dataset.labellers.add(*labellers)
    table = {}
    for labeller in labellers:
        for item in items:
            if rng.random() < 0.75:
                label = rng.random() < 0.2 + 0.6 * (item.response.length_chars / 1000)
                table[(labeller.pk, item.pk)] = label
                Rating.objects.create(item=item, labeller=labeller, label=label, created_at=timezone.now())
    repeats = []
    for (labeller_id, item_id), label in list(table.items())[:8]:
        again = label if rng.random() < 0.7 else not label
        repeats.append(again == label)
        Rating.objects.create(item_id=item_id, labeller_id=labeller_id, label=again, is_repeat=True,
                              created_at=timezone.now())
    return dataset, items, labellers, table, repeats


def test_alpha_on_the_label_matches_the_krippendorff_package(rated):
    dataset, items, labellers, table, _ = rated
    data = np.full((len(labellers), len(items)), np.nan)
    for i, labeller in enumerate(labellers):
        for j, item in enumerate(items):
            if (labeller.pk, item.pk) in table:
                data[i, j] = float(table[(labeller.pk, item.pk)])
    expected = krippendorff.alpha(reliability_data=data, level_of_measurement="nominal")
    alpha = ratings_audit(dataset_id=dataset.pk)["agreement"]["krippendorff_alpha"]
    assert alpha["value"] == pytest.approx(expected, abs=1e-9)
    assert alpha["low"] <= alpha["value"] <= alpha["high"]


def test_percent_agreement_is_the_mean_share_of_agreeing_pairs_per_response(rated):
    dataset, items, labellers, table, _ = rated
    shares = []
    for item in items:
        labels = [table[(lab.pk, item.pk)] for lab in labellers if (lab.pk, item.pk) in table]
        m = len(labels)
        if m >= 2:
            up = sum(labels)
            shares.append((up * (up - 1) + (m - up) * (m - up - 1)) / (m * (m - 1)))
    assert ratings_audit(dataset_id=dataset.pk)["agreement"]["percent"]["value"] == pytest.approx(np.mean(shares))


def test_positivity_per_labeller_is_her_share_of_thumbs_up_with_a_wilson_interval(rated):
    dataset, items, labellers, table, _ = rated
    report = ratings_audit(dataset_id=dataset.pk)
    for row in report["labellers"]:
        labels = [v for (lab, _), v in table.items() if lab == row["labeller_id"]]
        ci = binomtest(sum(labels), len(labels)).proportion_ci(confidence_level=0.95, method="wilson")
        assert row["positivity"]["value"] == pytest.approx(sum(labels) / len(labels))
        assert (row["positivity"]["low"], row["positivity"]["high"]) == pytest.approx((ci.low, ci.high), abs=1e-6)
    assert report["positivity"]["n"] == len(table)


def test_gold_accuracy_counts_ratings_that_match_the_gold_label(rated):
    dataset, items, labellers, table, _ = rated
    gold = {item.pk: item.gold_label for item in items if item.gold_label is not None}
    hits = [table[key] == gold[key[1]] for key in table if key[1] in gold]
    figure = ratings_audit(dataset_id=dataset.pk)["gold_accuracy"]
    assert (figure["value"], figure["n"]) == (pytest.approx(sum(hits) / len(hits)), len(hits))


def test_self_consistency_is_the_share_of_repeats_matching_the_first_rating(rated):
    dataset, items, labellers, table, repeats = rated
    figure = ratings_audit(dataset_id=dataset.pk)["self_consistency"]
    assert (figure["value"], figure["n"]) == (pytest.approx(sum(repeats) / len(repeats)), len(repeats))


def test_length_bias_is_pearsons_r_of_log_length_and_the_label(rated):
    dataset, items, labellers, table, _ = rated
    length = {item.pk: item.response.length_chars for item in items}
    keys = sorted(table, key=lambda k: k)
    expected = pearsonr(np.log1p([length[k[1]] for k in keys]), [float(table[k]) for k in keys]).statistic
    figure = ratings_audit(dataset_id=dataset.pk)["length_bias"]["correlation"]
    assert figure["value"] == pytest.approx(expected, abs=1e-9)
    assert figure["low"] < figure["value"] < figure["high"]


def test_repeats_and_excluded_labellers_do_not_count(rated):
    dataset, items, labellers, table, _ = rated
    LabellerExclusion.objects.create(labeller=labellers[0], dataset=dataset, reason="careless")
    report = ratings_audit(dataset_id=dataset.pk)
    assert report["n_ratings"] == sum(1 for lab, _ in table if lab != labellers[0].pk)
    assert labellers[0].pk not in [row["labeller_id"] for row in report["labellers"]]


def test_a_dataset_without_ratings_has_empty_figures_and_an_empty_state():
    dataset = RateDatasetFactory()
    report = ratings_audit(dataset_id=dataset.pk)
    assert report["n_ratings"] == 0
    assert report["agreement"]["krippendorff_alpha"]["value"] is None
    assert report["length_bias"]["correlation"]["value"] is None


def test_the_audit_page_shows_the_ratings_section(client, rated):
    dataset, *_ = rated
    client.force_login(AdminLabellerFactory().user)
    page = client.get(f"/audit/{dataset.pk}/?compute=1").content.decode()
    assert 'id="ratings"' in page and "Krippendorff&#x27;s alpha, nominal, on the label" in page
    assert f"/audit/{dataset.pk}/exclude/{rated[2][0].pk}/" in page  # exclusions leave ratings out too


def test_the_audit_page_says_when_there_are_no_ratings(client):
    dataset = RateDatasetFactory()
    client.force_login(AdminLabellerFactory().user)
    page = client.get(f"/audit/{dataset.pk}/?compute=1").content.decode()
    assert "No ratings in this dataset." in page


def test_audit_json_has_the_ratings_and_a_new_rating_refreshes_the_cache(rated):
    dataset, items, labellers, table, _ = rated
    out = io.StringIO()
    call_command("audit", dataset=dataset.name, json=True, stdout=out)
    before = json.loads(out.getvalue())["ratings"]
    assert before["n_ratings"] == len(table)
    extra = LabellerFactory()
    Rating.objects.create(item=items[0], labeller=extra, label=True, created_at=timezone.now())
    assert audit_report(dataset=dataset)["ratings"]["n_ratings"] == len(table) + 1
