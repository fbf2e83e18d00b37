"""Log lines as JSON, each carrying the request id, the signed-in user's id and the Celery task id.

One format for every process: the web app (settings.LOGGING), gunicorn's own and access logs
(GunicornLogger, named in gunicorn.conf.py) and the Celery worker and beat (which keep Django's
logging instead of their own: CELERY_WORKER_HIJACK_ROOT_LOGGER = False).

What a line may carry, on purpose: ids (request, user, task), paths without their query string,
status codes and durations. Never a user's name or email, and never case data such as a platform
reference or a report ID: those may only appear in a query string (dropped) or a request body
(never logged). Objects passed as `extra` (Django passes the whole request) are left out, because
their text would include the query string.

This module is imported by gunicorn's master before Django is set up, so it imports nothing from
Django at module level.
"""

from __future__ import annotations

import contextvars
import ipaddress
import logging
import re
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from pythonjsonlogger.json import JsonFormatter as _BaseJsonFormatter

REQUEST_ID_HEADER = "X-Request-ID"
# What we accept from a trusted proxy as a request id: short, and nothing that could break a log line.
_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
# Keys of the WSGI environ that carry the ids to gunicorn's access log (the environ is the same dict
# for gunicorn and Django's request).
ENVIRON_REQUEST_ID = "escalations.request_id"
ENVIRON_USER_ID = "escalations.user_id"

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
user_id_var: contextvars.ContextVar[int | None] = contextvars.ContextVar("user_id", default=None)
task_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("task_id", default=None)
task_name_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("task_name", default=None)

# The fields every line has, in this order (then whatever `extra` the call site added).
FIELDS = ("timestamp", "level", "logger", "message", "request_id", "user_id", "task_id")
_SAFE_EXTRA_TYPES = (str, int, float, bool, type(None))


class ContextFilter(logging.Filter):
    """Adds request_id, user_id and task_id (None outside a request or task) to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        record.user_id = user_id_var.get()
        record.task_id = task_id_var.get()
        task_name = task_name_var.get()
        if task_name is not None:
            record.task_name = task_name
        return True


class ClientErrorsWithoutTraceback(logging.Filter):
    """A refusal (403) or a missing page (404) is the app working as meant: django.request logs it
    as a warning with the exception that raised it, whose traceback would bury real errors. The line
    stays (who was refused what, with the request id); the traceback goes."""

    def filter(self, record: logging.LogRecord) -> bool:
        status = getattr(record, "status_code", None)
        if isinstance(status, int) and 400 <= status < 500:
            record.exc_info = None
            record.exc_text = None
        return True


class JsonFormatter(_BaseJsonFormatter):
    """One JSON object per line: the FIELDS, then the call site's extra values that are plain
    (strings, numbers, booleans); anything else (a request, a model instance) is left out."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("rename_fields", {"levelname": "level", "name": "logger"})
        super().__init__("{levelname}{name}{message}", *args, style="{", **kwargs)

    def add_fields(self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]) -> None:
        log_data["timestamp"] = datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds")
        super().add_fields(log_data, record, message_dict)
        for key in ("request_id", "user_id", "task_id"):
            log_data[key] = getattr(record, key, None)
        for key in [k for k, v in log_data.items() if not isinstance(v, _SAFE_EXTRA_TYPES)]:
            if key not in ("exc_info", "stack_info"):
                del log_data[key]

    def process_log_record(self, log_data: dict[str, Any]) -> dict[str, Any]:
        ordered = {key: log_data.pop(key) for key in FIELDS if key in log_data}
        ordered.update(log_data)
        return ordered


class TextFormatter(logging.Formatter):
    """For a person at a terminal (LOG_FORMAT=text): the ids in brackets ("-" when there is none),
    then the message, last, as Celery's own format has it."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s [%(request_id)s %(user_id)s %(task_id)s] %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:
        values = dict(record.__dict__)
        for key in ("request_id", "user_id", "task_id"):
            values[key] = "-" if values.get(key) is None else values[key]
        return self._style._fmt % values if self._style._fmt else record.getMessage()


# --- request ids ---------------------------------------------------------------------------------


def parse_networks(values: Iterable[str]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """Addresses or networks ("10.0.0.0/8", "::1") as networks; raises ValueError on a bad one."""
    return [ipaddress.ip_network(value.strip(), strict=False) for value in values if value.strip()]


def address_in(address: str, networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def choose_request_id(incoming: str | None, remote_addr: str, trusted: list[Any]) -> str:
    """The incoming X-Request-ID when a trusted proxy sent a well-formed one, else a new id: anyone
    else could fill our logs with ids of their choosing (or break them with newlines)."""
    if incoming and address_in(remote_addr, trusted) and _REQUEST_ID_RE.match(incoming):
        return incoming
    return uuid.uuid4().hex


class RequestIdMiddleware:
    """First in the stack: gives each request its id (echoed as X-Request-ID), puts it and, once
    known, the user's id in the log context and in the environ for gunicorn's access log."""

    def __init__(self, get_response: Callable[[Any], Any]) -> None:
        from django.conf import settings
        from django.core.signals import request_finished

        self.get_response = get_response
        self.trusted = parse_networks(getattr(settings, "TRUSTED_PROXIES", []))
        request_finished.connect(clear_request_context, dispatch_uid="escalations_clear_request_context")

    def __call__(self, request: Any) -> Any:
        request_id = choose_request_id(
            request.META.get("HTTP_X_REQUEST_ID"), request.META.get("REMOTE_ADDR", ""), self.trusted
        )
        request.request_id = request_id
        request.environ[ENVIRON_REQUEST_ID] = request_id
        # Set for the whole request, not reset when this returns: Django logs an error response after
        # every middleware has returned, and a streamed response is read later still. The next request
        # on this thread sets both again; the end of the response clears them (clear_request_context).
        request_id_var.set(request_id)
        user_id_var.set(None)
        response = self.get_response(request)
        response[REQUEST_ID_HEADER] = request_id
        return response


def clear_request_context(**_: Any) -> None:
    """Connected to request_finished: log lines after the response (the worker's own) carry no ids."""
    request_id_var.set(None)
    user_id_var.set(None)


class UserIdMiddleware:
    """After authentication: the signed-in user's id (never their name) for the rest of the request."""

    def __init__(self, get_response: Callable[[Any], Any]) -> None:
        self.get_response = get_response

    def __call__(self, request: Any) -> Any:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            user_id_var.set(user.pk)
            request.environ[ENVIRON_USER_ID] = user.pk
        return self.get_response(request)


# --- Celery: the task id on every line a task logs -----------------------------------------------


def connect_celery_signals() -> None:
    """Put each task's id and name in the log context while it runs (worker processes)."""
    from celery.signals import task_postrun, task_prerun

    task_prerun.connect(_task_started, weak=False, dispatch_uid="escalations_log_task_started")
    task_postrun.connect(_task_finished, weak=False, dispatch_uid="escalations_log_task_finished")


def _task_started(task_id: str | None = None, task: Any = None, **_: Any) -> None:
    task_id_var.set(task_id)
    task_name_var.set(getattr(task, "name", None))


def _task_finished(**_: Any) -> None:
    task_id_var.set(None)
    task_name_var.set(None)
