"""The audit trail and the access log are chained: whoever owns the tables and goes around the
triggers (edits a row, deletes one, truncates the table, inserts a forged or back-dated event) is
named by `manage.py verifyaudit`, and the sweep's daily check raises the leads' banner and fails
/healthz."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from io import StringIO
from typing import Any

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from escalations.core import append_only, services
from escalations.models import AccessLog, AuditEvent, AuditVerification, ChainHead, audit_digest
from escalations.reminders import sweep as reminders
from escalations.reminders import watchdog
from tests.conftest import FormClient

T0 = datetime(2031, 3, 4, 10, 0, tzinfo=UTC)


def verifyaudit(*args: str) -> tuple[bool, str]:
    """Run the command; (whole, what it printed)."""
    out = StringIO()
    try:
        call_command("verifyaudit", *args, stdout=out)
    except CommandError as exc:
        return False, out.getvalue() + str(exc)
    return True, out.getvalue()


@contextmanager
def as_owner_without_triggers(*tables: str) -> Iterator[Any]:
    """What the tables' owner can do at a SQL prompt: switch the append-only and chain triggers off.
    Inside the test's transaction, so it is undone with it; the triggers are back afterwards."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # The test's own writes leave deferred foreign-key checks, which ALTER TABLE refuses to
            # run over: check them now, as a commit would have.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        for table in tables:
            if connection.vendor == "postgresql":
                cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
            else:
                short = table.removeprefix("escalations_")
                cursor.execute(f"DROP TRIGGER IF EXISTS {short}_no_update")
                cursor.execute(f"DROP TRIGGER IF EXISTS {short}_no_delete")
                cursor.execute(f"DROP TRIGGER IF EXISTS {short}_chain")
        yield cursor
        for table in tables:
            if connection.vendor == "postgresql":
                cursor.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")
    if connection.vendor == "sqlite":
        append_only.ensure_triggers()


@pytest.fixture
def trail(make_escalation: Any, moderator: Any, lead: Any, client_for: Any) -> Any:
    """One escalation with three audit events (logged, edited, assigned) and two page views, an
    export of the list and a two-factor event: every kind of chain."""
    esc = make_escalation(actor=moderator)
    esc = services.edit_escalation(actor=moderator, escalation_id=esc.pk, version=esc.version, data={"notes": "seen"})
    services.assign_escalation(actor=lead, escalation_id=esc.pk, version=esc.version, assignee=lead)
    client = client_for(lead)
    assert client.get(f"/escalations/{esc.pk}/").status_code == 200
    assert client.get(f"/escalations/{esc.pk}/").status_code == 200
    assert client.get("/escalations/?_export=csv").status_code == 200
    services.record_account_event(actor=lead, action="two_factor_enabled")
    return esc


def events(esc: Any) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(escalation=esc).order_by("seq"))


# --- a whole trail -----------------------------------------------------------------------------------


def test_a_whole_trail_verifies_and_says_so(trail: Any) -> None:
    whole, out = verifyaudit()
    total, rows = AuditEvent.objects.count(), AccessLog.objects.count()
    assert whole, out
    assert f"audit chain: events={total} verified={total} broken=0" in out
    assert f"access log chain: rows={rows} verified={rows} broken=0" in out
    # Three events on the escalation; about no escalation, the lead's sign-in, export and two-factor
    # event, and the two people's group memberships (made with their roles); two views and the export.
    assert AuditEvent.objects.filter(escalation=trail).count() == 3 and rows == 3
    assert sorted(AuditEvent.objects.filter(escalation=None).values_list("action", flat=True)) == sorted(
        ["signed_in", "exported", "two_factor_enabled", "groups_changed", "groups_changed"]
    )
    assert total == 8


