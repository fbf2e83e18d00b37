"""Settings shared by every environment. Environment variables pick the database and the broker.

Deadline numbers cite ../shared/DOMAIN.md; a platform's counsel may change each one through the
environment without touching code.
"""

from datetime import timedelta
from pathlib import Path
from typing import Any

import environ

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()


def _positive_int(name: str, default: int) -> int:
    """An environment variable that counts something (processes, rows): a whole number of at least 1,
    or start-up stops with a message naming the variable (0 would make a worker that never sweeps)."""
    from django.core.exceptions import ImproperlyConfigured

    raw = env.str(name, default=str(default)).strip()
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise ImproperlyConfigured(f"{name} must be a whole number of at least 1, not {raw!r}.")
    return value


SECRET_KEY = env("DJANGO_SECRET_KEY", default="dev-only-insecure-key-never-used-in-production")
DEBUG = env.bool("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])

INSTALLED_APPS = [
    # Django's admin on our site, whose forms refuse file content in text (escalations/admin_site.py).
    "escalations.web.admin_apps.GuardedAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    # Django's own form templates, for FORM_RENDERER below.
    "django.forms",
    "django_tables2",
    "django_filters",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "escalations",
    # Sign-in lockout (settings below, "Sign-in and sessions").
    "axes",
    # Two-factor sign-in: django-otp checks codes, django-two-factor-auth serves the enrolment pages.
    "django_otp",
    "django_otp.plugins.otp_static",
    "django_otp.plugins.otp_totp",
    "two_factor",
    # Request and database figures for /metrics (escalations/metrics_views.py adds ours).
    "django_prometheus",
]

MIDDLEWARE = [
    # Outermost: times and counts every request, whatever answers it.
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    # Before anything reads them: X-Forwarded-Proto (and X-Request-ID) count only from TRUSTED_PROXIES.
    "escalations.ops.trusted_proxy.TrustedProxyMiddleware",
    # The request id (X-Request-ID) in every log line of this request, and echoed in the response.
    "escalations.ops.structured_logging.RequestIdMiddleware",
    # First of the app's own: the API answers an oversized or file body in JSON, before anything reads it.
    "escalations.api.guard.ApiBodyGuardMiddleware",
    # Then, so that no view, session or CSRF code ever sees a request that carries a file.
    "escalations.web.middleware.RejectFileUploadsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Permissions-Policy on every response (PERMISSIONS_POLICY below).
    "django_permissions_policy.PermissionsPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Every answer after static files (which keep whitenoise's caching) is no-store unless its view
    # chose a cache policy: pages and API answers hold case data.
    "escalations.web.middleware.NoStoreMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # The idle timeout: pushes the session's end back, writing it at most once a minute.
    "escalations.accounts.idle_session.RenewIdleSessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    # Reads the "Origin: null" that no-referrer makes browsers send on our own forms as our origin,
    # only when the browser marks the request same-origin (escalations/csrf.py); then Django's check.
    "escalations.web.csrf.SameOriginNullOriginMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # The signed-in user's id (never their name) in the log lines and the access log.
    "escalations.ops.structured_logging.UserIdMiddleware",
    # The signed-in person is the actor of the audit events that model signals write (membership).
    "escalations.accounts.acting_person.ActingPersonMiddleware",
    # request.user.is_verified(): has this session proven a second factor (escalations/two_factor.py)?
    "django_otp.middleware.OTPMiddleware",
    "escalations.web.middleware.UserTimezoneMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Login on every page: views opt out explicitly (sign-in itself), never in.
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    # Then the second factor: a code owed, or an authenticator a lead or admin must set up.
    "escalations.accounts.two_factor.TwoFactorGateMiddleware",
    # Counts responses by view and status; before axes, so that it sees the lockout page axes makes.
    "django_prometheus.middleware.PrometheusAfterMiddleware",
    # Last, as django-axes asks: turns a lockout (raised by AxesStandaloneBackend) into the page below.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "settings.urls"
WSGI_APPLICATION = "settings.wsgi.application"

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
                "escalations.web.context_processors.roles",
                "escalations.web.context_processors.notifications",
            ],
        },
    },
]

