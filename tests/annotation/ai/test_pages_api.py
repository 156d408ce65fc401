"""AI-labeller pages and API: admins only, forms, progress, escaped answers, and the endpoint's
key never in a page, an API response or a log line."""
import pytest
from rest_framework.test import APIClient

from annotation.ai.runs import ai_label_run_create, ai_label_run_execute
from annotation.ai.services import ai_labeller_create, constitution_create
from annotation.models import AILabeller, AILabelRun
from tests.annotation.ai.conftest import make_pairs
from tests.annotation.ai.endpoint_stub import StubEndpoint, completion, prompt_of
from tests.factories import AdminLabellerFactory, LabellerFactory

pytestmark = pytest.mark.django_db
KEY = "sk-test-91c4-page-key-never-shown"
SCRIPT = "<script>alert('judge')</script>"


@pytest.fixture
def admin_client(client):
    client.force_login(AdminLabellerFactory().user)
    return client


@pytest.fixture
def api():
    api = APIClient()
    api.force_authenticate(AdminLabellerFactory().user)
    return api


@pytest.fixture
def judged_run(monkeypatch):
    """A run against a local endpoint that needs KEY: one pair answered (in both orders) with
    "A", one with markup the judge should not have written, one that crashes echoing the key."""
    monkeypatch.setenv("ARBITER_TEST_PAGE_KEY", KEY)

    def answer(body, n):
        text = prompt_of(body)
        if "markup" in text:
            return 200, completion(SCRIPT), {}
        if "crash" in text:
            return 500, {"error": f"key {KEY} rejected"}, {}
        return 200, completion("A"), {}

    dataset, _ = make_pairs(3, texts=[("fine", "good"), ("markup", "x"), ("crash", "y")])
    with StubEndpoint(answer) as server:
        ai = ai_labeller_create(username="page-judge", backend="openai", endpoint_url=server.url,
                                endpoint_model="judge-1", api_key_env="ARBITER_TEST_PAGE_KEY",
                                settings={"retries": 0})
        run = ai_label_run_execute(run_id=ai_label_run_create(ai_labeller=ai, dataset=dataset, enqueue=False).pk)
    assert (run.n_judged, run.n_failed) == (1, 2)
    return run


def test_pages_and_api_are_for_admins_only(client, judged_run):
    client.force_login(LabellerFactory().user)
    for url in ("/ai-labellers/", f"/ai-labellers/runs/{judged_run.pk}/"):
        assert client.get(url).status_code == 403
    api = APIClient()
    api.force_authenticate(LabellerFactory().user)
    assert api.get("/api/ai-labellers/").status_code == 403
    assert api.get(f"/api/ai-label-runs/{judged_run.pk}/").status_code == 403


def test_the_key_appears_in_no_page_api_response_or_log(admin_client, api, judged_run, caplog):
    bodies = [admin_client.get(url).content.decode() for url in ("/ai-labellers/", f"/ai-labellers/runs/{judged_run.pk}/")]
    bodies += [api.get(url).content.decode() for url in ("/api/ai-labellers/", "/api/ai-label-runs/",
                                                         f"/api/ai-label-runs/{judged_run.pk}/")]
    assert all(KEY not in body for body in bodies) and KEY not in caplog.text
    assert "ARBITER_TEST_PAGE_KEY" in bodies[0]  # the variable's name is shown, its value never
    assert "[redacted]" in bodies[1]  # the server's echo of the key, redacted in the failed pair's error


def test_the_judges_answers_are_shown_escaped(admin_client, judged_run):
    page = admin_client.get(f"/ai-labellers/runs/{judged_run.pk}/").content.decode()
    assert SCRIPT not in page and "&lt;script&gt;" in page


def test_the_api_refuses_a_key_and_does_not_echo_it(api):
    response = api.post("/api/ai-labellers/create/", {
        "username": "api-judge", "backend": "openai", "endpoint_url": "http://127.0.0.1:9/v1",
        "endpoint_model": "m", "api_key": KEY}, format="json")
    assert response.status_code == 400 and "api_key_env" in response.content.decode()
    assert KEY not in response.content.decode() and not AILabeller.objects.exists()


