"""Error reports to Sentry when SENTRY_DSN is set, with case data and names scrubbed
(escalations/error_reporting.py). No network: a fake transport keeps what would have been sent.

The end-to-end test runs in a child process: sentry-sdk patches Django when it starts, and those
patches would outlive this test in the suite's own process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from escalations.ops.error_reporting import scrub

ROOT = Path(__file__).resolve().parents[2]

CHILD = r"""
import json, os, sys
os.environ["DJANGO_SETTINGS_MODULE"] = "settings.test"
import django
from sentry_sdk.transport import Transport

sent = []

class KeepTransport(Transport):
    def capture_envelope(self, envelope):
        for item in envelope.items:
            if item.type == "event":
                sent.append(item.payload.json)

from escalations.ops import error_reporting
error_reporting.init("https://public@sentry.example.invalid/1", environment="test", transport=KeepTransport())
django.setup()

from django.test.utils import override_settings, setup_databases, setup_test_environment
setup_test_environment()
setup_databases(verbosity=0, interactive=False)

from django.contrib.auth import get_user_model
from django.http import HttpResponse
from django.urls import path
from tests.conftest import FormClient

def boom(request):
    reference = request.POST.get("platform_reference", "")
    raise RuntimeError("the view failed")

import types
child_urls = types.ModuleType("child_urls")
child_urls.urlpatterns = [path("boom/", boom)]
sys.modules["child_urls"] = child_urls

user = get_user_model().objects.create_user("ophelia-vandermeer", email="ophelia@example.org", password="x" * 16)
client = FormClient(raise_request_exception=False)
client.force_login(user)
client.cookies["platform_note"] = "SECRET-COOKIE-3"
with override_settings(ROOT_URLCONF="child_urls"):
    response = client.post(
        "/boom/?q=SECRET-QUERY-1",
        {"platform_reference": "SECRET-BODY-2"},
        headers={"X-Platform-Reference": "SECRET-HEADER-4"},
    )
import sentry_sdk
sentry_sdk.flush()
print(json.dumps({"status": response.status_code, "user_id": user.pk, "events": sent}))
"""


def test_an_error_reaches_sentry_without_case_data_or_names() -> None:
    # On SQLite in memory whatever the suite runs on: the child's test database must never be the
    # suite's own (setup_databases would replace it).
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    done = subprocess.run(
        [sys.executable, "-c", CHILD], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["status"] == 500
    (event,) = [e for e in result["events"] if e.get("exception")]
    assert event["exception"]["values"][-1]["type"] == "RuntimeError"
    assert event["exception"]["values"][-1]["value"] == "the view failed"
    # What is left of the request is at most its method and its URL without the query string.
    assert set(event.get("request", {})) <= {"method", "url"}
    assert event.get("request", {}).get("url", "/boom/").endswith("/boom/")
    assert event.get("user", {}) in ({}, {"id": str(result["user_id"])}, {"id": result["user_id"]})
    text = json.dumps(event)
    for secret in ("SECRET-QUERY-1", "SECRET-BODY-2", "SECRET-COOKIE-3", "SECRET-HEADER-4", "ophelia"):
        assert secret not in text, secret
    # No stack-frame variables (where `reference` above would have been).
    frames = [f for v in event["exception"]["values"] for f in (v.get("stacktrace") or {}).get("frames", [])]
    assert frames and not any("vars" in f for f in frames)


def test_scrub_keeps_the_path_and_ids_and_drops_everything_else() -> None:
    event: dict[str, Any] = {
        "request": {
            "url": "https://tracker.example/escalations/?q=ticket-1#x",
            "method": "GET",
            "query_string": "q=ticket-1",
            "data": {"platform_reference": "ticket-1"},
            "cookies": {"sessionid": "s"},
            "headers": {"Cookie": "sessionid=s"},
            "env": {"REMOTE_ADDR": "10.0.0.1"},
        },
        "user": {"id": 7, "username": "someone", "email": "someone@example.org", "ip_address": "10.0.0.1"},
        "breadcrumbs": {"values": [{"category": "query", "message": "SELECT 1", "data": {"params": ["ticket-1"]}}]},
        "exception": {"values": [{"stacktrace": {"frames": [{"function": "f", "vars": {"ref": "ticket-1"}}]}}]},
        "extra": {"ref": "ticket-1"},
    }
    scrubbed = scrub(event)
    assert scrubbed["request"] == {"url": "https://tracker.example/escalations/", "method": "GET"}
    assert scrubbed["user"] == {"id": 7}
    assert "data" not in scrubbed["breadcrumbs"]["values"][0]
    assert "vars" not in scrubbed["exception"]["values"][0]["stacktrace"]["frames"][0]
    assert "extra" not in scrubbed
    assert "ticket-1" not in json.dumps(scrubbed)
