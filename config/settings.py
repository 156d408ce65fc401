"""Django settings. Environment is read in config/env.py only."""
import dj_database_url

from common.validation import ID_MAX
from config import env

BASE_DIR = env.BASE_DIR
VAR_DIR = env.VAR_DIR
VAR_DIR.mkdir(parents=True, exist_ok=True)
SECRET_KEY = env.SECRET_KEY
DEBUG = env.DEBUG
ALLOWED_HOSTS = env.ALLOWED_HOSTS

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "django_htmx",
    "template_partials",
    "common",
    "annotation",
    "rewardmodel",
    "training",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    }
]

DATABASES = {"default": dj_database_url.parse(env.DATABASE_URL, conn_max_age=60)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The embedded default must stay correct with several writers: WAL lets readers run beside a
    # writer, IMMEDIATE takes the write lock when a transaction starts (so two transactions never
    # deadlock upgrading read locks), and the busy timeout makes a writer wait instead of failing.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
        "init_command": "PRAGMA journal_mode=WAL;PRAGMA synchronous=NORMAL",
    }
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test.sqlite3")}
else:
    # Statements run through server-binding cursors are prepared on first use (only the labelling
    # queue's hot path uses them: annotation/labelling/queue_sql.py). Behind a pooler in
    # transaction mode, use PgBouncer 1.21+ (it tracks prepared statements) or set this to None.
    DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = 0
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static_src"]

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "common.apis.exception_handler",
    # DRF's parsers, with JSON refusing text the database cannot store (common.apis.StorableJSONParser).
    "DEFAULT_PARSER_CLASSES": [
        "common.apis.StorableJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Arbiter API",
    "DESCRIPTION": "Annotation, audit, reward models and policy runs for RLHF.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Ids in paths (common.validation.BoundedIdConverter): within the database's bigint range.
    "PATH_CONVERTER_OVERRIDES": {"id": {"type": "integer", "minimum": 1, "maximum": ID_MAX}},
}

CELERY_BROKER_URL = env.CELERY_BROKER_URL
if CELERY_BROKER_URL.startswith("filesystem://"):
    # kombu's filesystem transport: a broker that needs no server, for the embedded default.
    _queue_dir = VAR_DIR / "celery" / "queue"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue_dir),
        "data_folder_out": str(_queue_dir),
        "data_folder_processed": str(VAR_DIR / "celery" / "processed"),
        "store_processed": False,
        "control_folder": str(VAR_DIR / "celery" / "control"),
    }
    for _folder in (_queue_dir, VAR_DIR / "celery" / "processed", VAR_DIR / "celery" / "results", VAR_DIR / "celery" / "control"):
        _folder.mkdir(parents=True, exist_ok=True)
CELERY_RESULT_BACKEND = env.CELERY_RESULT_BACKEND or (
    CELERY_BROKER_URL if CELERY_BROKER_URL.startswith("redis") else f"file://{VAR_DIR / 'celery' / 'results'}"
)
CELERY_TASK_DEFAULT_QUEUE = env.CELERY_QUEUE
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
# `celery beat` (inside the worker with `make run`): runs whose worker died are marked failed, and
# datasets with an automatic retraining rule are checked.
CELERY_BEAT_SCHEDULE = {
    "labelling-leases-expire": {"task": "annotation.tasks.assignments_expire", "schedule": 60.0},
    "import-uploads-reap-stale": {"task": "annotation.tasks.import_uploads_reap_stale", "schedule": 300.0},
    "reward-runs-reap-stale": {"task": "rewardmodel.tasks.reward_runs_reap_stale", "schedule": 120.0},
    "training-runs-reap-stale": {"task": "training.tasks.training_runs_fail_stale", "schedule": 120.0},
    "reward-auto-retrain": {"task": "rewardmodel.tasks.reward_auto_retrain_sweep", "schedule": 60.0},
}
ARBITER_TRAINING_QUEUE = env.TRAINING_QUEUE
if ARBITER_TRAINING_QUEUE != CELERY_TASK_DEFAULT_QUEUE:
    CELERY_TASK_ROUTES = {
        "rewardmodel.tasks.*": {"queue": ARBITER_TRAINING_QUEUE},
        "training.tasks.*": {"queue": ARBITER_TRAINING_QUEUE},
    }
ARBITER_ARTIFACTS_DIR = env.ARTIFACTS_DIR
# Data-page uploads larger than this, as uploaded (gzip or not), are imported by a worker
# (annotation/dataio/uploads.py): a few seconds of import at most stay inside the web request.
ARBITER_IMPORT_INLINE_MAX_BYTES = 256 * 1024

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {"arbiter": {"level": "INFO"}},
}
