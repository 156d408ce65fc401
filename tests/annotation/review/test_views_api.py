"""Review pages and API: who may open them, escaping, deciding, the reviewer role."""
import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from annotation.models import DatasetReviewer, ReviewDecision
from annotation.review.services import reviewer_grant
from tests.factories import AdminLabellerFactory, DatasetFactory, JudgementFactory, LabellerFactory, PairFactory

pytestmark = pytest.mark.django_db
XSS = '<img src=x onerror="alert(1)">'


@pytest.fixture
def split():
    """A pair with a hostile response and rationale, judged a and b."""
    dataset = DatasetFactory()
    pair = PairFactory(dataset=dataset)
    pair.response_a.text = XSS
    pair.response_a.save()
    JudgementFactory(pair=pair, choice="a", rationale=XSS)
    JudgementFactory(pair=pair, choice="b")
    return dataset, pair


def test_a_labeller_without_the_role_gets_403_and_a_reviewer_gets_the_pages(client, split):
    dataset, pair = split
    labeller = LabellerFactory()
    client.force_login(labeller.user)
    urls = [reverse("review:queue", args=[dataset.pk]), reverse("review:pair", args=[dataset.pk, pair.pk])]
    assert [client.get(u).status_code for u in urls] == [403, 403]
    reviewer_grant(dataset=dataset, labeller=labeller, granted_by=AdminLabellerFactory().user)
    assert [client.get(u).status_code for u in urls] == [200, 200]
    assert dataset.name in client.get(reverse("review:index")).content.decode()


def test_the_review_page_shows_every_judgement_escaped(client, split):
    dataset, pair = split
    client.force_login(AdminLabellerFactory().user)
    html = client.get(reverse("review:pair", args=[dataset.pk, pair.pk])).content.decode()
    assert XSS not in html and "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in html
    assert "A better" in html and "B better" in html and "Labellers disagree" in html


def test_posting_an_override_records_it_and_goes_on(client, split):
    dataset, pair = split
    admin = AdminLabellerFactory()
    client.force_login(admin.user)
    response = client.post(reverse("review:pair", args=[dataset.pk, pair.pk]),
                           {"action": "override", "choice": "b", "reason": "B is right", "extra_judgements": "2"})
    decision = ReviewDecision.objects.get()
    assert response.status_code == 302
    assert (decision.action, decision.choice, decision.reviewer, decision.extra_judgements) == ("override", "b", admin.user, 0)
    assert decision.listed_for[0]["kind"] == "disagreement"


def test_an_override_without_a_reason_is_refused_with_the_reason_why(client, split):
    dataset, pair = split
    client.force_login(AdminLabellerFactory().user)
    response = client.post(reverse("review:pair", args=[dataset.pk, pair.pk]), {"action": "override", "choice": "b"})
    assert response.status_code == 200 and "needs a reason" in response.content.decode()
    assert not ReviewDecision.objects.exists()


def test_the_queue_page_lists_the_pair_and_pages_with_htmx(client, split):
    dataset, pair = split
    client.force_login(AdminLabellerFactory().user)
    page = client.get(reverse("review:queue", args=[dataset.pk]))
    fragment = client.get(reverse("review:queue", args=[dataset.pk]), {"kind": "flagged"}, HTTP_HX_REQUEST="true")
    assert f"Pair {pair.pk}" in page.content.decode()
    assert fragment.content.decode().lstrip().startswith('<div id="queue">')
    assert "No pair matches these filters" in fragment.content.decode()


def test_admins_give_and_take_the_reviewer_role_on_the_queue_page(client, split):
    dataset, _ = split
    labeller = LabellerFactory(user__username="rita")
    client.force_login(AdminLabellerFactory().user)
    client.post(reverse("review:reviewer-add", args=[dataset.pk]), {"username": "rita"})
    assert DatasetReviewer.objects.filter(dataset=dataset, labeller=labeller).exists()
    client.post(reverse("review:reviewer-remove", args=[dataset.pk, labeller.pk]))
    assert not DatasetReviewer.objects.exists()
    client.force_login(labeller.user)
    assert client.post(reverse("review:reviewer-add", args=[dataset.pk]), {"username": "rita"}).status_code == 403


def test_the_api_lists_the_queue_and_records_a_send_back(split):
    dataset, pair = split
    client = APIClient()
    client.force_authenticate(AdminLabellerFactory().user)
    queue = client.get(reverse("review-queue", args=[dataset.pk])).json()
    made = client.post(reverse("review-decisions", args=[dataset.pk, pair.pk]),
                       {"action": "send_back", "extra_judgements": 2, "reason": "split"}, format="json")
    listed = client.get(reverse("review-decisions", args=[dataset.pk, pair.pk])).json()
    assert [item["pair"] for item in queue["results"]] == [pair.pk]
    assert made.status_code == 201 and made.json()["extra_judgements"] == 2
    assert [d["action"] for d in listed["results"]] == ["send_back"]
    pair.refresh_from_db()
    assert pair.extra_overlap == 2  # wanted: max(overlap_k 3 + 0, 2 judgements) + 2 = 5 = 3 + 2


def test_the_api_answers_403_to_a_labeller_without_the_role_and_400_to_a_bad_override(split):
    dataset, pair = split
    client = APIClient()
    client.force_authenticate(LabellerFactory().user)
    assert client.get(reverse("review-queue", args=[dataset.pk])).status_code == 403
    assert client.post(reverse("review-decisions", args=[dataset.pk, pair.pk]), {"action": "accept"},
                       format="json").status_code == 403
    client.force_authenticate(AdminLabellerFactory().user)
    bad = client.post(reverse("review-decisions", args=[dataset.pk, pair.pk]), {"action": "override", "choice": "a"},
                      format="json")
    assert bad.status_code == 400 and "reason" in bad.json()["detail"]


def test_next_goes_to_the_open_pair_after_this_one_and_back_to_the_queue_at_the_end(client):
    dataset = DatasetFactory()
    pairs = [PairFactory(dataset=dataset) for _ in range(2)]
    for pair in pairs:
        JudgementFactory(pair=pair, choice="a")
        JudgementFactory(pair=pair, choice="b")
    admin = AdminLabellerFactory()
    client.force_login(admin.user)
    first, second = sorted(p.pk for p in pairs)  # equal priority: the older pair first
    url = reverse("review:next", args=[dataset.pk])

    assert client.get(url, {"after": first}).url == reverse("review:pair", args=[dataset.pk, second])
    assert client.get(url, {"after": second}).url == reverse("review:pair", args=[dataset.pk, first])
    client.post(reverse("review:pair", args=[dataset.pk, first]), {"action": "accept"})
    client.post(reverse("review:pair", args=[dataset.pk, second]), {"action": "accept"})
    assert client.get(url, {"after": second}).url == reverse("review:queue", args=[dataset.pk])


def test_admins_give_and_take_the_reviewer_role_through_the_api(split):
    dataset, _ = split
    LabellerFactory(user__username="rita")
    client = APIClient()
    client.force_authenticate(AdminLabellerFactory().user)
    url = reverse("review-reviewers", args=[dataset.pk])

    assert client.post(url, {"username": "rita"}, format="json").json() == {"reviewers": ["rita"]}
    assert client.post(url, {"username": "nobody"}, format="json").status_code == 400
    assert client.delete(reverse("review-reviewer-remove", args=[dataset.pk, "rita"])).status_code == 204
    assert client.get(url).json() == {"reviewers": []}
    client.force_authenticate(LabellerFactory().user)
    assert client.post(url, {"username": "rita"}, format="json").status_code == 403
