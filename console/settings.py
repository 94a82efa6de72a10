"""One env-driven settings module.

Every variable is parsed strictly at start-up: a malformed value raises
ImproperlyConfigured before the first request instead of a 500 later. With
nothing set the console runs on embedded defaults: SQLite and a filesystem
Celery broker under ``var/``. Secrets have no default: they come from the
environment or from ``var/secrets.env``, which ``make`` generates once per
install with ``secrets`` (see console/secrets_file.py).
"""

import os
from datetime import timedelta
from pathlib import Path

from console.env import Env, var_dir
from console.private import make_private
from runtimes.base import NODE_PORTS

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = var_dir()
# Owner-only: var/ 0700, what every console process creates 0600 (console/private.py).
make_private(VAR_DIR)

env = Env(secrets_file=VAR_DIR / "secrets.env")

DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env.secret("SECRET_KEY")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# Fernet keys (comma-separated, newest first) that encrypt each cluster's
# master key at rest. MultiFernet decrypts with any of them, so a new key is
# put in front and `manage.py rotate_master_keys` re-encrypts every cluster.
CLUSTER_KEY_ENCRYPTION_KEYS = env.fernet_keys("CLUSTER_KEY_ENCRYPTION_KEYS")

# The password `manage.py seed_demo` gives the demo user when it creates it.
DEMO_PASSWORD = env.secret("DEMO_PASSWORD", required=False)

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "console",
    "accounts",
    "clusters",
    "apikeys",
    "audit",
    "fronts",
    "managementkeys",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    # Sign-up, email verification, password change and reset, second factors,
    # OpenID Connect single sign-on and the sessions list (issue 22).
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "allauth.socialaccount",
    "allauth.socialaccount.providers.openid_connect",
    "allauth.usersessions",
]

MIDDLEWARE = [
    # First: every request is counted, whatever a later middleware answers (console/metrics.py).
    "console.metrics.MetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "console.middleware.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    # The sessions page's last-seen time, and members of an account that
    # requires a second factor sent to enrol before anything else.
    "accounts.middleware.SignedInSessionMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "console.middleware.DatabaseUnavailableMiddleware",
    # Last: turns a login refused for too many failures into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "console.urls"

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
                "accounts.context_processors.accounts",
            ],
        },
    },
]

WSGI_APPLICATION = "console.wsgi.application"

DATABASES = {"default": env.database_url("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'console.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web server and the worker write to the same file: wait for the lock
    # instead of failing with "database is locked".
    DATABASES["default"].setdefault("OPTIONS", {})["timeout"] = 20
    # Tests share their database with a real worker process, so it must be a
    # file, not SQLite's default in-memory test database.
    # One file per test run, so two runs on one machine never share it.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-{os.getpid()}.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Login throttle (django-axes, its database handler, so gunicorn's workers
# share the counts): LOGIN_FAILURE_LIMIT failed logins for one username, or
# from one client IP whatever the usernames, lock that username or that IP out
# for LOGIN_LOCKOUT_MINUTES after the last failure. While locked, even the
# right password is refused, and the login page says when to retry.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    # Django's ModelBackend, as allauth extends it: allauth logs users in
    # through it after email verification and single sign-on.
    "allauth.account.auth_backends.AuthenticationBackend",
]
LOGIN_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=10, low=1, high=1000)
LOGIN_LOCKOUT_MINUTES = env.int("LOGIN_LOCKOUT_MINUTES", default=15, low=1, high=24 * 60)
AXES_FAILURE_LIMIT = LOGIN_FAILURE_LIMIT
AXES_COOLOFF_TIME = timedelta(minutes=LOGIN_LOCKOUT_MINUTES)
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
# A refused attempt during a lockout does not push the retry time further
# away, so the time the page gives is the time it opens.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_LOCKOUT_CALLABLE = "accounts.views.login_locked_out"
AXES_CLIENT_IP_CALLABLE = "audit.services.client_ip"
AXES_DISABLE_ACCESS_LOG = True
AXES_ENABLE_ADMIN = False
AXES_VERBOSE = False
# Axes keeps the POST of a failed login: the password is masked by axes, and
# the CSRF token too (it would give away the browser's CSRF secret).
AXES_SENSITIVE_PARAMETERS = ["username", "ip_address", "csrfmiddlewaretoken"]
# Wrong management keys (`Authorization: apikey ...`) from one client IP:
# past this many in LOGIN_LOCKOUT_MINUTES, the API answers 429 RESOURCE_EXHAUSTED.
MANAGEMENT_KEY_FAILURE_LIMIT = env.int("MANAGEMENT_KEY_FAILURE_LIMIT", default=20, low=1, high=100000)

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"

