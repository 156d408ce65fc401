"""Every environment variable Arbiter reads, in one place."""
import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


VAR_DIR = Path(os.environ.get("ARBITER_VAR_DIR", BASE_DIR / "var")).resolve()
DEBUG = env_bool("DJANGO_DEBUG", True)
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "arbiter-dev-only-not-a-secret")
ALLOWED_HOSTS = os.environ.get("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost,testserver").split(",")
DATABASE_URL = os.environ.get("DATABASE_URL", f"sqlite:///{VAR_DIR / 'arbiter.sqlite3'}")
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "filesystem://")
CELERY_RESULT_BACKEND = os.environ.get("CELERY_RESULT_BACKEND", "")
# Lets several test runs or deployments share one broker without stealing each other's tasks.
CELERY_QUEUE = os.environ.get("ARBITER_CELERY_QUEUE", "arbiter")
# Model work (training, pair scoring) can go to its own queue, consumed only by workers on GPU machines
# (config.celery.route_task); unset, it shares the default queue. scripts/run.sh sets arbiter-training.
TRAINING_QUEUE = os.environ.get("ARBITER_TRAINING_QUEUE", CELERY_QUEUE)
ARTIFACTS_DIR = Path(os.environ.get("ARBITER_ARTIFACTS_DIR", VAR_DIR / "artifacts")).resolve()
