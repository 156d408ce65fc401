"""Every environment variable Arbiter reads, in one place."""
import os
import re
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def env_int(name: str, default: int | None, *, minimum: int = 0) -> int | None:
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    if not value.isdigit() or int(value) < minimum:
        raise ValueError(f"{name} must be a whole number of at least {minimum}, not {value!r}")
    return int(value)


def env_rate(name: str, default: str) -> str:
    """A DRF throttle rate, checked here so that a typo stops the start, not every request."""
    value = os.environ.get(name, default).strip()
    if not re.fullmatch(r"[1-9][0-9]*/(s|sec|second|m|min|minute|h|hour|d|day)", value):
        raise ValueError(f"{name} must be like 30/minute (<n>/<second|minute|hour|day>), not {value!r}")
    return value


VAR_DIR = Path(os.environ.get("ARBITER_VAR_DIR", BASE_DIR / "var")).resolve()
# Debug pages show tracebacks and settings: off unless asked for (`make run` asks).
DEBUG = env_bool("DJANGO_DEBUG", False)
# The default key is for development only; `manage.py check --deploy` flags it.
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "arbiter-dev-only-not-a-secret")
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")
# Served over HTTPS: redirect HTTP to HTTPS, secure cookies, HSTS.
HTTPS = env_bool("DJANGO_HTTPS", False)
HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 365 * 24 * 3600 if HTTPS else 0)
# HSTS for every subdomain too, and consent to browsers' preload lists: both on with HTTPS (as
# `check --deploy` asks); turn them off if a subdomain is served over plain HTTP.
HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_HSTS_INCLUDE_SUBDOMAINS", HTTPS)
HSTS_PRELOAD = env_bool("DJANGO_HSTS_PRELOAD", HTTPS)
# Behind a proxy that terminates TLS and sets X-Forwarded-Proto (only if it overwrites the client's).
BEHIND_TLS_PROXY = env_bool("DJANGO_BEHIND_TLS_PROXY", False)
# How many reverse proxies append to X-Forwarded-For in front of the app (0: clients connect directly).
# Lockout and anonymous rate limits count per client address, so this must be right behind a proxy.
PROXY_COUNT = env_int("ARBITER_PROXY_COUNT", 0)
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", "")
# Login lockout (django-axes): this many failed logins for one username from one address lock that
# pair out for the cool-off time, on the login page and the token endpoint alike.
LOGIN_FAILURE_LIMIT = env_int("ARBITER_LOGIN_FAILURE_LIMIT", 5, minimum=1)
LOGIN_COOLOFF_MINUTES = env_int("ARBITER_LOGIN_COOLOFF_MINUTES", 15, minimum=1)
# API rate limits (DRF throttling, "<n>/<second|minute|hour|day>"): per client address for
# anonymous calls (the token endpoint), per account for signed-in ones.
API_ANON_RATE = env_rate("ARBITER_API_ANON_RATE", "30/minute")
API_USER_RATE = env_rate("ARBITER_API_USER_RATE", "100/second")
# API tokens older than this are refused (and replaced by the token endpoint); unset: never expire.
TOKEN_TTL_HOURS = env_int("ARBITER_TOKEN_TTL_HOURS", None, minimum=1)
DATABASE_URL = os.environ.get("DATABASE_URL", f"sqlite:///{VAR_DIR / 'arbiter.sqlite3'}")
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "filesystem://")
CELERY_RESULT_BACKEND = os.environ.get("CELERY_RESULT_BACKEND", "")
# Lets several test runs or deployments share one broker without stealing each other's tasks.
CELERY_QUEUE = os.environ.get("ARBITER_CELERY_QUEUE", "arbiter")
# Model work (training, pair scoring) can go to its own queue, consumed only by workers on GPU machines
# (config.celery.route_task); unset, it shares the default queue. scripts/run.sh sets arbiter-training.
TRAINING_QUEUE = os.environ.get("ARBITER_TRAINING_QUEUE", CELERY_QUEUE)
ARTIFACTS_DIR = Path(os.environ.get("ARBITER_ARTIFACTS_DIR", VAR_DIR / "artifacts")).resolve()
