"""Django settings for the bench: the shared base (DEBUG off, the production middleware stack, the
same templates and database options), PostgreSQL from DATABASE_URL (set by the bench for each of its
databases), and only what an in-process test client needs besides. Nothing here makes a page
cheaper than in production."""

from settings.base import *  # noqa: F403
from settings.base import DATABASES, REST_FRAMEWORK, VAR_DIR

DEBUG = False
VAR_DIR.mkdir(exist_ok=True)
# django.test.Client sends Host: testserver.
ALLOWED_HOSTS = ["testserver", "127.0.0.1", "localhost"]
# Users are made by the generator with unusable passwords and signed in with force_login; no hashing.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
# Static files from the app folders (no collectstatic): pages only render their URLs.
STORAGES = {"staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
STATIC_ROOT = None
WHITENOISE_USE_FINDERS = True
# The API throttle (600/min per token by default) is a policy limit, not a capacity: raised so that
# "creates per second" measures the app rather than the throttle.
REST_FRAMEWORK = {**REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"service_token": "1000000/min"}}

# As settings.prod: each process keeps its connection between requests, checked before reuse.
DATABASES["default"]["CONN_MAX_AGE"] = 60
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

if DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
    raise RuntimeError("the bench runs on PostgreSQL only: set DATABASE_URL (the bench does)")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
}
