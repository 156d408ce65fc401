"""The Team pages: who may open them, the htmx table, and the forms."""
import re

import pytest
from django.test import Client

from annotation.models import Labeller
from annotation.team import services
from tests.annotation.audit.factories import judged_dataset
from tests.annotation.team.test_services import PASSWORD, can_log_in
from tests.factories import AdminLabellerFactory, DatasetFactory, LabellerFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin():
    return AdminLabellerFactory(user__username="boss")


@pytest.fixture
def admin_client(admin):
    client = Client()
    client.force_login(admin.user)
    return client


def team_urls(labeller_id: int) -> list[tuple[str, str]]:
    return [("get", "/team/"), ("get", "/team/new/"), ("post", "/team/new/"), ("post", "/team/assign/"),
            ("get", f"/team/{labeller_id}/"), ("post", f"/team/{labeller_id}/edit/"),
            ("post", f"/team/{labeller_id}/deactivate/"), ("post", f"/team/{labeller_id}/reactivate/"),
            ("post", f"/team/{labeller_id}/password-link/")]


def test_a_labeller_gets_403_on_every_team_page_and_changes_nothing():
    alice = LabellerFactory(user__username="alice")
    victim = LabellerFactory(user__username="victim")
    DatasetFactory()
    client = Client()
    client.force_login(alice.user)
    for method, url in team_urls(victim.pk):
        response = getattr(client, method)(url, {"username": "intruder", "labellers": [victim.pk], "action": "add"})
        assert response.status_code == 403, url
    victim.user.refresh_from_db()
    assert victim.user.is_active and not Labeller.objects.filter(user__username="intruder").exists()


def test_anonymous_visitors_are_sent_to_log_in():
    victim = LabellerFactory()
    for method, url in team_urls(victim.pk):
        response = getattr(Client(), method)(url)
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/"), url


def test_the_nav_links_to_the_team_page_for_admins_only(admin_client):
    assert 'href="/team/"' in admin_client.get("/").content.decode()
    labeller_client = Client()
    labeller_client.force_login(LabellerFactory().user)
    assert 'href="/team/"' not in labeller_client.get("/").content.decode()


def usernames_in(html: str) -> list[str]:
    return re.findall(r'<tr data-username="([^"]+)"', html)


def test_the_table_pages_130_labellers_25_at_a_time(admin_client):
    for i in range(130):
        LabellerFactory(user__username=f"person{i:03d}")
    first = usernames_in(admin_client.get("/team/").content.decode())
    last = usernames_in(admin_client.get("/team/?page=6").content.decode())
    assert first[0] == "boss" and len(first) == 25
    assert last == [f"person{i:03d}" for i in range(124, 130)]  # 131 with the admin: 6 on page 6


def test_an_htmx_sort_returns_only_the_table_sorted(admin_client):
    for name in ("bea", "al", "cy"):
        LabellerFactory(user__username=name)
    response = admin_client.get("/team/?sort=username&dir=desc", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="team-table")
    html = response.content.decode()
    assert "<html" not in html and html.lstrip().startswith('<div id="team-table"')
    assert usernames_in(html) == ["cy", "boss", "bea", "al"]


def test_a_search_that_matches_nobody_says_so(admin_client):
    html = admin_client.get("/team/?q=nobody-here").content.decode()
    assert "No labeller matches" in html and "nobody-here" in html


def test_untrusted_profile_text_is_escaped(admin_client):
    LabellerFactory(user__username="eve", locale="<script>alert(1)</script>", expertise_tags=["<b>x</b>"])
    html = admin_client.get("/team/").content.decode()
    assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)" in html


def test_creating_an_invited_account_shows_a_link_that_sets_the_password_once(admin_client):
    response = admin_client.post("/team/new/", {"username": "newbie", "locale": "fr-FR", "expertise_tags": "law, tax",
                                                "role": "labeller", "how": "invite"})
    assert response.status_code == 200
    link = re.search(r'id="password-link" readonly value="([^"]+)"', response.content.decode()).group(1)
    path = link.replace("http://testserver", "")
    anonymous = Client()
    assert anonymous.get(path).status_code == 200
    done = anonymous.post(path, {"new_password1": PASSWORD, "new_password2": PASSWORD})
    assert done.status_code == 302 and done["Location"] == "/accounts/login/"
    assert can_log_in("newbie", PASSWORD)
    assert anonymous.get(path).status_code == 400
    assert Labeller.objects.get(user__username="newbie").expertise_tags == ["law", "tax"]


