"""Hearth's settings: one module, every deployment difference read from the environment.

See README.md ("Configuration") for every variable. Production is the default and fails
closed: SECRET_KEY, DATABASE_URL, REDIS_URL, ALLOWED_HOSTS and HEARTH_ENCRYPTION_KEY must be
set, DEBUG is off and HTTPS is enforced. `HEARTH_DEV=1` (set by `make run`, `make test` and the test bootstrap) is
the one development switch: DEBUG on, a fixed development key, local host names, and the
embedded servers of `config.embedded` when DATABASE_URL / REDIS_URL are unset.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import dj_database_url
from celery.schedules import crontab

from config import embedded

BASE_DIR = Path(__file__).resolve().parent.parent


def cannot_start(problem: str) -> SystemExit:
    # One line on stderr and exit status 1, no traceback: the operator reads what to fix.
    return SystemExit(f"hearth: cannot start: {problem}")


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name, "").strip()
    if value == "":
        return default
    if value.lower() in {"1", "true", "yes", "on"}:
        return True
    if value.lower() in {"0", "false", "no", "off"}:
        return False
    raise cannot_start(f"{name} must be true or false, not {value!r}.")


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    if value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise cannot_start(f"{name} must be a whole number, not {value!r}.") from None


def env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    if not value:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


HEARTH_DEV = env_bool("HEARTH_DEV", default=False)

# Production never falls back to a published key, a guessed host list or a server that lives
# inside the checkout: every missing one is named in one line before anything starts.
REQUIRED_IN_PRODUCTION = ("SECRET_KEY", "DATABASE_URL", "REDIS_URL", "ALLOWED_HOSTS", "HEARTH_ENCRYPTION_KEY")
if not HEARTH_DEV:
    _missing = [name for name in REQUIRED_IN_PRODUCTION if not os.environ.get(name, "").strip()]
    if _missing:
        _verb, _pronoun = ("is", "it") if len(_missing) == 1 else ("are", "them")
        raise cannot_start(
            f"{', '.join(_missing)} {_verb} not set. Set {_pronoun} (see README 'Configuration'), "
            "or set HEARTH_DEV=1 for development."
        )

# Tracebacks are shown to whoever triggers them, so production has DEBUG only when asked for.
DEBUG = env_bool("DEBUG", default=HEARTH_DEV)
SECRET_KEY = os.environ.get("SECRET_KEY", "").strip() or "hearth-development-only-not-secret"
# Encrypts secrets stored in the database (the tenants' AI provider keys, ai/secrets.py). Its own
# key rather than SECRET_KEY, so rotating SECRET_KEY (sessions) never makes stored keys
# unreadable. Comma-separated: the first encrypts, all decrypt (rotation).
HEARTH_ENCRYPTION_KEY = os.environ.get("HEARTH_ENCRYPTION_KEY", "").strip() or "hearth-development-only-not-secret-encryption"

# `*.localhost` resolves to 127.0.0.1 in browsers, so tenants work locally by host name.
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", ".localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

# Host names of tenants created without --domain: "<slug>.<TENANT_DOMAIN_SUFFIX>".
TENANT_DOMAIN_SUFFIX = os.environ.get("TENANT_DOMAIN_SUFFIX", "localhost")

# ----------------------------------------------------------------------------- apps

SHARED_APPS = [
    "django_tenants",
    "accounts",
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.admin",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "corsheaders",
]
# Each tenant gets these tables in its own schema. Sessions and the admin log are per
# tenant too, so a session cookie of one tenant means nothing in another tenant's schema.
TENANT_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.admin",
    "conversations",
    "ai",
    "kb",
    "analytics",
]
INSTALLED_APPS = SHARED_APPS + [app for app in TENANT_APPS if app not in SHARED_APPS]

TENANT_MODEL = "accounts.Account"
TENANT_DOMAIN_MODEL = "accounts.Domain"
PUBLIC_SCHEMA_NAME = "public"
# New tenants' schemas are cloned from this migrated template (accounts/tenant_template.py),
# rebuilt whenever the migrations change. Our own clone, not django-tenants' (which loses
# pgvector's dimensions), so TENANT_CREATION_FAKES_MIGRATIONS stays off.
TENANT_BASE_SCHEMA = "tenant_template"
# `manage.py migrate_tenants` migrates this many tenant schemas at once (forked processes);
# each holds one database connection while it runs.
TENANT_MULTIPROCESSING_MAX_PROCESSES = env_int("TENANT_MIGRATION_PROCESSES", 4)
DATABASE_ROUTERS = ["django_tenants.routers.TenantSyncRouter"]
# `SET search_path` once per request (set_tenant) instead of before every query. Safe because
# the backend forgets the path on every rollback and savepoint rollback, which undo a SET
# (tests/config/test_search_path.py). Across requests, our backend (ENGINE below) skips even
# that one when the server reports it has the path already.
TENANT_LIMIT_SET_CALLS = True
# Django's PostgreSQL backend with a health check that needs no round trip while the
# connection is quiet (config/postgresql/base.py); django-tenants' backend wraps it.
ORIGINAL_BACKEND = "config.postgresql"

MIDDLEWARE = [
    "config.middleware.InputGuardMiddleware",  # NUL and malformed admin ids: a 400/404 before anything reads them
    "accounts.middleware.TenantRoutingMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "accounts.middleware.AccountSuspendedMiddleware",  # after CORS: a widget can read its 403
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls_tenant"
PUBLIC_SCHEMA_URLCONF = "config.urls_public"
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

# ----------------------------------------------------------------------------- database

DATABASE_URL = os.environ.get("DATABASE_URL", "").strip()
DB_CONN_MAX_AGE = env_int("DB_CONN_MAX_AGE", 60)
# Only development may start a server of its own; production stopped above without a URL.
USES_EMBEDDED_POSTGRES = HEARTH_DEV and not DATABASE_URL
if USES_EMBEDDED_POSTGRES:
    DATABASE_URL = embedded.postgres_location().url
# How connections reach PostgreSQL (README "Operators", docs/architecture.md "Connection
# pooling"): `session` for a direct connection or PgBouncer in session mode; `transaction`
# behind PgBouncer in transaction mode, where every statement carries its tenant's search path
# (config/tenant_postgresql/base.py). Statement mode cannot run transactions at all.
DATABASE_POOL_MODE = os.environ.get("DB_POOL_MODE", "session").strip().lower() or "session"
if DATABASE_POOL_MODE not in {"session", "transaction"}:
    raise cannot_start(
        f"DB_POOL_MODE must be session or transaction, not {DATABASE_POOL_MODE!r} "
        "(PgBouncer's statement mode cannot run Hearth's transactions)."
    )
DATABASES = {
    "default": {
        **dj_database_url.parse(DATABASE_URL, conn_max_age=DB_CONN_MAX_AGE),
        # django-tenants' backend, skipping the per-request `SET search_path` when the server
        # reports it already has the tenant's path, and made safe for transaction pooling
        # (DATABASE_POOL_MODE; config/tenant_postgresql/base.py).
        "ENGINE": "config.tenant_postgresql",
        "CONN_HEALTH_CHECKS": True,
    }
}
# Django's psycopg connection pool per process (docs/architecture.md "Connection pooling"):
# DB_PROCESS_POOL_SIZE connections at most, shared by the process's threads, instead of one
# persistent connection per thread (DB_CONN_MAX_AGE, which a pool replaces). 0 (the default,
# chosen by measurement) keeps the persistent connections.
DB_PROCESS_POOL_SIZE = env_int("DB_PROCESS_POOL_SIZE", 0)
if DB_PROCESS_POOL_SIZE < 0:
    raise cannot_start(f"DB_PROCESS_POOL_SIZE must be 0 (no pool) or more, not {DB_PROCESS_POOL_SIZE}.")
if DB_PROCESS_POOL_SIZE:
    DATABASES["default"]["CONN_MAX_AGE"] = 0  # the pool keeps connections; Django refuses both
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": 1, "max_size": DB_PROCESS_POOL_SIZE,
        "timeout": 10,  # a thread waiting this long for a free connection fails its request rather than hang
    }
if env_bool("HEARTH_TEST_DATABASE_FAST", default=False):
    # The test suite's connections (and only theirs: tests/bootstrap.py sets this) do not wait
    # for WAL flushes at commit. Losing the last commits on a crash costs a test database
    # nothing; for `make run` and production every commit stays durable.
    _options = DATABASES["default"].setdefault("OPTIONS", {})
    _options["options"] = f"{_options.get('options', '')} -c synchronous_commit=off".strip()
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# ----------------------------------------------------------------------------- redis, cache, celery

REDIS_URL = os.environ.get("REDIS_URL", "").strip()
USES_EMBEDDED_REDIS = HEARTH_DEV and not REDIS_URL
if USES_EMBEDDED_REDIS:
    REDIS_URL = embedded.redis_url()

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        # Every key starts with the schema name of the tenant being served, so one tenant
        # can never read another's cached value.
        "KEY_FUNCTION": "django_tenants.cache.make_key",
        "REVERSE_KEY_FUNCTION": "django_tenants.cache.reverse_key",
        "KEY_PREFIX": os.environ.get("CACHE_KEY_PREFIX", "hearth"),
        "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
    }
}

CELERY_BROKER_URL = REDIS_URL
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A broker that drops packets must not hold a customer's request: the enqueue after commit gives
# up quickly and the periodic sweep queues the follow-up later (conversations/followups.py).
CELERY_BROKER_TRANSPORT_OPTIONS = {"socket_connect_timeout": 2, "socket_timeout": 5}
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("CELERY_QUEUE", "hearth")
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
# Entries without `tenant_schemas` run once per tenant schema (see config/celery.py).
CELERY_BEAT_SCHEDULER = "tenant_schemas_celery.scheduler:TenantAwarePersistentScheduler"
CELERY_BEAT_SCHEDULE_FILENAME = os.environ.get(
    "CELERY_BEAT_SCHEDULE_FILENAME", str(embedded.DATA_DIR / "celerybeat-schedule")
)
CELERY_BEAT_SCHEDULE = {
    "tenant-heartbeat": {"task": "analytics.tasks.tenant_heartbeat", "schedule": 300.0},
    "wake-snoozed-conversations": {"task": "conversations.tasks.wake_snoozed_conversations", "schedule": 60.0},
    "mark-sla-breaches": {"task": "conversations.tasks.mark_sla_breaches", "schedule": 60.0},
    # hot8: customers' words waiting in SearchWords folded into the search documents.
    "fold-search-words": {"task": "conversations.tasks.fold_search_words", "schedule": 300.0},
    # Incoming messages whose after-commit follow-up never ran (Redis was down) are queued again.
    "requeue-message-followups": {"task": "conversations.tasks.requeue_message_followups", "schedule": 300.0},
    # Nightly, in each tenant: retrain the classifier when agents' corrections or new examples
    # arrived since its newest version (a no-op otherwise).
    "retrain-classifiers": {"task": "ai.tasks.classifiers_retrain", "schedule": crontab(hour=3, minute=17)},
    # Expired AI response-cache rows (ai.cache) are deleted per tenant.
    "ai-cache-expire": {"task": "ai.tasks.cache_expire", "schedule": 3600.0},
    # Knowledge-base articles whose passage rebuild never ran (broker down) or that carry
    # another embedding model than the tenant's now are queued again, a batch at a time.
    "kb-requeue-pending-articles": {"task": "kb.tasks.requeue_pending_articles", "schedule": 600.0},
    # Analytics rollups per tenant: a cheap check every 10 minutes; yesterday (and the 3 days
    # before it) once the tenant's local day has ended, stale days whenever marked.
    "analytics-rollups": {"task": "analytics.tasks.rollups_run", "schedule": 600.0},
    # Data rights: nightly, in each tenant, message contents and AI payloads older than the
    # account's retention periods are erased in batches (conversations/services/retention.py).
    "retention-apply": {"task": "conversations.tasks.retention_apply", "schedule": crontab(hour=2, minute=41)},
}

# Whether a tenant's AI endpoint may be inside the server's own network (loopback, private,
# link-local): off in production, so a tenant cannot make the server call its neighbours; on for
# a self-hosted model next to Hearth (Ollama on localhost) and in development.
AI_PRIVATE_ENDPOINTS = env_bool("AI_PRIVATE_ENDPOINTS", default=HEARTH_DEV)
# AI provider retries (ai.calls): exponential backoff from this base on a 429/5xx, and a
# provider's Retry-After is honoured up to this cap (a worker never sleeps for an hour).
AI_RETRY_BACKOFF_SECONDS = 0.5
AI_RETRY_AFTER_MAX_SECONDS = 10.0
# The AI pipeline's step in every customer message's follow-up (classify and route, ai/pipeline.py).
# Off only to run a desk without AI or to measure what the step costs (bench/ai_pipeline.py).
AI_PIPELINE = env_bool("HEARTH_AI_PIPELINE", default=True)

# A worker writes its heartbeat this often; /healthz calls a worker down after WORKER_HEARTBEAT_TTL.
WORKER_HEARTBEAT_INTERVAL = 10
WORKER_HEARTBEAT_TTL = 30

# ----------------------------------------------------------------------------- APIs

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": [],
    "DEFAULT_PARSER_CLASSES": ["config.parsers.LimitedJSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "config.api.api_exception_handler",
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    # Client address for per-address throttles: X-Forwarded-For is believed only through this
    # many trusted proxies (0: the socket's address; a client cannot spoof its way past a limit).
    "NUM_PROXIES": env_int("TRUSTED_PROXY_COUNT", 0),
}
# Requests per window, by throttle scope; read at call time (config/api.py).
API_THROTTLE_RATES = {
    "widget_session": os.environ.get("WIDGET_SESSION_RATE", "120/min"),
    "widget_address": os.environ.get("WIDGET_ADDRESS_RATE", "600/min"),
    "widget_session_create": os.environ.get("WIDGET_SESSION_CREATE_RATE", "30/min"),
    "api_user": os.environ.get("API_USER_RATE", "600/min"),
}
API_MAX_BODY_BYTES = env_int("API_MAX_BODY_BYTES", 64 * 1024)
WIDGET_SESSION_TTL_SECONDS = env_int("WIDGET_SESSION_TTL_SECONDS", 30 * 24 * 3600)
SPECTACULAR_SETTINGS = {
    "TITLE": "Hearth API",
    "DESCRIPTION": "The widget API (`/api/widget/v1/`, session tokens) and the agents' API (`/api/v1/`, API tokens). "
    "Every error is `{\"error\": {\"code\", \"message\", \"fields\"}}`.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI's files come from the sidecar package, not a CDN.
    "ENUM_NAME_OVERRIDES": {"ConversationStatusEnum": "conversations.models.Conversation.Status"},
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
}
# The widget API answers browsers on the origins listed by the tenant's inboxes
# (conversations/api/cors.py); nothing else is cross-origin.
CORS_URLS_REGEX = r"^(/t/[a-z0-9]+)?/api/widget/"
CORS_ALLOW_HEADERS = ["authorization", "content-type", "idempotency-key"]
CORS_EXPOSE_HEADERS = ["retry-after"]

# ----------------------------------------------------------------------------- auth

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = ["accounts.backends.EmailBackend"]
# Argon2 (memory-hard, Django's recommendation) at OWASP's parameters (accounts/hashers.py)
# hashes a new password in ~0.1 s of one core where PBKDF2's 1,000,000 rounds took ~1 s under
# load, most of a sign-up (bench/tenancy.py). PBKDF2 stays listed so existing hashes still
# verify; each is rehashed with Argon2 at its owner's next login.
PASSWORD_HASHERS = [
    "accounts.hashers.HearthArgon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 8}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "admin:login"
CSRF_FAILURE_VIEW = "config.api.csrf_failure"

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", default=not HEARTH_DEV)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE

# ----------------------------------------------------------------------------- HTTPS

# Production sits behind a TLS-terminating proxy that must SET (overwrite, never pass through)
# X-Forwarded-Proto; a request without `https` there is redirected to HTTPS. `none` trusts no
# header (gunicorn terminating TLS itself).
_proxy_ssl_header = os.environ.get("SECURE_PROXY_SSL_HEADER", "X-Forwarded-Proto").strip()
SECURE_PROXY_SSL_HEADER = (
    None
    if _proxy_ssl_header.lower() in {"", "none", "off"}
    else ("HTTP_" + _proxy_ssl_header.upper().replace("-", "_"), "https")
)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=not HEARTH_DEV)
# Load balancers probe health over plain HTTP and do not follow redirects.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
# Browsers remember HSTS for this long; start low (e.g. 3600) when first moving a domain to
# HTTPS, since a wrong value cannot be called back before it expires.
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if HEARTH_DEV else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=not HEARTH_DEV)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", default=not HEARTH_DEV)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# ----------------------------------------------------------------------------- i18n, static

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# Absolute, so pages under a /t/<slug>/ prefix share one copy of the static files.
STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
if DEBUG:
    # Development serves static files from the apps (WhiteNoise's finders); STATIC_ROOT only
    # exists after `collectstatic`, which production runs.
    warnings.filterwarnings("ignore", message="No directory at", category=UserWarning)
# Under gunicorn (`make run`) WhiteNoise serves development's static files straight from the
# apps and notices edits; production serves the collected, hashed copies only.
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_AUTOREFRESH = DEBUG
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"pgserver": {"level": "WARNING"}},
}

# ----------------------------------------------------------------------------- e-mail

# Invitations are e-mailed by a Celery task. Development prints them in the worker's log;
# production sends through SMTP (EMAIL_HOST, EMAIL_PORT, EMAIL_HOST_USER, EMAIL_HOST_PASSWORD).
EMAIL_BACKEND = os.environ.get(
    "EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend" if HEARTH_DEV else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 587)
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", default=True)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "Hearth <no-reply@localhost>")
# Messages (such as a once-shown HMAC secret) live in the server-side session, not in a cookie.
MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"
