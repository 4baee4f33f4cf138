"""Settings, all from environment variables (see README "Configuration").

With nothing set, concurrency-ui runs embedded: SQLite and Celery's filesystem broker under
`var/`, so a laptop needs no service. DATABASE_URL and CELERY_BROKER_URL (or REDIS_URL)
switch to PostgreSQL and Redis.
"""

from __future__ import annotations

import os
import re
from datetime import timedelta
from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from queueing.engine.inputs import DEFAULT_LIMITS

from .env import env_bool, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("VAR_DIR", str(BASE_DIR / "var")) or "var")
# Owner only: it holds the SQLite database, the embedded broker's messages and the generated
# admin password. An existing directory is left as it is (VAR_DIR may point anywhere).
VAR_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)


def _private_file(path: Path) -> None:
    """Create `path` readable and writable by its owner only, or tighten it if this process
    owns it; SQLite gives its -wal and -shm files the database file's permissions."""
    fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
    os.close(fd)
    info = path.stat()
    if info.st_uid == os.getuid() and info.st_mode & 0o077:
        path.chmod(0o600)

# "development" (the default, for `make dev` and tests) or "production".
ENVIRONMENT = env_str("CONCURRENCY_UI_ENV", "development")
if ENVIRONMENT not in ("development", "production"):
    raise ImproperlyConfigured(
        f"CONCURRENCY_UI_ENV: expected 'development' or 'production', got {ENVIRONMENT!r}"
    )
PRODUCTION = ENVIRONMENT == "production"

SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if PRODUCTION:
        # Never fall back to a known key where it could sign real sessions.
        raise ImproperlyConfigured("SECRET_KEY must be set when CONCURRENCY_UI_ENV=production")
    SECRET_KEY = "dev-only-insecure-key-do-not-use-in-production"

DEBUG = env_bool("DEBUG", not PRODUCTION)
if PRODUCTION and DEBUG:
    # DEBUG pages show settings and stack frames to anyone who triggers an error.
    raise ImproperlyConfigured("DEBUG must be off when CONCURRENCY_UI_ENV=production")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", [] if PRODUCTION else ["*"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "knox",
    "drf_spectacular",
    "django_htmx",
    "axes",
    "csp",
    "queueing",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Serves the vendored static files (htmx, CSS) when DEBUG is off, without a separate server.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Content-Security-Policy on every response (django-csp): no inline script or style.
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # A view's 404 is the product's page (templates/404.html), in development too.
    "queueing.views.errors.NotFoundPage",
    # Last, as django-axes requires: it turns a locked-out login into a 429 answer.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "concurrency_ui.urls"
WSGI_APPLICATION = "concurrency_ui.wsgi.application"

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
                "queueing.context_processors.engine_constants",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'concurrency_ui.sqlite3'}") or "",
        conn_max_age=env_int("DB_CONN_MAX_AGE", 0),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    if DATABASES["default"]["NAME"] not in ("", ":memory:"):
        _private_file(Path(DATABASES["default"]["NAME"]))
    # IMMEDIATE takes SQLite's write lock when a transaction begins, so two processes can
    # never both read a free slot and then both write it; the timeout waits for that lock.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # A file, not memory, so workers started by the tests share the test database; one per
    # test session so that two sessions on one machine never share it.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-{os.getpid()}.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
# The lockout check runs before the password check, so a locked-out user is refused even
# with the right password. DRF's token and session authentication never call
# authenticate(), so API clients are not affected by a lockout.
AUTHENTICATION_BACKENDS = [
    "concurrency_ui.auth.LoginRateLimitBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# django-axes: 5 failed logins for one username from one address lock that pair for 15 min.
AXES_ENABLED = env_bool("AXES_ENABLED", True)
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("AXES_COOLOFF_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False  # no start-up banner in every worker and CLI process
# The client address is REMOTE_ADDR unless the deployment says how many proxies it trusts;
# otherwise anyone could choose their address with an X-Forwarded-For header.
AXES_IPWARE_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0) or None
AXES_IPWARE_META_PRECEDENCE_ORDER = (
    ["HTTP_X_FORWARDED_FOR", "REMOTE_ADDR"] if AXES_IPWARE_PROXY_COUNT else ["REMOTE_ADDR"]
)

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "overview"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
# Serve straight from static/ too, so the app works without a collectstatic step.
WHITENOISE_USE_FINDERS = True

SESSION_COOKIE_HTTPONLY = True
# The pages send the CSRF token from the form or the <body> hx-headers, never from the
# cookie, so scripts need not read it.
CSRF_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = PRODUCTION
CSRF_COOKIE_SECURE = PRODUCTION
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
# Scripts, styles and everything else come from this site's static files only: no inline
# <script>, no event-handler attributes, no style attributes, no eval (htmx runs with
# allowEval off; templates/base.html). Pico's icons are data: images.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
    }
}
if PRODUCTION:
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# --- the input boundary (queueing/engine/inputs.py) ------------------------------------------
# Every YAML or JSON document a user sends is refused past these, while it is read.
# The defaults are the engine's (`DEFAULT_LIMITS`, what its pure callers get).
INPUT_MAX_BYTES = env_int(
    "INPUT_MAX_BYTES", DEFAULT_LIMITS.max_bytes, minimum=1024, maximum=64 * 1024 * 1024
)
INPUT_MAX_DEPTH = env_int("INPUT_MAX_DEPTH", DEFAULT_LIMITS.max_depth, minimum=4, maximum=200)
INPUT_MAX_NODES = env_int(
    "INPUT_MAX_NODES", DEFAULT_LIMITS.max_nodes, minimum=100, maximum=10_000_000
)
# A run's stored run config (after merging the job's defaults) and tags, as compact JSON.
RUN_CONFIG_MAX_BYTES = env_int(
    "RUN_CONFIG_MAX_BYTES", 64 * 1024, minimum=1024, maximum=INPUT_MAX_BYTES
)
RUN_TAGS_MAX_BYTES = env_int("RUN_TAGS_MAX_BYTES", 16 * 1024, minimum=1024, maximum=1024 * 1024)
# Run submits per user (API and launchpad), as DRF writes rates: "120/minute", "10/second";
# "off" for none. Counted in CACHES["default"]: set CACHE_URL so that every web process
# shares the count (otherwise each process counts its own).
SUBMIT_RATE = env_str("SUBMIT_RATE", "120/minute")
if SUBMIT_RATE in ("off", "none", "0"):
    SUBMIT_RATE = None
