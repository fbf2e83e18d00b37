"""Local development: `make run`. SQLite and the filesystem broker in var/, mail to the console."""

from .base import *  # noqa: F403
from .base import VAR_DIR

DEBUG = True
VAR_DIR.mkdir(exist_ok=True)
EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
# Demo accounts (seeddemo) are only ever created under these settings.
DEMO_ACCOUNTS_ALLOWED = True
STATIC_ROOT = None
STORAGES = {"staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
WEBHOOK_ALLOW_HTTP_LOOPBACK = True
# A key of this laptop's own for evidence packs, made on first use.
EVIDENCE_PACK_SIGNING_KEY_FILE = str(VAR_DIR / "evidence-pack-signing-key.pem")
EVIDENCE_PACK_KEY_CREATE = True