def test_the_api_creates_a_constitution_a_labeller_and_a_queued_run(api):
    dataset, _ = make_pairs(2)
    c = api.post("/api/constitutions/create/", {"name": "house", "principles": ["Be kind.", "Be true."]}, format="json")
    assert c.status_code == 201 and c.json()["version"] == 1
    created = api.post("/api/ai-labellers/create/", {
        "username": "api-judge", "backend": "openai", "endpoint_url": "http://user:pw@127.0.0.1:9/v1?token=t",
        "endpoint_model": "m", "api_key_env": "SOME_KEY", "constitution": c.json()["id"],
        "settings": {"both_orders": True, "tie_margin": 0.2}}, format="json")
    assert created.status_code == 201, created.content
    assert created.json()["endpoint_url"] == "http://127.0.0.1:9/v1"  # no user info or query shown back
    run = api.post("/api/ai-label-runs/create/", {"ai_labeller": "api-judge", "dataset": dataset.name, "limit": 1},
                   format="json")
    assert run.status_code == 201 and run.json()["status"] == "queued" and run.json()["limit"] == 1
    again = api.post("/api/ai-label-runs/create/", {"ai_labeller": "api-judge", "dataset": dataset.name}, format="json")
    assert again.status_code == 400 and "wait for it or cancel it" in again.content.decode()
    cancelled = api.post(f"/api/ai-label-runs/{run.json()['id']}/cancel/")
    assert cancelled.json()["status"] == "cancelled"


def test_unknown_settings_are_refused(api):
    response = api.post("/api/ai-labellers/create/", {"username": "j", "backend": "causal_lm", "model_path": "/m",
                                                      "settings": {"temprature": 0.5}}, format="json")
    assert response.status_code == 400 and "temprature" in response.content.decode()


def test_the_page_forms_create_a_constitution_a_labeller_and_start_a_run(admin_client):
    dataset, _ = make_pairs(1)
    assert admin_client.post("/ai-labellers/constitutions/new/", {"c-name": "house", "c-principles": "Be kind.\n\nBe true.\n"}
                             ).status_code == 302
    constitution = constitution_create(name="house", principles=["Be kind."])  # version 2
    response = admin_client.post("/ai-labellers/labellers/new/", {
        "l-username": "form-judge", "l-backend": "causal_lm", "l-model_path": "/models/judge",
        "l-constitution": constitution.pk, "l-both_orders": "on", "l-tie_margin": "0.1", "l-temperature": "0",
        "l-requests_per_minute": "60"})
    assert response.status_code == 302
    ai = AILabeller.objects.get(labeller__user__username="form-judge")
    assert (ai.constitution.version, ai.settings) == (2, {"both_orders": True, "tie_margin": 0.1})
    response = admin_client.post("/ai-labellers/runs/new/", {"r-ai_labeller": ai.pk, "r-dataset": dataset.pk, "r-seed": "4"})
    run = AILabelRun.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/ai-labellers/runs/{run.pk}/" and run.seed == 4
    page = admin_client.get(f"/ai-labellers/runs/{run.pk}/", HTTP_HX_REQUEST="true").content.decode()
    assert 'hx-trigger="every 2s"' in page and "<html" not in page  # the live fragment, polled while queued


def test_a_form_error_is_shown_on_the_page(admin_client):
    response = admin_client.post("/ai-labellers/labellers/new/", {
        "l-username": "bad-judge", "l-backend": "openai", "l-endpoint_url": "http://127.0.0.1:9/v1",
        "l-tie_margin": "0.1", "l-temperature": "0", "l-requests_per_minute": "60"})
    assert response.status_code == 200 and "needs the model name" in response.content.decode()


def test_empty_states_explain_what_to_do(admin_client):
    page = admin_client.get("/ai-labellers/").content.decode()
    assert "No AI labeller yet" in page and "No constitution yet" in page and "No AI labelling run yet" in page


def test_the_django_admin_shows_ai_labellers_and_runs_without_a_key_field(client, judged_run):
    client.force_login(AdminLabellerFactory(user__is_superuser=True).user)
    ai = judged_run.ai_labeller
    change = client.get(f"/admin/annotation/ailabeller/{ai.pk}/change/").content.decode()
    assert 'name="api_key_env"' in change and "api_key_encrypted" not in change and KEY not in change
    assert client.get(f"/admin/annotation/ailabelrun/{judged_run.pk}/change/").status_code == 200
    assert client.get("/admin/annotation/constitution/").status_code == 200
