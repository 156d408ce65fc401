"""Secure defaults: login lockout, API throttling, token expiry, DEBUG off, `check --deploy`, offline API docs."""
import os
import re
import subprocess
import sys
from datetime import timedelta

import pytest
from django.contrib.staticfiles import finders
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests.conftest import ROOT
from tests.factories import AdminLabellerFactory, LabellerFactory

pytestmark = pytest.mark.django_db

PASSWORD = "pw-for-tests"  # tests/factories.py's UserFactory

# The production settings the README's Security section documents.
PRODUCTION_ENV = {
    "DJANGO_DEBUG": "0",
    "DJANGO_SECRET_KEY": "k3y-Zq8f0wW2xR7pLm4Tn9Yb6Hc1Vd5Gs3Ja0Ke8Ui2Oo7Py4Rt1Qx6Ez9Mn5Bv",
    "DJANGO_ALLOWED_HOSTS": "arbiter.example.org",
    "DJANGO_HTTPS": "1",
}


@pytest.fixture
def lockout_reset():
    """Tests that fail logins on purpose start and end with no recorded failures."""
    from axes.utils import reset  # imported here: axes' models need the app registry

    reset()
    yield
    reset()


def run_django(code_or_args, *, env_overrides, drop=()):
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(env_overrides)
    return subprocess.run([sys.executable, *code_or_args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)


def test_login_page_locks_out_after_repeated_wrong_passwords(client, lockout_reset):
    user = LabellerFactory().user
    for _ in range(30):
        client.post("/accounts/login/", {"username": user.username, "password": "wrong"})
    response = client.post("/accounts/login/", {"username": user.username, "password": PASSWORD})
    assert response.status_code == 429
    assert "too many failed" in response.content.decode().lower()
    assert "_auth_user_id" not in client.session


def test_login_page_still_works_below_the_limit(client, settings, lockout_reset):
    user = LabellerFactory().user
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        client.post("/accounts/login/", {"username": user.username, "password": "wrong"})
    response = client.post("/accounts/login/", {"username": user.username, "password": PASSWORD})
    assert response.status_code == 302 and client.session["_auth_user_id"] == str(user.pk)


def test_token_endpoint_locks_out_after_repeated_wrong_passwords(settings, lockout_reset):
    user = LabellerFactory().user
    client = APIClient()
    for _ in range(settings.AXES_FAILURE_LIMIT):  # (30 tries would meet the anonymous rate limit first)
        client.post("/api/auth/token/", {"username": user.username, "password": "wrong"})
    response = client.post("/api/auth/token/", {"username": user.username, "password": PASSWORD})
    assert response.status_code == 429
    assert "token" not in response.json() and "too many failed" in response.json()["detail"].lower()


def test_anonymous_api_calls_are_throttled(settings, lockout_reset):
    settings.ARBITER_THROTTLE_RATES = {**settings.ARBITER_THROTTLE_RATES, "anon": "3/minute"}
    client = APIClient()
    # Other usernames each time: the per-account lockout does not stop this; the throttle does.
    statuses = [client.post("/api/auth/token/", {"username": f"guess{i}", "password": "x"}).status_code
                for i in range(4)]
    assert statuses == [400, 400, 400, 429]


def test_signed_in_api_calls_are_throttled(settings):
    settings.ARBITER_THROTTLE_RATES = {**settings.ARBITER_THROTTLE_RATES, "user": "2/minute"}
    client = APIClient()
    client.force_authenticate(AdminLabellerFactory().user)
    statuses = [client.get("/api/datasets/").status_code for _ in range(3)]
    assert statuses == [200, 200, 429]


def token_client(user, *, age: timedelta) -> APIClient:
    token = Token.objects.create(user=user)
    Token.objects.filter(pk=token.pk).update(created=timezone.now() - age)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


# The API's default authentication, and the labelling queue's own (one SQL query on its hot path).
TOKEN_USES = pytest.mark.parametrize(("user_factory", "method", "url", "status_if_accepted"), [
    (AdminLabellerFactory, "get", "/api/datasets/", 200),
    (LabellerFactory, "post", "/api/datasets/1/next/", 403),  # accepted, then refused: not assigned to it
], ids=["api", "labelling-queue"])


@TOKEN_USES
def test_expired_token_is_refused(settings, user_factory, method, url, status_if_accepted):
    settings.ARBITER_TOKEN_TTL_HOURS = 1
    client = token_client(user_factory().user, age=timedelta(hours=2))
    response = getattr(client, method)(url)
    assert response.status_code == 401 and "expired" in response.json()["detail"]


@TOKEN_USES
def test_token_younger_than_its_ttl_is_accepted(settings, user_factory, method, url, status_if_accepted):
    settings.ARBITER_TOKEN_TTL_HOURS = 1
    client = token_client(user_factory().user, age=timedelta(minutes=50))
    assert getattr(client, method)(url).status_code == status_if_accepted


def test_tokens_do_not_expire_without_a_ttl(settings):
    settings.ARBITER_TOKEN_TTL_HOURS = None
    client = token_client(AdminLabellerFactory().user, age=timedelta(days=3650))
    assert client.get("/api/datasets/").status_code == 200


def test_token_endpoint_replaces_an_expired_token(settings):
    settings.ARBITER_TOKEN_TTL_HOURS = 1
    user = AdminLabellerFactory().user
    old = token_client(user, age=timedelta(hours=2))
    response = APIClient().post("/api/auth/token/", {"username": user.username, "password": PASSWORD})
    assert response.status_code == 200
    assert response.json()["token"] != old._credentials["HTTP_AUTHORIZATION"].split()[1]
    fresh = APIClient()
    fresh.credentials(HTTP_AUTHORIZATION=f"Token {response.json()['token']}")
    assert fresh.get("/api/datasets/").status_code == 200


def test_api_docs_are_served_from_the_app(client):
    client.force_login(AdminLabellerFactory().user)
    response = client.get("/api/docs/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "swagger-ui" in page
    assert re.findall(r"(?:https?:)?//[\w.-]+", page) == []  # no external host: scripts, styles, icons
    assets = re.findall(r'(?:src|href)="/static/([^"]+)"', page)
    assert len(assets) >= 3 and all(finders.find(asset) for asset in assets)  # served by the app itself


def test_debug_is_off_unless_turned_on():
    code = "import django; django.setup(); from django.conf import settings; print(settings.DEBUG)"
    result = run_django(["-c", code], env_overrides={"DJANGO_SETTINGS_MODULE": "config.settings"},
                        drop=("DJANGO_DEBUG",))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_check_deploy_passes_with_the_documented_production_settings():
    result = run_django(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], env_overrides=PRODUCTION_ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


@pytest.mark.parametrize(("name", "value"), [("ARBITER_API_USER_RATE", "fast"), ("ARBITER_LOGIN_FAILURE_LIMIT", "0"),
                                             ("ARBITER_TOKEN_TTL_HOURS", "a day")])
def test_a_malformed_security_setting_stops_the_start_naming_it(name, value):
    result = run_django(["manage.py", "check"], env_overrides={name: value})
    assert result.returncode != 0
    assert f"{name} must be" in result.stderr and repr(value) in result.stderr


def test_an_unknown_api_url_is_a_json_404(client):
    client.force_login(AdminLabellerFactory().user)
    response = client.get("/api/datasets/-1/")
    assert response.status_code == 404 and response.json() == {"detail": "Not found."}


def test_an_unknown_page_is_an_html_404_without_debug_details(client):
    response = client.get("/no-such-page/")
    assert response.status_code == 404 and response["Content-Type"].startswith("text/html")
    assert "urlpatterns" not in response.content.decode()  # DEBUG's page lists the URL patterns