# django-allauth (accounts/adapters.py). Who may sign up: `open`, anyone with
# an email address they can verify; `invite`, only through an invitation link.
SIGNUP = env.choice("SIGNUP", ("open", "invite"), default="invite")
ACCOUNT_ADAPTER = "accounts.adapters.AccountAdapter"
ACCOUNT_FORMS = {"login": "accounts.forms.LoginForm"}
ACCOUNT_LOGIN_METHODS = {"username"}
ACCOUNT_SIGNUP_FIELDS = ["username*", "email*", "password1*", "password2*"]
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
ACCOUNT_CONFIRM_EMAIL_ON_GET = False
ACCOUNT_SESSION_REMEMBER = True
ACCOUNT_EMAIL_SUBJECT_PREFIX = "Vector Console: "
# A password change keeps this session and ends every other one (Django's
# session hash: the others no longer match the new password).
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
# django-axes is the one throttle of every way in (password and second
# factor, accounts/forms.py): allauth's own login counters are off so a user
# never meets two different limits.
ACCOUNT_RATE_LIMITS = {"login": False, "login_failed": False}
# A password reset link: an HMAC of the user's state (Django's token
# generator), valid this long and spent by the change it makes; nothing of it is stored.
PASSWORD_RESET_TIMEOUT = 3600
# Dangerous actions ask for the password or a second factor again when the
# last one is older than this (GitHub's sudo mode).
REAUTHENTICATION_MINUTES = env.int("REAUTHENTICATION_MINUTES", default=10, low=1, high=24 * 60)
ACCOUNT_REAUTHENTICATION_TIMEOUT = REAUTHENTICATION_MINUTES * 60

MFA_ADAPTER = "accounts.adapters.MFAAdapter"
MFA_FORMS = {"authenticate": "accounts.forms.SecondFactorForm", "reauthenticate": "accounts.forms.SecondFactorReauthForm"}
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes", "webauthn"]
MFA_TOTP_ISSUER = "Vector Console"
MFA_RECOVERY_CODES_SHOW_ONCE = True
# WebAuthn needs a secure context: https, or http on localhost.
MFA_WEBAUTHN_ALLOW_INSECURE_ORIGIN = DEBUG

# OpenID Connect single sign-on, configured by the operator. Users are matched
# to existing ones by verified email; new users join OIDC_JOIN_ACCOUNT (an
# account's name) with OIDC_JOIN_ROLE, or, without it, need SIGNUP=open.
OIDC_ISSUER_URL = env.url("OIDC_ISSUER_URL", schemes=("https", "http"), default=None)
OIDC_CLIENT_ID = env.str("OIDC_CLIENT_ID", default="")
OIDC_CLIENT_SECRET = env.str("OIDC_CLIENT_SECRET", default="")
OIDC_NAME = env.str("OIDC_NAME", default="single sign-on")
OIDC_JOIN_ACCOUNT = env.str("OIDC_JOIN_ACCOUNT", default="")
OIDC_JOIN_ROLE = env.choice("OIDC_JOIN_ROLE", ("owner", "admin", "developer", "viewer"), default="viewer")
if OIDC_ISSUER_URL and not (OIDC_CLIENT_ID and OIDC_CLIENT_SECRET):
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured("OIDC_ISSUER_URL needs OIDC_CLIENT_ID and OIDC_CLIENT_SECRET.")
SOCIALACCOUNT_ADAPTER = "accounts.adapters.SocialAccountAdapter"
SOCIALACCOUNT_PROVIDERS = {"openid_connect": {"APPS": []}}
if OIDC_ISSUER_URL:
    SOCIALACCOUNT_PROVIDERS["openid_connect"]["APPS"].append({
        "provider_id": "sso",
        "name": OIDC_NAME,
        "client_id": OIDC_CLIENT_ID,
        "secret": OIDC_CLIENT_SECRET,
        "settings": {"server_url": OIDC_ISSUER_URL},
    })
SOCIALACCOUNT_ONLY = False
SOCIALACCOUNT_LOGIN_ON_GET = False
SOCIALACCOUNT_AUTO_SIGNUP = True
SOCIALACCOUNT_EMAIL_AUTHENTICATION = True
SOCIALACCOUNT_EMAIL_AUTHENTICATION_AUTO_CONNECT = True
SOCIALACCOUNT_EMAIL_VERIFICATION = "none"
# Tokens the provider hands over are not kept: the console needs only who signed in.
SOCIALACCOUNT_STORE_TOKENS = False

