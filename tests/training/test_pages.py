import os
import subprocess
import sys

import pytest
from django.urls import reverse

from common.models import JobStatus
from tests.factories import AdminLabellerFactory, DatasetFactory, LabellerFactory, PromptFactory
from tests.training.factories import PolicyRunFactory, RewardModelRunFactory, SFTRunFactory
from training.models import MonitorWarning, PolicyRun, PolicySample, PolicyStep, SFTRun

pytestmark = pytest.mark.django_db
EVIL = '<script>alert("x")</script><b>bold</b>'


@pytest.fixture
def admin_client(client):
    client.force_login(AdminLabellerFactory().user)
    return client


def running_run_with_history():
    run = PolicyRunFactory(status=JobStatus.RUNNING, progress=0.5)
    for step in (1, 2, 3):
        PolicyStep.objects.create(run=run, step=step, metrics={
            "objective/scores": 0.1 * step, "objective/kl": 0.5 * step, "objective/kl_coef": 0.2,
            "policy/entropy": 3.0, "val/response_length": 20, "policy/clipfrac": 0.1, "loss/value": 0.3,
            "objective/held_out_scores": 0.2, "episodes_per_second": 9.0})
    PolicySample.objects.create(run=run, step=3, prompt="\n\nHuman: hi\n\nAssistant:", response=EVIL, score=1.0, kl=0.5)
    MonitorWarning.objects.create(run=run, kind="length", message="Mean response length is 300 characters, 2.00x",
                                  step=3, first_step=2, value=2.0, threshold=1.5)
    return run


def test_run_page_shows_charts_warnings_and_escaped_samples(admin_client):
    run = running_run_with_history()

    html = admin_client.get(reverse("training:policy_detail", args=[run.pk])).content.decode()

    assert EVIL not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&lt;b&gt;bold&lt;/b&gt;" in html
    assert "Response length drifting" in html and "2.00x" in html
    assert html.count("<svg") >= 9  # eight metric charts and proxy vs held-out against KL
    assert 'hx-trigger="every 3s"' in html  # polls while running


def test_htmx_poll_returns_only_the_live_fragment(admin_client):
    run = running_run_with_history()

    html = admin_client.get(reverse("training:policy_detail", args=[run.pk]), HTTP_HX_REQUEST="true").content.decode()

    assert html.lstrip().startswith('<div id="live"')
    assert "<html" not in html


def test_finished_run_stops_polling_and_offers_send_and_download(admin_client, tmp_path):
    run = PolicyRunFactory(status=JobStatus.SUCCEEDED, artifact_path=str(tmp_path))
    (tmp_path / "config.json").write_text("{}")

    html = admin_client.get(reverse("training:policy_detail", args=[run.pk])).content.decode()
    download = admin_client.get(reverse("training:download", args=["ppo", run.pk]))

    assert "every 3s" not in html
    assert "Send samples to labellers" in html
    assert download.status_code == 200 and download["Content-Type"] == "application/zip"


def test_the_run_page_shows_its_options_as_a_table_grouped_ppo_then_monitors(admin_client):
    run = PolicyRunFactory(config={"steps": 20, "init_kl_coef": 0.1, "kl_limit": 12.5})

    response = admin_client.get(reverse("training:policy_detail", args=[run.pk]))
    html = response.content.decode()

    assert "{&#x27;steps&#x27;" not in html and "{'steps'" not in html  # no Python dict
    groups = [(group, rows) for group, rows in response.context["options"]]
    assert groups == [("PPO", [("init_kl_coef", 0.1), ("steps", 20)]), ("Samples and monitors", [("kl_limit", 12.5)])]
    assert "<td><code>init_kl_coef</code></td><td class=\"num\">0.1</td>" in html


def test_a_dpo_run_page_shows_its_options_grouped_dpo_then_data_selection(admin_client):
    run = PolicyRun.objects.create(kind=PolicyRun.Kind.DPO, dataset=DatasetFactory(), base_model_path="/models/base",
                                   config={"beta": 0.3, "loss_type": "ipo", "selection": {"min_agreement": 0.6}})

    response = admin_client.get(reverse("training:policy_detail", args=[run.pk]))

    assert response.context["options"] == [("DPO", [("beta", 0.3), ("loss_type", "ipo")]),
                                           ("Data selection", [("min_agreement", 0.6)])]
    assert "&#x27;selection&#x27;" not in response.content.decode()


def test_create_form_lists_only_succeeded_runs(admin_client):
    ok = SFTRunFactory(name="good-sft")
    SFTRunFactory(name="broken-sft", status=JobStatus.FAILED)
    RewardModelRunFactory(dataset=ok.dataset)

    html = admin_client.get(reverse("training:policy_create")).content.decode()

    assert "good-sft" in html and "broken-sft" not in html