# Form widgets render through TEMPLATES, so that templates/django/forms/ can replace one of Django's
# (select.html: one template per <select> rather than one per option).
FORM_RENDERER = "django.forms.renderers.TemplatesSetting"

# SQLite by default (a fresh laptop has no server); PostgreSQL in production through DATABASE_URL.
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # IMMEDIATE transactions, WAL and a busy timeout keep the web process and the worker from
    # failing each other with "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
# Production runs the web and the worker as a role that may only INSERT and SELECT the audit trail
# and the access log (DATABASE_URL); `manage.py migrate` connects as the owner of the tables given
# here instead, and grants the app's role what it needs afterwards (escalations/db_roles.py).
DATABASE_MIGRATE_URL = env("DATABASE_MIGRATE_URL", default="")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Our URLs name escalations: no other site learns them from a Referer header, and our own pages
# need none (escalations/csrf.py explains the CSRF side).
SECURE_REFERRER_POLICY = "no-referrer"
# No page of ours uses a camera, microphone, location or any other device or sensor: browsers refuse
# them to every page and frame of the site (django-permissions-policy sends the header).
PERMISSIONS_POLICY: dict[str, list[str]] = {
    feature: []
    for feature in (
        "accelerometer", "ambient-light-sensor", "autoplay", "bluetooth", "browsing-topics", "camera",
        "clipboard-read", "display-capture", "encrypted-media", "fullscreen", "geolocation", "gyroscope",
        "hid", "idle-detection", "interest-cohort", "local-fonts", "magnetometer", "microphone", "midi",
        "payment", "picture-in-picture", "publickey-credentials-get", "screen-wake-lock", "serial",
        "usb", "xr-spatial-tracking",
    )
}  # fmt: skip
# The TLS proxy(s) whose X-Forwarded-Proto is believed (escalations/trusted_proxy.py): addresses or
# networks, comma-separated. By default a proxy on this host; from anyone else the header is dropped.
TRUSTED_PROXIES = env.list("TRUSTED_PROXIES", default=["127.0.0.1", "::1"])

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "escalations:mine"
# How often My queue, All escalations, the dashboard and the bell fetch themselves again (static/js/live.js).
LIVE_REFRESH_SECONDS = env.int("LIVE_REFRESH_SECONDS", default=60)
LOGOUT_REDIRECT_URL = "login"

