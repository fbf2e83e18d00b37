"""The OpenAPI schema at /api/schema/, and schemathesis against it, in-process: every operation
fuzzed with a lead's write token; no answer may be a server error or differ from the schema."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import schemathesis
import yaml
from django.core import signals
from django.core.cache import cache
from django.core.handlers.wsgi import WSGIHandler
from django.db import close_old_connections
from django.test import Client
from django.utils import timezone
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import response_schema_conformance

from escalations.accounts import tokens
from escalations.api.auth import ServiceTokenThrottle
from escalations.core import services

ESCALATION_PATHS = {
    "/api/v1/escalations/": {"get", "post"},
    "/api/v1/escalations/{id}/": {"get", "patch"},
    "/api/v1/escalations/{id}/report/": {"post"},
    "/api/v1/escalations/{id}/correct-report/": {"post"},
    "/api/v1/escalations/{id}/preservation/": {"post"},
    "/api/v1/escalations/{id}/assign/": {"post"},
    "/api/v1/escalations/{id}/dismiss/": {"post"},
    "/api/v1/escalations/{id}/close/": {"post"},
    "/api/v1/escalations/{id}/audit-events/": {"get"},
    "/api/v1/escalations/{id}/reminders/": {"get"},
    "/api/v1/escalations/bulk/": {"post"},
}
MAX_EXAMPLES = {GenerationMode.POSITIVE: 25, GenerationMode.NEGATIVE: 10}


@pytest.fixture(autouse=True)
def _fresh_throttle_counters() -> Any:
    cache.clear()
    yield
    cache.clear()


def write_token(lead: Any) -> str:
    _, raw = tokens.create_token(
        actor=lead, name="schemathesis", scope="write", expires_at=timezone.now() + timedelta(days=1)
    )
    return raw


# --- the schema document -----------------------------------------------------------------------


def _check_document(document: dict[str, Any]) -> None:
    assert document["openapi"].startswith("3.")
    assert document["info"]["title"]
    for path, methods in ESCALATION_PATHS.items():
        assert path in document["paths"], path
        assert methods <= set(document["paths"][path]), path
    schemes = document["components"]["securitySchemes"]
    assert schemes["serviceToken"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "A service token created by a lead.",
    }
    escalation = document["components"]["schemas"]["Escalation"]["properties"]
    assert {"id", "key", "version", "knowledge_at", "cybertipline_report_id", "is_test"} <= set(escalation)
    assert escalation["knowledge_at"]["format"] == "date-time"


def test_schema_is_openapi_3_for_a_signed_in_person(moderator: Any) -> None:
    browser = Client()
    browser.force_login(moderator)
    response = browser.get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.oai.openapi+json")
    _check_document(json.loads(response.content))

    as_yaml = browser.get("/api/schema/")
    assert as_yaml.status_code == 200
    assert as_yaml["Content-Type"].startswith("application/vnd.oai.openapi;")  # drf-spectacular's YAML type
    assert as_yaml.content.startswith(b"openapi: 3.")
    _check_document(yaml.safe_load(as_yaml.content))


def test_schema_for_a_token_and_not_for_strangers(lead: Any) -> None:
    client = Client(headers={"Authorization": f"Bearer {write_token(lead)}"})
    response = client.get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    _check_document(json.loads(response.content))

    stranger = Client().get("/api/schema/", {"format": "json"})
    assert stranger.status_code == 401
    assert stranger["WWW-Authenticate"] == "Bearer"


def test_docs_page_is_served_without_a_cdn(moderator: Any) -> None:
    browser = Client()
    browser.force_login(moderator)
    response = browser.get("/api/docs/")
    assert response.status_code == 200
    page = response.content.decode()
    # The page's own script comes from a URL (no inline script under the CSP) and loads our schema.
    assert 'src="/api/docs/?script=' in page
    assert "/api/schema/" in browser.get("/api/docs/", {"script": ""}).content.decode()
    assert "swagger-ui" in page.lower()
    for cdn in ("cdn.jsdelivr.net", "unpkg.com", "cdnjs"):
        assert cdn not in page
    # Swagger UI's assets come from our own static files.
    assets = set(re.findall(r'(?:src|href)="(/static/drf_spectacular_sidecar/[^"]+)"', page))
    assert any(asset.endswith(".js") for asset in assets), assets
    for asset in assets:
        assert browser.get(asset).status_code == 200, asset
    # A stranger is sent to sign in, like on every other page.
    stranger = Client().get("/api/docs/")
    assert stranger.status_code == 302
    assert stranger["Location"].startswith("/accounts/login/")


# --- schemathesis ---------------------------------------------------------------------------------


@pytest.fixture
def in_process_wsgi() -> Iterator[WSGIHandler]:
    """Django's WSGI application, called in this thread inside the test's transaction. As Django's
    own test client does, keep the request signals from closing the connection mid-test."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield WSGIHandler()
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


