"""settings.prod as the browser tests can serve it: plain-HTTP runserver on 127.0.0.1 (Chromium counts
loopback as a secure origin, so Secure and __Host- cookies are kept), static files from the apps
(no collectstatic), and the demo accounts. Everything else, the cookies and headers above all, is
production's."""

from settings.prod import *  # noqa: F403

SECURE_SSL_REDIRECT = False
STORAGES = {"staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
STATIC_ROOT = None
WHITENOISE_USE_FINDERS = True
DEMO_ACCOUNTS_ALLOWED = True
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
CELERY_BROKER_URL = "filesystem://"