# --- Sign-in and sessions ---
# django-axes first: it refuses a locked-out username before any password is checked. It needs the
# request, so authenticate() must be called with request= (Django's LoginView does); tests sign in
# with force_login, which never authenticates.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    # Django's ModelBackend, reading each request's user in the query that reads their roles and
    # time zone (escalations/request_context.py).
    "escalations.accounts.auth_backends.PersonBackend",
]
# 5 failed sign-ins for one username lock it for 15 minutes (counted from the last failure; the
# failures are forgotten 15 minutes after the last one). Locked by username alone, not by
# username+IP: the attack that matters here is guessing one person's password from many addresses,
# and behind a proxy every request may carry the same address. The price (anyone who knows a
# username can lock it for 15 minutes) is bounded, and a lead or admin can lift a lock at once
# (admin "Access attempts", or manage.py axes_reset_username <name>).
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = ["username"]
# axes.W006 warns that a lock without the IP can be dodged by rotating user agents: not so for a
# username-only lock, whose failures axes sums over every (address, user agent) row of the username.
SILENCED_SYSTEM_CHECKS = ["axes.W006"]
# A successful sign-in forgets the earlier failures: for someone with an authenticator, only once the
# code is right (escalations/lockout.py), so that wrong codes are not wiped by the right password.
AXES_RESET_ON_SUCCESS = True
AXES_HANDLER = "escalations.accounts.lockout.LockoutHandler"
# Attempts while locked do not push the end of the lock back: the page can say when to try again.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
# The sign-in page's lockout message, saying when the lock ends (registration/locked_out.html), 429.
AXES_LOCKOUT_CALLABLE = "escalations.web.lockout_views.locked_out"
AXES_HTTP_RESPONSE_CODE = 429
# The sign-in form's fields are `username` and `password` (axes' defaults); axes never stores the password.
# What axes records (and locks on) as the username: cut to the longest a real one is (its column holds
# 255; no account's is over 150), and never file content written as text (escalations/lockout_username.py).
AXES_USERNAME_CALLABLE = "escalations.accounts.lockout_username.username_for_lockout"
# The lockout tables keep no request body at all (escalations/lockout.py empties axes' GET/POST copies
# before they are saved).
# Two-factor sign-in (escalations/two_factor.py). With REQUIRE_2FA (on in production), leads and
# admins must set up an authenticator app before any page opens; anyone may choose to. Whoever has
# one gives a code (or a backup code) after the password, at every sign-in.
REQUIRE_2FA = env.bool("REQUIRE_2FA", default=False)
TWO_FACTOR_ISSUER = env("TWO_FACTOR_ISSUER", default="Escalation tracker")
OTP_TOTP_ISSUER = TWO_FACTOR_ISSUER
# The code is accepted one 30-second step early or late (clock drift on phones), never reused.
OTP_TOTP_TOLERANCE = 1
# A first authenticator may be added within this many minutes of giving the password in the session
# (at sign-in, or typed again at /accounts/confirm-password/): a session left open cannot add one.
TWO_FACTOR_PASSWORD_FRESH_MINUTES = env.int("TWO_FACTOR_PASSWORD_FRESH_MINUTES", default=10)
# --- Single sign-on: OpenID Connect (escalations/accounts/oidc_backend.py; README "Single sign-on") ---
# The provider's issuer URL, set by an admin (never typed by a user): its endpoints and signing keys
# are read from <issuer>/.well-known/openid-configuration on the first sign-in and kept for
# OIDC_DISCOVERY_CACHE_SECONDS. Empty: no "Sign in with ..." button, and the provider's pages answer 404.
OIDC_ISSUER = env("OIDC_ISSUER", default="")
OIDC_CLIENT_ID = env("OIDC_CLIENT_ID", default="")
OIDC_CLIENT_SECRET = env("OIDC_CLIENT_SECRET", default="")
# The button reads "Sign in with <OIDC_PROVIDER_NAME>".
OIDC_PROVIDER_NAME = env("OIDC_PROVIDER_NAME", default="your company account")
# The claim of the ID token (or userinfo) that lists the person's groups or app roles, and which of its
# values give which of our roles: "tt-moderators=moderator,tt-leads=lead,tt-auditors=auditor". Roles
# are set from it at every sign-in: a group removed at the provider removes the role here. Empty: the
# provider sets no roles (they are kept in the admin), for a provider that sends no groups (Google).
OIDC_ROLE_CLAIM = env("OIDC_ROLE_CLAIM", default="groups")
OIDC_ROLE_MAP: dict[str, str] = {
    value.strip(): role.strip()
    for value, _, role in (pair.rpartition("=") for pair in env.list("OIDC_ROLE_MAP", default=[]))
    if value.strip()
}
if _unknown_roles := sorted(set(OIDC_ROLE_MAP.values()) - {"moderator", "lead", "auditor"}):
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(
        f"OIDC_ROLE_MAP maps to {', '.join(_unknown_roles)}: each value=role pair names moderator, lead or auditor."
    )
