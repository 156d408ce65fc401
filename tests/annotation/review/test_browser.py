"""End to end in Debian's chromium: a reviewer overrides one disputed pair with the keyboard and
sends another back; the judgements stay as they were and the queue leases the sent-back pair again."""
import pytest
from playwright.sync_api import expect, sync_playwright

from annotation.labelling import services as queue
from annotation.models import Judgement, ReviewDecision
from annotation.review.services import reviewer_grant
from common.chromium import chromium_launch
from tests.factories import AdminLabellerFactory, DatasetFactory, JudgementFactory, LabellerFactory, PairFactory

# How long to wait for the page to react (a liveness guard on a busy CI machine, not a speed bound).
expect.set_options(timeout=30_000)


@pytest.mark.browser
def test_override_then_send_back_in_the_browser(live_server, transactional_db, monkeypatch):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    dataset = DatasetFactory(overlap_k=2)
    first, second = PairFactory(dataset=dataset), PairFactory(dataset=dataset)
    for pair, choices in ((first, "ab"), (second, "ba")):
        for choice in choices:
            JudgementFactory(pair=pair, choice=choice)
    dataset.pairs.update(n_judgements=2)
    reviewer, latecomer = LabellerFactory(), LabellerFactory()
    dataset.labellers.add(latecomer)
    reviewer_grant(dataset=dataset, labeller=reviewer, granted_by=AdminLabellerFactory().user)
    before = list(Judgement.objects.order_by("id").values())

    with sync_playwright() as p:
        browser = chromium_launch(p)
        page = browser.new_page()
        page.goto(f"{live_server.url}/accounts/login/?next=/review/{dataset.pk}/")
        page.keyboard.type(reviewer.user.username)
        page.keyboard.press("Tab")
        page.keyboard.type("pw-for-tests")
        page.keyboard.press("Enter")
        # The queue lists both pairs (a 1-1 split each): open the first.
        expect(page.locator(".review-item")).to_have_count(2)
        page.locator(".review-open").first.click()
        page.wait_for_load_state("load")  # the page's keyboard script has run
        heading = page.locator("#pair-heading")
        overridden = int(heading.inner_text().split()[-1])
        # Keyboard: 2 = B better, r = the reason box, Esc leaves it, o = override.
        page.keyboard.press("2")
        page.keyboard.press("r")
        page.keyboard.type("B answers the question; A does not.")
        page.keyboard.press("Escape")
        page.keyboard.press("o")
        expect(page.locator(".msg-success")).to_contain_text(f"Pair {overridden}: override")
        # The page went on to the other open pair: send it back for one more judgement.
        page.wait_for_load_state("load")
        sent_back = int(heading.inner_text().split()[-1])
        assert sent_back != overridden
        page.fill("#id_extra_judgements", "1")
        page.get_by_role("button", name="Send back").click()
        expect(page.locator(".msg-success")).to_contain_text(f"Pair {sent_back}: send back")
        expect(page.locator(".empty")).to_contain_text("Nothing to review")  # back on the empty queue
        browser.close()

    override = ReviewDecision.objects.get(pair_id=overridden)
    assert (override.action, override.choice, override.reason, override.reviewer) == (
        "override", "b", "B answers the question; A does not.", reviewer.user)
    assert ReviewDecision.objects.get(pair_id=sent_back).action == "send_back"
    assert list(Judgement.objects.order_by("id").values()) == before
    lease = queue.assignment_next(labeller=latecomer, dataset=dataset)
    assert lease is not None and lease.pair_id == sent_back