def test_each_row_is_numbered_and_linked_in_its_own_chain(trail: Any, lead: Any) -> None:
    mine = events(trail)
    assert [(e.chain, e.seq) for e in mine] == [(trail.pk, 1), (trail.pk, 2), (trail.pk, 3)]
    previous = audit_digest.GENESIS
    for event in mine:
        assert event.chain_digest == audit_digest.link(previous, event.seq, event.payload_digest)
        previous = event.chain_digest
    head = ChainHead.objects.get(log="audit", chain=trail.pk)
    assert (head.seq, head.digest) == (3, previous)
    # Rows about no escalation are chained per person: the lead's sign-in, export and two-factor event;
    # those of no one (memberships given outside a request) have a chain of their own.
    assert list(AuditEvent.objects.filter(escalation=None, actor=lead).values_list("chain", "seq")) == [
        (-lead.pk, 1),
        (-lead.pk, 2),
        (-lead.pk, 3),
    ]
    assert list(AuditEvent.objects.filter(escalation=None, actor=None).values_list("chain", "seq")) == [(0, 1), (0, 2)]
    views = AccessLog.objects.filter(escalation=trail).order_by("seq")
    assert list(views.values_list("chain", "seq")) == [(trail.pk, 1), (trail.pk, 2)]


def test_the_insert_trigger_chains_whatever_the_insert_says(trail: Any) -> None:
    """A writer cannot choose its place in the chain: the trigger numbers and links every row."""
    forged = AuditEvent(
        escalation=trail, actor=None, at=timezone.now(), action="edited", changes={}, reason="", version=9
    )
    forged.chain, forged.seq, forged.chain_digest = 777, 1, "f" * 64
    forged.save()
    stored = AuditEvent.objects.get(pk=forged.pk)
    assert (stored.chain, stored.seq) == (trail.pk, 4)
    assert stored.chain_digest == audit_digest.link(events(trail)[2].chain_digest, 4, stored.payload_digest)
    assert verifyaudit()[0]


def test_rows_written_in_bulk_are_digested_and_chained_too(trail: Any, lead: Any, make_escalation: Any) -> None:
    """Pages that list escalations log one row each with a single bulk INSERT (save() never runs)."""
    others = [make_escalation() for _ in range(3)]
    AccessLog.objects.bulk_create(
        AccessLog(user=lead, at=timezone.now(), kind="viewed", escalation=esc, what="dashboard") for esc in others
    )
    AuditEvent.objects.bulk_create(
        [AuditEvent(escalation=trail, actor=lead, at=timezone.now(), action="edited", changes={}, version=4)]
    )
    assert client_get_ok(lead, "/dashboard/")
    whole, out = verifyaudit()
    assert whole, out
    assert AccessLog.objects.filter(what="dashboard", seq=1).count() >= 3


def client_get_ok(user: Any, path: str) -> bool:
    client = FormClient()
    client.force_login(user)
    return client.get(path).status_code == 200


# --- attacks by the tables' owner ---------------------------------------------------------------------


def test_an_edited_event_is_named(trail: Any) -> None:
    second = events(trail)[1]
    total = AuditEvent.objects.count()
    with as_owner_without_triggers("escalations_auditevent") as cursor:
        cursor.execute("UPDATE escalations_auditevent SET reason = 'nothing to see' WHERE id = %s", [second.pk])
    whole, out = verifyaudit()
    assert not whole
    assert (
        f"first broken link: {trail.key} event #2 (id {second.pk}): payload digest mismatch (the row was edited)" in out
    )
    assert f"audit chain: events={total} verified={total - 1} broken=1" in out


def test_an_edited_event_whose_digest_was_recomputed_breaks_the_chain(trail: Any) -> None:
    """Rewriting the payload digest too (it is public) breaks the link to the next row instead."""
    second = events(trail)[1]
    changes = {"notes": ["", "nothing"]}
    forged = audit_digest.audit_payload_digest(
        escalation_id=trail.pk,
        actor_id=second.actor_id,
        at=second.at,
        action=second.action,
        changes=changes,
        reason="",
        version=second.version,
        via="",
    )
    with as_owner_without_triggers("escalations_auditevent") as cursor:
        cursor.execute(
            "UPDATE escalations_auditevent SET changes = %s, payload_digest = %s WHERE id = %s",
            ['{"notes": ["", "nothing"]}', forged, second.pk],
        )
    whole, out = verifyaudit()
    assert not whole
    assert f"{trail.key} event #2 (id {second.pk}): chain digest does not follow from event #1" in out


def test_a_deleted_event_is_named(trail: Any) -> None:
    _, second, third = events(trail)
    with as_owner_without_triggers("escalations_auditevent") as cursor:
        cursor.execute("DELETE FROM escalations_auditevent WHERE id = %s", [second.pk])
    whole, out = verifyaudit()
    assert not whole
    assert f"{trail.key} event #3 (id {third.pk}): event #2 is missing before it (deleted)" in out


