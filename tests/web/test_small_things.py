"""Smaller things a team notices: messages that read as people write, a refusal that does not log a
traceback, production's error pages, a legal request recorded twice, overdue requests first."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from escalations.legal import services as legal_services
from escalations.models import AccessLog, Delivery
from escalations.policy import PolicyConfig, explain_preservation

ROOT = Path(__file__).resolve().parents[2]
CLOCK_START = datetime(2026, 4, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def test_messages_read_as_people_write(client_for: Any, lead: Any) -> None:
    response = client_for(lead).post("/tokens/", {"name": "x", "scope": "read", "days": "400"})
    assert response.status_code == 400
    html = response.content.decode()
    assert "Ensure this value" not in html
    assert "a token lasts at most a year (366 days)" in html
    assert Delivery._meta.verbose_name_plural == "deliveries"
    assert AccessLog._meta.verbose_name_plural == "access log entries"
    rules = explain_preservation(CLOCK_START, [], PolicyConfig.from_settings())
    assert rules[0].label == "18 U.S.C. 2258A(h): one calendar year after the report"


def test_a_refusal_logs_one_line_without_a_traceback(
    client_for: Any, moderator: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="django.request"):
        assert client_for(moderator).get("/access-log/").status_code == 403
        assert client_for(moderator).get("/escalations/999999/").status_code == 404
    refused = [r for r in caplog.records if r.name == "django.request"]
    assert {getattr(r, "status_code", None) for r in refused} == {403, 404}
    assert all(r.exc_info is None for r in refused)
    assert "Traceback" not in caplog.text


PROD_SCRIPT = r"""
import django
django.setup()
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied, SuspiciousOperation
from django.http import Http404
from django.test import RequestFactory
from django.conf import settings
from escalations.api import error_pages
assert settings.DEBUG is False
factory = RequestFactory()
def request(path):
    r = factory.get(path)
    r.user = AnonymousUser()
    return r
answers = {
    400: error_pages.bad_request(request("/x/"), SuspiciousOperation("bad")),
    403: error_pages.permission_denied(request("/access-log/"), PermissionDenied("Not for you.")),
    404: error_pages.page_not_found(request("/nowhere/"), Http404("gone")),
    500: error_pages.server_error(request("/boom/")),
}
for code, response in answers.items():
    print(code, response.status_code, response.content.decode().replace("\n", " "))
