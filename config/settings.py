"""Django settings, read from the environment (docs/configuration.md lists every
variable), then from `<repo>/.env` (or DJANGO_ENV_FILE) for what it leaves unset.

Production differs from development by environment only: with `DJANGO_DEBUG`
off, `DJANGO_SECRET_KEY` is required.

(Over 300 lines: Django's one settings module; each block says what reads
it, and docs/configuration.md lists the variables.)
"""

import os
from pathlib import Path
from typing import Any

import django_stubs_ext
import environ
from django.core.exceptions import ImproperlyConfigured

from core import logs

# Lets generic Django classes be subscripted at run time, as django-stubs types them.
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent

# A `.env` file (.env.example lists every variable) fills in what the
# environment leaves unset: read_env() sets only names not set already, so
# the environment wins. DJANGO_ENV_FILE names another file, which must exist
# (the tests point it away from a developer's own `.env`).
ENV_FILE = Path(os.environ.get("DJANGO_ENV_FILE") or BASE_DIR / ".env")
if ENV_FILE.exists():
    environ.Env.read_env(ENV_FILE)
elif os.environ.get("DJANGO_ENV_FILE"):
    raise ImproperlyConfigured(f"DJANGO_ENV_FILE: no file at {ENV_FILE}.")

env = environ.Env()

DEBUG = env.bool("DJANGO_DEBUG", default=False)

SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "Set the DJANGO_SECRET_KEY environment variable "
            "(only DJANGO_DEBUG=true runs without one)."
        )
    SECRET_KEY = "django-insecure-development-only"  # noqa: S105 (debug only)

ALLOWED_HOSTS: list[str] = env.list(
    "DJANGO_ALLOWED_HOSTS",
    default=["localhost", "127.0.0.1", "[::1]"] if DEBUG else [],
)

INSTALLED_APPS = [
    "core.admin_site.AdminConfig",  # django.contrib.admin, login rate-limited
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    # servestatic's system checks; before staticfiles, so that `runserver`
    # leaves the static files to its middleware, as it does under uvicorn.
    "servestatic",
    "django.contrib.staticfiles",
    "corsheaders",
    "ninja",
    "django_tasks",
    "django_tasks_db",
    "users",
    "utilities",
    "core.apps.CoreConfig",  # the platform: checks, request-signal wiring
]

# The fast path (core/handlers/README.md): the request path of #6 and #16,
# long-lived request threads lent one sync call at a time and Django's
# middleware run on the event loop. Off, the project serves through Django's
# stock ASGIHandler and middleware: the fallback if a Django upgrade breaks it.
FAST_PATH = env.bool("DJANGO_FAST_PATH", default=True)