def test_the_last_events_deleted_are_named_by_the_chain_head(trail: Any) -> None:
    _, second, third = events(trail)
    with as_owner_without_triggers("escalations_auditevent") as cursor:
        cursor.execute("DELETE FROM escalations_auditevent WHERE id IN (%s, %s)", [second.pk, third.pk])
    whole, out = verifyaudit()
    assert not whole
    assert f"{trail.key}: the chain head says #3: event #2 to #3 (2 events) are gone (deleted or truncated)" in out


def test_a_truncated_trail_is_noticed(trail: Any) -> None:
    with as_owner_without_triggers("escalations_auditevent") as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("TRUNCATE escalations_auditevent")
        else:
            cursor.execute("DELETE FROM escalations_auditevent")  # SQLite's TRUNCATE
    whole, out = verifyaudit()
    assert not whole
    # Three chains emptied: the escalation's, the lead's (sign-in, export, two-factor event) and no one's
    # (the memberships).
    assert "audit chain: events=0 verified=0 broken=3" in out
    assert f"{trail.key}: the chain head says 3 events; none is left (deleted or truncated)" in out
    assert "leader's rows about no escalation: the chain head says 3 events; none is left" in out


@pytest.mark.postgres
def test_truncate_as_the_owner_on_postgresql_is_noticed(trail: Any) -> None:
    """TRUNCATE fires no row trigger: the owner needs no trick to run it. The heads remember."""
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # as a commit would have (see above)
        cursor.execute("TRUNCATE escalations_auditevent, escalations_accesslog")
    whole, out = verifyaudit()
    assert not whole
    assert "audit chain: events=0 verified=0 broken=3" in out
    assert "access log chain: rows=0 verified=0 broken=2" in out


def test_rows_removed_with_their_heads_are_noticed_by_the_last_check(trail: Any) -> None:
    assert verifyaudit()[0]  # recorded: every event and the 3 access-log rows
    total = AuditEvent.objects.count()
    with as_owner_without_triggers("escalations_auditevent") as cursor:
        cursor.execute("DELETE FROM escalations_auditevent WHERE escalation_id = %s", [trail.pk])
        cursor.execute("DELETE FROM escalations_chainhead WHERE log = 'audit' AND chain = %s", [trail.pk])
    whole, out = verifyaudit()
    assert not whole
    assert re.search(rf"Audit events: 3 fewer than the check of \S+ \S+ counted \({total}, now {total - 3}\)", out), out


def test_a_back_dated_event_is_named(trail: Any) -> None:
    """A forger who computes a correct payload digest still cannot put an event in the past: the
    trigger appends it, and it is dated before the event before it."""
    back = timezone.now() - timedelta(days=3)
    forged = AuditEvent.objects.create(
        escalation=trail,
        actor=None,
        at=back,
        action="report_recorded",
        changes={"cybertipline_report_id": [None, "4564654"]},
        version=2,
    )
    whole, out = verifyaudit()
    assert not whole
    assert f"{trail.key} event #4 (id {forged.pk}): dated {back:%Y-%m-%d %H:%M:%S}Z, before the event before it" in out


def test_a_forged_event_inserted_with_the_triggers_off_is_named(trail: Any) -> None:
    at = events(trail)[2].at + timedelta(seconds=1)
    with as_owner_without_triggers("escalations_auditevent") as cursor:
        cursor.execute(
            "INSERT INTO escalations_auditevent (escalation_id, actor_id, at, action, changes, reason, version,"
            " via, chain, seq, payload_digest, chain_digest)"
            " VALUES (%s, NULL, %s, 'closed', '{}', '', 4, '', %s, 4, %s, %s)",
            [trail.pk, at, trail.pk, "a" * 64, "b" * 64],
        )
    whole, out = verifyaudit()
    assert not whole
    assert f"{trail.key} event #4 (id " in out
    assert "chain digest does not follow from event #3" in out
    assert f"{trail.key}: event #4 is beyond the chain head #3 (written outside the chain)" in out


def test_an_event_moved_to_another_escalation_is_named(trail: Any, make_escalation: Any) -> None:
    other = make_escalation()
    third = events(trail)[2]
    with as_owner_without_triggers("escalations_auditevent") as cursor:
        cursor.execute("UPDATE escalations_auditevent SET escalation_id = %s WHERE id = %s", [other.pk, third.pk])
    whole, out = verifyaudit()
    assert not whole
    assert f"{trail.key} event #3 (id {third.pk}): filed in this chain but belongs to {other.key}'s" in out


