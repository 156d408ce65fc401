"""The main pages fit a phone (390x844) and a desktop (1280x800) in Debian's chromium: nothing
scrolls sideways, and the labelling page shows its choice buttons without scrolling."""
from dataclasses import asdict

import pytest
from django.test import Client
from playwright.sync_api import sync_playwright

from common.charts import interval_chart
from common.chromium import chromium_launch
from rewardmodel.config import RewardTrainConfig
from rewardmodel.models import RewardModelStep
from rewardmodel.selection import SelectionConfig, select_examples
from tests.factories import AdminLabellerFactory
from tests.training.factories import PolicyRunFactory, RewardModelRunFactory, SFTRunFactory, dataset_with_preferences
from training.models import PolicyRun, PolicySample, PolicyStep

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}
PAGES = ["home", "datasets", "compare", "data", "audit", "reward-list", "reward-detail", "reward-compare",
         "policy-runs", "ppo-run", "dpo-run", "team", "team-labeller", "review-queue", "review-pair", "search",
         "ai-labellers", "ai-run"]


@pytest.fixture(scope="module")
def browser():
    """One browser for the module. Playwright's sync API runs an event loop in this thread for as
    long as it is open; the ORM calls of the tests and of their database teardown are still plain
    blocking calls made between browser steps."""
    with pytest.MonkeyPatch.context() as mp, sync_playwright() as p:
        mp.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        browser = chromium_launch(p)
        yield browser
        browser.close()


def reward_run(dataset, name):
    """A succeeded run with what training writes: the data snapshot, both config sections, steps."""
    selection_cfg = SelectionConfig()
    snapshot = select_examples(dataset_id=dataset.pk, config=selection_cfg).snapshot
    run = RewardModelRunFactory(
        dataset=dataset, name=name, base_model_path="/srv/arbiter/models/sentence-transformers-all-MiniLM-L6-v2",
        data_snapshot={**snapshot, "backbone": "/srv/arbiter/models/sentence-transformers-all-MiniLM-L6-v2"},
        config={"train": asdict(RewardTrainConfig()), "selection": asdict(selection_cfg)}, progress=1.0,
    )
    for step in range(1, 6):
        RewardModelStep.objects.create(run=run, step=step, metrics={"loss": 0.7 / step, "accuracy": 0.5 + step / 20,
                                                                   "eval_accuracy": 0.5 + step / 25})
    return run


def ppo_run(dataset, reward):
    run = PolicyRunFactory(
        sft_run=SFTRunFactory(dataset=dataset), reward_run=reward, dataset=dataset, status="succeeded", progress=1.0,
        config={"steps": 20, "batch_size": 8, "mini_batch_size": 4, "init_kl_coef": 0.1, "max_new_tokens": 48,
                "sample_every": 5, "kl_limit": 20.0},
    )
    for step in range(1, 6):
        PolicyStep.objects.create(run=run, step=step, metrics={
            "objective/scores": 0.1 * step, "objective/kl": 0.05 * step, "objective/kl_coef": 0.1,
            "policy/entropy": 2.0 - 0.1 * step, "policy/clipfrac": 0.02, "val/response_length": 30 + step})
    PolicySample.objects.create(run=run, step=5, prompt="Human: tell me about the moon. Assistant:",
                                response="The moon " * 60, score=0.4, kl=0.2)
    return run


def ai_label_run(dataset):
    """An AI labeller with a long model path and constitution, a run with a failed pair and a
    judgement whose answers are long and unbroken."""
    from annotation.ai.services import ai_labeller_create, constitution_create
    from annotation.models import AILabelRun, Judgement

    constitution = constitution_create(name="helpful-honest-harmless-constitution-2026", principles=[
        "Choose the response that is the most helpful, honest and harmless. " * 3, "Choose the less harmful one."])
    ai = ai_labeller_create(username="qwen-judge-with-a-long-name", backend="openai",
                            endpoint_url="https://inference.example.org/v1/a-rather-long-deployment-path-for-judges",
                            endpoint_model="Qwen/Qwen2.5-72B-Instruct-with-a-long-suffix", api_key_env="JUDGE_API_KEY",
                            constitution=constitution, settings={"both_orders": True, "tie_margin": 0.1})
    pair = dataset.pairs.order_by("pk").first()
    run = AILabelRun.objects.create(ai_labeller=ai, dataset=dataset, status="succeeded", progress=1.0, n_pairs=2,
                                    n_judged=1, n_failed=1, failures=[{
                                        "pair_id": pair.pk + 1, "error": "No order gave a readable verdict.",
                                        "orders": [{"order": "ab", "raw": "x" * 300}, {"order": "ba", "raw": "y" * 300}]}])
    Judgement.objects.create(pair=pair, labeller=ai.labeller, choice="tie", created_at=pair.created_at, ai_detail={
        "principle": constitution.principles[0], "constitution": str(constitution), "backend": "openai",
        "judge_model": ai.endpoint_model, "agreed": False, "error": None,
        "orders": [{"order": "ab", "verdict": "a", "p_a": 0.81, "raw": "A" * 200},
                   {"order": "ba", "verdict": "b", "p_a": 0.2, "raw": "B" * 200}]})
    return run