# Activity is kept by accounts/middleware.py at most once a minute, not on
# every request as allauth's own tracking would.
USERSESSIONS_TRACK_ACTIVITY = False

# Invitations to an account are sent by email: console:// prints them to
# stdout; smtp://, smtp+tls:// or smtps://user:password@host:port sends them.
globals().update(env.email_url("EMAIL_URL", default="console://"))
# Where `make run` (manage.py runall) serves the console.
RUN_HOST = env.str("HOST", default="127.0.0.1")
RUN_PORT = env.int("PORT", default=8000, low=1, high=65535)
# Where the console is reached from outside: links in emails sent by tasks, with no request to ask.
CONSOLE_URL = env.url("CONSOLE_URL", schemes=("http", "https"), default="http://localhost:8000").rstrip("/")
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Vector Console <console@localhost>")

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = env.bool("SECURE_COOKIES", default=False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE

# Redis when configured; otherwise a filesystem broker under var/ that needs
# no server and still runs tasks in a separate worker process.
REDIS_URL = env.url("REDIS_URL", schemes=("redis", "rediss"), default=None)
BROKER_DIR = VAR_DIR / "broker"
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_RESULT_BACKEND = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
else:
    CELERY_BROKER_URL = "filesystem://localhost//"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "control_folder": str(BROKER_DIR / "control"),
        "processed_folder": str(BROKER_DIR / "processed"),
        "store_processed": False,
        "polling_interval": 0.25,
    }
    CELERY_RESULT_BACKEND = f"file://{BROKER_DIR / 'results'}"
    # The filesystem transport and result backend expect their folders to exist.
    for _folder in ("queue", "control", "processed", "results"):
        (BROKER_DIR / _folder).mkdir(parents=True, exist_ok=True)
# Tests give their worker a queue of its own so stray messages never mix in.
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_QUEUE", default="console")
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Prefork, but a worker whose blocking pool lost a child exits to be
# restarted instead of hanging (console/workerpool.py).
CELERY_WORKER_POOL = "console.workerpool:TaskPool"
CELERY_TASK_TIME_LIMIT = 600
CELERY_TASK_SOFT_TIME_LIMIT = 540
CELERY_RESULT_EXPIRES = 3600
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Publishing fails fast when the broker is down: the operation row stays
# pending and the sweeper dispatches it later; the user is told so.
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_TASK_PUBLISH_RETRY = False

# How long a simulated node takes to start during provisioning, in seconds.
CLUSTER_NODE_START_SECONDS = env.float("CLUSTER_NODE_START_SECONDS", default=1.0)