def test_an_edited_access_log_row_is_named(trail: Any) -> None:
    view = AccessLog.objects.filter(escalation=trail).order_by("seq").first()
    assert view is not None
    with as_owner_without_triggers("escalations_accesslog") as cursor:
        cursor.execute("UPDATE escalations_accesslog SET user_id = user_id WHERE id = %s", [view.pk])  # no change
        cursor.execute("UPDATE escalations_accesslog SET what = 'nothing' WHERE id = %s", [view.pk])
    whole, out = verifyaudit()
    assert not whole
    assert f"{trail.key} access-log row #1 (id {view.pk}): payload digest mismatch (the row was edited)" in out
    assert "access log chain: rows=3 verified=2 broken=1" in out


def test_a_deleted_access_log_row_is_named(trail: Any) -> None:
    view = AccessLog.objects.filter(escalation=trail).order_by("seq").first()
    assert view is not None
    with as_owner_without_triggers("escalations_accesslog") as cursor:
        cursor.execute("DELETE FROM escalations_accesslog WHERE id = %s", [view.pk])
    whole, out = verifyaudit()
    assert not whole
    assert "access-log row #1 is missing before it (deleted)" in out


def test_the_app_still_cannot_update_or_delete(trail: Any) -> None:
    """The triggers refuse a plain UPDATE or DELETE as before: the chain is on top, not instead."""
    from tests.core.test_audit_trail import refused

    first = events(trail)[0]

    def update() -> None:
        with connection.cursor() as cursor:
            cursor.execute("UPDATE escalations_auditevent SET reason = 'x' WHERE id = %s", [first.pk])

    def delete() -> None:
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM escalations_accesslog")

    assert "append-only" in str(refused(update))
    assert "append-only" in str(refused(delete))
    assert verifyaudit()[0]


def test_checks_are_append_only_too(trail: Any) -> None:
    from tests.core.test_audit_trail import refused

    verifyaudit()

    def forget() -> None:
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM escalations_auditverification")

    assert "append-only" in str(refused(forget))
    assert AuditVerification.objects.count() == 1


# --- the daily check ------------------------------------------------------------------------------------


def health() -> tuple[int, dict[str, Any]]:
    response = FormClient().get("/healthz")
    return response.status_code, response.json()


def audit_banner(client: Any) -> str | None:
    html = client.get("/escalations/").content.decode()
    match = re.search(r'<div class="banner-stale banner-audit" role="alert">(.*?)</div>', html, re.S)
    return re.sub(r"\s+", " ", match.group(1)) if match else None