OIDC_SCOPES = env("OIDC_SCOPES", default="openid email profile")
# Values of the ID token's `amr` claim (RFC 8176) that show a second factor: such a sign-in satisfies
# REQUIRE_2FA without our own code step.
OIDC_MFA_AMR = env.list(
    "OIDC_MFA_AMR",
    default=["mfa", "mca", "otp", "hwk", "swk", "sc", "sms", "tel", "fpt", "face", "iris", "retina", "vbm"],
)
OIDC_DISCOVERY_CACHE_SECONDS = env.int("OIDC_DISCOVERY_CACHE_SECONDS", default=3600)
# A sign-in started longer ago than this is refused at the callback (its state is stale).
OIDC_STATE_MAX_AGE_SECONDS = env.int("OIDC_STATE_MAX_AGE_SECONDS", default=600)
# Seconds of clock difference with the provider tolerated on the ID token's exp, iat and nbf.
OIDC_CLOCK_SKEW_SECONDS = env.int("OIDC_CLOCK_SKEW_SECONDS", default=60)
# An http:// issuer is refused unless on loopback and this is on (dev and tests only).
OIDC_ALLOW_HTTP_LOOPBACK = env.bool("OIDC_ALLOW_HTTP_LOOPBACK", default=False)
# Off: local passwords are refused for everyone but break-glass accounts (superusers, and profiles
# marked break-glass in the admin); the sign-in page shows only the provider's button.
PASSWORD_SIGN_IN = env.bool("PASSWORD_SIGN_IN", default=True)
# mozilla-django-oidc's own settings, from ours: the authorization code flow with PKCE (S256), state
# and nonce, ID tokens signed RS256 with a key from the provider's JWKS. The provider's endpoints
# (OIDC_OP_*) come from discovery (escalations/accounts/oidc_discovery.py), not from settings.
OIDC_RP_CLIENT_ID = OIDC_CLIENT_ID
OIDC_RP_CLIENT_SECRET = OIDC_CLIENT_SECRET
OIDC_RP_SIGN_ALGO = "RS256"
OIDC_RP_SCOPES = OIDC_SCOPES
OIDC_USE_PKCE = True
OIDC_PKCE_CODE_CHALLENGE_METHOD = "S256"
OIDC_USE_NONCE = True
OIDC_TIMEOUT = env.int("OIDC_TIMEOUT_SECONDS", default=10)
OIDC_AUTHENTICATION_CALLBACK_URL = "oidc_authentication_callback"
# Idle sessions end: requests push the session's end back (escalations/idle_session.py, which
# writes the session at most once a minute), so it runs out IDLE_SESSION_MINUTES after the last
# one, up to a minute sooner (and the person signs in again).
IDLE_SESSION_MINUTES = env.int("IDLE_SESSION_MINUTES", default=30)
SESSION_COOKIE_AGE = IDLE_SESSION_MINUTES * 60
SESSION_SAVE_EVERY_REQUEST = False
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
# Need-to-know: when on, moderators read only escalations assigned to them or to someone in one of
# their teams (Team, kept in the admin), or that they logged (escalations.core.selectors.visible_q);
# leads and auditors read all.
RESTRICT_MODERATORS_TO_ASSIGNED = env.bool("RESTRICT_MODERATORS_TO_ASSIGNED", default=False)
ACCESS_LOG_PAGE_SIZE = 50
# Evidence items one escalation may hold (metadata rows, each with its reference and digest). A
# case with more keeps them in the evidence store under one reference; the cap bounds what rows of
# hex digests can carry.
EVIDENCE_ITEMS_MAX = env.int("EVIDENCE_ITEMS_MAX", default=200)

LANGUAGE_CODE = "en-us"
# The database holds UTC; each person sees times in the zone of their profile.
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT: Path | None = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
# This product stores no media, ever: there is deliberately no MEDIA_ROOT or MEDIA_URL, and
# uploads are refused before any view runs (escalations.web.middleware).
FILE_UPLOAD_MAX_MEMORY_SIZE = 0
DATA_UPLOAD_MAX_NUMBER_FILES = 0

