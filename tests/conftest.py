import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.test import override_settings

from config.celery import app as celery_app

ROOT = Path(__file__).resolve().parent.parent


def database_url_of_test_db() -> str:
    """The URL of the database this test run uses, for processes started by the tests."""
    s = connection.settings_dict
    if s["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{s['NAME']}"
    auth = s["USER"] + (f":{s['PASSWORD']}" if s["PASSWORD"] else "")
    host = s["HOST"] or "127.0.0.1"
    return f"postgres://{auth}@{host}:{s['PORT'] or 5432}/{s['NAME']}"


@pytest.fixture(autouse=True)
def fast_password_hasher(settings):
    """Factories set a password per user; the default hasher would make that the slowest part."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def clear_cache():
    """The API rate limits count requests in the cache: each test starts with none counted."""
    cache.clear()


@pytest.fixture(scope="session")
def celery_queue():
    """A queue of this test session's own, so that a stray worker never takes our tasks; model
    tasks go to a training queue of the session's own (config.celery.route_task)."""
    queue = f"arbiter-test-{uuid.uuid4().hex[:8]}"
    training_queue = f"{queue}-training"
    celery_app.conf.task_default_queue = queue
    with override_settings(ARBITER_TRAINING_QUEUE=training_queue):
        yield queue
    celery_app.conf.task_default_queue = settings.CELERY_TASK_DEFAULT_QUEUE


@pytest.fixture
def celery_worker_process(transactional_db, celery_queue):
    """A real `celery worker` process on the configured broker and the test database.

    Tests that use it must commit their data (transactional_db) so the worker can read it."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url_of_test_db(),
        "ARBITER_CELERY_QUEUE": celery_queue,
        "ARBITER_TRAINING_QUEUE": settings.ARBITER_TRAINING_QUEUE,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "OMP_NUM_THREADS": "1",
    }
    log_path = Path(settings.VAR_DIR) / f"worker-{celery_queue}.log"
    log = open(log_path, "w")
    queues = f"{celery_queue},{settings.ARBITER_TRAINING_QUEUE}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool", "solo", "-Q", queues,
         "--without-gossip", "--without-mingle", "--loglevel", "INFO", "--hostname", f"{celery_queue}@%h"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        from common.tasks import ping

        ping.delay("ready").get(timeout=120)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def wait_for(predicate, *, timeout: float = 120, interval: float = 0.25, message: str = "condition"):
    """Polls `predicate` until it returns something truthy; fails the test after `timeout`.
    (A liveness guard for work done by another process, not a speed assertion.)"""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"Timed out after {timeout}s waiting for {message}")