@pytest.fixture
def seeded(lead: Any, moderator: Any, make_escalation: Any) -> list[int]:
    """Escalations in several states, so generated cases reach real records, not only 404s."""
    now = timezone.now()
    made = [
        make_escalation(knowledge_at=now - timedelta(hours=2)),
        make_escalation(knowledge_at=now - timedelta(hours=1), priority="urgent", urgent_reason="Threat."),
        make_escalation(knowledge_at=now - timedelta(days=3), reported_at=now - timedelta(days=1)),
        make_escalation(knowledge_at=now - timedelta(days=400), reported_at=now - timedelta(days=390)),
        make_escalation(knowledge_at=now - timedelta(hours=5), is_test=True),
    ]
    services.confirm_preservation(
        actor=lead, escalation_id=made[3].pk, version=made[3].version, preservation_location="vault/1"
    )
    services.assign_escalation(actor=lead, escalation_id=made[4].pk, version=made[4].version, assignee=None)
    return [esc.pk for esc in made]


def fuzz(
    operation: Any,
    cases: st.SearchStrategy[Any],
    label: str,
    max_examples: int,
    ids: list[str],
    auth: dict[str, str],
    counts: Counter[str],
    statuses: Counter[int],
    failures: list[str],
) -> None:
    """Run one operation's generated cases; count them and every failed check."""
    has_id = any(parameter.name == "id" for parameter in operation.path_parameters)

    @given(case=cases, pk=st.sampled_from(ids))
    @settings(
        max_examples=max_examples,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any, pk: str) -> None:
        if has_id:
            # Mostly real records (and one unknown id), so cases reach the services, not only 404s.
            case.path_parameters = {**(case.path_parameters or {}), "id": pk}
        response = case.call(headers=auth)
        counts["cases"] += 1
        statuses[response.status_code] += 1
        for name, check in (("server_errors", not_a_server_error), ("schema_violations", response_schema_conformance)):
            try:
                case.validate_response(response, checks=[check], headers=auth)
            except FailureGroup as group:
                counts[name] += 1
                failures.append(f"{name} ({label}) {operation.label}: {group}"[:3000])

    run()


def test_schemathesis_finds_no_server_errors_and_no_schema_violations(
    lead: Any,
    seeded: list[int],
    in_process_wsgi: WSGIHandler,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Hundreds of requests from one token: lift the throttle for this test only.
    monkeypatch.setattr(ServiceTokenThrottle, "THROTTLE_RATES", {"service_token": "1000000/min"})
    auth = {"Authorization": f"Bearer {write_token(lead)}"}
    schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", in_process_wsgi, headers=auth)

    counts: Counter[str] = Counter()
    statuses: Counter[int] = Counter()
    failures: list[str] = []
    results = list(schema.get_all_operations())
    # Every operation of our schema must load; a broken one would otherwise go untested.
    assert all(isinstance(result, Ok) for result in results), [r for r in results if not isinstance(r, Ok)]
    operations = [result.ok() for result in results if isinstance(result, Ok)]
    tested = {(op.path, op.method.lower()) for op in operations}
    assert {(path, method) for path, methods in ESCALATION_PATHS.items() for method in methods} <= tested
    ids = [str(pk) for pk in seeded] + ["999999"]
    for operation in operations:
        # The schema's own request examples first (they document real, valid requests), then
        # generated valid and invalid data.
        for example in operation.get_strategies_from_examples():
            fuzz(operation, example, "example", 2, ids, auth, counts, statuses, failures)
        for mode, max_examples in MAX_EXAMPLES.items():
            strategy = operation.as_strategy(generation_mode=mode)
            fuzz(operation, strategy, mode.value, max_examples, ids, auth, counts, statuses, failures)

    with capsys.disabled():
        print(
            f"\nschemathesis: operations={len(operations)} cases={counts['cases']} "
            f"server_errors={counts['server_errors']} schema_violations={counts['schema_violations']}"
        )
    assert not failures, "\n\n".join(failures[:10])
    assert counts["cases"] >= len(operations) * 10
    # The cases reached real work, not only refusals.
    assert statuses[200] > 0 and statuses[201] > 0 and statuses[400] > 0
