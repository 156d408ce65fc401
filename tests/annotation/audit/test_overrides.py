"""The audit counts reviewers' overrides or ignores them (page toggle, API, `audit --json`)."""
import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse

from annotation.audit.report import audit_report
from annotation.review.services import review_decide
from tests.factories import AdminLabellerFactory

from .factories import judged_dataset

pytestmark = pytest.mark.django_db


@pytest.fixture
def overridden():
    """ann, bob and cat agree on 'a' except cat, who says 'b' on odd pairs; a reviewer overrides
    every odd pair to 'b', siding with cat."""
    dataset, labellers = judged_dataset(n_pairs=24)
    reviewer = AdminLabellerFactory().user
    for i, pair in enumerate(dataset.pairs.order_by("id")):
        if i % 2:
            review_decide(pair_id=pair.pk, reviewer=reviewer, action="override", choice="b", reason="cat is right")
    return dataset


def majority_agreement(report, username):
    (row,) = [r for r in report["labellers"] if r["username"] == username]
    return row["agreement_with_majority"]["value"]


def test_counting_overrides_compares_judgements_with_the_reviewers_choice(overridden):
    ignored = audit_report(dataset=overridden)
    counted = audit_report(dataset=overridden, count_overrides=True)

    # Ignored: cat agrees with the others' majority on the 12 even pairs only; ann on all 24.
    assert majority_agreement(ignored, "cat") == pytest.approx(12 / 24)
    assert majority_agreement(ignored, "ann") == pytest.approx(1.0)
    # Counted: on the 12 odd pairs the reference is the reviewer's 'b'.
    assert majority_agreement(counted, "cat") == pytest.approx(1.0)
    assert majority_agreement(counted, "ann") == pytest.approx(12 / 24)
    assert ignored["review"] == {"overrides_counted": False, "n_overrides": 12, "n_pairs_overridden_in_audit": 0}
    assert counted["review"] == {"overrides_counted": True, "n_overrides": 12, "n_pairs_overridden_in_audit": 12}


def test_a_new_decision_invalidates_the_cached_audit(overridden):
    before = audit_report(dataset=overridden, count_overrides=True)
    pair = overridden.pairs.order_by("id").first()
    review_decide(pair_id=pair.pk, reviewer=AdminLabellerFactory().user, action="override", choice="b", reason="r")
    assert audit_report(dataset=overridden, count_overrides=True)["review"]["n_overrides"] == before["review"]["n_overrides"] + 1


def test_the_json_command_says_whether_overrides_were_counted(overridden):
    out = StringIO()
    call_command("audit", dataset=overridden.name, json=True, count_overrides=True, stdout=out)
    ignored = StringIO()
    call_command("audit", "--dataset", overridden.name, "--json", stdout=ignored)
    assert json.loads(out.getvalue())["review"]["overrides_counted"] is True
    assert json.loads(ignored.getvalue())["review"]["overrides_counted"] is False


def test_the_audit_page_shows_the_toggle_and_the_api_takes_the_option(client, overridden):
    client.force_login(AdminLabellerFactory().user)
    ignored = client.get(reverse("audit:dataset", args=[overridden.pk]) + "?compute=1").content.decode()
    counted = client.get(reverse("audit:dataset", args=[overridden.pk]) + "?compute=1&overrides=1").content.decode()
    api = client.get(reverse("audit-report", args=[overridden.pk]) + "?overrides=1").json()
    assert "Count overrides" in ignored and "<strong>ignored</strong>" in ignored
    assert "Ignore overrides" in counted and "<strong>counted</strong>" in counted
    assert api["review"]["overrides_counted"] is True