def test_creating_with_a_taken_username_shows_the_error_and_creates_nothing(admin_client):
    response = admin_client.post("/team/new/", {"username": "BOSS", "role": "labeller", "how": "invite"})
    assert response.status_code == 200 and "is taken" in response.content.decode()
    assert Labeller.objects.count() == 1


def test_the_assign_form_adds_the_ticked_labellers_to_the_ticked_datasets(admin_client):
    first, second = DatasetFactory(name="first"), DatasetFactory(name="second")
    alice, bob = LabellerFactory(user__username="alice"), LabellerFactory(user__username="bob")
    response = admin_client.post("/team/assign/", {"labellers": [alice.pk, bob.pk], "datasets": [first.pk, second.pk],
                                                   "action": "add", "next": "/team/?page=1"}, follow=True)
    assert response.redirect_chain[-1][0] == "/team/?page=1"
    assert "Added 2 labellers to first, second" in response.content.decode()
    assert set(first.labellers.all()) == set(second.labellers.all()) == {alice, bob}


def test_the_assign_form_reports_a_refusal_and_never_redirects_off_site(admin_client):
    dataset = DatasetFactory()
    alice = LabellerFactory(user__username="alice")
    response = admin_client.post("/team/assign/", {"labellers": [alice.pk], "datasets": [dataset.pk],
                                                   "action": "remove", "next": "https://evil.example/"}, follow=True)
    assert response.redirect_chain[-1][0] == "/team/"
    assert "Nothing changed" in response.content.decode() and "Not labellers of dataset" in response.content.decode()


def test_deactivate_from_the_labeller_page(admin_client, admin):
    labeller = services.labeller_create(username="leaving", password=PASSWORD)
    response = admin_client.post(f"/team/{labeller.pk}/deactivate/", follow=True)
    assert "Deactivated leaving" in response.content.decode()
    assert not can_log_in("leaving", PASSWORD)


def test_a_broken_set_password_link_is_a_400():
    assert Client().get("/team/set-password/bm90LWFuLWlk/not-a-token/").status_code == 400


def test_the_page_offers_to_compute_an_audit_not_yet_computed_and_then_shows_its_figures(admin_client):
    dataset, _ = judged_dataset(n_pairs=12)
    before = admin_client.get(f"/team/?dataset={dataset.pk}").content.decode()
    assert "has not been computed yet" in before and "compute=1" in before
    after = admin_client.get(f"/team/?dataset={dataset.pk}&compute=1").content.decode()
    assert "are up to date" in after
    assert after.count("30.0</td>") == 3  # the audit's median time of each of the three labellers


@pytest.mark.parametrize("query", ["q=al%00ice", "q=%ED%A0%80", "dataset=99999999999999999999999", "page=-1",
                                   "sort=__class__"])
def test_hostile_query_strings_still_show_the_page(admin_client, query):
    assert admin_client.get(f"/team/?{query}").status_code == 200


@pytest.mark.parametrize("uidb64", ["OTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk5", "%00", "MA"])
def test_hostile_set_password_links_are_a_400(uidb64):
    assert Client().get(f"/team/set-password/{uidb64}/x-y/").status_code == 400


def test_an_ai_labeller_is_listed_with_a_badge_and_cannot_be_selected_or_edited(admin_client):
    robot = LabellerFactory(user__username="judge-bot", kind=Labeller.Kind.MODEL, role=Labeller.Role.AI)
    person = LabellerFactory(user__username="person")
    html = admin_client.get("/team/").content.decode()
    robot_row = re.search(r'<tr data-username="judge-bot">(.*?)</tr>', html, re.S).group(1)
    person_row = re.search(r'<tr data-username="person">(.*?)</tr>', html, re.S).group(1)
    assert 'class="badge ai"' in robot_row and 'type="checkbox"' not in robot_row
    assert 'class="badge ai"' not in person_row and f'value="{person.pk}"' in person_row
    page = admin_client.get(f"/team/{robot.pk}/").content.decode()
    assert "Deactivate" not in page and "Make a password link" not in page
    refused = admin_client.post(f"/team/{robot.pk}/edit/", {"locale": "fr", "expertise_tags": ""})
    assert refused.status_code == 400
    robot.refresh_from_db()
    assert robot.locale == ""