# The Qdrant binary that runs the nodes of `qdrant` clusters
# (docs/concepts/runtimes.md). Set, it must be an executable file (else the console does
# not start); unset, a `qdrant` on PATH is used if there is one. With a binary
# new clusters get the `qdrant` runtime, without one the `embedded` engine.
QDRANT_BINARY = env.executable("QDRANT_BINARY")
CLUSTER_RUNTIME = "qdrant" if QDRANT_BINARY else "embedded"
# Where the node supervisor keeps each node's config, storage and logs.
NODES_DIR = Path(env.str("NODES_DIR", default=str(VAR_DIR / "nodes")))
# The loopback ports new nodes are given, LOW-HIGH (runtimes/base.py says why
# they are below the kernel's ephemeral range).
QDRANT_NODE_PORTS = env.port_range("QDRANT_NODE_PORTS", default=NODE_PORTS)
# How long a node step waits for a real node to be ready and joined.
CLUSTER_NODE_TIMEOUT_SECONDS = env.seconds("CLUSTER_NODE_TIMEOUT_SECONDS", default=180.0, maximum=3600)
# A worker renews its claim on an operation this often; past it, it is presumed
# dead and the sweeper hands the operation to another worker.
OPERATION_LEASE_SECONDS = env.float("OPERATION_LEASE_SECONDS", default=30.0)
# How often Celery beat runs the sweeper.
OPERATIONS_SWEEP_SECONDS = env.float("OPERATIONS_SWEEP_SECONDS", default=10.0)
# Audit entries older than this many days are pruned hourly; unset keeps them forever.
AUDIT_RETENTION_DAYS = env.positive_int("AUDIT_RETENTION_DAYS", default=None)
# How often Celery beat checks the health of connected clusters.
CLUSTERS_CHECK_SECONDS = env.float("CLUSTERS_CHECK_SECONDS", default=30.0)
CELERY_BEAT_SCHEDULE = {
    "check-clusters": {"task": "clusters.tasks.clusters_check_task", "schedule": CLUSTERS_CHECK_SECONDS},
    "sweep-operations": {"task": "clusters.tasks.operations_sweep_task", "schedule": OPERATIONS_SWEEP_SECONDS},
    "prune-audit-log": {"task": "audit.tasks.audit_prune_task", "schedule": 3600.0},
    "prune-key-set-changes": {"task": "fronts.tasks.keyset_prune_task", "schedule": 300.0},
    "key-expiry-reminders": {"task": "apikeys.tasks.expiry_reminders_task", "schedule": 3600.0},
    "roll-up-key-usage": {"task": "apikeys.tasks.usage_rollup_task", "schedule": 600.0},
    "weekly-key-digest": {"task": "apikeys.tasks.usage_digest_task", "schedule": 3600.0},
}
# The console's Prometheus metrics (console/metrics.py) at /metrics, for a
# scraper that sends `Authorization: Bearer <this>`; unset, /metrics is 404.
CONSOLE_METRICS_TOKEN = env.str("CONSOLE_METRICS_TOKEN", default="")
# Where each console process writes its metrics (prometheus_client's
# multiprocess mode): read by prometheus_client when first imported, so set here.
PROMETHEUS_MULTIPROC_DIR = env.exported_dir("PROMETHEUS_MULTIPROC_DIR", VAR_DIR / "metrics")
# A working key not used for this many days is marked "Unused" in lists, can
# be filtered, and is named in reminders and the weekly digest (apikeys/digest.py).
KEY_UNUSED_DAYS = env.int("KEY_UNUSED_DAYS", default=30, low=1, high=3650)
# The weekly digest names keys refused more than this many times in its week.
DIGEST_REFUSALS_OVER = env.int("DIGEST_REFUSALS_OVER", default=100, low=0, high=10**9)
# Per-minute usage rows (apikeys/usage.py) are kept this long, hourly ones this many days.
USAGE_MINUTE_RETENTION_HOURS = env.int("USAGE_MINUTE_RETENTION_HOURS", default=48, low=8, high=24 * 30)
USAGE_HOUR_RETENTION_DAYS = env.int("USAGE_HOUR_RETENTION_DAYS", default=90, low=1, high=3660)
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

