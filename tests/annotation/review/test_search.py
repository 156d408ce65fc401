"""Judgement and pair search: each filter, pagination and who may search what (page and API)."""
from datetime import datetime, timezone as dt_timezone

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from annotation.review.search import SearchFilters, judgements_search, pairs_search
from annotation.review.services import reviewer_grant
from tests.factories import (AdminLabellerFactory, DatasetFactory, JudgementFactory, LabellerFactory, PairFactory,
                             PromptFactory, ResponseFactory)

pytestmark = pytest.mark.django_db
DAY = lambda d: datetime(2026, 3, d, 12, tzinfo=dt_timezone.utc)  # noqa: E731


@pytest.fixture
def data():
    """Two datasets; in the first, ann and bob judge three pairs on three days."""
    first, second = DatasetFactory(), DatasetFactory()
    ann, bob = LabellerFactory(user__username="ann"), LabellerFactory(user__username="bob")
    prompt = PromptFactory(dataset=first, messages=[{"role": "user", "content": "How do volcanoes erupt?"}])
    volcano = PairFactory(dataset=first, prompt=prompt,
                          response_b=ResponseFactory(prompt=prompt, text="Magma rises through the crust."))
    p2, p3 = PairFactory(dataset=first), PairFactory(dataset=first)
    js = {
        "ann_volcano": JudgementFactory(pair=volcano, labeller=ann, choice="a", created_at=DAY(1)),
        "bob_volcano": JudgementFactory(pair=volcano, labeller=bob, choice="b", created_at=DAY(2),
                                        rationale="B mentions the crust"),
        "ann_p2": JudgementFactory(pair=p2, labeller=ann, choice="tie", created_at=DAY(3),
                                   flags={"a": ["harmful"], "b": []}),
        "bob_p3": JudgementFactory(pair=p3, labeller=bob, choice="a", created_at=DAY(3), rationale="Clearer."),
        "other": JudgementFactory(pair=PairFactory(dataset=second), labeller=ann, choice="a", created_at=DAY(1)),
    }
    return first, second, volcano, js


def ids(qs):
    return sorted(j.pk for j in qs)


def test_each_judgement_filter_narrows_to_what_it_names(data):
    first, second, volcano, js = data
    base = dict(dataset_ids=[first.pk])
    cases = [
        (dict(labeller="ann"), ["ann_volcano", "ann_p2"]),
        (dict(choice="a"), ["ann_volcano", "bob_p3"]),
        (dict(since=DAY(2)), ["bob_volcano", "ann_p2", "bob_p3"]),
        (dict(until=DAY(2)), ["ann_volcano"]),
        (dict(flagged=True), ["ann_p2"]),
        (dict(flagged=False), ["ann_volcano", "bob_volcano", "bob_p3"]),
        (dict(q="VOLCANO"), ["ann_volcano", "bob_volcano"]),  # prompt text, any case
        (dict(q="magma"), ["ann_volcano", "bob_volcano"]),  # a response
        (dict(q="clearer"), ["bob_p3"]),  # a rationale
        (dict(labeller="bob", q="crust"), ["bob_volcano"]),
    ]
    for filters, expected in cases:
        got = ids(judgements_search(filters=SearchFilters(**base, **filters)))
        assert got == sorted(js[k].pk for k in expected), filters


def test_the_search_stays_within_the_datasets_given(data):
    first, second, _, js = data
    assert ids(judgements_search(filters=SearchFilters(dataset_ids=[second.pk]))) == [js["other"].pk]


def test_pairs_are_found_by_their_text_or_by_a_matching_judgement(data):
    first, _, volcano, js = data
    by_text = pairs_search(filters=SearchFilters(dataset_ids=[first.pk], q="magma"))
    by_judgement = pairs_search(filters=SearchFilters(dataset_ids=[first.pk], flagged=True))
    assert [p.pk for p in by_text] == [volcano.pk]
    assert [p.pk for p in by_judgement] == [js["ann_p2"].pair_id]


def test_the_api_applies_the_query_parameters_and_pages(data):
    first, _, _, js = data
    client = APIClient()
    client.force_authenticate(AdminLabellerFactory().user)
    url = reverse("review-search-judgements")

    body = client.get(url, {"dataset": first.pk, "labeller": "ann", "since": "2026-03-02"}).json()
    paged = client.get(url, {"dataset": first.pk, "limit": 2, "offset": 2}).json()

    assert [r["id"] for r in body["results"]] == [js["ann_p2"].pk]
    assert paged["count"] == 4 and len(paged["results"]) == 2
    assert client.get(url, {"choice": "nonsense"}).status_code == 400


def test_a_reviewer_searches_only_the_datasets_they_review(data):
    first, second, _, js = data
    reviewer = LabellerFactory()
    reviewer_grant(dataset=second, labeller=reviewer, granted_by=AdminLabellerFactory().user)
    client = APIClient()
    client.force_authenticate(reviewer.user)
    url = reverse("review-search-judgements")

    assert [r["id"] for r in client.get(url).json()["results"]] == [js["other"].pk]
    assert client.get(url, {"dataset": first.pk}).status_code == 403
    client.force_authenticate(LabellerFactory().user)
    assert client.get(url).json()["count"] == 0


def test_the_search_page_lists_matches_escaped_and_pages_with_htmx(client, data):
    first, _, volcano, js = data
    js["bob_p3"].rationale = "<script>alert(1)</script>"
    js["bob_p3"].save()
    client.force_login(AdminLabellerFactory().user)

    page = client.get(reverse("review:search"), {"dataset": first.pk, "labeller": "bob"})
    fragment = client.get(reverse("review:search"), {"what": "pairs", "q": "magma"}, HTTP_HX_REQUEST="true")

    html = page.content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>alert(1)" not in html
    assert "2 judgements found" in html
    assert fragment.content.decode().lstrip().startswith('<div id="results">')
    assert f'/review/{first.pk}/pairs/{volcano.pk}/' in fragment.content.decode()
