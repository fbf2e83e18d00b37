"""Production: PostgreSQL and Redis through DATABASE_URL and CELERY_BROKER_URL; secrets from env."""

from pathlib import Path

from csp.constants import NONE, SELF

from .base import *  # noqa: F403
from .base import BASE_DIR, CACHES, DATABASES, INSTALLED_APPS, LOGGING, MIDDLEWARE, env

DEBUG = False
# Each web process keeps its database connection for a minute instead of opening one per request
# (3-20 ms a request, measured by the bench); the health check replaces one the database closed (a
# restart, a failover) before it is used. Celery closes its own around every task whatever this says.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# django-prometheus's drop-in backends count queries, errors and connections for /metrics.
_INSTRUMENTED = {
    "django.db.backends.postgresql": "django_prometheus.db.backends.postgresql",
    "django.db.backends.sqlite3": "django_prometheus.db.backends.sqlite3",
}
for _database in DATABASES.values():
    _database["ENGINE"] = _INSTRUMENTED.get(_database["ENGINE"], _database["ENGINE"])
if "replica" in DATABASES:
    DATABASES["replica"]["CONN_MAX_AGE"] = DATABASES["default"]["CONN_MAX_AGE"]
    DATABASES["replica"]["CONN_HEALTH_CHECKS"] = True
SECRET_KEY = env("DJANGO_SECRET_KEY")  # no default: refuse to start without a real secret
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS")
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
# Machines ask for these on the internal network, over plain http (the image's health check,
# Prometheus): answered there instead of redirected. Neither sets a cookie or shows case data.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^metrics$"]
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
# no-referrer (settings/base.py); our CSRF middleware accepts the "Origin: null" it causes only when
# the browser's Sec-Fetch-Site says same-origin.
SECURE_REFERRER_POLICY = "no-referrer"
SESSION_COOKIE_SECURE = True
# With a shared cache (CACHE_URL=redis://...), a request reads its session and its person from the
# cache, not the database. Sessions: cached_db writes both and reads the cache first; signing out
# (SessionStore.delete) empties both, so code that ends someone's sessions must delete them through
# SessionStore(key).delete(), not a queryset (the cached copy would outlive the row until it expires).
# A deactivated user or a changed password still ends every session at the next request: the person's
# cached row goes when the user is saved (escalations/accounts/request_context.py), and the session's
# password hash is checked against it. A per-process cache (locmem) could not be emptied in every
# process: then both are read from the database.
_SHARED_CACHE = CACHES["default"]["BACKEND"] not in (
    "django.core.cache.backends.locmem.LocMemCache",
    "django.core.cache.backends.dummy.DummyCache",
)
if _SHARED_CACHE:
    SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
    PERSON_CACHE_SECONDS = env.int("PERSON_CACHE_SECONDS", default=10)
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_SECURE = True
CSRF_COOKIE_HTTPONLY = True
# __Host-: browsers accept these cookies only when Secure, for path "/" and with no Domain, so a
# sibling subdomain (or a plain-HTTP page of ours) cannot set or overwrite them. Path and domain are
# Django's defaults ("/", none); the names say the rest.
SESSION_COOKIE_NAME = "__Host-sessionid"
CSRF_COOKIE_NAME = "__Host-csrftoken"
X_FRAME_OPTIONS = "DENY"

EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
EMAIL_HOST = env("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
DEMO_ACCOUNTS_ALLOWED = False
# Leads and admins sign in with two factors (escalations/two_factor.py).
REQUIRE_2FA = env.bool("REQUIRE_2FA", default=True)

# --- Content-Security-Policy (django-csp): no inline script or style anywhere, nothing from other
# origins. Our templates carry no <script> and no style= attributes; /api/docs/ serves its start-up
# script from a URL (SpectacularSwaggerSplitView) and Swagger UI's assets from us (sidecar).
INSTALLED_APPS = [*INSTALLED_APPS, "csp"]
MIDDLEWARE = [*MIDDLEWARE, "csp.middleware.CSPMiddleware"]
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        # Swagger UI's stylesheet draws its icons from data: URIs (swagger-ui.css); nothing else does.
        "img-src": [SELF, "data:"],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
        "base-uri": [NONE],
        "object-src": [NONE],
    },
}

# --- Serving (gunicorn.conf.py, docs/deploy.md) ---
# collectstatic writes hashed, compressed files here; whitenoise serves them with far-future caching.
STATIC_ROOT = Path(env("STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))

# --- Logs, metrics, errors ---
# JSON lines by default in production (LOG_FORMAT=text for a person reading a terminal).
LOG_FORMAT = env("LOG_FORMAT", default="json")
LOGGING["handlers"]["console"]["formatter"] = LOG_FORMAT
# Error reports only when a DSN is given, with case data scrubbed (escalations/error_reporting.py).
SENTRY_DSN = env("SENTRY_DSN", default="")
if SENTRY_DSN:
    from escalations.ops import error_reporting

    error_reporting.init(
        SENTRY_DSN,
        environment=env("SENTRY_ENVIRONMENT", default="production"),
        release=env("SENTRY_RELEASE", default=None),
    )