def test_creating_an_sft_run_from_the_form_queues_it(admin_client, django_capture_on_commit_callbacks):
    from tests.training.factories import dataset_with_preferences

    dataset = dataset_with_preferences(2)
    with django_capture_on_commit_callbacks() as callbacks:
        response = admin_client.post(reverse("training:sft_create"), {
            "dataset": dataset.pk, "steps": 5, "batch_size": 2, "learning_rate": 0.001, "max_length": 256,
            "vocab_size": 300, "n_layer": 1, "n_embd": 32})

    run = SFTRun.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("training:sft_detail", args=[run.pk])
    assert run.config["steps"] == 5 and run.status == JobStatus.QUEUED
    assert len(callbacks) == 1  # the task is queued once the row is committed


def test_cancel_button_asks_a_running_run_to_stop(admin_client):
    run = PolicyRunFactory(status=JobStatus.RUNNING)

    admin_client.post(reverse("training:cancel", args=["ppo", run.pk]))

    assert PolicyRun.objects.get(pk=run.pk).cancel_requested


def test_labellers_and_anonymous_users_cannot_see_policy_runs(client):
    run = PolicyRunFactory()
    urls = [reverse("training:runs"), reverse("training:policy_detail", args=[run.pk]),
            reverse("training:sft_create"), reverse("training:download", args=["ppo", run.pk])]
    for url in urls:
        assert client.get(url).status_code == 302
    client.force_login(LabellerFactory().user)
    for url in urls:
        assert client.get(url).status_code == 403
    assert client.post(reverse("training:cancel", args=["ppo", run.pk])).status_code == 403
    assert not PolicyRun.objects.get(pk=run.pk).cancel_requested


def test_api_is_admin_only_and_lists_runs(client):
    run = PolicyRunFactory()
    client.force_login(LabellerFactory().user)
    assert client.get("/api/policy-runs/").status_code == 403
    assert client.post(f"/api/policy-runs/{run.pk}/cancel/").status_code == 403

    client.force_login(AdminLabellerFactory().user)
    assert [r["id"] for r in client.get("/api/policy-runs/").json()] == [run.pk]


def test_api_creates_a_ppo_run_and_reports_bad_options_clearly(client, django_capture_on_commit_callbacks):
    client.force_login(AdminLabellerFactory().user)
    sft = SFTRunFactory()
    PromptFactory(dataset=sft.dataset)
    reward = RewardModelRunFactory(dataset=sft.dataset)

    bad = client.post("/api/policy-runs/create/", {"sft_run": sft.pk, "reward_run": reward.pk,
                                                   "config": {"kl_penalty": "wrong"}}, content_type="application/json")
    with django_capture_on_commit_callbacks():
        ok = client.post("/api/policy-runs/create/", {"sft_run": sft.pk, "reward_run": reward.pk,
                                                      "config": {"steps": 3}}, content_type="application/json")

    assert bad.status_code == 400 and "kl_penalty" in bad.json()["detail"]
    assert ok.status_code == 201 and ok.json()["config"] == {"steps": 3}
    assert ok.json()["dataset"] == sft.dataset.pk


def test_api_detail_carries_last_metrics_warnings_and_samples(client):
    client.force_login(AdminLabellerFactory().user)
    run = running_run_with_history()

    detail = client.get(f"/api/policy-runs/{run.pk}/").json()
    samples = client.get(f"/api/policy-runs/{run.pk}/samples/").json()

    assert detail["last_metrics"]["step"] == 3
    assert detail["warnings"][0]["kind"] == "length"
    assert samples[0]["response"] == EVIL  # data, not HTML: the API returns it as it is


def test_resume_of_a_succeeded_run_is_refused_with_a_reason(client):
    client.force_login(AdminLabellerFactory().user)
    run = SFTRunFactory(dataset=DatasetFactory())

    response = client.post(f"/api/sft-runs/{run.pk}/resume/")

    assert response.status_code == 400 and "succeeded" in response.json()["detail"]


def test_run_list_shows_both_kinds_of_run(admin_client):
    sft = SFTRunFactory(name="sft-alpha")
    PolicyRunFactory(name="ppo-beta", sft_run=sft)

    html = admin_client.get(reverse("training:runs")).content.decode()

    assert "sft-alpha" in html and "ppo-beta" in html
    assert reverse("training:sft_create") in html and reverse("training:policy_create") in html


def test_sft_page_charts_the_loss(admin_client):
    run = SFTRunFactory(status=JobStatus.RUNNING, losses=[[1, 5.0], [2, 4.0]])

    html = admin_client.get(reverse("training:sft_detail", args=[run.pk])).content.decode()

    assert "Training loss" in html and "<polyline" in html and 'hx-trigger="every 3s"' in html


def test_create_forms_start_at_the_trainers_defaults(admin_client):
    from training.ppo import PPOConfig
    from training.sft import SFTConfig

    sft = admin_client.get(reverse("training:sft_create")).content.decode()
    assert f'name="n_embd" value="{SFTConfig().n_embd}"' in sft
    ppo = admin_client.get(reverse("training:policy_create")).content.decode()
    assert f'name="init_kl_coef" value="{PPOConfig().init_kl_coef}"' in ppo
    assert '<option value="full">full</option>' in ppo


def test_loading_the_urls_does_not_import_torch():
    code = ("import django, sys; django.setup(); from django.urls import get_resolver; "
            "get_resolver().url_patterns; print('torch' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings"})
    assert done.stdout.strip() == "False"
