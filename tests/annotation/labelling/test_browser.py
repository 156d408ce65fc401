"""End to end in Debian's chromium: log in and judge three pairs with the keyboard alone."""
import pytest
from playwright.sync_api import expect, sync_playwright

from annotation.models import Assignment, Judgement
from common.chromium import chromium_launch
from tests.factories import DatasetFactory, LabellerFactory, PairFactory

# How long to wait for the page to react (a liveness guard on a busy CI machine, not a speed bound).
expect.set_options(timeout=30_000)


@pytest.mark.browser
def test_judge_three_pairs_with_the_keyboard_alone(live_server, transactional_db, monkeypatch):
    # Playwright's sync API runs an event loop in this thread; the ORM calls below are still plain
    # blocking calls made between browser steps.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    dataset = DatasetFactory(overlap_k=1, instructions="Prefer the **honest** answer.")
    for _ in range(4):
        PairFactory(dataset=dataset)
    labeller = LabellerFactory()
    dataset.labellers.add(labeller)

    with sync_playwright() as p:
        browser = chromium_launch(p)
        page = browser.new_page()
        page.goto(f"{live_server.url}/accounts/login/?next=/label/{dataset.pk}/")
        page.keyboard.type(labeller.user.username)  # the username box has autofocus
        page.keyboard.press("Tab")
        page.keyboard.type("pw-for-tests")
        page.keyboard.press("Enter")
        # Opening the page leases nothing: its button (focused) asks for the first pair.
        expect(page.get_by_role("button", name="Show me a pair")).to_be_focused()
        page.keyboard.press("Enter")
        heading = page.locator("#pair-heading")
        expect(heading).to_be_focused()

        # w = clearly better, then 1 = left; 3 = tie; e = much better, then 2 = right
        for keys in (["w", "1"], ["3"], ["e", "2"]):
            shown = heading.inner_text()
            for key in keys:
                page.keyboard.press(key)
            expect(heading).not_to_have_text(shown)  # the next pair was swapped in...
            expect(heading).to_be_focused()  # ...and focus is back on it, ready for the next key
        assert page.url.endswith(f"/label/{dataset.pk}/")  # no full page navigation
        browser.close()

    judgements = list(Judgement.objects.filter(labeller=labeller).order_by("created_at"))
    assert len(judgements) == 3
    leases = {a.judgement_id: a for a in Assignment.objects.filter(labeller=labeller, judgement__isnull=False)}
    first, second, third = judgements
    other = {"a": "b", "b": "a"}
    assert (first.choice, first.strength) == (leases[first.pk].shown_left, 2)
    assert (second.choice, second.strength) == ("tie", None)
    assert (third.choice, third.strength) == (other[leases[third.pk].shown_left], 3)
    for judgement in judgements:
        assert judgement.shown_left == leases[judgement.pk].shown_left in ("a", "b")
        assert judgement.time_ms is not None
