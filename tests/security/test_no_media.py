"""The tracker stores no media, ever: no file fields, no media root, and any request that carries a
file is refused before a view runs, with nothing written."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from typing import Any
from wsgiref.handlers import SimpleHandler
from wsgiref.util import setup_testing_defaults

import pytest
from django.apps import apps
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.handlers.wsgi import WSGIHandler
from django.db import models
from django.test import Client

from escalations.models import AuditEvent, Escalation
from tests.conftest import FormClient

NOW = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)
# The clock fixture (tests/conftest.py) stands still here.
CLOCK_START = NOW
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"


def form_data(**overrides: Any) -> dict[str, Any]:
    """What the 'Log an escalation' form sends (knowledge_at in the user's zone, UTC by default)."""
    data = {
        "platform_reference": "ticket-5150",
        "incident_type": "child_pornography",
        "priority": "standard",
        "urgent_reason": "",
        "knowledge_at": (NOW - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
        "notes": "",
    }
    data.update(overrides)
    return data


def assert_refused(response: Any) -> None:
    assert response.status_code == 400
    assert "File uploads are refused" in response.content.decode()


def test_no_model_has_a_file_or_image_field():
    offenders = [
        f"{model._meta.label}.{field.name}"
        for model in apps.get_models(include_auto_created=True)
        for field in model._meta.get_fields(include_hidden=True)
        if isinstance(field, models.FileField)  # ImageField is a FileField
    ]
    assert offenders == []


def test_there_is_no_media_root_or_url():
    assert settings.MEDIA_ROOT == ""
    assert not settings.is_overridden("MEDIA_ROOT")
    assert not settings.is_overridden("MEDIA_URL")


def test_urlencoded_form_post_logs_an_escalation(clock, moderator, client_for):
    """The control for the refusals below: the same form, posted as our pages post it, works."""
    response = client_for(moderator).post("/escalations/new/", form_data())
    assert response.status_code == 302
    esc = Escalation.objects.get()
    assert response["Location"] == f"/escalations/{esc.pk}/"
    assert esc.platform_reference == "ticket-5150"


def test_multipart_post_with_a_file_is_refused_and_writes_nothing(clock, moderator):
    client = Client()  # Django's own client: posts multipart/form-data
    client.force_login(moderator)
    escalations, events = Escalation.objects.count(), AuditEvent.objects.count()

    response = client.post(
        "/escalations/new/",
        {**form_data(), "attachment": SimpleUploadedFile("evidence.png", PNG, content_type="image/png")},
    )

    assert_refused(response)
    assert "multipart/form-data" in response.content.decode()
    assert Escalation.objects.count() == escalations
    assert AuditEvent.objects.count() == events


def test_anonymous_multipart_post_is_refused_before_the_login_redirect(clock, db):
    response = Client().post(
        "/escalations/new/",
        {
            **form_data(),
            "attachment": SimpleUploadedFile("evidence.jpg", b"\xff\xd8\xff\xe0", content_type="image/jpeg"),
        },
    )
    assert_refused(response)
    assert Escalation.objects.count() == 0


@pytest.mark.parametrize("path", ["/accounts/login/", "/escalations/new/", "/admin/", "/no-such-page/"])
@pytest.mark.parametrize("content_type", ["image/png", "IMAGE/JPEG; name=x.jpg", "application/octet-stream"])
def test_raw_file_bodies_are_refused_on_any_url(clock, moderator, client_for, path, content_type):
    for client in (Client(), client_for(moderator)):
        response = client.post(path, PNG, content_type=content_type)
        assert_refused(response)
        assert content_type.split(";")[0].lower() in response.content.decode()
    assert Escalation.objects.count() == 0


def test_file_put_is_refused_too(moderator, client_for):
    response = client_for(moderator).put("/escalations/new/", PNG, content_type="image/png")
    assert_refused(response)


def test_urlencoded_login_still_works(moderator):
    response = FormClient().post("/accounts/login/", {"username": "mod", "password": "correct-horse-battery"})
    assert response.status_code == 302
    assert response["Location"] == "/escalations/mine/"


def test_refusal_is_served_as_400_by_a_wsgi_server(db):
    """Through wsgiref (what `manage.py runserver` uses), not only the test client: a response header
    that a WSGI application may not set (Connection and other hop-by-hop headers) turns the refusal
    into a 500 'A server error occurred' page."""
    environ: dict[str, Any] = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/accounts/login/",
        "CONTENT_TYPE": "image/png",
        "CONTENT_LENGTH": str(len(PNG)),
    }
    setup_testing_defaults(environ)
    stdout, stderr = io.BytesIO(), io.StringIO()
    handler = SimpleHandler(io.BytesIO(PNG), stdout, stderr, environ, multithread=False)
    handler.run(WSGIHandler())

    status_line = stdout.getvalue().split(b"\r\n", 1)[0]  # b"HTTP/1.0 400 Bad Request"
    assert status_line.split(b" ", 2)[1:] == [b"400", b"Bad Request"], stderr.getvalue()
    assert b"File uploads are refused" in stdout.getvalue()
