"""Dashboard pages and API: who may see them, escaping, sorting, CSV, exclusions."""
import pytest
from django.urls import reverse

from annotation.models import Labeller, LabellerExclusion
from tests.factories import AdminLabellerFactory, LabellerFactory

from .factories import judged_dataset

pytestmark = pytest.mark.django_db
XSS = '<script>alert("x")</script>'


@pytest.fixture
def dataset():
    return judged_dataset(usernames=("ann", "bob", XSS), disagree=XSS)[0]


@pytest.fixture
def admin_client(client):
    client.force_login(AdminLabellerFactory(user__username="admin1").user)
    return client


def page_urls(dataset):
    return [reverse("audit:index"), reverse("audit:dataset", args=[dataset.pk]) + "?compute=1",
            reverse("audit:labellers-csv", args=[dataset.pk])]


def test_pages_send_anonymous_users_and_labellers_away(client, dataset):
    for url in page_urls(dataset):
        assert client.get(url).status_code == 302
    client.force_login(LabellerFactory(user__username="plain").user)
    for url in page_urls(dataset):
        assert client.get(url).status_code == 403


def test_pages_open_for_admins(admin_client, dataset):
    for url in page_urls(dataset):
        assert admin_client.get(url).status_code == 200


def test_api_is_admin_only(client, dataset):
    urls = [f"/api/audit/{dataset.pk}/", f"/api/audit/{dataset.pk}/exclusions/"]
    for url in urls:
        assert client.get(url).status_code in (401, 403)
    client.force_login(LabellerFactory(user__username="plain").user)
    for url in urls:
        assert client.get(url).status_code == 403
    assert client.post(f"/api/audit/{dataset.pk}/exclusions/create/", {"labeller": "ann", "reason": "x"}).status_code == 403


def test_labeller_name_with_markup_is_inert(admin_client, dataset):
    html = admin_client.get(reverse("audit:dataset", args=[dataset.pk]) + "?compute=1").content.decode()
    assert XSS not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html


def test_uncached_page_loads_the_report_with_htmx_and_a_plain_link(admin_client, dataset):
    html = admin_client.get(reverse("audit:dataset", args=[dataset.pk])).content.decode()
    assert 'hx-get="?compute=1"' in html and 'href="?compute=1"' in html
    full = admin_client.get(reverse("audit:dataset", args=[dataset.pk])).content.decode()
    assert "Fleiss" not in full  # still not computed: the page never blocks on the computation
    fragment = admin_client.get(reverse("audit:dataset", args=[dataset.pk]) + "?compute=1", HTTP_HX_REQUEST="true",
                                HTTP_HX_TARGET="report").content.decode()
    assert "Fleiss" in fragment and "<html" not in fragment
    cached = admin_client.get(reverse("audit:dataset", args=[dataset.pk])).content.decode()
    assert "Fleiss" in cached  # now cached: shown at once


def test_labeller_table_sorts_server_side_and_as_an_htmx_fragment(admin_client, dataset):
    url = reverse("audit:dataset", args=[dataset.pk]) + "?compute=1&sort=agreement&dir=asc"
    html = admin_client.get(url, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="labeller-table").content.decode()
    assert html.strip().startswith('<div id="labeller-table"')
    assert html.index("&lt;script&gt;") < html.index(">ann<")  # the disagreeing labeller first
    html = admin_client.get(url.replace("dir=asc", "dir=desc"), HTTP_HX_REQUEST="true",
                            HTTP_HX_TARGET="labeller-table").content.decode()
    assert html.index(">ann<") < html.index("&lt;script&gt;")


def test_csv_download_lists_labellers_and_defuses_formulas(admin_client):
    dataset, _ = judged_dataset(usernames=("ann", "=HYPERLINK(1)", "cat"))
    body = admin_client.get(reverse("audit:labellers-csv", args=[dataset.pk])).content.decode()
    lines = body.splitlines()
    assert lines[0].startswith("username,n,quality,agreement_with_majority_value")
    assert len(lines) == 4 and any(line.startswith("'=HYPERLINK(1)") for line in lines)


def test_exclude_form_records_who_and_why_and_revoke_works(admin_client, dataset):
    ann = Labeller.objects.get(user__username="ann")
    url = reverse("audit:exclude", args=[dataset.pk, ann.pk])
    assert admin_client.get(url).status_code == 200
    response = admin_client.post(url, {"reason": "flagged: left position 90%"})
    assert response.status_code == 302
    exclusion = LabellerExclusion.objects.get(labeller=ann)
    assert (exclusion.dataset_id, exclusion.created_by.username, exclusion.reason) == (dataset.pk, "admin1", "flagged: left position 90%")
    revoke = reverse("audit:exclusion-revoke", args=[dataset.pk, exclusion.pk])
    assert admin_client.post(revoke, {"reason": "mistake"}).status_code == 302
    exclusion.refresh_from_db()
    assert exclusion.revoked_at is not None
    assert (exclusion.revoked_by.username, exclusion.revoke_reason) == ("admin1", "mistake")
    page = admin_client.get(reverse("audit:dataset", args=[dataset.pk]) + "?compute=1").content.decode()
    assert "by admin1: mistake" in page


def test_exclude_form_rejects_a_missing_reason_and_keeps_nothing(admin_client, dataset):
    ann = Labeller.objects.get(user__username="ann")
    response = admin_client.post(reverse("audit:exclude", args=[dataset.pk, ann.pk]), {"reason": ""})
    assert response.status_code == 200 and "This field is required" in response.content.decode()
    assert not LabellerExclusion.objects.exists()


def test_api_report_and_exclusion_lifecycle(admin_client, dataset):
    report = admin_client.get(f"/api/audit/{dataset.pk}/").json()
    assert report["n_labellers"] == 3
    created = admin_client.post(f"/api/audit/{dataset.pk}/exclusions/create/",
                                {"labeller": "ann", "reason": "too fast"}, content_type="application/json")
    assert created.status_code == 201 and created.json()["created_by"] == "admin1"
    assert admin_client.get(f"/api/audit/{dataset.pk}/").json()["n_labellers"] == 2
    listed = admin_client.get(f"/api/audit/{dataset.pk}/exclusions/").json()
    assert [e["labeller"] for e in listed] == ["ann"]
    revoked = admin_client.post(f"/api/audit/exclusions/{listed[0]['id']}/revoke/", {}, content_type="application/json")
    assert revoked.status_code == 200 and revoked.json()["revoked_at"]
    again = admin_client.post(f"/api/audit/exclusions/{listed[0]['id']}/revoke/", {}, content_type="application/json")
    assert again.status_code == 400 and "already revoked" in again.json()["detail"]
    unknown = admin_client.post(f"/api/audit/{dataset.pk}/exclusions/create/", {"labeller": "nobody", "reason": "x"},
                                content_type="application/json")
    assert unknown.status_code == 400 and "nobody" in str(unknown.json())


def test_without_real_times_the_page_says_why_the_time_charts_are_missing(admin_client, dataset):
    from django.utils import timezone

    from annotation.models import Judgement

    Judgement.objects.filter(pair__dataset=dataset).update(created_at=timezone.now())  # an import without times
    page = admin_client.get(reverse("audit:dataset", args=[dataset.pk]) + "?compute=1").content.decode()
    assert page.count("no recorded time of their own") == 2  # in place of the week chart and of the time-of-day charts
    assert "Percent agreement by week" not in page and "Agreement by hour of day" not in page
