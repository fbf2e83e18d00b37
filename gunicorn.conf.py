"""gunicorn's settings for the web process: `gunicorn -c gunicorn.conf.py settings.wsgi`.

Every value can be changed from the environment (docs/deploy.md lists them). Send HUP to the master
for a graceful reload: it re-reads this file, starts new workers with the new code and lets the old
ones finish their requests (up to GUNICORN_GRACEFUL_TIMEOUT seconds).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Any

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings.prod")


def _cores() -> int:
    """The cores this process may run on (a container's cpuset, not the host's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


bind = os.environ.get("GUNICORN_BIND", f"0.0.0.0:{os.environ.get('PORT', '8000')}").split(",")
# Threads: a worker keeps serving while one of its threads streams a large export or waits on a slow
# client, and a long export is not mistaken for a hung worker (the timeout watches the worker, not
# each request). Two workers per core plus one, four threads each, unless told otherwise.
worker_class = "gthread"
workers = _int("WEB_CONCURRENCY", 2 * _cores() + 1)
threads = _int("GUNICORN_THREADS", 4)
# A worker that stops answering the master for this long is replaced.
timeout = _int("GUNICORN_TIMEOUT", 30)
graceful_timeout = _int("GUNICORN_GRACEFUL_TIMEOUT", 30)
keepalive = _int("GUNICORN_KEEPALIVE", 5)
# Workers are replaced after this many requests (jittered, so they don't all restart together): a
# slow leak in a dependency never grows without bound.
max_requests = _int("GUNICORN_MAX_REQUESTS", 2000)
max_requests_jitter = _int("GUNICORN_MAX_REQUESTS_JITTER", 200)
# Requests are read whole before a worker takes them only behind a buffering proxy; these limits
# refuse oversized request lines and headers before Django sees them.
limit_request_line = 8190
limit_request_fields = 100
# The proxy in front: the addresses whose X-Forwarded-For and X-Forwarded-Proto gunicorn believes.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")

# Logs: JSON lines on stdout and stderr, in the app's format (escalations/gunicorn_logging.py).
accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-")
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
logger_class = "escalations.ops.gunicorn_logging.GunicornLogger"
# Not loaded in the master: each worker imports the app itself, so a HUP loads new code.
preload_app = False
# Worker heartbeat files in memory, not on a disk that may stall (where /dev/shm is writable).
worker_tmp_dir = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None  # noqa: S108

# Prometheus: every worker writes its request and database figures to files in one directory, and
# /metrics adds them up (escalations/metrics_views.py). Made here when the environment names none.
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="escalations-metrics-")


def on_starting(server: Any) -> None:
    """A new master: the figures of a previous run's workers are not this run's."""
    directory = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    os.makedirs(directory, exist_ok=True)
    for name in os.listdir(directory):
        path = os.path.join(directory, name)
        if os.path.isdir(path):
            shutil.rmtree(path)
        else:
            os.remove(path)


def child_exit(server: Any, worker: Any) -> None:
    """A worker ended (reload, max_requests, crash): its live gauges stop counting; its counters stay."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