@pytest.fixture
def site(transactional_db):
    """An admin who labels too, one dataset with judgements, two reward models, a PPO run; the
    address of each main page."""
    dataset = dataset_with_preferences(n_pairs=6, overlap_k=5, name="helpfulness-and-harmlessness-preferences-2026",
                                       instructions="Prefer the **honest** answer. " * 20)
    admin = AdminLabellerFactory(user__username="admin-with-a-rather-long-username")
    dataset.labellers.add(admin)
    first, second = reward_run(dataset, "bradley-terry-minilm-first"), reward_run(dataset, "bradley-terry-minilm-second")
    ppo = ppo_run(dataset, first)
    dpo = PolicyRun.objects.create(
        kind=PolicyRun.Kind.DPO, dataset=dataset, base_model_path="/srv/arbiter/models/a-rather-long-base-model-name",
        status="succeeded", progress=1.0, config={"beta": 0.1, "loss_type": "sigmoid", "selection": {"min_agreement": 0.6}})
    ai_run = ai_label_run(dataset)
    client = Client()
    client.force_login(admin.user)
    return {
        "session": client.cookies["sessionid"].value,
        "urls": {
            "home": "/", "datasets": "/label/", "compare": f"/label/{dataset.pk}/", "data": "/data/",
            "audit": f"/audit/{dataset.pk}/?compute=1", "reward-list": "/reward-models/",
            "reward-detail": f"/reward-models/{first.pk}/",
            "reward-compare": f"/reward-models/compare/?ids={first.pk}&ids={second.pk}",
            "policy-runs": "/policy-runs/", "ppo-run": f"/policy-runs/ppo/{ppo.pk}/",
            "dpo-run": f"/policy-runs/ppo/{dpo.pk}/",
            "team": f"/team/?dataset={dataset.pk}", "team-labeller": f"/team/{admin.pk}/",
            "review-queue": f"/review/{dataset.pk}/",
            "review-pair": f"/review/{dataset.pk}/pairs/{dataset.pairs.order_by('pk').first().pk}/",
            "search": f"/review/search/?dataset={dataset.pk}&q=a",
            "ai-labellers": "/ai-labellers/", "ai-run": f"/ai-labellers/runs/{ai_run.pk}/",
        },
    }


def open_page(browser, live_server, site, name, viewport):
    context = browser.new_context(viewport=viewport)
    context.add_cookies([{"name": "sessionid", "value": site["session"], "url": live_server.url}])
    page = context.new_page()
    response = page.goto(live_server.url + site["urls"][name])
    assert response.status == 200, f"{name}: HTTP {response.status}"
    if name == "compare":  # opening the labelling page leases nothing: ask for a pair, as a labeller does
        page.get_by_role("button", name="Show me a pair").click()
        page.locator("#pair-heading").wait_for()
    return context, page


@pytest.mark.browser
@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
@pytest.mark.parametrize("name", PAGES)
def test_nothing_scrolls_sideways(browser, live_server, site, name, viewport):
    context, page = open_page(browser, live_server, site, name, viewport)
    scroll_width = page.evaluate("document.documentElement.scrollWidth")
    context.close()
    assert scroll_width <= viewport["width"], f"{name} is {scroll_width} px wide in {viewport['width']}"


@pytest.mark.browser
def test_the_choice_buttons_are_in_the_first_desktop_viewport(browser, live_server, site):
    context, page = open_page(browser, live_server, site, "compare", DESKTOP)
    boxes = [b.bounding_box() for b in page.locator(".choices button").all()]
    context.close()
    assert len(boxes) == 4
    for box in boxes:
        assert box["x"] >= 0 and box["x"] + box["width"] <= DESKTOP["width"]
        assert box["y"] >= 0 and box["y"] + box["height"] <= DESKTOP["height"], box


@pytest.mark.browser
def test_the_instructions_come_before_the_pair_on_a_phone(browser, live_server, site):
    context, page = open_page(browser, live_server, site, "compare", PHONE)
    instructions = page.get_by_text("Instructions", exact=True).bounding_box()
    pair = page.locator("#pair-heading").bounding_box()
    context.close()
    assert instructions["y"] < pair["y"]


@pytest.mark.browser
def test_interval_chart_labels_show_long_model_names_whole(browser):
    long_name = "meta-llama/Llama-3.1-70B-Instruct-Turbo"
    chart = interval_chart([(long_name, 1010.0, 990.0, 1030.0), ("gpt2", 990.0, 970.0, 1010.0)], lo=950, hi=1050)
    page = browser.new_page()
    page.set_content(f"<style>svg text {{ font-size:11px; }}</style>{chart}")
    labels = page.locator("svg text").evaluate_all(
        "texts => texts.map(t => ({text: t.textContent, left: t.getBBox().x}))")
    page.close()
    assert long_name in [label["text"] for label in labels]
    assert all(label["left"] >= 0 for label in labels), labels
