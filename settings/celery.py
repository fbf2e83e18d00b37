"""The Celery app. Tasks live in escalations/tasks.py; state lives in database rows, not results."""

import os

from celery import Celery

from escalations.ops import structured_logging

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings.dev")

app = Celery("escalation_tracker")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# The task's id in every log line it writes (escalations/structured_logging.py).
structured_logging.connect_celery_signals()
