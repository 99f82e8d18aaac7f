"""Settings, read from the environment (and from .env when present).

Embedded default: SQLite under var/ and a Celery broker on the file system, so a first
run needs no server. Production sets DATABASE_URL, REDIS_URL, SECRET_KEY and
ALLOWED_HOSTS; see docs/operations.md.
"""

import os
from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
# Variables already in the environment win over .env (read_env uses setdefault).
environ.Env.read_env(BASE_DIR / ".env")

DEBUG = env.bool("DEBUG", default=False)

DEVELOPMENT_SECRET_KEY = "django-insecure-development-only-never-use-in-production"
SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    SECRET_KEY = DEVELOPMENT_SECRET_KEY
elif not DEBUG and SECRET_KEY.startswith("django-insecure"):
    raise ImproperlyConfigured("Refusing to run with a development SECRET_KEY and DEBUG off.")

LOCAL_HOSTS = ["localhost", "127.0.0.1", "[::1]"]
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=LOCAL_HOSTS)
# DEBUG shows tracebacks and settings to anyone: it is for a developer's own machine, so a
# site answering to a real host name (a production deployment) refuses to start with it.
if DEBUG and any(h not in LOCAL_HOSTS and not h.endswith(".localhost") for h in ALLOWED_HOSTS):
    raise ImproperlyConfigured("Refusing to run with DEBUG on for a non-local ALLOWED_HOSTS.")
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_celery_beat",
    "django_htmx",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "simple_history",
    "axes",
    "csp",
    "accounts",
    "pipeline",
    "metrics",
    # Built on every app above; none of them imports these two.
    "demo",
    "backups",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "salesperf.middleware.DatabaseUnavailableMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    "csp.middleware.CSPMiddleware",
    # Last: it sees the outcome of authentication (django-axes, issue 6).
    "axes.middleware.AxesMiddleware",
]

AUTHENTICATION_BACKENDS = [
    # First: refuses a locked-out login before the password is even checked.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

ROOT_URLCONF = "salesperf.urls"
WSGI_APPLICATION = "salesperf.wsgi.application"

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
    },
]

# --- Database -------------------------------------------------------------------------
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'salesperf.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    VAR_DIR.mkdir(exist_ok=True)
    DATABASES["default"]["OPTIONS"] = {
        # WAL lets the web server read while the worker writes; IMMEDIATE takes the
        # write lock at BEGIN so concurrent writers queue instead of failing.
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
    # A file, not memory, so a real Celery worker started by a test can share it; one per
    # test process, so two test runs on one checkout do not collide.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-{os.getpid()}.sqlite3")}
else:
    # Persistent connections: measured 4x cheaper than reconnecting per request.
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    # JIT compilation costs 100-200 ms per KPI query (measured, 100k deals) and pays off
    # only for queries of many seconds; the dashboards' queries are milliseconds.
    DATABASES["default"].setdefault("OPTIONS", {})["options"] = "-c jit=off"


# A PostgreSQL streaming replica for reads (docs/operations.md, "Past one machine"): pages,
# the API and the snapshot job read it, writes go to the primary, and a request or task
# that wrote reads the primary from then on (salesperf/db_router.py). Unset: one database,
# no router, no middleware.
DATABASE_REPLICA_URL = env.str("DATABASE_REPLICA_URL", default="")
# How long after a write a browser's requests keep reading the primary (the page after a
# POST's redirect); longer than the replica's usual lag.
DATABASE_REPLICA_PIN_SECONDS = env.int("DATABASE_REPLICA_PIN_SECONDS", default=5)
if DATABASE_REPLICA_URL:
    if DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        raise ImproperlyConfigured("DATABASE_REPLICA_URL needs a PostgreSQL DATABASE_URL.")
    replica = env.db("DATABASE_REPLICA_URL")
    if replica["ENGINE"] != DATABASES["default"]["ENGINE"]:
        raise ImproperlyConfigured("DATABASE_REPLICA_URL must be a PostgreSQL URL too.")
    if DATABASE_REPLICA_PIN_SECONDS < 0:
        raise ImproperlyConfigured("DATABASE_REPLICA_PIN_SECONDS must not be negative.")
    for option in ("CONN_MAX_AGE", "CONN_HEALTH_CHECKS"):
        replica[option] = DATABASES["default"][option]
    replica.setdefault("OPTIONS", {})["options"] = "-c jit=off"
    # Tests create one database; the `replica` alias reads it under the test name, on the
    # replica's server (Django's mirror copies the NAME only), where the WAL brings it.
    replica["TEST"] = {"MIRROR": "default"}
    DATABASES["replica"] = replica
    DATABASE_ROUTERS = ["salesperf.db_router.PrimaryReplicaRouter"]
    # Above SessionMiddleware: a session saved on the way out counts as the request's write.
    MIDDLEWARE.insert(
        MIDDLEWARE.index("django.contrib.sessions.middleware.SessionMiddleware"),
        "salesperf.db_router.ReadYourWritesMiddleware",
    )

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    # 10, not Django's 8: the passwords guard revenue figures and people's performance.
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 10},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "metrics:home"
LOGOUT_REDIRECT_URL = "login"

