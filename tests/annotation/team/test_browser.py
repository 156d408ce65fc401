"""The Team page end to end in Debian's chromium, on a desktop (1280x800) and a phone (390x844):
create an account, assign labellers to a dataset in bulk, deactivate one; nothing scrolls sideways."""
import pytest
from django.test import Client
from playwright.sync_api import expect, sync_playwright

from annotation.models import Labeller
from common.chromium import chromium_launch
from tests.annotation.audit.factories import judged_dataset
from tests.factories import AdminLabellerFactory, DatasetFactory

expect.set_options(timeout=30_000)  # a liveness guard on a busy machine, not a speed bound
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}


def assert_fits(page, viewport, what):
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= viewport["width"], f"{what} is {width} px wide in {viewport['width']}"


@pytest.mark.browser
@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_create_assign_and_deactivate(live_server, transactional_db, monkeypatch, viewport):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    judged_dataset(n_pairs=6, usernames=("ann", "bob", "a-labeller-with-a-rather-long-username-indeed"),
                   name="helpfulness-and-harmlessness-preferences-2026")
    target = DatasetFactory(name="new-batch")
    admin = AdminLabellerFactory(user__username="boss")
    client = Client()
    client.force_login(admin.user)

    with sync_playwright() as p:
        browser = chromium_launch(p)
        context = browser.new_context(viewport=viewport)
        context.add_cookies([{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}])
        page = context.new_page()
        page.goto(f"{live_server.url}/team/")
        expect(page.locator("tr[data-username=ann]")).to_be_visible()
        assert_fits(page, viewport, "the Team page")

        # Create: an account with a password set now.
        page.get_by_role("link", name="New labeller…").click()
        page.get_by_label("Username").fill("zoe")
        page.get_by_label("Locale").fill("en-GB")
        page.get_by_label("Expertise tags").fill("medicine, law")
        page.get_by_label("Set a password now").check()
        page.locator("#id_password").fill("a-long-enough-passphrase-41")
        assert_fits(page, viewport, "the new-labeller form")
        page.get_by_role("button", name="Create account").click()
        expect(page.get_by_text("Created zoe")).to_be_visible()
        assert_fits(page, viewport, "the labeller page")

        # Assign: search narrows the table (htmx), then tick two labellers and the dataset, and add.
        page.goto(f"{live_server.url}/team/")
        page.get_by_label("Search by name").fill("o")
        expect(page.locator("tr[data-username=ann]")).to_have_count(0)
        page.get_by_label("Select zoe").check()
        page.get_by_label("Select bob").check()
        page.get_by_label("new-batch").check()
        page.get_by_role("button", name="Add to datasets").click()
        expect(page.get_by_text("Added 2 labellers to new-batch")).to_be_visible()
        assert_fits(page, viewport, "the Team page after assigning")

        # Sort by progress, descending, through the column header (htmx swaps the table).
        page.get_by_role("link", name="Progress").click()
        expect(page.get_by_role("link", name="Progress ▲")).to_be_visible()

        # Deactivate zoe from her page.
        page.get_by_role("link", name="zoe", exact=True).click()
        page.get_by_role("button", name="Deactivate").click()
        expect(page.get_by_text("Deactivated zoe")).to_be_visible()
        expect(page.get_by_role("button", name="Reactivate")).to_be_visible()
        assert_fits(page, viewport, "the labeller page after deactivating")
        context.close()
        browser.close()

    zoe = Labeller.objects.select_related("user").get(user__username="zoe")
    assert (zoe.locale, zoe.expertise_tags, zoe.user.is_active) == ("en-GB", ["medicine", "law"], False)
    assert sorted(target.labellers.values_list("user__username", flat=True)) == ["bob", "zoe"]