elif not re.fullmatch(r"[1-9][0-9]*/(s|sec|second|m|min|minute|h|hour|d|day)", SUBMIT_RATE or ""):
    raise ImproperlyConfigured(
        f"SUBMIT_RATE: expected N/second, N/minute, N/hour, N/day or off, got {SUBMIT_RATE!r}"
    )
_cache_url = env_str("CACHE_URL")
CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": _cache_url}
        if _cache_url
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}

REST_FRAMEWORK = {
    # Token first: its WWW-Authenticate header makes DRF answer 401 to a missing, unknown or
    # revoked token (with session authentication first, DRF can only answer 403). Tokens are
    # django-rest-knox's: only a SHA-512 digest of each is stored.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "knox.auth.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PARSER_CLASSES": ["queueing.api.parsers.LimitedJSONParser"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # Refused input answers {"errors": [{path, message}]}, as every shell reports it.
    "EXCEPTION_HANDLER": "queueing.api.errors.exception_handler",
}
REST_KNOX = {
    # Like the DRF tokens they replace: valid until revoked (DELETE /api/token/).
    "TOKEN_TTL": None,
    "AUTO_REFRESH": False,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "concurrency-ui API",
    "DESCRIPTION": "Runs, the run queue, pools and the deployment configuration.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
}

# --- Celery ---------------------------------------------------------------------------
_broker_dir = VAR_DIR / "broker"
CELERY_BROKER_URL = (
    env_str("CELERY_BROKER_URL") or env_str("REDIS_URL") or "filesystem://localhost//"
)
if CELERY_BROKER_URL.startswith("filesystem://"):
    # Our transport on top of kombu's filesystem one: atomic publish, claim by rename,
    # unacknowledged messages kept on disk (concurrency_ui/broker.py). It creates its folders.
    CELERY_BROKER_TRANSPORT = "concurrency_ui.broker:Transport"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        # The transport polls its folder; 0.1 s keeps launches and worker pings prompt.
        "polling_interval": 0.1,
        # Broadcast (worker inspection) state; kombu would otherwise write ./control/.
        "control_folder": str(_broker_dir / "control"),
    }
CELERY_TASK_IGNORE_RESULT = True
# A message is acknowledged only after its task returns, so a killed worker's message is
# redelivered; every task is idempotent (it re-checks the run's status in the database).
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Runs go on when the broker connection drops: executing a run needs only the database, and
# a message redelivered later finds the run already started and does nothing.
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False
CELERY_TASK_DEFAULT_QUEUE = "control"
CELERY_TASK_ROUTES = {
    "queueing.tasks.execute_run": {"queue": "runs"},
    # Schedules and sensors run user code (a sensor up to sensor_timeout_seconds): a worker
    # of their own, so the run queue's ticks never wait behind them.
    "queueing.tasks.schedules_tick": {"queue": "automation"},
    "queueing.tasks.sensors_tick": {"queue": "automation"},
}
# Beat only pings every second; the tasks themselves decide, from the configuration stored
# in the database, whether a tick is due, so an edited interval applies without a restart.
CELERY_BEAT_SCHEDULE = {
    "run-queue": {"task": "queueing.tasks.run_queue_tick", "schedule": 1.0},
    "run-monitoring": {"task": "queueing.tasks.run_monitoring_tick", "schedule": 1.0},
    # The tasks skip a tick unless their own interval (engine/automation.py) has passed.
    "schedules": {"task": "queueing.tasks.schedules_tick", "schedule": 1.0},
    "sensors": {"task": "queueing.tasks.sensors_tick", "schedule": 1.0},
}
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

# Worker-side: how many runs one worker process executes at once (threads waiting on steps).
RUN_WORKER_CONCURRENCY = env_int("RUN_WORKER_CONCURRENCY", 16)
# Worker-side: steps are forked from a per-worker process that has Django and the code
# locations loaded (queueing/zygote.py); off, or on a platform other than Linux, each step
# starts a new interpreter (`python -m queueing.step_process`).
STEP_ZYGOTE = env_bool("STEP_ZYGOTE", True)

# Prometheus scrapes /metrics with `Authorization: Bearer <METRICS_TOKEN>`; unset, /metrics
# is open in development and closed in production.
METRICS_TOKEN = env_str("METRICS_TOKEN")

# An attached Dagster deployment (README "For Dagster users"; needs the `dagster` extra):
# its instance folder, and whether admins may change it from here (audited).
DAGSTER_HOME = env_str("DAGSTER_HOME")
DAGSTER_WRITES_ENABLED = env_bool("DAGSTER_WRITES_ENABLED", False)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    # axes logs every failed login at INFO; lockouts, which matter, are WARNING.
    "loggers": {"django.db.backends": {"level": "WARNING"}, "axes": {"level": "WARNING"}},
}
