"""Issue 11 (hardening): bad input to the labelling API gets a clear 4xx, every bound is enforced,
a removed labeller loses her leases and cannot revise, and leasing is POST only."""
import json

import pytest
from django.db import IntegrityError
from django.urls import reverse
from hypothesis import HealthCheck, given, settings, strategies as st
from rest_framework.test import APIClient

from annotation.labelling.checks import TIME_MS_MAX
from annotation.models import (
    DESCRIPTION_MAX_CHARS, INSTRUCTIONS_MAX_CHARS, LEASE_MINUTES_MAX, OVERLAP_K_MAX, RATIONALE_MAX_CHARS,
    STRENGTH_LABEL_MAX_CHARS, Assignment, Dataset, Judgement, Pair,
)
from tests.factories import AdminLabellerFactory

pytestmark = pytest.mark.django_db


def post_json(client, url, body):
    """The body as JSON with non-ASCII escaped, so that a lone surrogate survives the encoding."""
    return client.post(url, data=json.dumps(body), content_type="application/json")


def lease_of(client, dataset):
    return client.post(f"/api/datasets/{dataset.pk}/next/").json()


@pytest.mark.parametrize("field", ["rationale", "idempotency_key"])
@pytest.mark.parametrize("value, problem", [("a\x00b", "NUL"), ("a\ud800b", "surrogate")])
def test_submit_refuses_unstorable_text_with_a_400_naming_the_field(api, field, value, problem):
    client, dataset, _ = api
    lease = lease_of(client, dataset)
    response = post_json(client, f"/api/assignments/{lease['id']}/judgement/", {"choice": "tie", field: value})
    assert response.status_code == 400
    assert field in json.dumps(response.json()) and problem in json.dumps(response.json())
    assert not Judgement.objects.exists()


def test_revise_refuses_a_lone_surrogate_in_the_rationale(api):
    client, dataset, _ = api
    lease = lease_of(client, dataset)
    judgement = post_json(client, f"/api/assignments/{lease['id']}/judgement/", {"choice": "tie"}).json()
    response = post_json(client, f"/api/judgements/{judgement['id']}/revise/", {"choice": "tie", "rationale": "\ud800"})
    assert response.status_code == 400 and Judgement.objects.count() == 1


def test_a_rationale_over_its_bound_is_refused(api):
    client, dataset, _ = api
    lease = lease_of(client, dataset)
    too_long = post_json(client, f"/api/assignments/{lease['id']}/judgement/",
                         {"choice": "tie", "rationale": "x" * (RATIONALE_MAX_CHARS + 1)})
    at_bound = post_json(client, f"/api/assignments/{lease['id']}/judgement/",
                         {"choice": "tie", "rationale": "x" * RATIONALE_MAX_CHARS})
    assert too_long.status_code == 400 and str(RATIONALE_MAX_CHARS) in too_long.json()["detail"]
    assert at_bound.status_code == 201


