from html.parser import HTMLParser

import pytest
from django.urls import reverse

from annotation.labelling.markup import markdown_to_safe_html
from annotation.models import Assignment, Judgement
from tests.factories import LabellerFactory, PairFactory, PromptFactory, ResponseFactory, UserFactory

pytestmark = pytest.mark.django_db

XSS = '<script>window.pwned=1</script><img src=x onerror="window.pwned=1"> [x](javascript:alert(1))'


class Elements(HTMLParser):
    """Every start tag with its attributes, as a browser's parser would see them."""

    def __init__(self):
        super().__init__()
        self.tags = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def elements(html):
    parser = Elements()
    parser.feed(html)
    return parser.tags


@pytest.fixture
def labeller_client(client, make_dataset):
    dataset, pairs, (labeller,) = make_dataset(n_pairs=2)
    client.force_login(labeller.user)
    return client, dataset, labeller


def test_markdown_keeps_formatting_and_code_but_shows_html_as_text():
    html = markdown_to_safe_html("**bold**\n\n```python\nprint('<b>')\n```\n\n" + XSS)
    assert "<strong>bold</strong>" in html
    assert '<code class="language-python">' in html and "&lt;b&gt;" in html
    assert "&lt;script&gt;" in html  # shown as text
    tags = elements(html)
    assert "script" not in [t for t, _ in tags] and "img" not in [t for t, _ in tags]
    assert not any(name.startswith("on") or "javascript:" in (value or "") for _, a in tags for name, value in a.items())


def test_xss_in_a_response_is_inert_on_the_comparison_page(client, make_dataset):
    dataset, _, (labeller,) = make_dataset(n_pairs=0)
    prompt = PromptFactory(dataset=dataset, messages=[{"role": "user", "content": "hi <script>window.pwned=2</script>"}])
    PairFactory(dataset=dataset, prompt=prompt, response_a=ResponseFactory(prompt=prompt, text=XSS),
                response_b=ResponseFactory(prompt=prompt, text="fine", source="y"))
    client.force_login(labeller.user)
    html = client.post(reverse("labelling:compare", args=[dataset.pk]), follow=True).content.decode()
    assert "&lt;script&gt;window.pwned=1&lt;/script&gt;" in html
    assert "window.pwned" not in "".join(
        v or "" for _, attrs in elements(html) for v in attrs.values()
    )
    scripts = [attrs for tag, attrs in elements(html) if tag == "script"]
    assert all("src" in attrs for attrs in scripts)  # only our own script files, no inline payload
    assert "<script>window.pwned" not in html


def test_comparison_page_shows_the_leased_pair_in_its_left_right_order(labeller_client):
    client, dataset, labeller = labeller_client
    response = client.post(reverse("labelling:compare", args=[dataset.pk]), follow=True)
    lease = Assignment.objects.get(labeller=labeller)
    html = response.content.decode()
    left = lease.pair.response_a if lease.shown_left == "a" else lease.pair.response_b
    right = lease.pair.response_b if lease.shown_left == "a" else lease.pair.response_a
    assert html.index(left.text) < html.index(right.text)
    assert html.count('type="submit" name="choice"') == 4
    assert "left in your queue" in html


def test_judging_without_javascript_posts_and_redirects_to_the_next_pair(labeller_client):
    client, dataset, labeller = labeller_client
    client.post(reverse("labelling:compare", args=[dataset.pk]), follow=True)
    lease = Assignment.objects.get(labeller=labeller)
    response = client.post(
        reverse("labelling:judge", args=[dataset.pk, lease.pk]),
        {"choice": "right", "strength": "3", "rationale": "more precise", "flags_a": ["harmful"],
         "idempotency_key": f"lease-{lease.pk}"},
    )
    assert response.status_code == 302 and response.url == reverse("labelling:compare", args=[dataset.pk])
    judgement = Judgement.objects.get(labeller=labeller)
    right = "b" if lease.shown_left == "a" else "a"
    assert (judgement.choice, judgement.strength, judgement.flags) == (right, 3, {"a": ["harmful"]})
    assert judgement.time_ms is not None  # measured on the server when the client sends none


