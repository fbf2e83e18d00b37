"""The Celery app. Tasks live in escalations/tasks.py; state lives in database rows, not results."""

import os

from celery import Celery
from django.conf import settings

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings.dev")

app = Celery("escalation_tracker")
app.config_from_object("django.conf:settings", namespace="CELERY")


@app.on_configure.connect
def _filesystem_broker_folders(sender: Celery, **kwargs: object) -> None:
    # kombu's filesystem transport needs its folders to exist and named in transport options.
    if str(sender.conf.broker_url).startswith("filesystem://"):
        folder = settings.CELERY_BROKER_FOLDER
        for sub in ("out", "processed"):
            (folder / sub).mkdir(parents=True, exist_ok=True)
        sender.conf.broker_transport_options = {
            "data_folder_in": str(folder / "out"),
            "data_folder_out": str(folder / "out"),
            "processed_folder": str(folder / "processed"),
            "store_processed": False,
        }


app.autodiscover_tasks()