"""


def test_production_has_its_own_400_403_404_and_500_pages(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.browser.settings_prodlike",
        "DJANGO_SECRET_KEY": "test-only-not-a-secret-0123456789-abcdefghijklmnopqrstuvwxyz",
        "DJANGO_ALLOWED_HOSTS": "testserver",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "PYTHONPATH": str(ROOT),
    }
    env.pop("DJANGO_DEBUG", None)
    result = subprocess.run(
        [sys.executable, "-c", PROD_SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-3000:]
    pages = {
        int(line.split(" ", 2)[0]): line.split(" ", 2)[1:] for line in result.stdout.splitlines() if line[:3].isdigit()
    }
    assert {code: int(status) for code, (status, _) in pages.items()} == {400: 400, 403: 403, 404: 404, 500: 500}
    assert "The request could not be read" in pages[400][1]
    assert "Not allowed" in pages[403][1] and "Not for you." in pages[403][1]
    assert "Not found" in pages[404][1]
    assert "Something went wrong on our side" in pages[500][1]
    for _, html in pages.values():
        assert "Back to the start" in html or "tell your lead" in html


def test_a_second_request_with_the_same_agency_and_reference_warns(
    clock: Any, client_for: Any, lead: Any, make_escalation: Any
) -> None:
    esc = make_escalation(knowledge_at=CLOCK_START - 3 * DAY, reported_at=CLOCK_START - 2 * DAY)
    form = {
        "kind": "subpoena",
        "agency": "FBI Denver",
        "reference": "DN-1",
        "received_at": "2026-04-01T09:00",
        "escalations": esc.key,
    }
    first = client_for(lead).post("/legal-requests/new/", form, follow=True)
    assert first.status_code == 200
    assert "same agency and reference" not in first.content.decode()
    second = client_for(lead).post(
        "/legal-requests/new/", {**form, "agency": "fbi denver", "reference": "dn-1"}, follow=True
    )
    html = second.content.decode()
    from escalations.models import LegalRequest

    earlier = LegalRequest.objects.order_by("pk").first()
    assert earlier is not None
    assert f"{earlier.key} has the same agency and reference" in html
    assert "close it as a duplicate" in html


def test_overdue_legal_requests_sort_first(clock: Any, client_for: Any, lead: Any, make_escalation: Any) -> None:
    import re

    esc = make_escalation(knowledge_at=CLOCK_START - 30 * DAY, reported_at=CLOCK_START - 29 * DAY)

    def record(received_days_ago: int, due_in_days: int | None) -> str:
        return legal_services.create_legal_request(
            actor=lead,
            data={
                "kind": "subpoena",
                "agency": "A",
                "reference": f"R{received_days_ago}",
                "received_at": CLOCK_START - received_days_ago * DAY,
                "response_due_at": None if due_in_days is None else CLOCK_START + due_in_days * DAY,
                "escalations": [esc.pk],
            },
        ).key

    old_overdue = record(20, -5)
    newest = record(1, 10)
    overdue_longest = record(10, -8)
    no_due = record(5, None)
    html = client_for(lead).get("/legal-requests/").content.decode()
    order = re.findall(r'<tr data-key="(LR-\d+)">', html)
    assert order == [overdue_longest, old_overdue, newest, no_due]


def test_destination_form_records_still_to_be_reported_as_its_help_says(
    clock: Any, client_for: Any, moderator: Any, make_escalation: Any
) -> None:
    from escalations.models import Destination, DestinationReport

    esc = make_escalation(knowledge_at=CLOCK_START - 3 * DAY, reported_at=CLOCK_START - 2 * DAY)
    nca = Destination.objects.get(code="nca")
    form = client_for(moderator).get(f"/escalations/{esc.pk}/destinations/").content.decode()
    assert "Empty (with no report ID): still to be reported" in form
    # Nothing filled in for the time: leaving both empty is "still to be reported".
    time_input = form[form.index('name="reported_at"') :].split(">")[0]
    assert "value=" not in time_input
    response = client_for(moderator).post(
        f"/escalations/{esc.pk}/destinations/",
        {"version": esc.version, "destination": nca.pk, "reported_at": "", "report_id": ""},
    )
    assert response.status_code == 302, response.context["form"].errors
    report = DestinationReport.objects.get(escalation=esc, destination=nca)
    assert report.reported_at is None and report.report_id == ""


def test_a_report_id_is_checked_per_destination(clock: Any, client_for: Any, lead: Any, make_escalation: Any) -> None:
    from escalations.models import Destination

    first = make_escalation(knowledge_at=CLOCK_START - 3 * DAY, reported_at=CLOCK_START - 2 * DAY)
    second = make_escalation(knowledge_at=CLOCK_START - 3 * DAY, reported_at=CLOCK_START - 2 * DAY)
    nca, afp = Destination.objects.get(code="nca"), Destination.objects.get(code="afp")
    at = "2026-04-01T10:00"

    def record(esc: Any, destination: Any) -> Any:
        esc.refresh_from_db()
        return client_for(lead).post(
            f"/escalations/{esc.pk}/destinations/",
            {"version": esc.version, "destination": destination.pk, "reported_at": at, "report_id": "NCA-77"},
        )

    assert record(first, nca).status_code == 302
    refused = record(second, nca)
    assert refused.status_code == 200
    assert refused.context["form"].errors["report_id"] == [
        f"Report ID NCA-77 is already recorded for {nca.name} on {first.key}."
    ]
    # Another destination numbers its reports its own way: the same text is fine there.
    assert record(second, afp).status_code == 302
    # Correcting the first escalation's own report keeps its ID.
    assert record(first, nca).status_code == 302