# --- Limits on what one request may ask for (escalations/page_size.py, escalations/api/guard.py) ---
# The most rows a table or report page shows, whatever `?per_page=` asks (exports stream every row).
MAX_PER_PAGE = env.int("MAX_PER_PAGE", default=200)
# On SQLite (no trigram index) a partial `q` reads at most this many of the newest escalations
# (escalations/core/search.py); PostgreSQL answers it by index, whatever the table's size.
SEARCH_SCAN_ROWS = env.int("SEARCH_SCAN_ROWS", default=20_000)
# A request body's size: forms and every API URL but bulk take 1 MiB (a form is a few KB, one
# escalation's JSON at most some 30 KB); bulk takes 16 MiB, room for 1,000 escalations of 16 KB each.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=1024 * 1024)
API_BULK_MAX_BODY_BYTES = env.int("API_BULK_MAX_BODY_BYTES", default=16 * 1024 * 1024)

DJANGO_TABLES2_TEMPLATE = "django_tables2/bootstrap5.html"

# --- API (escalations/api/) ---
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "escalations.api.auth.ServiceTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["escalations.api.auth.HasRoleAndScope"],
    "DEFAULT_THROTTLE_CLASSES": ["escalations.api.auth.ServiceTokenThrottle"],
    "DEFAULT_THROTTLE_RATES": {"service_token": env("API_TOKEN_RATE", default="600/min")},
    # JSON only, nested at most a few levels (escalations/api/parsers.py).
    "DEFAULT_PARSER_CLASSES": ["escalations.api.parsers.BoundedJSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "escalations.api.errors.handle",
    "DATETIME_FORMAT": "iso-8601",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Escalation tracker API",
    "DESCRIPTION": "Log escalations, record CyberTipline reports and read deadlines. Metadata only.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # Assets served by us (drf-spectacular-sidecar), nothing from a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Without deep links Swagger UI draws each operation's path as text, not as a link nested in its
    # button (axe: nested-interactive, serious).
    "SWAGGER_UI_SETTINGS": {"deepLinking": False},
}
# Throttle counters; a shared cache (CACHE_URL=redis://…) in production so every process counts.
CACHES = {"default": env.cache("CACHE_URL", default="locmemcache://")}
# Seconds a person's row (user, roles, zone, bell) may be read from the cache instead of the database
# (escalations/accounts/request_context.py); 0: read at every request. Production sets it when the
# cache is shared (settings/prod.py): a per-process cache could not be emptied for every process.
PERSON_CACHE_SECONDS = 0

# --- Deadline policy (escalations/policy.py reads these; DOMAIN.md gives their sources) ---
# DOMAIN.md "When to report": no statutory hour count; internal targets set by the platform.
REPORT_TARGET_HOURS = env.float("REPORT_TARGET_HOURS", default=24)
URGENT_REPORT_TARGET_HOURS = env.float("URGENT_REPORT_TARGET_HOURS", default=1)
# DOMAIN.md "Preservation, 2258A(h)": one calendar year after the report (REPORT Act, 2024).
PRESERVATION_YEARS = env.int("PRESERVATION_YEARS", default=1)
# Internal control: preservation confirmed within this many hours of the report.
PRESERVATION_CONFIRM_HOURS = env.float("PRESERVATION_CONFIRM_HOURS", default=24)
# A deadline is "due soon" within this window (standard / urgent escalations).
DUE_SOON_HOURS = env.float("DUE_SOON_HOURS", default=4)
URGENT_DUE_SOON_MINUTES = env.float("URGENT_DUE_SOON_MINUTES", default=15)
# Reminders (escalations/policy.py reminder_plan): repeats while a deadline stays missed, and the
# days before the preservation end at which leads hear of it.
REPORT_OVERDUE_REPEAT_HOURS = env.float("REPORT_OVERDUE_REPEAT_HOURS", default=4)
PRESERVATION_ENDING_REMINDER_DAYS = [
    int(d) for d in env.list("PRESERVATION_ENDING_REMINDER_DAYS", default=["30", "7", "1"])
]
PRESERVATION_ENDED_REPEAT_HOURS = env.float("PRESERVATION_ENDED_REPEAT_HOURS", default=24)
# After the report (DOMAIN.md, NCMEC's Reporting API and 18 U.S.C. 2703): warn this long before NCMEC
# deletes an unfinished report; remind leads of a legal request's response date.
NCMEC_UNFINISHED_WARNING_HOURS = env.float("NCMEC_UNFINISHED_WARNING_HOURS", default=2)
LEGAL_RESPONSE_DUE_SOON_HOURS = env.float("LEGAL_RESPONSE_DUE_SOON_HOURS", default=24)
LEGAL_RESPONSE_OVERDUE_REPEAT_HOURS = env.float("LEGAL_RESPONSE_OVERDUE_REPEAT_HOURS", default=24)
# An escalation that Coop's report created has no known moment of knowledge: its assignee (every lead
# while nobody has it) is reminded when it arrives, then every this many hours until they confirm it.
KNOWLEDGE_CONFIRM_REPEAT_HOURS = env.float("KNOWLEDGE_CONFIRM_REPEAT_HOURS", default=24)
# Clock skew tolerated on times that people type ("knowledge obtained in the future" is refused).
CLOCK_SKEW_MINUTES = env.int("CLOCK_SKEW_MINUTES", default=5)