def test_htmx_submit_swaps_in_the_next_pair(labeller_client):
    client, dataset, labeller = labeller_client
    client.post(reverse("labelling:compare", args=[dataset.pk]), follow=True)
    lease = Assignment.objects.get(labeller=labeller)
    response = client.post(
        reverse("labelling:judge", args=[dataset.pk, lease.pk]),
        {"choice": "tie", "strength": "2", "time_ms": "5300"}, HTTP_HX_REQUEST="true",
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<div id="work"') and "<html" not in html
    judgement = Judgement.objects.get(labeller=labeller)
    assert (judgement.choice, judgement.strength, judgement.time_ms) == ("tie", None, 5300)
    next_lease = Assignment.objects.get(labeller=labeller, status=Assignment.Status.ACTIVE)
    assert next_lease.pair_id != lease.pair_id and f"Pair {next_lease.pair_id}:" in html


def test_errors_are_shown_and_nothing_is_saved(labeller_client):
    client, dataset, labeller = labeller_client
    client.post(reverse("labelling:compare", args=[dataset.pk]), follow=True)
    lease = Assignment.objects.get(labeller=labeller)
    response = client.post(reverse("labelling:judge", args=[dataset.pk, lease.pk]), {"choice": "maybe"},
                           HTTP_HX_REQUEST="true")
    assert "not one of this dataset&#x27;s choices" in response.content.decode()
    assert not Judgement.objects.exists()


def test_skip_and_empty_queue_page(labeller_client):
    client, dataset, labeller = labeller_client
    for _ in range(2):
        client.post(reverse("labelling:compare", args=[dataset.pk]), follow=True)
        lease = Assignment.objects.get(labeller=labeller, status=Assignment.Status.ACTIVE)
        client.post(reverse("labelling:skip", args=[dataset.pk, lease.pk]), {"reason": "I lack the expertise"})
    html = client.post(reverse("labelling:compare", args=[dataset.pk]), follow=True).content.decode()
    assert "Nothing left for you here right now" in html
    assert set(Assignment.objects.values_list("status", flat=True)) == {Assignment.Status.SKIPPED}


def test_revise_page_keeps_the_original(labeller_client):
    client, dataset, labeller = labeller_client
    client.post(reverse("labelling:compare", args=[dataset.pk]), follow=True)
    lease = Assignment.objects.get(labeller=labeller)
    client.post(reverse("labelling:judge", args=[dataset.pk, lease.pk]), {"choice": "left"})
    original = Judgement.objects.get(labeller=labeller)
    page = client.get(reverse("labelling:compare", args=[dataset.pk])).content.decode()
    revise_url = reverse("labelling:revise", args=[dataset.pk, original.pk])
    assert revise_url in page  # "my recent judgements" links to it
    assert client.get(revise_url).status_code == 200
    response = client.post(revise_url, {"choice": "tie", "rationale": "on reflection"})
    assert response.status_code == 302
    original.refresh_from_db()
    assert original.superseded and original.choice == lease.shown_left
    assert Judgement.objects.get(revision_of=original).choice == "tie"


def test_pages_only_for_assigned_labellers(client, make_dataset):
    dataset, _, _ = make_dataset(n_pairs=1)
    outsider = LabellerFactory()
    client.force_login(outsider.user)
    assert client.get(reverse("labelling:compare", args=[dataset.pk])).status_code == 404
    assert dataset.name not in client.get(reverse("labelling:datasets")).content.decode()
    client.logout()
    assert client.get(reverse("labelling:compare", args=[dataset.pk])).status_code == 302


def test_dataset_list_shows_progress(labeller_client):
    client, dataset, labeller = labeller_client
    html = client.get(reverse("labelling:datasets")).content.decode()
    assert dataset.name in html and "2 of 2" in html


def test_an_account_without_a_labeller_profile_is_told_to_ask_an_admin(client):
    client.force_login(UserFactory())
    assert "Ask an admin" in client.get(reverse("labelling:datasets")).content.decode()
