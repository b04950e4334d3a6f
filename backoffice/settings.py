"""Settings for the Userbot back office.

Everything comes from the environment (see README, "Configuration"). With nothing set the
project runs on embedded defaults: an SQLite file, a file-system Celery broker and an
in-process channel layer, all under ``BACKOFFICE_DATA_DIR``, served over plain HTTP on
localhost. ``DATABASE_URL`` and ``REDIS_URL`` switch to PostgreSQL and Redis;
``DJANGO_ENV=production`` says the site is served over HTTPS, which turns the secure
defaults on (see README, "Production").
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF, UNSAFE_INLINE
from django.core.exceptions import ImproperlyConfigured

from backoffice.env import env_bool, env_choice, env_float, env_http_header, env_int, env_list, env_str
from backoffice.userbot.codec import MAX_FRAME_BYTES

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(env_str("BACKOFFICE_DATA_DIR", str(BASE_DIR / "var"))).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)


def _persistent_secret(filename: str) -> str:
    """A random secret kept in the data directory, so a laptop run needs no configuration."""
    path = DATA_DIR / filename
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


# "embedded": one machine, plain HTTP on localhost (scripts/start, the tests). "production":
# served over HTTPS, so every setting below that assumes HTTPS defaults on; each can still
# be turned off on its own.
PRODUCTION = env_choice("DJANGO_ENV", "embedded", ("embedded", "production")) == "production"

DEBUG = env_bool("DJANGO_DEBUG", False)
SECRET_KEY = env_str("DJANGO_SECRET_KEY")
if not SECRET_KEY:
    if PRODUCTION:
        # A key generated per machine would sign sessions that other machines reject.
        raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set when DJANGO_ENV is production")
    SECRET_KEY = _persistent_secret("secret_key")
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

# HTTPS. Behind a proxy that terminates TLS, Django sees plain HTTP: the proxy says what the
# browser used in a header (DJANGO_PROXY_SSL_HEADER, e.g. X-Forwarded-Proto), which the
# proxy must always set itself, or a client could claim HTTPS. Without it the redirect to
# HTTPS would loop.
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", PRODUCTION)
_proxy_ssl_header = env_str("DJANGO_PROXY_SSL_HEADER").strip()
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_" + _proxy_ssl_header.upper().replace("-", "_"), "https") if _proxy_ssl_header else None
)
SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 365 * 24 * 3600 if PRODUCTION else 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_HSTS_INCLUDE_SUBDOMAINS", PRODUCTION)
SECURE_HSTS_PRELOAD = env_bool("DJANGO_HSTS_PRELOAD", PRODUCTION)
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", PRODUCTION)

# Keys that encrypt the Userbot API keys at rest: comma-separated Fernet keys, the first
# encrypts, all decrypt (so a key can be rotated). Unset, one key is derived from SECRET_KEY.
FIELD_ENCRYPTION_KEYS = env_list("FIELD_ENCRYPTION_KEYS", [])

# Not "daphne": as an app it only makes `runserver` serve ASGI, and it loads its server
# (twisted, autobahn; 18 MB) into every process, workers included. Daphne serves the ASGI
# app as a command of its own (Procfile `ws`, `manage.py up`).
INSTALLED_APPS = [
    # First, so its templates (the breadcrumbs, the shared look) extend those of every app.
    "backoffice.admin_site",
    # Before the admin, so its templates (login, the user links) override the admin's.
    "backoffice.accounts",
    # Django's admin, with the operator's site (backoffice.admin_site.site, which extends
    # the site of backoffice.accounts.admin_site) as admin.site.
    "backoffice.admin_site.apps.OperatorAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "backoffice.accounts.apps.LoginThrottlingConfig",  # django-axes
    "django_otp",
    "backoffice.accounts.apps.AuthenticatorAppsConfig",  # django_otp.plugins.otp_totp
    "backoffice.accounts.apps.RecoveryCodesConfig",  # django_otp.plugins.otp_static
    "backoffice.userbot",
    "backoffice.sync",
    "backoffice.operations",
    "chatusers",
    "knowledge",
    "automation",
    "livechat",
    "insights",
    "leads",
    "meetings",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_permissions_policy.PermissionsPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "backoffice.accounts.middleware.SessionActivityMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "backoffice.accounts.middleware.SecondFactorRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: it turns a login refused for a lockout into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "backoffice.urls"
ASGI_APPLICATION = "backoffice.asgi.application"
WSGI_APPLICATION = None

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "backoffice" / "templates"],
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

DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{DATA_DIR / 'backoffice.sqlite3'}")
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=0)}
# A gunicorn sync worker serves one request at a time from one thread, so it can keep its
# connection from page to page (the Procfile's web line sets this); elsewhere, where threads
# come and go (ASGI, Celery), every connection is closed after use.
DATABASES["default"]["CONN_MAX_AGE"] = env_int("DATABASE_CONN_MAX_AGE_S", 0, minimum=0)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web app, the worker and beat share one file without "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env_str("REDIS_URL")

if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
    # A consumer waits for its messages in a blocking pop of up to 5 s (channels_redis); redis-py
    # 8 gives up reading a socket after 5 s by default, which closed every WebSocket within
    # seconds. The read timeout is set above that wait, so a dead connection is still noticed.
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [{"address": REDIS_URL, "socket_timeout": 15}]},
        }
    }
    CELERY_BROKER_URL = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    _broker_dir = DATA_DIR / "celery-broker"
    (_broker_dir / "processed").mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir),
        "data_folder_out": str(_broker_dir),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }

CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
# Workers log through LOGGING below, whose handler masks API keys, instead of handlers of
# Celery's own that would not.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BEAT_SCHEDULE_FILENAME = str(DATA_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE: dict[str, dict[str, object]] = {}

# How the protocol client behaves towards Userbot.
USERBOT_REQUEST_TIMEOUT_S = env_float("USERBOT_REQUEST_TIMEOUT_S", 30.0, minimum=0.1)
USERBOT_HEARTBEAT_S = env_float("USERBOT_HEARTBEAT_S", 20.0, minimum=0.0)
# A frame (or fragmented message) from Userbot over this is refused from its header, before
# its payload is read, and the connection dropped; the contract's own bound is 10 MiB.
USERBOT_MAX_FRAME_BYTES = env_int("USERBOT_MAX_FRAME_BYTES", MAX_FRAME_BYTES, minimum=1024)

# The sync engine (backoffice/sync). A claim is a lease the relay renews as it works; a
# worker that dies gives its entries back when the lease ends.
SYNC_CLAIM_LEASE_S = env_float("SYNC_CLAIM_LEASE_S", 60.0, minimum=1.0)
SYNC_PUSH_BATCH = env_int("SYNC_PUSH_BATCH", 5000, minimum=1)
SYNC_RETRY_BASE_S = env_float("SYNC_RETRY_BASE_S", 2.0, minimum=0.0)
SYNC_RETRY_MAX_S = env_float("SYNC_RETRY_MAX_S", 300.0, minimum=0.0)
SYNC_PULL_LEASE_S = env_float("SYNC_PULL_LEASE_S", 120.0, minimum=1.0)
# A bot's scheduled pulls start at least this many times its last reconciliation apart (a
# quarter of its time at 4), within the bounds set on its sync page.
SYNC_PULL_DUTY = env_float("SYNC_PULL_DUTY", 4.0, minimum=1.0)
SYNC_WAKE_ON_COMMIT = env_bool("SYNC_WAKE_ON_COMMIT", True)
SYNC_WAKE_SHARED_CACHE = bool(REDIS_URL)  # wakes are deduplicated through the shared cache
SYNC_SWEEP_S = env_float("SYNC_SWEEP_S", 10.0, minimum=0.5)
CELERY_BEAT_SCHEDULE["sync.sweep"] = {"task": "sync.sweep", "schedule": SYNC_SWEEP_S}

# Live chat: the process serving WebSockets that holds a bot's chat subscription renews its
# lease every fifth of it; when the holder dies, another takes over once the lease ends.
LIVECHAT_FEED_LEASE_S = env_float("LIVECHAT_FEED_LEASE_S", 10.0, minimum=1.0)

# Insights (insights/): a bot's numbers read from Userbot and kept. Every INSIGHTS_COLLECT_S
# seconds yesterday and today are read again for every bot, and a bot missing days of the
# last INSIGHTS_BACKFILL_DAYS has them read in the background.
INSIGHTS_COLLECT_S = env_float("INSIGHTS_COLLECT_S", 3600.0, minimum=60.0)
INSIGHTS_BACKFILL_DAYS = env_int("INSIGHTS_BACKFILL_DAYS", 365, minimum=1)
CELERY_BEAT_SCHEDULE["insights.collect"] = {"task": "insights.collect", "schedule": INSIGHTS_COLLECT_S}

# The operator's door (README, "Logins"). django-axes counts failed logins by user name and
# by address, each on its own: a name or an address with DJANGO_LOGIN_FAILURE_LIMIT
# failures is refused, even with the right password, until DJANGO_LOGIN_COOLOFF_MIN minutes
# after its last failure. A successful login clears its count. A wrong two-factor code is a
# failure too (backoffice.accounts.forms).
AUTHENTICATION_BACKENDS = [
    # Refuses a locked-out login before the password is checked; it needs the request, which
    # the admin's login form gives and force_login does not ask for.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("DJANGO_LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_float("DJANGO_LOGIN_COOLOFF_MIN", 15.0, minimum=1.0))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_ENABLE_ACCESS_FAILURE_LOG = True
AXES_LOCKOUT_CALLABLE = "backoffice.accounts.lockout.lockout_response"
AXES_CLIENT_IP_CALLABLE = "backoffice.accounts.client.client_ip"
AXES_SENSITIVE_PARAMETERS = ["password", "otp_token"]
# Behind a proxy, the header in which it gives the browser's address (X-Forwarded-For): the
# last address in it is used. Unset, the address of the connection.
CLIENT_IP_HEADER = env_http_header("DJANGO_CLIENT_IP_HEADER")

# Two-factor authentication (TOTP, with recovery codes) through django-otp. Each operator
# sets it up from their own page; required, every staff login must use it.
TWO_FACTOR_REQUIRED = env_bool("DJANGO_TWO_FACTOR_REQUIRED", PRODUCTION)
OTP_TOTP_ISSUER = env_str("DJANGO_TWO_FACTOR_ISSUER", "Userbot back office")

# Sessions end after DJANGO_SESSION_IDLE_H hours without a request: a request saves a
# session last saved SESSION_TOUCH_S ago or more, which moves its expiry on (Django's
# SESSION_SAVE_EVERY_REQUEST, to within a minute, without a write per request). Rows carry
# their user, so an operator sees and ends their own (backoffice.accounts.sessions).
SESSION_ENGINE = "backoffice.accounts.sessions"
SESSION_COOKIE_AGE = round(env_float("DJANGO_SESSION_IDLE_H", 8.0, minimum=0.05) * 3600)
SESSION_TOUCH_S = 60
SESSION_EXPIRE_AT_BROWSER_CLOSE = env_bool("DJANGO_SESSION_EXPIRE_AT_BROWSER_CLOSE", False)
CELERY_BEAT_SCHEDULE["accounts.clear_expired_sessions"] = {
    "task": "accounts.clear_expired_sessions",
    "schedule": 3600.0,
}

# Headers. Scripts only from our own static files, no inline script anywhere. Styles: our
# files, plus the one <style> block Django's changelist template writes when a list has no
# actions (allowed by its hash), plus style attributes, which the tag colour swatches need
# (a colour per tag, not a class) and which cannot run code.
CSP_REPORTS = env_bool("DJANGO_CSP_REPORTS", True)
CSP_REPORT_PATH = "/csp-report/"
CSP_REPORTS_PER_MINUTE = env_int("DJANGO_CSP_REPORTS_PER_MINUTE", 30, minimum=1)
_CHANGELIST_NO_ACTIONS_STYLE = "'sha256-blvLUW3UscWqsXGByNOqdBboM+ShWAuugp2mC/wbafU='"
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "style-src-elem": [SELF, _CHANGELIST_NO_ACTIONS_STYLE],
        "style-src-attr": [UNSAFE_INLINE],
        "img-src": [SELF],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
        **({"report-uri": [CSP_REPORT_PATH]} if CSP_REPORTS else {}),
    }
}
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"
# Nothing in the back office uses any of these browser features.
PERMISSIONS_POLICY: dict[str, list[str]] = {
    feature: []
    for feature in (
        "accelerometer",
        "autoplay",
        "camera",
        "display-capture",
        "encrypted-media",
        "fullscreen",
        "geolocation",
        "gyroscope",
        "magnetometer",
        "microphone",
        "midi",
        "payment",
        "picture-in-picture",
        "publickey-credentials-get",
        "screen-wake-lock",
        "usb",
        "xr-spatial-tracking",
    )
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True
# One date format everywhere in the admin, with the time zone (backoffice.admin_site.formats).
FORMAT_MODULE_PATH = ["backoffice.admin_site.formats"]

MEDIA_ROOT = DATA_DIR / "media"
# The CSV import of chat users. Sizes are in decimal units, as the README and the upload
# page give them: 1 MB = 1,000,000 bytes.
CHATUSER_IMPORT_MAX_BYTES = env_int("CHATUSER_IMPORT_MAX_BYTES", 200_000_000, minimum=1)
CHATUSER_IMPORT_MAX_TAGS_PER_CELL = env_int("CHATUSER_IMPORT_MAX_TAGS_PER_CELL", 100, minimum=1)
CHATUSER_IMPORT_MAX_NEW_TAGS = env_int("CHATUSER_IMPORT_MAX_NEW_TAGS", 1000, minimum=0)
# Drafts nobody ran, and the stored uploads of finished imports, are deleted this many hours
# after they were made or finished, by a periodic clean-up.
CHATUSER_IMPORT_KEEP_UPLOADS_H = env_float("CHATUSER_IMPORT_KEEP_UPLOADS_H", 24.0, minimum=1.0)
CELERY_BEAT_SCHEDULE["chatusers.import_cleanup"] = {"task": "chatusers.import_cleanup", "schedule": 3600.0}
# The files long operations write (a CSV export) are deleted this many hours after they end.
OPERATIONS_KEEP_FILES_H = env_float("OPERATIONS_KEEP_FILES_H", 24.0, minimum=1.0)
CELERY_BEAT_SCHEDULE["operations.cleanup"] = {"task": "operations.cleanup", "schedule": 3600.0}
# Long operations whose worker died, or whose task was lost, are queued again.
CELERY_BEAT_SCHEDULE["operations.sweep"] = {"task": "operations.sweep", "schedule": 60.0}

STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
WHITENOISE_USE_FINDERS = env_bool("WHITENOISE_USE_FINDERS", True)

LOG_LEVEL = env_str("LOG_LEVEL", "INFO").upper()
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # The client masks its API key in what it logs; this masks, in whatever any library
    # logs, the key of every client alive in the process and of any apiLogin frame.
    "filters": {"secrets": {"()": "backoffice.userbot.redaction.SecretsFilter"}},
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["secrets"]}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {"websockets": {"level": "WARNING"}, "daphne": {"level": "WARNING"}},
}

# The largest request body Django reads into memory (a form post), in bytes; file uploads
# (the CSV import) are streamed to disk and bounded by CHATUSER_IMPORT_MAX_BYTES instead.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 2_500_000, minimum=100_000)
DATA_UPLOAD_MAX_NUMBER_FIELDS = env_int("DATA_UPLOAD_MAX_NUMBER_FIELDS", 10_000, minimum=1000)
# The import's mapping page posts two fields per column of the file: its column limit keeps
# the form within DATA_UPLOAD_MAX_NUMBER_FIELDS.
_IMPORT_COLUMNS_FIT = (DATA_UPLOAD_MAX_NUMBER_FIELDS - 100) // 2
CHATUSER_IMPORT_MAX_COLUMNS = env_int(
    "CHATUSER_IMPORT_MAX_COLUMNS", min(500, _IMPORT_COLUMNS_FIT), minimum=1, maximum=_IMPORT_COLUMNS_FIT
)

# Health endpoints (backoffice/health.py). A load balancer asks /health/ over plain HTTP, so
# it is not redirected to HTTPS. /health/sync/ answers a monitor that sends this token as
# "Authorization: Bearer ..." (unset: only staff logged in); it must be long enough not to
# be guessed.
SECURE_REDIRECT_EXEMPT = [r"^health/$"]
SYNC_HEALTH_TOKEN = env_str("SYNC_HEALTH_TOKEN").strip()
if SYNC_HEALTH_TOKEN and len(SYNC_HEALTH_TOKEN) < 32:
    raise ImproperlyConfigured("SYNC_HEALTH_TOKEN must be at least 32 characters long")