# --- Coop (ROOST's moderation tool): its preservation endpoint, /integrations/coop/preservation/ ---
# The Coop organisation's webhook signature verification key (PEM, as Coop's Settings -> API Keys
# shows it), read at each request; admins may also paste keys (PEM or JWK) in the admin. Empty: only
# those. Coop signs with RSASSA-PKCS1-v1_5 and SHA-256 over the raw body (header coop-signature).
COOP_PUBLIC_KEY = env("COOP_PUBLIC_KEY", default="")
# A larger body is refused unread: Coop's body is a user and its media IDs (about 60 bytes each).
COOP_MAX_BODY_BYTES = env.int("COOP_MAX_BODY_BYTES", default=256 * 1024)
# The account Coop's changes are recorded under (created on first use, never able to sign in).
COOP_ACTOR_USERNAME = env("COOP_ACTOR_USERNAME", default="coop")
# Coop's call names no incident type: an escalation it creates gets this one (people may correct it).
COOP_INCIDENT_TYPE = env("COOP_INCIDENT_TYPE", default="child_pornography")

# --- Reminders ---
REMINDER_SWEEP_SECONDS = env.float("REMINDER_SWEEP_SECONDS", default=60)
# More than this many reminders due at once for one person on one channel arrive as one digest.
REMINDER_DIGEST_THRESHOLD = env.int("REMINDER_DIGEST_THRESHOLD", default=5)
# A sweep's claim on a delivery lasts this long: a sweep killed mid-delivery leaves a claim that
# expires, and a later sweep delivers it. Far longer than the slowest channel (a webhook's deadline).
REMINDER_CLAIM_LEASE_SECONDS = env.float("REMINDER_CLAIM_LEASE_SECONDS", default=120)
# A sweep records due reminders and claims due deliveries this many rows at a time. Sweeps running at
# once (several workers, or a worker's several processes) share a backlog batch by batch; a sweep
# killed mid-batch holds at most this many deliveries until its lease runs out (README, "Sizing").
REMINDER_SWEEP_BATCH = _positive_int("REMINDER_SWEEP_BATCH", 500)
# Leads see a red banner, and /healthz answers 503, when the last sweep is older than this.
WATCHDOG_STALE_MINUTES = env.float("WATCHDOG_STALE_MINUTES", default=5)
# Links in emails and webhooks point here.
SITE_URL = env("SITE_URL", default="http://127.0.0.1:8000")
# Evidence packs (/escalations/<id>/evidence-pack/) are signed with this Ed25519 private key (PEM
# text; `python manage.py makepackkey` makes one), or the key in EVIDENCE_PACK_SIGNING_KEY_FILE. Without
# either, no pack is made. Keep it with the other secrets; give auditors its public key.
EVIDENCE_PACK_SIGNING_KEY = env("EVIDENCE_PACK_SIGNING_KEY", default="")
EVIDENCE_PACK_SIGNING_KEY_FILE = env("EVIDENCE_PACK_SIGNING_KEY_FILE", default="")
# Dev and test only: make the key file when it is missing.
EVIDENCE_PACK_KEY_CREATE = False
# Webhooks go to https URLs only; dev and test also allow http to loopback for local receivers.
WEBHOOK_ALLOW_HTTP_LOOPBACK = env.bool("WEBHOOK_ALLOW_HTTP_LOOPBACK", default=False)
# One webhook request, from the name lookup to the answer's last header, ends after this long.
WEBHOOK_DEADLINE_SECONDS = env.float("WEBHOOK_DEADLINE_SECONDS", default=10)
# Webhooks a sweep has in flight at once, each in a thread of its own beside email and in-app.
WEBHOOK_CONCURRENCY = env.int("WEBHOOK_CONCURRENCY", default=8)
# Outbound events (README, "Outbound events"): a sweep's claim on an event delivery lasts this long,
# it claims this many at a time, and a delivery that failed this many times is given up (about a
# day of retries at the default, backing off 1, 2, 4 ... minutes to an hour).
EVENT_CLAIM_LEASE_SECONDS = env.float("EVENT_CLAIM_LEASE_SECONDS", default=120)
EVENT_DELIVERY_BATCH = _positive_int("EVENT_DELIVERY_BATCH", 200)
EVENT_DELIVERY_MAX_ATTEMPTS = _positive_int("EVENT_DELIVERY_MAX_ATTEMPTS", 30)
# "Send a test notification": at most this many per person and channel within the window.
CHANNEL_TEST_LIMIT = env.int("CHANNEL_TEST_LIMIT", default=5)
CHANNEL_TEST_WINDOW_MINUTES = env.int("CHANNEL_TEST_WINDOW_MINUTES", default=10)
# PagerDuty's Events API v2 (one URL for every routing key; tests point it at a local receiver).
PAGERDUTY_EVENTS_URL = env("PAGERDUTY_EVENTS_URL", default="https://events.pagerduty.com/v2/enqueue")
# Where a reminder nobody acknowledged goes next (escalations/policy/escalation_steps.py), as JSON:
# {reminder kind: {"priorities": [...], "steps": [[minutes after it fell due, "leads" | "team_pagerduty"]]}};
# {} turns escalation off. The default: an urgent report overdue and not acknowledged within 15
# minutes goes to every lead, 15 minutes later to the teams' PagerDuty.
ESCALATION_POLICY = env.json(
    "ESCALATION_POLICY",
    default={"report_overdue": {"priorities": ["urgent"], "steps": [[15, "leads"], [30, "team_pagerduty"]]}},
)
# The "Acknowledge" link in an email, Slack or Teams message works this long after it was sent.
ACK_LINK_MAX_AGE_HOURS = env.float("ACK_LINK_MAX_AGE_HOURS", default=24)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="escalations@localhost")
# A hung mail server must fail a delivery (retried later), not hold the sweep.
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=30)

