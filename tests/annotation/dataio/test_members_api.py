"""Assigning labellers to a dataset one at a time: the API (POST adds, DELETE removes one) and the
dataset_members command, both through the membership services."""
import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from annotation.labelling.services import assignment_lease
from annotation.models import Assignment, Pair
from tests.factories import AdminLabellerFactory, DatasetFactory, LabellerFactory, PairFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_api():
    client = APIClient()
    client.force_authenticate(AdminLabellerFactory().user)
    return client


@pytest.fixture
def dataset():
    return DatasetFactory(name="prefs")


def members(dataset) -> list[str]:
    return sorted(dataset.labellers.values_list("user__username", flat=True))


def add(client, dataset, usernames):
    return client.post(f"/api/datasets/{dataset.pk}/labellers/", {"labellers": usernames}, format="json")


def test_post_assigns_every_named_labeller_and_keeps_the_members(admin_api, dataset):
    dataset.labellers.add(LabellerFactory(user__username="carol"))
    LabellerFactory(user__username="alice")
    LabellerFactory(user__username="bob")
    response = add(admin_api, dataset, ["alice", "bob"])
    assert response.status_code == 200, response.data
    assert response.data == {"labellers": ["alice", "bob", "carol"]}
    assert members(dataset) == ["alice", "bob", "carol"]


def test_posting_members_again_changes_nothing(admin_api, dataset):
    LabellerFactory(user__username="alice")
    add(admin_api, dataset, ["alice"])
    response = add(admin_api, dataset, ["alice", "alice"])
    assert response.status_code == 200, response.data
    assert members(dataset) == ["alice"]


def test_unknown_usernames_are_a_400_naming_them_and_nobody_is_assigned(admin_api, dataset):
    LabellerFactory(user__username="alice")
    response = add(admin_api, dataset, ["alice", "ghost", "nobody"])
    assert response.status_code == 400
    assert response.data["detail"] == "No labeller named ghost, nobody"
    assert members(dataset) == []


def test_a_deactivated_account_is_refused(admin_api, dataset):
    LabellerFactory(user__username="gone", user__is_active=False)
    response = add(admin_api, dataset, ["gone"])
    assert response.status_code == 400
    assert "gone" in response.data["detail"] and "deactivated" in response.data["detail"]
    assert members(dataset) == []


def test_delete_unassigns_one_labeller_and_ends_her_active_lease(admin_api, dataset):
    alice, bob = LabellerFactory(user__username="alice"), LabellerFactory(user__username="bob")
    dataset.labellers.add(alice, bob)
    PairFactory(dataset=dataset)
    lease = assignment_lease(labeller=alice, dataset_id=dataset.pk)
    assert Pair.objects.get(pk=lease["pair_id"]).n_leased == 1
    response = admin_api.delete(f"/api/datasets/{dataset.pk}/labellers/alice/")
    assert response.status_code == 204
    assert members(dataset) == ["bob"]
    assert Assignment.objects.get(pk=lease["id"]).status == Assignment.Status.EXPIRED
    assert Pair.objects.get(pk=lease["pair_id"]).n_leased == 0


def test_delete_of_someone_who_is_not_a_member_is_a_404(admin_api, dataset):
    LabellerFactory(user__username="alice")
    assert admin_api.delete(f"/api/datasets/{dataset.pk}/labellers/alice/").status_code == 404
    assert admin_api.delete(f"/api/datasets/{dataset.pk}/labellers/ghost/").status_code == 404


@pytest.mark.parametrize("method", ["post", "delete"])
def test_a_labeller_who_is_not_an_admin_gets_403(dataset, method):
    alice = LabellerFactory(user__username="alice")
    dataset.labellers.add(alice)
    client = APIClient()
    client.force_authenticate(alice.user)
    if method == "post":
        response = add(client, dataset, ["alice"])
    else:
        response = client.delete(f"/api/datasets/{dataset.pk}/labellers/alice/")
    assert response.status_code == 403
    assert members(dataset) == ["alice"]


def run_command(*args) -> str:
    out = StringIO()
    call_command("dataset_members", *args, stdout=out)
    return out.getvalue()


def test_command_adds_removes_and_lists_members_as_json(dataset):
    for name in ("alice", "bob", "carol"):
        LabellerFactory(user__username=name)
    run_command("--dataset", "prefs", "--add", "alice", "bob", "carol")
    run_command("--dataset", "prefs", "--remove", "bob")
    assert json.loads(run_command("--dataset", "prefs", "--list", "--json")) == {
        "dataset": "prefs", "labellers": ["alice", "carol"]
    }


def test_command_refuses_removing_someone_who_is_not_a_member(dataset):
    dataset.labellers.add(LabellerFactory(user__username="alice"))
    LabellerFactory(user__username="bob")
    with pytest.raises(CommandError, match="Not labellers of dataset 'prefs': bob"):
        run_command("--dataset", "prefs", "--remove", "alice", "bob")
    assert members(dataset) == ["alice"]


def test_delete_with_a_username_that_cannot_be_stored_is_a_400_naming_it(admin_api, dataset):
    response = admin_api.delete(f"/api/datasets/{dataset.pk}/labellers/al%00ice/")
    assert response.status_code == 400
    assert response.data["detail"] == "The username contains a NUL character, which is not text that can be stored."
