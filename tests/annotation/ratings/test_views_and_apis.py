import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from annotation.models import Rating, RatingAssignment
from tests.factories import DatasetFactory, LabellerFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(make_rate_dataset):
    dataset, items, (labeller,) = make_rate_dataset(n_items=2)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=labeller.user).key}")
    return client, dataset, labeller


def test_the_api_leases_a_response_and_takes_a_rating(api):
    client, dataset, labeller = api
    lease = client.post(f"/api/datasets/{dataset.pk}/ratings/next/")
    assert lease.status_code == 200
    body = lease.json()
    assert set(body) == {"id", "item_id", "expires_at", "prompt", "response"}  # never the model, repeat or gold
    made = client.post(f"/api/rating-assignments/{body['id']}/rating/",
                       {"label": "down", "flags": ["off_topic"], "idempotency_key": "x1"}, format="json")
    assert made.status_code == 201 and made.json()["label"] is False
    again = client.post(f"/api/rating-assignments/{body['id']}/rating/", {"label": True, "idempotency_key": "x1"},
                        format="json")
    assert again.json()["id"] == made.json()["id"]


def test_the_api_answers_204_when_nothing_is_left(api):
    client, dataset, labeller = api
    for _ in range(2):
        lease = client.post(f"/api/datasets/{dataset.pk}/ratings/next/").json()
        client.post(f"/api/rating-assignments/{lease['id']}/skip/", {"reason": "no"}, format="json")
    assert client.post(f"/api/datasets/{dataset.pk}/ratings/next/").status_code == 204


def test_the_api_refuses_a_labeller_not_assigned(api):
    client, dataset, labeller = api
    other = DatasetFactory(mode="rate")
    assert client.post(f"/api/datasets/{other.pk}/ratings/next/").status_code == 403


def test_the_api_names_a_bad_label(api):
    client, dataset, labeller = api
    lease = client.post(f"/api/datasets/{dataset.pk}/ratings/next/").json()
    bad = client.post(f"/api/rating-assignments/{lease['id']}/rating/", {"label": "maybe"}, format="json")
    assert bad.status_code == 400 and "label" in bad.json()
    assert not Rating.objects.exists()


def test_the_label_page_of_a_rate_dataset_sends_the_labeller_to_the_rating_page(client, make_rate_dataset):
    dataset, items, (labeller,) = make_rate_dataset()
    client.force_login(labeller.user)
    response = client.get(f"/label/{dataset.pk}/")
    assert response.status_code == 302 and response["Location"] == f"/label/{dataset.pk}/rate/"


def test_the_rating_page_leases_only_on_post_and_rates_without_javascript(client, make_rate_dataset):
    dataset, items, (labeller,) = make_rate_dataset(n_items=1)
    client.force_login(labeller.user)
    page = client.get(f"/label/{dataset.pk}/rate/")
    assert b"Show me a response" in page.content and not RatingAssignment.objects.exists()
    client.post(f"/label/{dataset.pk}/rate/")
    lease = RatingAssignment.objects.get()
    done = client.post(f"/label/{dataset.pk}/rate/{lease.pk}/submit/", {"label": "up", "flags": ["harmful"]},
                       follow=True)
    rating = Rating.objects.get()
    assert rating.label is True and rating.flags == ["harmful"]
    assert b"Nothing left for you here" in done.content


def test_the_rating_page_escapes_the_conversation_and_the_response(client, make_rate_dataset):
    dataset, (item,), (labeller,) = make_rate_dataset(n_items=1)
    item.response.text = '<img src=x onerror="alert(1)">'
    item.response.save()
    item.response.prompt.messages = [{"role": "user", "content": "<script>alert(2)</script>"}]
    item.response.prompt.save()
    client.force_login(labeller.user)
    page = client.post(f"/label/{dataset.pk}/rate/", follow=True).content.decode()
    assert "<img src=x" not in page and "<script>alert(2)" not in page
    assert "&lt;img src=x" in page and "&lt;script&gt;alert(2)" in page


def test_the_rating_page_of_a_compare_dataset_is_not_found(client):
    dataset = DatasetFactory()
    labeller = LabellerFactory()
    dataset.labellers.add(labeller)
    client.force_login(labeller.user)
    assert client.get(f"/label/{dataset.pk}/rate/").status_code == 404


def test_a_labeller_revises_her_rating_on_its_page(client, make_rate_dataset):
    dataset, items, (labeller,) = make_rate_dataset(n_items=1)
    client.force_login(labeller.user)
    client.post(f"/label/{dataset.pk}/rate/")
    lease = RatingAssignment.objects.get()
    client.post(f"/label/{dataset.pk}/rate/{lease.pk}/submit/", {"label": "up"})
    original = Rating.objects.get()
    assert client.get(f"/label/{dataset.pk}/ratings/{original.pk}/revise/").status_code == 200
    client.post(f"/label/{dataset.pk}/ratings/{original.pk}/revise/", {"label": "down", "rationale": "Wrong"})
    current = Rating.objects.get(superseded=False)
    assert current.revision_of_id == original.pk and current.label is False


def test_the_dataset_list_links_a_rate_dataset_to_its_rating_page(client, make_rate_dataset):
    dataset, items, (labeller,) = make_rate_dataset(n_items=2)
    client.force_login(labeller.user)
    page = client.get("/label/").content.decode()
    assert f'href="/label/{dataset.pk}/rate/"' in page and "2 of 2 responses" in page