# The endpoint every new cluster is given. ``{id}`` is replaced with the
# cluster's UUID for set-ups that route clusters by host name.
CLUSTER_ENDPOINT_URL = env.origin("CLUSTER_ENDPOINT_URL", default="http://localhost")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    # 403s and suspicious requests: one line, without a traceback.
    "filters": {"refusals": {"()": "console.log_filters.ForbiddenWithoutTraceback"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["refusals"]}},
    # axes logs every login at INFO; failures and lockouts are WARNING (and in the audit log).
    "loggers": {"django.request": {"filters": ["refusals"]}, "axes": {"level": "WARNING"}},
    "root": {"handlers": ["console"], "level": env.choice("LOG_LEVEL", ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"), default="INFO")},
}

# Peppers of database API key digests: {id: secret}, from `id:secret` pairs.
# New keys are digested under the highest id; a key keeps the id it was
# digested under, so a new pepper can be added without invalidating any key.
API_KEY_PEPPERS = env.peppers("API_KEY_PEPPERS")
# Database API keys per page on the cluster page and the API Keys page.
API_KEYS_PER_PAGE = 25

# What the console knows of the fronts (dataplane/, `python -m dataplane`,
# whose own settings are dataplane/settings.py): the ports its snippets name,
# where their collections and sockets are on this host, and how long a key
# change waits for them. See docs/concepts/front.md.
DATAPLANE_PORT = env.int("DATAPLANE_PORT", default=6333, low=1, high=65535)
# Every cluster's gRPC endpoint (dataplane/grpcfront.py), in each data plane process.
DATAPLANE_GRPC_PORT = env.int("DATAPLANE_GRPC_PORT", default=6334, low=1, high=65535)
if DATAPLANE_GRPC_PORT == DATAPLANE_PORT:
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured("DATAPLANE_GRPC_PORT must differ from DATAPLANE_PORT.")
# The port of the Prometheus metrics of the front `make run` starts (its
# DATAPLANE_METRICS_PORT, on DATAPLANE_METRICS_HOST: loopback unless set);
# 0: none. A front started on its own (`python -m dataplane`) serves none unless it is set.
DATAPLANE_METRICS_PORT = env.int("DATAPLANE_METRICS_PORT", default=9464, low=0, high=65535)
DATAPLANE_METRICS_HOST = env.str("DATAPLANE_METRICS_HOST", default="127.0.0.1")  # what `make run` prints
if DATAPLANE_METRICS_PORT in (DATAPLANE_PORT, DATAPLANE_GRPC_PORT, RUN_PORT):
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured("DATAPLANE_METRICS_PORT must differ from DATAPLANE_PORT, DATAPLANE_GRPC_PORT and PORT.")
DATAPLANE_DATA_DIR = Path(env.str("DATAPLANE_DATA_DIR", default=str(VAR_DIR / "dataplane")))
# Where the fronts on this host answer the key set handshake (keyset/handshake.py);
# fronts on other hosts are waited for by their acknowledgements (fronts/changelog.py).
DATAPLANE_RUN_DIR = Path(env.str("DATAPLANE_RUN_DIR", default=str(DATAPLANE_DATA_DIR / "run")))
# How long a create or delete of a key waits for every data plane process to
# confirm it has the change (read-your-writes); past it the change still
# stands and the response says it may take a moment. 0 turns the wait off.
DATAPLANE_CONFIRM_SECONDS = env.seconds("DATAPLANE_CONFIRM_SECONDS", default=2.0, maximum=30)
# Long-polls of the contract's changes (fronts asking to be told of the next
# change) one web server process holds at once; more are answered at once and
# those fronts poll. Each held one occupies a thread: keep it below the
# server's threads per process (runall gives gunicorn 8 + this many).
KEYSET_LONG_POLLS = env.int("KEYSET_LONG_POLLS", default=8, low=0, high=10000)
# Proxies whose X-Forwarded-For the console (audit.services.client_ip) and the
# front (which reads its own, dataplane/settings.py) believe: keyset/client_address.py.
TRUSTED_PROXIES = env.networks("TRUSTED_PROXIES")

# The management API (api/): a subset of Qdrant Cloud's public API, with
# management keys (managementkeys/). See docs/management-api.md. The API's
# views set their own authentication, parsers and renderers (api/base.py);
# these apply to every DRF view.
REST_FRAMEWORK = {
    "EXCEPTION_HANDLER": "api.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Vector Console management API",
    "DESCRIPTION": (
        "A subset of Qdrant Cloud's public API: database API keys (v2), clusters, management keys and IAM (v1). "
        "Authenticate with `Authorization: apikey <management key>`. Errors are `{code, message, details}` "
        "with gRPC status codes."
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # The schema and the docs are public, like the spec they follow.
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "SCHEMA_PATH_PREFIX": r"/api/",
    # Swagger UI from the drf-spectacular-sidecar package: nothing loads from a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    # Without deep links an operation's summary holds no link inside its
    # button (axe: nested-interactive); api/swagger-auth.js adds `apikey `.
    "SWAGGER_UI_SETTINGS": {"deepLinking": False},
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_GENERATE_CHOICE_DESCRIPTION": False,
    # Enums under the names the swagger files give them.
    "ENUM_NAME_OVERRIDES": {
        "v1ClusterPhase": "api.clusters.PHASE_NAMES",
        "v1ClusterNodeState": "api.clusters.NODE_STATE_NAMES",
        "v2GlobalAccessRuleAccessType": "api.database_api_keys.GLOBAL_ACCESS_NAMES",
        "v2CollectionAccessRuleAccessType": "api.database_api_keys.COLLECTION_ACCESS_NAMES",
        "v1RoleType": "api.iam.ROLE_TYPE_NAMES",
        "v1SystemRoleSubType": "api.iam.SUB_TYPE_NAMES",
        "v1UserStatus": "api.iam.USER_STATUS_NAMES",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "api.schema.grpc_gateway_conventions",
    ],
}
# Several processes write the SQLite file (web, worker, data plane): take the
# write lock as a transaction begins (BEGIN IMMEDIATE), so no two of them
# deadlock upgrading read locks, which SQLite reports at once as "database is
# locked", whatever the timeout.
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"]["transaction_mode"] = "IMMEDIATE"