def test_the_sweep_checks_once_a_day_and_a_break_raises_the_banner_and_healthz(
    trail: Any, lead: Any, moderator: Any, client_for: Any
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    with time_machine.travel(now, tick=False):
        reminders.sweep()
        assert health() == (200, health()[1]) and health()[1]["audit"] == "ok"
    assert AuditVerification.objects.get().source == "sweep"
    lead_client, moderator_client = client_for(lead), client_for(moderator)
    assert audit_banner(lead_client) is None

    second = events(trail)[1]
    with as_owner_without_triggers("escalations_auditevent") as cursor:
        cursor.execute("UPDATE escalations_auditevent SET reason = 'rewritten' WHERE id = %s", [second.pk])

    # Later the same day: no new check, so nothing shows yet.
    with time_machine.travel(now + timedelta(hours=23, minutes=59), tick=False):
        reminders.sweep()
        assert health()[0] == 200
    assert AuditVerification.objects.count() == 1

    # A day after the last check: the sweep checks again and finds the edit.
    with time_machine.travel(now + timedelta(hours=24), tick=False):
        reminders.sweep()
        status, body = health()
    assert AuditVerification.objects.count() == 2
    assert status == 503
    assert body["audit"] == "broken"
    assert body["status"] == "broken"
    assert "payload" not in str(body), "an unauthenticated probe learns that, not where"
    shown = audit_banner(lead_client)
    assert shown is not None
    assert "The audit trail failed its integrity check" in shown
    assert f"{trail.key} event #2 (id {second.pk}): payload digest mismatch" in shown
    assert audit_banner(moderator_client) is None, "the banner is for leads"


def test_two_sweeps_at_once_check_once(trail: Any) -> None:
    with time_machine.travel(T0, tick=False):
        assert reminders.sweep() is not None
        reminders.sweep()
    assert AuditVerification.objects.count() == 1


def test_a_check_that_cannot_run_never_stops_the_reminders(trail: Any, monkeypatch: Any) -> None:
    from escalations.core import audit_verify

    def crash() -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(audit_verify, "verify", crash)
    with time_machine.travel(T0, tick=False):
        reminders.sweep()
        assert watchdog.last_sweep() == T0
    assert not AuditVerification.objects.exists()


# --- after an incident -----------------------------------------------------------------------------------


def test_an_admin_acknowledges_what_was_looked_into_and_only_new_breaks_count(trail: Any, make_user: Any) -> None:
    from django.contrib.auth import get_user_model

    get_user_model().objects.create_user("admin", password="correct-horse-battery", is_staff=True)
    _, second, third = events(trail)
    total = AuditEvent.objects.count()
    with as_owner_without_triggers("escalations_auditevent") as cursor:
        cursor.execute("UPDATE escalations_auditevent SET reason = 'rewritten' WHERE id = %s", [second.pk])
    assert not verifyaudit()[0]

    whole, out = verifyaudit("--acknowledge", "--by", "leader", "--reason", "Looked into it.")
    assert not whole and "Only an admin" in out
    whole, out = verifyaudit("--acknowledge", "--by", "admin", "--reason", "")
    assert not whole and "--reason" in out

    whole, out = verifyaudit("--acknowledge", "--by", "admin", "--reason", "Restored from backup; see INC-42.")
    assert whole, out
    assert "acknowledged 1 break(s) by admin" in out
    # The acknowledgement is an event of its own; the edited one is acknowledged, not verified.
    assert f"audit chain: events={total + 1} verified={total} broken=0 acknowledged=1" in out
    assert f"acknowledged: {trail.key} event #2 (id {second.pk}): payload digest mismatch" in out
    assert AuditEvent.objects.filter(action="audit_break_acknowledged", actor__username="admin").exists()
    assert health()[1]["audit"] == "ok"

    # A new break still counts.
    with as_owner_without_triggers("escalations_auditevent") as cursor:
        cursor.execute("UPDATE escalations_auditevent SET reason = 'again' WHERE id = %s", [third.pk])
    whole, out = verifyaudit()
    assert not whole
    assert f"audit chain: events={total + 1} verified={total - 1} broken=1 acknowledged=1" in out
    assert f"first broken link: {trail.key} event #3 (id {third.pk})" in out
    assert health()[1]["audit"] == "broken"


def test_the_demo_data_verifies_whole(db: Any) -> None:
    """seeddemo writes a year of history through the services with the clock set back: each
    escalation's steps must be dated in the order they happen, or the daily check would raise the
    leads' banner on a fresh `make run`."""
    call_command("seeddemo", stdout=StringIO())
    whole, out = verifyaudit()
    assert whole, out


# --- many writers at once ---------------------------------------------------------------------------------


@pytest.mark.postgres
# serialized_rollback, as the suite's other transactional tests: the flush afterwards then leaves the
# tables empty for the next one to load its data into.
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_writers_at_once_on_one_chain_never_share_a_number(make_escalation: Any, lead: Any) -> None:
    """Web and worker processes append to the same escalation's chains at the same moment: the head
    row's lock makes them take turns, so numbers are never shared or skipped and the chain verifies."""
    import threading

    from django.db import connections

    esc = make_escalation()
    start = threading.Barrier(4)
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            start.wait()
            for _ in range(10):
                AccessLog.objects.create(user=lead, at=timezone.now(), kind="viewed", escalation=esc, what="detail")
                services.record_export(actor=lead, export="audit.csv", query="", rows=1, escalation=esc)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=writer) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert list(AccessLog.objects.filter(escalation=esc).order_by("seq").values_list("seq", flat=True)) == list(
        range(1, 41)
    )
    assert list(AuditEvent.objects.filter(escalation=esc).order_by("seq").values_list("seq", flat=True)) == list(
        range(1, 42)
    )
    whole, out = verifyaudit()
    assert whole, out