# --- Celery: state lives in rows; the broker only carries ticks. ---
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="filesystem://")
CELERY_BROKER_FOLDER = VAR_DIR / "broker"
if CELERY_BROKER_URL.startswith("filesystem://"):
    # kombu's filesystem transport: messages are files in one folder that producer and worker share.
    for _sub in ("queue", "processed", "control"):
        (CELERY_BROKER_FOLDER / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_BROKER_FOLDER / "queue"),
        "data_folder_out": str(CELERY_BROKER_FOLDER / "queue"),
        "processed_folder": str(CELERY_BROKER_FOLDER / "processed"),
        "store_processed": False,
        # Its exchange tables, otherwise written to ./control in whichever folder a process started.
        "control_folder": str(CELERY_BROKER_FOLDER / "control"),
    }
CELERY_TIMEZONE = "UTC"
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Processes of one worker (prefork pool), each running one sweep at a time: a second one starts the
# next tick's sweep while a long one (a backlog, a slow mail server) is still going. Not Celery's
# default of one per core: the sweep waits on the network, not the CPU (README, "Sizing").
CELERY_WORKER_CONCURRENCY = _positive_int("CELERY_WORKER_CONCURRENCY", 2)
CELERY_BEAT_SCHEDULE = {
    "sweep-reminders": {
        "task": "escalations.tasks.sweep_reminders",
        "schedule": REMINDER_SWEEP_SECONDS,
        # A tick that waited longer than one interval is superseded by the next one.
        "options": {"expires": REMINDER_SWEEP_SECONDS},
    },
    # The dashboard's period figures, counted for every lead once a minute instead of during a visit
    # (escalations/compliance/dashboard_period.py).
    "refresh-dashboard": {
        "task": "escalations.tasks.refresh_dashboard",
        "schedule": 60,
        "options": {"expires": 60},
    },
}
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

