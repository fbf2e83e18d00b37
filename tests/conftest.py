"""Shared fixtures. Services make every escalation in tests, as they do in the product, so a test never
builds a record the app itself could not have written."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import Client
from django.utils import timezone

from escalations.core import services
from escalations.models import AuditAction, AuditEvent, Escalation, IncidentType, Priority

# Names of services (postgres, redis, chromium) whose absence must fail the run instead of skipping
# it: .ci/run sets this so that CI never passes by skipping.
REQUIRED_SERVICES = {s.strip() for s in os.environ.get("REQUIRE_SERVICES", "").split(",") if s.strip()}


def skip_unless(available: bool, service: str, why: str) -> None:
    """Skip with a message on a laptop that lacks `service`; fail when REQUIRE_SERVICES names it."""
    if available:
        return
    if service in REQUIRED_SERVICES:
        pytest.fail(f"{service} is required (REQUIRE_SERVICES) but unavailable: {why}")
    pytest.skip(f"needs {service}: {why}")


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("postgres"):
        from django.db import connection

        skip_unless(
            connection.vendor == "postgresql",
            "postgres",
            "set DATABASE_URL=postgres://postgres@127.0.0.1:5432/escalations (.ci/run does)",
        )


class FormClient(Client):
    """Posts the way our pages' forms do (application/x-www-form-urlencoded). Django's test client
    posts multipart by default, which the no-uploads middleware rightly refuses."""

    def post(self, path: str, data: Any = None, content_type: str | None = None, **extra: Any) -> Any:  # type: ignore[override]
        if content_type is None:
            return super().post(
                path, urlencode(data or {}, doseq=True), content_type="application/x-www-form-urlencoded", **extra
            )
        return super().post(path, data, content_type=content_type, **extra)


def escalation_trail() -> Any:
    """The audit events of escalations and exports: the whole trail but the security events about
    accounts (sign-ins, group changes, tokens, ...; tests/accounts/test_security_events.py pins those), which
    signing in or making a user with a role now writes too."""
    from django.db.models import Q

    return AuditEvent.objects.filter(Q(escalation__isnull=False) | Q(action=AuditAction.EXPORTED))


@pytest.fixture
def clock(request: pytest.FixtureRequest) -> Iterator[time_machine.Traveller]:
    """The clock stands still at the test module's CLOCK_START (an aware datetime), or at the moment
    the test starts if the module names none, until the test moves it (clock.move_to, clock.shift)."""
    start = getattr(request.module, "CLOCK_START", None) or timezone.now()
    with time_machine.travel(start, tick=False) as traveller:
        yield traveller


@pytest.fixture
def make_user(db: Any) -> Any:
    def make(username: str, *roles: str) -> Any:
        user = get_user_model().objects.create_user(username=username, password="correct-horse-battery")
        for role in roles:
            # get_or_create: a transactional test elsewhere may have flushed the migration-made groups.
            user.groups.add(Group.objects.get_or_create(name=role)[0])
        return user

    return make


@pytest.fixture
def moderator(make_user: Any) -> Any:
    return make_user("mod", "moderator")


@pytest.fixture
def lead(make_user: Any) -> Any:
    return make_user("leader", "lead")


@pytest.fixture
def auditor(make_user: Any) -> Any:
    return make_user("aud", "auditor")


@pytest.fixture
def nobody(make_user: Any) -> Any:
    """Signed in, but in no group: sees nothing."""
    return make_user("nogroup")


@pytest.fixture
def client_for() -> Any:
    def make(user: Any | None) -> FormClient:
        client = FormClient()
        if user is not None:
            client.force_login(user)
        return client

    return make


def escalation_data(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "platform_reference": "ticket-1001",
        "incident_type": IncidentType.CHILD_PORNOGRAPHY,
        "priority": Priority.STANDARD,
        "urgent_reason": "",
        "knowledge_at": timezone.now() - timedelta(hours=1),
        "notes": "",
    }
    data.update(overrides)
    return data


@pytest.fixture
def make_escalation(moderator: Any) -> Any:
    """make_escalation(actor=None, reported_at=None, report_id=None, breach_reason=..., **fields) ->
    Escalation, made through the services."""
    counter = iter(range(1, 1_000_000))

    def make(
        actor: Any = None,
        reported_at: datetime | None = None,
        report_id: str | None = None,
        breach_reason: str = "needed_review",
        **fields: Any,
    ) -> Escalation:
        actor = actor or moderator
        fields.setdefault("platform_reference", f"ticket-{next(counter)}")
        esc = services.create_escalation(actor=actor, data=escalation_data(**fields))
        if reported_at is not None:
            esc = services.record_report(
                actor=actor,
                escalation_id=esc.pk,
                version=esc.version,
                reported_at=reported_at,
                cybertipline_report_id=report_id or str(9_000_000 + esc.pk),
                # Used only when the report is late (the services clear it otherwise).
                breach_reason=breach_reason,
            )
        return esc

    return make


@pytest.fixture
def seeded_rules(db: Any) -> None:
    """The rules migration 0030 seeds from DOMAIN.md, seeded again when a transactional test elsewhere
    has flushed them (as it flushes the migration-made groups)."""
    import importlib

    from django.apps import apps

    from escalations.models import Rule

    if not Rule.objects.exists():
        importlib.import_module("escalations.migrations.0030_seed_rules").seed(apps, None)


@pytest.fixture(autouse=True)
def _fresh_cache() -> Any:
    """Counters kept in the cache (API throttles, test-notification limits) start at zero in every
    test: a test must not inherit another's requests (user ids repeat across tests)."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()