# --- Login throttling (django-axes; docs/security.md) -----------------------------------
# An account is locked by its username, whatever the IP: an attacker spreading guesses over
# many addresses gets no more tries. The login page, the admin (same login) and the API's
# auth/token/ all count. A success before the limit resets the count.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=10)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=60))
AXES_LOCKOUT_PARAMETERS = ["username"]
AXES_RESET_ON_SUCCESS = True
# Guesses during a lockout do not extend it: the page can then say exactly when it ends.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_LOCKOUT_CALLABLE = "accounts.lockout.lockout_response"
AXES_VERBOSE = False  # otherwise it prints a banner at every start of every process
# axes.W006 asks to count by IP address too. Not here: a sales floor shares one address
# behind its NAT, and one person's typos would lock out the whole office. Spreading guesses
# over many addresses gains nothing against a lock by username.
SILENCED_SYSTEM_CHECKS = ["axes.W006"]
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # SQLite has no covering indexes: the INCLUDE columns of metrics.CycleBucket's key
    # are a PostgreSQL speed-up, the key itself holds on both.
    SILENCED_SYSTEM_CHECKS.append("models.W040")
if AXES_FAILURE_LIMIT < 1 or AXES_COOLOFF_TIME <= timedelta(0):
    raise ImproperlyConfigured("AXES_FAILURE_LIMIT and AXES_COOLOFF_MINUTES must be positive.")

# --- REST API ---------------------------------------------------------------------------
REST_FRAMEWORK = {
    # Token first: an anonymous request's 401 then carries `WWW-Authenticate: Token`.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # JSON only, and no bigger than DATA_UPLOAD_MAX_MEMORY_SIZE (api/errors.py).
    "DEFAULT_PARSER_CLASSES": ["api.errors.LimitedJSONParser"],
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "api.filters.OrderingFilter",
    ],
    "DEFAULT_PAGINATION_CLASS": "api.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "api.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "api.schema.AutoSchema",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
# Django's default (2.5 MB), stated because the API enforces it on JSON bodies too: a
# bigger body is a 413.
DATA_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
SPECTACULAR_SETTINGS = {
    "TITLE": "salesperf API",
    "DESCRIPTION": "Deals, leads, teams, targets and every KPI of docs/kpis.md. "
    "How to sign in, the permissions of each role, filters and the error format: "
    "docs/api.md.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # The schema and the docs page are for signed-in users (issue 11): an anonymous schema
    # request is the API's 401; the docs page sends a browser to the login page
    # (salesperf/urls.py).
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    # Swagger UI from drf-spectacular-sidecar's static files, not a CDN, and its start-up
    # script as a file: the Content-Security-Policy allows neither a CDN nor inline code.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # One name per choice set, whichever field uses it.
    "ENUM_NAME_OVERRIDES": {
        "StageKindEnum": "pipeline.choices.StageKind",
        "LeadStatusEnum": "pipeline.choices.LeadStatus",
        "LeadStatusChangeEnum": ["working", "qualified", "disqualified"],
    },
}

# --- Internationalisation ---------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True
# The organisation's reporting currency (ISO 4217): every money figure is shown in it.
ORGANISATION_CURRENCY = env.str("ORGANISATION_CURRENCY", default="USD").upper()
if not (len(ORGANISATION_CURRENCY) == 3 and ORGANISATION_CURRENCY.isalpha()):
    raise ImproperlyConfigured("ORGANISATION_CURRENCY must be an ISO 4217 code such as USD.")

