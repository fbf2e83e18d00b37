"""Test settings: fast hashing, in-memory mail; DATABASE_URL may still point at PostgreSQL."""

from .base import *  # noqa: F403
from .base import DATABASES, VAR_DIR

VAR_DIR.mkdir(exist_ok=True)
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # speed only; never in prod
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
STORAGES = {"staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
CELERY_TASK_ALWAYS_EAGER = True
DEMO_ACCOUNTS_ALLOWED = True
# Serve static files from the app folders; no collectstatic in tests.
STATIC_ROOT = None
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
WEBHOOK_ALLOW_HTTP_LOOPBACK = True
# django-axes stays on under test, so that tests prove the lockout (tests/accounts/test_lockout.py).
AXES_ENABLED = True
# A read replica that is the test database itself (Django's test mirror): tests/ops/test_db_router.py
# routes the dashboard and exports to it. Unused unless a test adds ReplicaReadsMiddleware.
DATABASES["replica"] = {**DATABASES["default"], "TEST": {"MIRROR": "default"}}
# Evidence packs are signed with a key made for the test run's machine.
EVIDENCE_PACK_SIGNING_KEY_FILE = str(VAR_DIR / "evidence-pack-signing-key-test.pem")
EVIDENCE_PACK_KEY_CREATE = True