# Django's own, subclassed in core/middleware.py so their hooks run on the
# event loop instead of costing a thread hop each.
FAST_PATH_MIDDLEWARE = [
    "core.request_log.RequestLogMiddleware",  # first: times and logs it all
    "core.middleware.OnLoopSecurityMiddleware",
    "servestatic.middleware.ServeStaticMiddleware",
    # corsheaders' CorsMiddleware goes here when CORS is on (below).
    "core.middleware.OnLoopSessionMiddleware",
    "core.middleware.OnLoopCommonMiddleware",
    "core.middleware.OnLoopCsrfViewMiddleware",
    "core.middleware.OnLoopAuthenticationMiddleware",
    "core.middleware.OnLoopMessageMiddleware",
    "core.middleware.OnLoopXFrameOptionsMiddleware",
]
STOCK_MIDDLEWARE = [
    "core.request_log.RequestLogMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "servestatic.middleware.ServeStaticMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "core.middleware.CommonMiddleware",  # Django's, the probes take any Host
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
MIDDLEWARE = list(FAST_PATH_MIDDLEWARE if FAST_PATH else STOCK_MIDDLEWARE)
if FAST_PATH:
    # Django looks for its middleware by dotted path; core/checks.py runs the
    # checks these skip with the subclasses in their place.
    SILENCED_SYSTEM_CHECKS = ["security.W001", "security.W002", "security.W003"]

ROOT_URLCONF = "config.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

ASGI_APPLICATION = "config.asgi.application"
WSGI_APPLICATION = "config.wsgi.application"


def _database() -> dict[str, Any]:
    """Return the default database: `DATABASE_URL`, or an SQLite file."""
    db: dict[str, Any] = env.db_url(
        "DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"
    )
    if db["ENGINE"] == "django.db.backends.postgresql":
        # Django's psycopg pool: no per-request connect under ASGI. The request
        # threads keep a connection each (DB_KEEP_CONNECTIONS below), or a
        # request borrows one and gives it back at request_finished.
        db["CONN_MAX_AGE"] = 0  # the pool does the reuse; Django requires 0
        # The pool checks a connection (a round trip) before handing it out.
        # Request threads keep theirs, so that is rare: after a kept one was
        # dropped (core/db/calls.py), or per call without kept connections.
        db["CONN_HEALTH_CHECKS"] = True
        # A short `timeout` answers 503 quickly when no connection comes
        # (server down, pool exhausted); a short `reconnect_timeout` keeps
        # the pool's reconnect backoff from outlasting an outage.
        options = db.setdefault("OPTIONS", {})
        options["pool"] = {
            "min_size": env.int("DJANGO_DB_POOL_MIN_SIZE", default=1),
            "max_size": env.int("DJANGO_DB_POOL_MAX_SIZE", default=10),
            "timeout": env.float("DJANGO_DB_POOL_TIMEOUT", default=2.0),
            "reconnect_timeout": env.float(
                "DJANGO_DB_POOL_RECONNECT_TIMEOUT", default=2.0
            ),
        }
        # PostgreSQL cancels a statement running longer than this (0: never).
        timeout_ms = env.int("DJANGO_DB_STATEMENT_TIMEOUT_MS", default=30000)
        options["options"] = f"-c statement_timeout={timeout_ms}"
    elif db["ENGINE"] == "django.db.backends.sqlite3":
        # IMMEDIATE avoids the lock-upgrade deadlock of concurrent writers; a
        # file test database lets concurrent requests use it at all.
        db["OPTIONS"] = {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL;",
        }
        db["TEST"] = {"NAME": str(BASE_DIR / "test_db.sqlite3")}
    return db


DATABASES = {"default": _database()}

# Without kept connections (below): long-lived threads for requests' sync work
# (core/handlers/asgi.py): a request borrows an idle one instead of starting
# a thread. Keep at least as
# many as pool connections, so every thread can hold one, and about twice the
# concurrent requests expected: a keep-alive client's next request can start
# while its last one is still closing. With none idle, a request starts its own
# thread, as Django's stock handler does for every request (0: always). Measured in #6.
REQUEST_THREADS = env.int("DJANGO_REQUEST_THREADS", default=64)
# With the PostgreSQL pool, there are instead as many request threads as pool
# connections but one (left for other work), and each keeps its connection
# from request to request: no pool checkout and no trip to the thread to give
# the connection back per request. A request that finds every thread busy
# waits up to the pool timeout (503). Measured in #6.
DB_KEEP_CONNECTIONS = env.bool("DJANGO_DB_KEEP_CONNECTIONS", default=True)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "users.User"

# Argon2, as Django recommends; PBKDF2 stays so older hashes verify and upgrade.
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
]

AUTH_PASSWORD_VALIDATORS = [
    {
        "NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"
    },
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = env.path("DJANGO_STATIC_ROOT", default=BASE_DIR / "staticfiles")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "servestatic.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# Shared state (throttle counters): Redis when REDIS_URL is set, so several
# server processes share one limit; otherwise this process's memory. While
# Redis cannot be reached each process counts on its own (core/cache.py):
# one try waits at most the connect timeout, and Redis is tried again every
# REDIS_RETRY_AFTER_S seconds.
REDIS_URL = env.str("REDIS_URL", default="")
CACHES = {
    "default": (
        {
            "BACKEND": "core.cache.FallbackRedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {
                "socket_connect_timeout": env.float(
                    "REDIS_CONNECT_TIMEOUT_S", default=0.25
                ),
                "socket_timeout": env.float("REDIS_TIMEOUT_S", default=0.5),
                "RETRY_AFTER_S": env.float("REDIS_RETRY_AFTER_S", default=1.0),
            },
        }
        if REDIS_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}

# Proxies in front of the server whose X-Forwarded-For entry is trusted. With
# 0 the header is ignored: it is client input and could dodge rate limits.
NUM_PROXIES = env.int("DJANGO_NUM_PROXIES", default=0)
NINJA_NUM_PROXIES = NUM_PROXIES

# Rate limits ("count/s|m|h|d"); 429 with Retry-After beyond them.
API_THROTTLE_ANON = env.str("API_THROTTLE_ANON", default="60/m")
API_THROTTLE_USER = env.str("API_THROTTLE_USER", default="1200/m")
API_THROTTLE_JOBS = env.str("API_THROTTLE_JOBS", default="30/m")
API_THROTTLE_LOGIN = env.str("API_THROTTLE_LOGIN", default="10/m")
# Failed log-ins per account (normalised email, known or not), from any address.
API_THROTTLE_LOGIN_ACCOUNT = env.str("API_THROTTLE_LOGIN_ACCOUNT", default="20/h")
API_THROTTLE_FAILED_AUTH = env.str("API_THROTTLE_FAILED_AUTH", default="20/h")

# A bearer token verified less than this many seconds ago is trusted again
# without a lookup (users/token_cache.py). On PostgreSQL every process hears
# of a revocation or deactivation as it commits (users/token_changes.py, one
# more connection per process); on other databases it reaches the other
# processes only within this time. Off by default: every token is looked up.
API_TOKEN_CACHE_SECONDS = env.float("API_TOKEN_CACHE_SECONDS", default=0.0)
if not 0 <= API_TOKEN_CACHE_SECONDS < float("inf"):  # also refuses nan
    raise ImproperlyConfigured(
        "API_TOKEN_CACHE_SECONDS must be a number of seconds, 0 or more."
    )

# CORS is off unless origins are listed (django-cors-headers).
CORS_ALLOWED_ORIGINS: list[str] = env.list("DJANGO_CORS_ALLOWED_ORIGINS", default=[])
CORS_URLS_REGEX = r"^/api/.*$"
if CORS_ALLOWED_ORIGINS:
    # Only then: with no origin allowed it would add nothing but its cost to
    # every request (#6: ~25 µs of a health check's ~280 µs in the handler).
    # Before the session middleware (either mode's), as django-cors-headers asks.
    session_at = next(i for i, p in enumerate(MIDDLEWARE) if "SessionMiddleware" in p)
    MIDDLEWARE.insert(session_at, "corsheaders.middleware.CorsMiddleware")

# HTTPS hardening (`manage.py check --deploy`); relaxed only in debug.
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=not DEBUG)
# Plain-HTTP probes and metric scrapes from inside the platform.
SECURE_REDIRECT_EXEMPT = [r"^api/(health|ready)$", r"^metrics$"]
if env.bool("DJANGO_SECURE_PROXY_SSL_HEADER", default=NUM_PROXIES > 0):
    # Only behind a proxy that sets X-Forwarded-Proto and strips the client's.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_HSTS_SECONDS = env.int(
    "DJANGO_SECURE_HSTS_SECONDS", default=0 if DEBUG else 31_536_000
)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
CSRF_TRUSTED_ORIGINS: list[str] = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