# --- Static files -----------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [
    BASE_DIR / "static",
    # Vendor JavaScript comes from npm (package.json), never committed.
    ("vendor/chartjs", BASE_DIR / "node_modules" / "chart.js" / "dist"),
]
WHITENOISE_USE_FINDERS = DEBUG
if DEBUG:
    STATIC_ROOT.mkdir(exist_ok=True)  # WhiteNoise warns on every request otherwise
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# A write's summary drain (metrics.summary): by default the web worker runs it once the
# response is sent. With SUMMARY_DRAINER on, web workers leave it to `manage.py
# drain_summary`, a process of its own (docker-compose.yml's drainer), which takes every
# pending change a few times a second; every summary read still drains first, so what a
# page shows is exact either way (docs/performance.md, writes under 16 clients).
SUMMARY_DRAINER = env.bool("SUMMARY_DRAINER", default=False)

# --- Cache and Celery -------------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
# Keys apart per deployment sharing one cache; the parallel test workers (pytest-xdist sets
# PYTEST_XDIST_WORKER, and the Celery workers they start inherit it) each get their own, as
# their databases number import jobs from 1 alike.
CACHE_KEY_PREFIX = env.str("CACHE_KEY_PREFIX", default=os.environ.get("PYTEST_XDIST_WORKER", ""))
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": CACHE_KEY_PREFIX,
        }
    }
    CELERY_BROKER_URL = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {"visibility_timeout": 3600}
else:
    # On disk, not in memory: the worker writes an import's progress, the web reads it.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
            "KEY_PREFIX": CACHE_KEY_PREFIX,
        }
    }
    # A broker on the file system: the embedded default runs a real worker and beat
    # with no server. One machine only; production uses Redis.
    CELERY_QUEUE_DIR = VAR_DIR / "celery" / "queue"
    CELERY_PROCESSED_DIR = VAR_DIR / "celery" / "processed"
    CELERY_QUEUE_DIR.mkdir(parents=True, exist_ok=True)
    CELERY_PROCESSED_DIR.mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_QUEUE_DIR),
        "data_folder_out": str(CELERY_QUEUE_DIR),
        "processed_folder": str(CELERY_PROCESSED_DIR),
        "control_folder": str(VAR_DIR / "celery" / "control"),
        "store_processed": False,
    }
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# Uploads made while Redis was down wait, marked, until this sends them again (issue 6;
# docs/reliability.md). Beat copies it into its schedule table at start.
CELERY_BEAT_SCHEDULE = {
    "requeue-waiting-imports": {
        "task": "pipeline.tasks.requeue_waiting_imports_task",
        "schedule": env.float("IMPORT_REQUEUE_SECONDS", default=60.0),
    },
    # Claimed one-time form tokens older than their 7 days (pipeline.submissions).
    "prune-form-submissions": {
        "task": "pipeline.tasks.prune_form_submissions_task",
        "schedule": 24 * 3600.0,
    },
}

# --- CSV import from the upload page ------------------------------------------------------
# Files up to this size import during the request; larger ones go to a Celery worker and
# the page follows its progress.
IMPORT_INLINE_MAX_BYTES = env.int("IMPORT_INLINE_MAX_BYTES", default=256 * 1024)
IMPORT_MAX_BYTES = env.int("IMPORT_MAX_BYTES", default=64 * 1024 * 1024)

# --- Content-Security-Policy (django-csp; docs/security.md) ----------------------------
# Only this site's own files: no inline script or style, no CDN, no eval. htmx's inline
# indicator style is turned off in templates/base.html; Swagger UI comes from the sidecar.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}

# --- Sessions and cookies ---------------------------------------------------------------
# A session lasts at most SESSION_COOKIE_AGE after login (a working day by default), and by
# default also ends when the browser closes: sales floors share machines.
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=60 * 60 * 12)
SESSION_EXPIRE_AT_BROWSER_CLOSE = env.bool("SESSION_EXPIRE_AT_BROWSER_CLOSE", default=True)

# --- Security (production, i.e. DEBUG off) ----------------------------------------------
if not DEBUG:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 365)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_CONTENT_TYPE_NOSNIFF = True
    SECURE_REFERRER_POLICY = "same-origin"

EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="salesperf@localhost")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
}
