"""Log lines as JSON with the request id, the user's id and the Celery task id
(escalations/structured_logging.py, gunicorn_logging.py)."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from celery import shared_task

from escalations.ops.gunicorn_logging import access_record
from escalations.ops.structured_logging import ContextFilter, JsonFormatter, choose_request_id, parse_networks
from tests.conftest import FormClient

REQUEST_ID = "req-4f2a9c:proxy.example"


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    """Everything logged meanwhile, through our filter and JSON formatter (as settings.prod has it)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(ContextFilter())
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield stream
    finally:
        root.removeHandler(handler)


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


# --- request ids ---------------------------------------------------------------------------------


def test_each_response_carries_a_new_request_id(db: Any) -> None:
    first = FormClient().get("/healthz")["X-Request-ID"]
    second = FormClient().get("/healthz")["X-Request-ID"]
    assert len(first) == 32 and first != second


def test_an_incoming_request_id_is_kept_only_from_a_trusted_proxy(db: Any, settings: Any) -> None:
    settings.TRUSTED_PROXIES = ["10.0.0.5"]
    proxied = FormClient(REMOTE_ADDR="10.0.0.5").get("/healthz", headers={"X-Request-ID": REQUEST_ID})
    assert proxied["X-Request-ID"] == REQUEST_ID
    direct = FormClient(REMOTE_ADDR="198.51.100.7").get("/healthz", headers={"X-Request-ID": REQUEST_ID})
    assert direct["X-Request-ID"] != REQUEST_ID


@pytest.mark.parametrize("incoming", ["x" * 129, "two words", 'quote"d', "line\nbreak", ""])
def test_a_malformed_request_id_is_replaced_even_from_a_trusted_proxy(incoming: str) -> None:
    trusted = parse_networks(["127.0.0.1"])
    chosen = choose_request_id(incoming, "127.0.0.1", trusted)
    assert chosen != incoming and len(chosen) == 32


# --- what a line says ----------------------------------------------------------------------------


def test_a_request_logs_json_lines_with_its_id_and_the_users_id_never_their_name(
    json_lines: io.StringIO, make_user: Any, client_for: Any
) -> None:
    person = make_user("marguerite-lefebvre", "moderator")
    response = client_for(person).get("/escalations/999999/?q=SECRET-REF-5")
    assert response.status_code == 404
    logged = lines(json_lines)
    not_found = [line for line in logged if line["logger"] == "django.request"]
    assert not_found, logged
    line = not_found[0]
    assert list(line)[:7] == ["timestamp", "level", "logger", "message", "request_id", "user_id", "task_id"]
    assert line["level"] == "WARNING"
    assert line["request_id"] == response["X-Request-ID"]
    assert line["user_id"] == person.pk
    assert line["task_id"] is None
    text = json_lines.getvalue()
    # Django passes the request object along: its text (with the query string) is left out.
    assert "marguerite" not in text
    assert "SECRET-REF-5" not in text
    assert "WSGIRequest" not in text


def test_outside_a_request_the_ids_are_null(json_lines: io.StringIO) -> None:
    logging.getLogger("escalations.test").info("hello %s", "there", extra={"count": 3, "obj": object()})
    (line,) = lines(json_lines)
    assert line["message"] == "hello there"
    assert line["count"] == 3
    assert "obj" not in line
    assert line["request_id"] is None and line["user_id"] is None


@shared_task
def _log_something() -> None:
    logging.getLogger("escalations.test_task").info("inside the task")


def test_a_celery_task_logs_its_task_id(json_lines: io.StringIO) -> None:
    import settings.celery  # noqa: F401  (the Celery app, which connects the task signals)

    result = _log_something.apply()
    inside = [line for line in lines(json_lines) if line["message"] == "inside the task"]
    assert inside and inside[0]["task_id"] == result.id
    logging.getLogger("escalations.test").info("after the task")
    assert lines(json_lines)[-1]["task_id"] is None


# --- gunicorn's access log -------------------------------------------------------------------------


class _Response:
    status = "404 Not Found"
    sent = 1234


def test_an_access_line_has_the_ids_and_no_query_string() -> None:
    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": "/escalations/",
        "QUERY_STRING": "q=SECRET-REF-9",
        "RAW_URI": "/escalations/?q=SECRET-REF-9",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_USER_AGENT": "curl/8",
        "escalations.request_id": "abc123",
        "escalations.user_id": 42,
    }
    record = access_record(_Response(), environ, timedelta(milliseconds=12.5).total_seconds())
    line = json.loads(JsonFormatter().format(record))
    assert line["logger"] == "gunicorn.access"
    assert line["message"] == "request"
    assert (line["method"], line["path"], line["status"], line["bytes"]) == ("GET", "/escalations/", 404, 1234)
    assert line["duration_ms"] == 12.5
    assert (line["request_id"], line["user_id"]) == ("abc123", 42)
    assert "SECRET-REF-9" not in json.dumps(line)