# Who sees /api/docs and /api/openapi.json: "public", "staff" or "off".
API_DOCS = env.str("API_DOCS", default="public" if DEBUG else "staff")
if API_DOCS not in ("public", "staff", "off"):
    raise ImproperlyConfigured("API_DOCS must be one of: public, staff, off.")

# Deepest nesting of lists and objects in a JSON body (422 beyond).
API_MAX_JSON_DEPTH = env.int("API_MAX_JSON_DEPTH", default=32)

# Bounded page size for every paginated list (django-ninja).
NINJA_PAGINATION_PER_PAGE = 20
NINJA_PAGINATION_MAX_LIMIT = 100

# /metrics answers only `Authorization: Bearer <this>`; empty: 404 (core/metrics.py).
API_METRICS_TOKEN = env.str("API_METRICS_TOKEN", default="")

# JSON lines in production, readable text in development (core/logs.py).
LOGGING_CONFIG = "core.logs.configure"
LOGGING = logs.logging_config(
    json=env.str("DJANGO_LOG_FORMAT", "text" if DEBUG else "json") == "json",
    level=env.str("DJANGO_LOG_LEVEL", "INFO"),
)

# Request bodies larger than this are refused with 413 (Django's own limit).
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int(
    "DJANGO_DATA_UPLOAD_MAX_MEMORY_SIZE", default=2_621_440
)

# Jobs: Django's Tasks interface (the django-tasks backport on 5.2), stored in
# the database; `manage.py db_worker` runs them. Another backend (RQ, Celery)
# is a change here, not in the code.
TASKS = {
    "default": {
        "BACKEND": "django_tasks_db.DatabaseBackend",
        "QUEUES": ["default"],
    }
}

# Utilities: defaults for every served function; a registration may set its
# own, and UTILITIES_OVERRIDES (name -> {setting: value}) beats both.
UTILITIES_TIMEOUT_S = env.float("UTILITIES_TIMEOUT_S", default=30.0)
UTILITIES_CONCURRENCY = env.int("UTILITIES_CONCURRENCY", default=4)
UTILITIES_QUEUE_SIZE = env.int("UTILITIES_QUEUE_SIZE", default=8)
UTILITIES_QUEUE_WAIT_S = env.float("UTILITIES_QUEUE_WAIT_S", default=5.0)
UTILITIES_MAX_BODY_BYTES = env.int("UTILITIES_MAX_BODY_BYTES", default=1_048_576)
UTILITIES_PROCESS_WORKERS = env.int(
    "UTILITIES_PROCESS_WORKERS", default=os.cpu_count() or 1
)
# Pool workers run this much nicer than the server: CPU-bound utilities take
# what the event loop leaves, so requests keep their latency (0: same priority).
UTILITIES_PROCESS_NICE = env.int("UTILITIES_PROCESS_NICE", default=10)
UTILITIES_THREAD_WORKERS = env.int("UTILITIES_THREAD_WORKERS", default=8)
UTILITIES_JOB_RETENTION_DAYS = env.float("UTILITIES_JOB_RETENTION_DAYS", default=7.0)
# A running job whose worker has not beaten for this long is failed (worker_lost).
UTILITIES_JOB_STALE_AFTER_S = env.float("UTILITIES_JOB_STALE_AFTER_S", default=120.0)
UTILITIES_OVERRIDES: dict[str, dict[str, float]] = {}
