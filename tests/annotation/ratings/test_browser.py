"""End to end in Debian's chromium: log in, reach the rating page from the home page, and rate
three responses with the keyboard alone (up, down with a rationale, skip, up)."""
import pytest
from playwright.sync_api import expect, sync_playwright

from annotation.models import Rating, RatingAssignment
from common.chromium import chromium_launch
from tests.annotation.ratings.factories import RateDatasetFactory, RatingItemFactory
from tests.factories import LabellerFactory

expect.set_options(timeout=30_000)  # a liveness guard on a busy machine, not a speed bound


@pytest.mark.browser
def test_rate_responses_with_the_keyboard_alone(live_server, transactional_db, monkeypatch):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    dataset = RateDatasetFactory(overlap_k=1, instructions="Thumbs up for **honest** answers.")
    items = [RatingItemFactory(dataset=dataset) for _ in range(5)]
    items[-1].response.text = "<script>window.pwned = 1</script> **bold**"  # the queue's first (the newest)
    items[-1].response.save()
    labeller = LabellerFactory()
    dataset.labellers.add(labeller)

    with sync_playwright() as p:
        browser = chromium_launch(p)
        page = browser.new_page()
        page.goto(f"{live_server.url}/accounts/login/?next=/")
        page.keyboard.type(labeller.user.username)
        page.keyboard.press("Tab")
        page.keyboard.type("pw-for-tests")
        page.keyboard.press("Enter")
        page.get_by_role("cell", name="Label").get_by_role("link").click()  # the home page's link, as for comparisons
        expect(page.get_by_role("button", name="Show me a response")).to_be_focused()
        assert page.url.endswith(f"/label/{dataset.pk}/rate/")
        page.keyboard.press("Enter")
        heading = page.locator("#pair-heading")
        expect(heading).to_be_focused()

        expect(page.locator(".response .md")).to_contain_text("<script>window.pwned = 1</script>")  # as text
        shown = heading.inner_text()
        page.keyboard.press("1")  # thumbs up
        expect(heading).not_to_have_text(shown)
        expect(heading).to_be_focused()

        shown = heading.inner_text()
        page.keyboard.press("r")  # rationale, then Esc back out of the box, then thumbs down
        page.keyboard.type("Made up a citation")
        page.keyboard.press("Escape")
        page.keyboard.press("2")
        expect(heading).not_to_have_text(shown)
        expect(heading).to_be_focused()

        # htmx focuses the new heading once the swap has settled: a person reads before pressing a key
        page.wait_for_function("() => !document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling')")
        shown = heading.inner_text()
        page.keyboard.press("s")  # skip, with a reason
        expect(page.locator("#skip-reason")).to_be_focused()
        page.keyboard.type("Unreadable to me")  # not a datalist option: Enter submits, never picks one
        page.keyboard.press("Enter")
        expect(heading).not_to_have_text(shown)

        page.keyboard.press("1")
        expect(page.locator("#recent-heading + table tbody tr")).to_have_count(3)
        assert page.evaluate("window.pwned") is None  # the response's markup was shown escaped
        assert page.url.endswith(f"/label/{dataset.pk}/rate/")  # no full page navigation
        browser.close()

    ratings = list(Rating.objects.filter(labeller=labeller).order_by("created_at"))
    assert [r.label for r in ratings] == [True, False, True]
    assert [r.rationale for r in ratings] == ["", "Made up a citation", ""]
    assert all(r.time_ms is not None for r in ratings)
    assert RatingAssignment.objects.filter(labeller=labeller, status=RatingAssignment.Status.SKIPPED,
                                           skip_reason="Unreadable to me").count() == 1