# --- The audit trail's integrity (escalations/audit_verify.py) ---
# The sweep walks every chain this often; a break raises the leads' banner and fails /healthz.
AUDIT_VERIFY_HOURS = env.float("AUDIT_VERIFY_HOURS", default=24)
# How much earlier than the row before it a row may be dated before it counts as back-dated: each
# writer reads the clock before it waits for the chain (under load, and across servers' clocks).
AUDIT_CHAIN_CLOCK_SKEW_SECONDS = env.int("AUDIT_CHAIN_CLOCK_SKEW_SECONDS", default=300)

# --- Logs, metrics, errors (docs/deploy.md) ---
# Log lines: "json" (one object a line, escalations/structured_logging.py; the default under
# settings.prod) or "text". Each carries the request id, the user's id and the Celery task id.
LOG_FORMAT = env("LOG_FORMAT", default="text")
LOG_LEVEL = env("LOG_LEVEL", default="INFO")
# X-Request-ID is kept only from TRUSTED_PROXIES (above); from anyone else a new id is made.
# /metrics: readable with this bearer token, or from these addresses or networks (the direct peer).
# Neither set: /metrics answers 404.
METRICS_TOKEN = env("METRICS_TOKEN", default="")
METRICS_ALLOWED_IPS = env.list("METRICS_ALLOWED_IPS", default=[])
# The one figure that reads a whole index (escalations by status) is recomputed at most this often.
METRICS_SLOW_CACHE_SECONDS = env.int("METRICS_SLOW_CACHE_SECONDS", default=300)
# Celery keeps Django's logging (and so the JSON lines and the task id) instead of its own.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

LOGGING: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "context": {"()": "escalations.ops.structured_logging.ContextFilter"},
        "client_errors": {"()": "escalations.ops.structured_logging.ClientErrorsWithoutTraceback"},
    },
    "formatters": {
        "json": {"()": "escalations.ops.structured_logging.JsonFormatter"},
        "text": {"()": "escalations.ops.structured_logging.TextFormatter"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "filters": ["context"], "formatter": LOG_FORMAT},
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    # On the logger, not the handler: every handler (and Sentry's) gets the record without it.
    "loggers": {"django.request": {"filters": ["client_errors"]}},
}

# --- A read replica for the dashboard and the exports (escalations/db_router.py) ---
DATABASE_REPLICA_URL = env("DATABASE_REPLICA_URL", default="")
REPLICA_MIDDLEWARE = "escalations.ops.db_router.ReplicaReadsMiddleware"
# Reads of our tables go to "replica" only while ReplicaReadsMiddleware has marked the request.
DATABASE_ROUTERS = ["escalations.ops.db_router.ReplicaRouter"]
if DATABASE_REPLICA_URL:
    DATABASES["replica"] = env.db("DATABASE_REPLICA_URL")
    DATABASES["replica"]["TEST"] = {"MIRROR": "default"}
    # After sign-in and URL resolution; before axes, which stays last.
    MIDDLEWARE.insert(MIDDLEWARE.index("axes.middleware.AxesMiddleware"), REPLICA_MIDDLEWARE)
