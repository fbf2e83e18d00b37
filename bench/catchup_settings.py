"""Settings of the catch-up benchmark's worker (bench.catchup): the bench's, with Django's SMTP backend
pointed at the benchmark's sink and a broker folder of the benchmark's own."""

import os
from pathlib import Path

from bench.settings import *  # noqa: F403

EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
EMAIL_HOST = "127.0.0.1"
EMAIL_PORT = int(os.environ["BENCH_CATCHUP_SMTP_PORT"])
EMAIL_USE_TLS = False

_folder = Path(os.environ["BENCH_CATCHUP_BROKER_DIR"])
CELERY_BROKER_URL = "filesystem://"
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "data_folder_in": str(_folder / "queue"),
    "data_folder_out": str(_folder / "queue"),
    "processed_folder": str(_folder / "processed"),
    "store_processed": False,
    "control_folder": str(_folder / "control"),
}
