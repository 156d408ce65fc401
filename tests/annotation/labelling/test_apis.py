import pytest
from rest_framework.test import APIClient

from annotation.models import Judgement
from tests.factories import LabellerFactory

pytestmark = pytest.mark.django_db


def test_next_and_submit_with_a_token(api):
    client, dataset, labeller = api
    lease = client.post(f"/api/datasets/{dataset.pk}/next/").json()
    assert set(lease) == {"id", "pair_id", "expires_at", "messages", "left", "right"}
    assert {lease["left"]["side"], lease["right"]["side"]} == {"a", "b"}
    assert client.post(f"/api/datasets/{dataset.pk}/next/").json()["id"] == lease["id"]  # same active lease
    body = {"choice": "right", "strength": 2, "flags": {"b": ["factually_wrong"]}, "time_ms": 900, "idempotency_key": "x1"}
    first = client.post(f"/api/assignments/{lease['id']}/judgement/", body, format="json")
    retry = client.post(f"/api/assignments/{lease['id']}/judgement/", body, format="json")
    assert first.status_code == retry.status_code == 201
    assert first.json()["id"] == retry.json()["id"]
    assert first.json()["choice"] == lease["right"]["side"]
    assert Judgement.objects.get().shown_left == lease["left"]["side"]


def test_empty_queue_is_204(api):
    client, dataset, _ = api
    for _ in range(2):
        lease = client.post(f"/api/datasets/{dataset.pk}/next/").json()
        client.post(f"/api/assignments/{lease['id']}/judgement/", {"choice": "tie"}, format="json")
    assert client.post(f"/api/datasets/{dataset.pk}/next/").status_code == 204


def test_bad_input_is_a_400_naming_the_problem(api):
    client, dataset, _ = api
    lease = client.post(f"/api/datasets/{dataset.pk}/next/").json()
    response = client.post(f"/api/assignments/{lease['id']}/judgement/", {"choice": "a", "strength": 9}, format="json")
    assert response.status_code == 400 and "scale" in response.json()["detail"]


def test_permissions(api, make_dataset):
    client, dataset, labeller = api
    lease = client.post(f"/api/datasets/{dataset.pk}/next/").json()
    anonymous = APIClient().post(f"/api/datasets/{dataset.pk}/next/")
    assert anonymous.status_code == 401 and anonymous["WWW-Authenticate"] == "Token"
    outsider = APIClient()
    outsider.force_authenticate(LabellerFactory().user)
    assert outsider.post(f"/api/datasets/{dataset.pk}/next/").status_code == 403
    response = outsider.post(f"/api/assignments/{lease['id']}/judgement/", {"choice": "a"}, format="json")
    assert response.status_code == 400 and "not one of yours" in response.json()["detail"]
    other_dataset, _, _ = make_dataset(n_pairs=1)
    assert client.post(f"/api/datasets/{other_dataset.pk}/next/").status_code == 403
    assert not Judgement.objects.exists()


def test_session_auth_and_skip(client, api):
    _, dataset, labeller = api
    client.force_login(labeller.user)
    lease = client.post(f"/api/datasets/{dataset.pk}/next/").json()
    response = client.post(f"/api/assignments/{lease['id']}/skip/", {"reason": "no"}, content_type="application/json")
    assert response.status_code == 204


def test_endpoints_are_in_the_schema(client):
    schema = client.get("/api/schema/").content.decode()
    for path in ("/api/datasets/{dataset_id}/next/", "/api/assignments/{assignment_id}/judgement/"):
        assert path in schema
