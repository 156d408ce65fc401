"""Django settings. Environment is read in config/env.py only."""
from datetime import timedelta

import dj_database_url

from common.validation import ID_MAX
from config import env

BASE_DIR = env.BASE_DIR
VAR_DIR = env.VAR_DIR
VAR_DIR.mkdir(parents=True, exist_ok=True)
SECRET_KEY = env.SECRET_KEY
DEBUG = env.DEBUG
ALLOWED_HOSTS = env.ALLOWED_HOSTS
CSRF_TRUSTED_ORIGINS = env.CSRF_TRUSTED_ORIGINS

# HTTPS (DJANGO_HTTPS=1 in production; `manage.py check --deploy` then passes).
SECURE_SSL_REDIRECT = env.HTTPS
SESSION_COOKIE_SECURE = env.HTTPS
CSRF_COOKIE_SECURE = env.HTTPS
SECURE_HSTS_SECONDS = env.HSTS_SECONDS
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.HSTS_INCLUDE_SUBDOMAINS
SECURE_HSTS_PRELOAD = env.HSTS_PRELOAD
if env.BEHIND_TLS_PROXY:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

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
    "drf_spectacular_sidecar",
    "axes",
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
    # Last, as django-axes asks: turns a locked-out login into its lockout page.
    "axes.middleware.AxesMiddleware",
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
# django-axes checks every login (the login page, the admin, the API's token endpoint) before the
# password: a locked-out username and address get 429 even with the right password.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.LOGIN_FAILURE_LIMIT
AXES_COOLOFF_TIME = timedelta(minutes=env.LOGIN_COOLOFF_MINUTES)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_COOLOFF_MESSAGE = (f"Too many failed logins for this account from your address: try again in "
                        f"{env.LOGIN_COOLOFF_MINUTES} minutes.")
if env.PROXY_COUNT:
    AXES_IPWARE_PROXY_COUNT = env.PROXY_COUNT
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
    # The token first: a refused token is then a 401 naming the reason (with the session first, a 403).
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "common.authentication.ExpiringTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_THROTTLE_CLASSES": [
        "common.throttling.AnonRateThrottle",
        "common.throttling.UserRateThrottle",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "common.apis.ArbiterAutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "common.apis.exception_handler",
    # Throttles key anonymous calls by client address: behind proxies, that is in X-Forwarded-For.
    "NUM_PROXIES": env.PROXY_COUNT or None,
    # DRF's parsers, with JSON refusing text the database cannot store (common.parsers).
    "DEFAULT_PARSER_CLASSES": [
        "common.parsers.StorableJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Arbiter API",
    "DESCRIPTION": "Annotation, audit, reward models and policy runs for RLHF.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI from this app's static files, not a CDN: no third-party script on our origin.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Ids in paths are `<id:...>` (common.validation.BoundedIdConverter): digits only, within the
    # database's bigint range; anything else is Django's 404 and never reaches the API.
    "PATH_CONVERTER_OVERRIDES": {"id": {"type": "integer", "minimum": 1, "maximum": ID_MAX}},
    # Two models have a `status` with different choices, and two a `kind` (policy runs, monitor
    # warnings): name the enums.
    "ENUM_NAME_OVERRIDES": {
        "JobStatusEnum": "common.models.JobStatus",
        "ImportStatusEnum": "annotation.models.ImportBatch.Status",
        "PolicyRunKindEnum": "training.models.PolicyRun.Kind",
        "DatasetModeEnum": "annotation.models.Dataset.Mode",
    },
}
# Read per request by common.throttling's classes (DRF's read theirs once, at import).
ARBITER_THROTTLE_RATES = {"anon": env.API_ANON_RATE, "user": env.API_USER_RATE}
ARBITER_TOKEN_TTL_HOURS = env.TOKEN_TTL_HOURS

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
# `celery beat` (inside the default-queue worker with `make run`): runs whose worker died are ended
# (reapers every 15 s: with heartbeats every 10 s and STALE_AFTER 45 s in common/jobs.py, within about
# a minute), and datasets with an automatic retraining rule are checked.
CELERY_BEAT_SCHEDULE = {
    "labelling-leases-expire": {"task": "annotation.tasks.assignments_expire", "schedule": 60.0},
    "import-uploads-reap-stale": {"task": "annotation.tasks.import_uploads_reap_stale", "schedule": 300.0},
    "ai-label-runs-reap-stale": {"task": "annotation.tasks.ai_label_runs_reap_stale", "schedule": 60.0},
    "reward-runs-reap-stale": {"task": "rewardmodel.tasks.reward_runs_reap_stale", "schedule": 15.0},
    "training-runs-reap-stale": {"task": "training.tasks.training_runs_fail_stale", "schedule": 15.0},
    "reward-auto-retrain": {"task": "rewardmodel.tasks.reward_auto_retrain_sweep", "schedule": 60.0},
    "critique-runs-reap-stale": {"task": "annotation.tasks.critique_runs_reap_stale", "schedule": 15.0},
}
# Model tasks (training, scoring) go to ARBITER_TRAINING_QUEUE when it differs from the default
# queue; the rest stay on the default queue (config.celery.route_task).
ARBITER_TRAINING_QUEUE = env.TRAINING_QUEUE
CELERY_TASK_ROUTES = ("config.celery.route_task",)
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