def test_the_comparison_page_shows_an_error_for_a_nul_in_the_rationale(client, api):
    _, dataset, labeller = api
    client.force_login(labeller.user)
    client.post(reverse("labelling:compare", args=[dataset.pk]))
    lease = Assignment.objects.get(labeller=labeller)
    response = client.post(reverse("labelling:judge", args=[dataset.pk, lease.pk]),
                           {"choice": "tie", "rationale": "a\x00b"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and "NUL" in response.content.decode()
    assert not Judgement.objects.exists()


def test_the_judgement_listing_refuses_a_nul_in_the_labeller_filter(api):
    _, dataset, _ = api
    admin = APIClient()
    admin.force_authenticate(AdminLabellerFactory().user)
    response = admin.get(f"/api/datasets/{dataset.pk}/judgements/?labeller=a%00b")
    assert response.status_code == 400 and "labeller" in json.dumps(response.json())


def test_an_id_beyond_the_database_range_is_a_404(api):
    client, _, _ = api
    assert client.post("/api/datasets/99999999999999999999/next/").status_code == 404
    assert post_json(client, "/api/assignments/99999999999999999999/judgement/", {"choice": "tie"}).status_code == 404


def test_lease_minutes_beyond_its_bound_is_refused_by_the_api_the_model_and_the_database(api):
    _, dataset, _ = api
    admin = APIClient()
    admin.force_authenticate(AdminLabellerFactory().user)
    response = admin.patch(f"/api/datasets/{dataset.pk}/update/", {"lease_minutes": 10**12}, format="json")
    assert response.status_code == 400 and "lease_minutes" in response.json()
    with pytest.raises(IntegrityError):
        Dataset.objects.filter(pk=dataset.pk).update(lease_minutes=LEASE_MINUTES_MAX + 1)


def dataset_admin_form(dataset, **changes):
    """The dataset's admin change form as a browser would post it (no labellers: all removed)."""
    return {"name": dataset.name, "description": "", "instructions": "", "overlap_k": 3, "repeat_rate": 0,
            "gold_rate": 0, "choices": json.dumps(dataset.choices),
            "strength_scale": json.dumps(dataset.strength_scale), "lease_minutes": 30, **changes}


@pytest.mark.parametrize("field, too_much", [
    ("description", "x" * (DESCRIPTION_MAX_CHARS + 1)), ("instructions", "x" * (INSTRUCTIONS_MAX_CHARS + 1)),
    ("overlap_k", OVERLAP_K_MAX + 1), ("strength_scale", {"1": "x" * (STRENGTH_LABEL_MAX_CHARS + 1)}),
])
def test_dataset_settings_beyond_their_bounds_are_refused_by_the_api(api, field, too_much):
    _, dataset, _ = api
    admin = APIClient()
    admin.force_authenticate(AdminLabellerFactory().user)
    response = admin.patch(f"/api/datasets/{dataset.pk}/update/", {field: too_much}, format="json")
    assert response.status_code == 400 and field in response.json()


def test_the_database_refuses_an_overlap_k_beyond_its_bound(api):
    _, dataset, _ = api
    with pytest.raises(IntegrityError):
        Dataset.objects.filter(pk=dataset.pk).update(overlap_k=OVERLAP_K_MAX + 1)


def test_the_schema_documents_the_bounds_of_a_judgement(client):
    components = client.get("/api/schema/?format=json").json()["components"]["schemas"]
    fields = components["LabellingJudgementSubmitInput"]["properties"]
    assert fields["rationale"]["maxLength"] == RATIONALE_MAX_CHARS
    assert str(RATIONALE_MAX_CHARS) in fields["rationale"]["description"]
    assert fields["time_ms"]["maximum"] == TIME_MS_MAX
    assert components["PatchedDatasetInput"]["properties"]["lease_minutes"]["maximum"] == LEASE_MINUTES_MAX


def test_the_dataset_admin_refuses_lease_minutes_beyond_its_bound(client, api):
    _, dataset, _ = api
    client.force_login(AdminLabellerFactory(user__is_superuser=True).user)
    url = reverse("admin:annotation_dataset_change", args=[dataset.pk])
    response = client.post(url, dataset_admin_form(dataset, lease_minutes=LEASE_MINUTES_MAX + 1))
    assert response.status_code == 200 and "lease_minutes" in response.context["adminform"].form.errors
    assert Dataset.objects.get(pk=dataset.pk).lease_minutes == 30


def test_next_is_post_only(api):
    client, dataset, _ = api
    assert client.get(f"/api/datasets/{dataset.pk}/next/").status_code == 405
    assert not Assignment.objects.exists()


def test_opening_the_comparison_page_leases_nothing(client, api):
    _, dataset, labeller = api
    client.force_login(labeller.user)
    html = client.get(reverse("labelling:compare", args=[dataset.pk])).content.decode()
    assert not Assignment.objects.exists()
    assert f'action="{reverse("labelling:compare", args=[dataset.pk])}"' in html and 'method="post"' in html


def test_posting_the_comparison_page_leases_a_pair_and_shows_it(client, api):
    _, dataset, labeller = api
    client.force_login(labeller.user)
    response = client.post(reverse("labelling:compare", args=[dataset.pk]))
    lease = Assignment.objects.get(labeller=labeller)
    assert response.status_code == 302
    assert f"Pair {lease.pair_id}:" in client.get(response.url).content.decode()


def remove_labeller(dataset, labeller):
    """Through the API, as an admin would: PATCH the dataset's labeller list without her."""
    admin = APIClient()
    admin.force_authenticate(AdminLabellerFactory().user)
    kept = [username for username in dataset.labellers.values_list("user__username", flat=True)
            if username != labeller.user.username]
    assert admin.patch(f"/api/datasets/{dataset.pk}/update/", {"labellers": kept}, format="json").status_code == 200


def test_removing_a_labeller_frees_her_leases_at_once(api):
    client, dataset, labeller = api
    lease = lease_of(client, dataset)
    remove_labeller(dataset, labeller)
    assert Assignment.objects.get(pk=lease["id"]).status == Assignment.Status.EXPIRED
    assert Pair.objects.get(pk=lease["pair_id"]).n_leased == 0


def test_removing_a_labeller_leaves_the_others_leases_alone(make_dataset):
    dataset, _, (leaving, staying) = make_dataset(n_pairs=1, n_labellers=2)
    for labeller in (leaving, staying):
        client = APIClient()
        client.force_authenticate(labeller.user)
        lease_of(client, dataset)
    remove_labeller(dataset, leaving)
    assert Assignment.objects.get(labeller=staying).status == Assignment.Status.ACTIVE
    assert Assignment.objects.get(labeller=leaving).status == Assignment.Status.EXPIRED
    assert Pair.objects.get().n_leased == 1


def test_a_removed_labeller_is_told_why_her_old_lease_is_gone(api):
    client, dataset, labeller = api
    lease = lease_of(client, dataset)
    remove_labeller(dataset, labeller)
    response = post_json(client, f"/api/assignments/{lease['id']}/judgement/", {"choice": "tie"})
    assert response.status_code == 400 and "removed from dataset" in response.json()["detail"]


def test_a_removed_labeller_cannot_revise_her_judgements(api):
    client, dataset, labeller = api
    lease = lease_of(client, dataset)
    judgement = post_json(client, f"/api/assignments/{lease['id']}/judgement/", {"choice": "a"}).json()
    remove_labeller(dataset, labeller)
    response = post_json(client, f"/api/judgements/{judgement['id']}/revise/", {"choice": "b"})
    assert response.status_code == 400 and "removed from dataset" in response.json()["detail"]
    assert Judgement.objects.get().superseded is False


def test_removal_in_the_django_admin_frees_the_leases(client, api):
    api_client, dataset, labeller = api
    lease = lease_of(api_client, dataset)
    client.force_login(AdminLabellerFactory(user__is_superuser=True).user)
    response = client.post(reverse("admin:annotation_dataset_change", args=[dataset.pk]), dataset_admin_form(dataset))
    assert response.status_code == 302
    assert not dataset.labellers.exists()
    assert Assignment.objects.get(pk=lease["id"]).status == Assignment.Status.EXPIRED
    assert Pair.objects.get(pk=lease["pair_id"]).n_leased == 0


def test_the_admin_cannot_edit_the_queue_counters(client, api):
    api_client, dataset, _ = api
    lease = lease_of(api_client, dataset)
    client.force_login(AdminLabellerFactory(user__is_superuser=True).user)
    pair_form = client.get(reverse("admin:annotation_pair_change", args=[lease["pair_id"]])).content.decode()
    lease_form = client.get(reverse("admin:annotation_assignment_change", args=[lease["id"]])).content.decode()
    assert 'name="n_leased"' not in pair_form and 'name="n_judgements"' not in pair_form
    assert 'name="status"' not in lease_form and 'name="pair"' not in lease_form
    assert client.get(reverse("admin:annotation_assignment_add")).status_code == 403


def test_deleting_an_active_lease_in_the_admin_gives_its_slot_back(client, api):
    api_client, dataset, _ = api
    lease = lease_of(api_client, dataset)
    client.force_login(AdminLabellerFactory(user__is_superuser=True).user)
    response = client.post(reverse("admin:annotation_assignment_delete", args=[lease["id"]]), {"post": "yes"})
    assert response.status_code == 302 and not Assignment.objects.exists()
    assert Pair.objects.get(pk=lease["pair_id"]).n_leased == 0


# Any JSON value, with text that may hold NULs and lone surrogates.
# (st.text never yields a surrogate, hence the join.)
TEXT = st.lists(st.sampled_from(["\x00", "\ud800", "\udfff", "a"]) | st.characters(), max_size=8).map("".join)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=5,
)
# A body is anything at all, or the submit fields with any values, or a valid choice with other
# fields that are plausible (so that examples get past the first checks to the database).
SUBMIT_FIELDS = {
    "strength": st.sampled_from([None, 1, 3, "2"]) | st.integers(),
    "rationale": TEXT,
    "flags": st.dictionaries(st.sampled_from(["a", "b"]), st.lists(st.sampled_from(["harmful", "off_topic"]) | TEXT)),
    "time_ms": st.integers(),
    "idempotency_key": TEXT,
    "other": JSON_VALUES,
}


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.one_of(
    st.fixed_dictionaries({"choice": st.sampled_from(["a", "b", "tie", "both_bad", "left", "right"])},
                          optional=SUBMIT_FIELDS),
    st.dictionaries(st.sampled_from(["choice", *SUBMIT_FIELDS]), JSON_VALUES),
    JSON_VALUES,
))
def test_any_json_body_to_submit_is_answered_2xx_or_4xx_and_only_2xx_writes(make_dataset, body):
    dataset, _, (labeller,) = make_dataset(n_pairs=1)
    client = APIClient()
    client.force_authenticate(labeller.user)
    lease = lease_of(client, dataset)
    before = Judgement.objects.count()
    response = post_json(client, f"/api/assignments/{lease['id']}/judgement/", body)
    assert response.status_code < 500, response.content
    assert (Judgement.objects.count() != before) == (200 <= response.status_code < 300)
