"""Every text field a person can write refuses file content hidden in text, through the path a person
writes it by (a page, the API, the admin), with a message that names the field and says why, and
nothing is written: no row, no change, no audit event. A new CharField or TextField fails
test_every_text_field_is_covered until it is given a write path here or an exemption with its reason.
Notes, the field the attack report used most, is tried on every path: page, API, bulk, import."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import timedelta
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import models
from django.test import Client, RequestFactory
from django.utils import timezone

from escalations.accounts.tokens import create_token
from escalations.core import redaction, services
from escalations.legal import services as legal_services
from escalations.models import (
    AccessKind,
    AccessLog,
    AuditAction,
    AuditEvent,
    BreachReason,
    Destination,
    Escalation,
    SavedView,
    ServiceToken,
    Team,
    UserProfile,
)
from tests.conftest import FormClient, escalation_data
from tests.encoded_media import ENCODINGS, GIF, TINY_PNG, TINY_PNG_BASE64

# The PNG as a person would paste it: one line where a field is one line, wrapped where it is text.
PNG_LINE = TINY_PNG_BASE64
# Fields shorter than the PNG's 92 characters (names of 64 and 80) hold a 1x1 GIF: 60 characters.
GIF_LINE = ENCODINGS["base64"][1](GIF)
WHY_GIF = "looks like encoded file content (a GIF image in base64)"
PNG_WRAPPED = "The offender sent:\n" + ENCODINGS["base64 split by spaces every 4"][1](TINY_PNG) + "\nend"
WHY = "looks like encoded file content (a PNG image in base64)"

# Text fields no person writes, or whose rules already admit nothing but a few characters: why each
# is exempt from the check.
CHOICE = "a choice: any other value is refused"
MACHINE = "written by the app from values that were checked when typed"
RULE_TEXT = "typed by an admin (a new rule version), checked by rule_services._validate with clean_text; admins only"
EXEMPT: dict[str, str] = {
    "escalations.EscalationRule.deadline": "derived by the policy (policy/rules.py judged_by), never typed",
    "escalations.Rule.code": "a rule's identity: seeded by migration 0023, never typed",
    "escalations.Rule.regime": "a rule's identity: seeded by migration 0023, never typed",
    "escalations.Rule.authority": "a rule's identity: seeded by migration 0023, never typed",
    "escalations.Rule.obligation": "a rule's identity: seeded by migration 0023, never typed",
    "escalations.Rule.clock_start": "a rule's identity: seeded by migration 0023, never typed",
    "escalations.Rule.limit": CHOICE,
    "escalations.Rule.unit": CHOICE,
    "escalations.Rule.status": CHOICE,
    "escalations.Rule.certainty": CHOICE,
    "escalations.Rule.title": RULE_TEXT,
    "escalations.Rule.citation": RULE_TEXT,
    "escalations.Rule.link_text": RULE_TEXT,
    "escalations.Rule.source": RULE_TEXT,
    "escalations.Rule.notes": RULE_TEXT,
    "escalations.Rule.reason": RULE_TEXT,
    "escalations.Rule.time_zone": RULE_TEXT,
    "escalations.Rule.applies_to": RULE_TEXT,
    "escalations.Escalation.incident_type": CHOICE,
    "escalations.Escalation.priority": CHOICE,
    "escalations.Escalation.status": CHOICE,
    "escalations.Escalation.breach_reason": CHOICE,
    "escalations.Escalation.next_action": "derived by the policy (policy/actions.py), never typed",
    "escalations.Escalation.cybertipline_report_id": "digits only, at most 19 (validation.clean_report_id)",
    "escalations.Escalation.prior_report_id": "digits only, at most 19 (validation.clean_report_id)",
    "escalations.Escalation.ncmec_annotations": "NCMEC's annotation codes only (ncmec_report.clean_annotations)",
    "escalations.Escalation.ncmec_submission_state": CHOICE,
    "escalations.EscalationAnnotation.annotation": MACHINE,
    "escalations.AuditEvent.action": CHOICE,
    "escalations.AuditEvent.reason": MACHINE + " (the reasons and references of the change)",
    "escalations.AuditEvent.via": MACHINE + " (a service token's name)",
    "escalations.UserProfile.time_zone": CHOICE,
    "escalations.ProviderIdentity.issuer": "OIDC_ISSUER, an admin's setting; not in the admin",
    "escalations.ProviderIdentity.subject": "the provider's `sub` from a signed ID token (at most 255 characters, "
    "OpenID Connect Core); nobody types it, and it is not in the admin",
    "escalations.AuditEvent.payload_digest": "a SHA-256 the app computes",
    "escalations.AuditEvent.chain_digest": "a SHA-256 the database's chain trigger computes",
    "escalations.AccessLog.payload_digest": "a SHA-256 the app computes",
    "escalations.AccessLog.chain_digest": "a SHA-256 the database's chain trigger computes",
    "escalations.ChainHead.log": CHOICE,
    "escalations.ChainHead.digest": "a SHA-256 the database's chain trigger computes",
    "escalations.AuditVerification.source": "the sweep or the command names itself",
    "escalations.AuditVerification.first_break": "written by the check from what it found",
    "escalations.AuditVerification.heads_digest": "a SHA-256 the check computes",
    "escalations.RedactionRequest.marker": "the marker the app makes on approval",
    "escalations.UserProfile.webhook_secret": "generated by the app when the URL changes or on request; neither the "
    "profile nor the admin lets anyone type it (tests/reminders/test_webhook_profile.py)",
    "escalations.EventEndpoint.secret": "generated by the app when the endpoint is made, its URL changes or on "
    "request; the admin's form leaves it out (tests/integrations/test_events.py)",
    "escalations.Event.type": CHOICE,
    "escalations.Event.dedup_key": "made by the app from ids and times",
    "escalations.EventDelivery.claim_token": "generated by the sweep",
    "escalations.EventDelivery.last_error": "written by the sweep from an endpoint's failure",
    "escalations.EventDeliveryAttempt.error": "written by the sweep from an endpoint's failure",
    "escalations.Reminder.kind": CHOICE,
    "escalations.Acknowledgement.via": "the channel the link came through, checked against a list",
    "escalations.ChannelEndpoint.kind": CHOICE,
    "escalations.Delivery.action": CHOICE,
    "escalations.PagerDutyIncident.dedup_key": MACHINE + " (the escalation's key, deadline and time)",
    "escalations.PagerDutyIncident.deadline": "a deadline's name, from the policy",
    "escalations.PagerDutyIncident.resolve_reason": MACHINE,
    "escalations.Reminder.cancel_reason": MACHINE,
    "escalations.Delivery.channel": CHOICE,
    "escalations.Delivery.claim_token": "generated by the sweep",
    "escalations.Delivery.last_error": "written by the sweep from a channel's failure",
    "escalations.Delivery.batch_ref": "generated by the sweep",
    "escalations.DeliveryAttempt.error": "written by the sweep from a channel's failure",
    "escalations.Notification.title": MACHINE,
    "escalations.CoopPublicKey.key_text": "must read as an RSA public key, PEM or JWK (load_public_key); "
    "nothing else is saved (tests/integrations/coop/test_coop_keys.py)",
    "escalations.CoopPublicKey.fingerprint": "a SHA-256 the app computes from the key",
    "escalations.CoopReceipt.report_id": "digits only, at most 19 (validation.clean_report_id), from Coop",
    "escalations.CoopReceipt.user_id": "from Coop's signed call, checked by validation.clean_reference "
    "(tests/integrations/coop/: a data: URI is refused)",
    "escalations.CoopReceipt.user_type_id": "from Coop's signed call, checked by validation.clean_text",
    "escalations.CoopReceipt.key_fingerprint": "a SHA-256 the app computes from the key that verified the call",
    "escalations.EvidenceItem.item_type": "from Coop's signed call only, checked by validation.clean_text",
    "escalations.Notification.body": MACHINE,
    "escalations.SweepHeartbeat.name": "a constant of the sweep",
    "escalations.ServiceToken.scope": CHOICE,
    "escalations.ServiceToken.prefix": "generated with the token",
    "escalations.ServiceToken.key_hash": "generated with the token",
    "escalations.ScimToken.prefix": "generated with the token",
    "escalations.ScimToken.key_hash": "generated with the token",
    # Typed by an admin (the admin's form, createscimtoken) or sent by the identity provider over SCIM:
    # each goes through validation.clean_text (escalations/accounts/scim_tokens.py, scim_provisioning.py).
    "escalations.ScimToken.name": "an admin's name for a provider's token, checked by clean_text",
    "escalations.ScimIdentity.external_id": "the identity provider's id for a person, checked by clean_text",
    "escalations.ScimGroupIdentity.external_id": "the identity provider's id for a group, checked by clean_text",
    "escalations.ScimGroupIdentity.resource_id": "role-<name> or team-<n>, made by the app",
    "escalations.IdempotencyRecord.owner": MACHINE,
    "escalations.IdempotencyRecord.request_hash": "a SHA-256 the app computes",
    "escalations.AccessLog.kind": CHOICE,
    "escalations.AccessLog.what": "the page or export's own name",
    "escalations.AccessLog.via": MACHINE + " (a service token's name)",
    "escalations.LegalRequest.kind": CHOICE,
    "escalations.LegalRequest.status": CHOICE,
    "escalations.EvidenceItem.hash_algorithm": CHOICE,
    "escalations.EvidenceItem.digest": "exactly 32, 40 or 64 hex characters (legal_services.clean_digest): every such "
    "value is a possible digest, and EVIDENCE_ITEMS_MAX bounds what the rows can carry",
    "escalations.Destination.code": "seeded by a migration; no page or admin edits destinations",
    "escalations.Destination.name": "seeded by a migration; no page or admin edits destinations",
    "escalations.Destination.preservation_rule": CHOICE,
    "escalations.AuthorityObligation.state": CHOICE,
    "escalations.Destination.report_id_pattern": "seeded by a migration; no page or admin edits destinations",
    "escalations.Destination.report_id_hint": "seeded by a migration; no page or admin edits destinations",
    "escalations.Destination.notes": "seeded by a migration; no page or admin edits destinations",
    "admin.LogEntry.object_id": "written by the admin",
    "admin.LogEntry.object_repr": "written by the admin from the object, whose text was checked",
    "admin.LogEntry.change_message": "written by the admin (the names of the fields changed)",
    "auth.Permission.name": "created by migrations",
    "auth.Permission.codename": "created by migrations",
    "auth.User.password": "a hash of what was typed, never the text itself",
    "contenttypes.ContentType.app_label": "created by migrations",
    "contenttypes.ContentType.model": "created by migrations",
    "sessions.Session.session_key": "generated by Django",
    "sessions.Session.session_data": "signed session data written by Django",
    "otp_static.StaticToken.token": "generated backup codes",
    "otp_totp.TOTPDevice.key": "the device's secret, generated at enrolment; django-otp's form takes hex only",
    # Sign-in attempts as django-axes records them (the username typed at sign-in, the browser's
    # headers): not case data, and read only in the admin. Keeping no request bodies there is the
    # lockout work's part of the same issue.
    "axes.AccessAttempt.user_agent": "recorded by django-axes at sign-in",
    "axes.AccessAttempt.username": "as escalations.accounts.lockout_username gives it: file content replaced by a "
    "marker (test_a_sign_in_username_with_file_content_is_recorded_as_a_marker)",
    "axes.AccessAttempt.http_accept": "recorded by django-axes at sign-in",
    "axes.AccessAttempt.path_info": "recorded by django-axes at sign-in",
    "axes.AccessAttempt.get_data": "recorded by django-axes at sign-in",
    "axes.AccessAttempt.post_data": "recorded by django-axes at sign-in",
    "axes.AccessFailureLog.user_agent": "recorded by django-axes at sign-in",
    "axes.AccessFailureLog.username": "as escalations.accounts.lockout_username gives it (see AccessAttempt.username)",
    "axes.AccessFailureLog.http_accept": "recorded by django-axes at sign-in",
    "axes.AccessFailureLog.path_info": "recorded by django-axes at sign-in",
    "axes.AccessLog.user_agent": "recorded by django-axes at sign-in",
    "axes.AccessLog.username": "as escalations.accounts.lockout_username gives it (see AccessAttempt.username)",
    "axes.AccessLog.http_accept": "recorded by django-axes at sign-in",
    "axes.AccessLog.path_info": "recorded by django-axes at sign-in",
    "axes.AccessLog.session_hash": "a hash django-axes computes",
}


def _text_fields() -> list[str]:
    return sorted(
        f"{model._meta.label}.{field.name}"
        for model in apps.get_models()
        for field in model._meta.get_fields()
        if isinstance(field, models.CharField | models.TextField)
    )


# --- the world before and after ------------------------------------------------------------------


def _world() -> dict[str, Any]:
    """Row counts of every table a write could reach, and our records' values."""
    counts = {m._meta.label: m._default_manager.count() for m in apps.get_models() if m._meta.app_label != "sessions"}
    counts.pop("axes.AccessLog", None)  # signing in the test clients
    # A form shown again with its errors records that the person saw the escalation (need-to-know); that
    # row holds who and when, never what was typed. Exports' rows, which carry a query, still count.
    counts["escalations.AccessLog"] = AccessLog.objects.exclude(kind=AccessKind.VIEWED).count()
    # Some paths sign their client in first: that sign-in is a security event, not the refused write.
    counts["escalations.AuditEvent"] = AuditEvent.objects.exclude(action=AuditAction.SIGNED_IN).count()
    # Chain heads follow the audit and access-log rows counted above (a re-shown form's view starts one).
    counts.pop("escalations.ChainHead", None)
    values: dict[str, list[dict[str, Any]]] = {
        m._meta.label: [dict(row) for row in m._default_manager.order_by("pk").values()]
        for m in (Escalation, UserProfile, Team, ServiceToken, SavedView, Group)
    }
    values["users"] = [dict(row) for row in apps.get_model("auth.User")._default_manager.order_by("pk").values()]
    for row in values["users"]:
        row.pop("last_login")  # signing in the test clients
    for row in values["escalations.ServiceToken"]:
        row.pop("last_used_at")  # the token's use is recorded, refused or not
    return {"counts": counts, "values": values}


# --- the people and records the paths need ---------------------------------------------------------


@pytest.fixture
def world(make_user: Any, moderator: Any, lead: Any) -> dict[str, Any]:
    admin_user = make_user("boss")
    admin_user.is_staff = admin_user.is_superuser = True
    admin_user.save()
    clients = {}
    for name, user in (("moderator", moderator), ("lead", lead), ("admin", admin_user)):
        client = FormClient()
        client.force_login(user)
        clients[name] = client
    now = timezone.now()
    open_esc = services.create_escalation(actor=moderator, data=escalation_data(platform_reference="ticket-open"))
    late = services.create_escalation(
        actor=lead, data=escalation_data(platform_reference="ticket-late", knowledge_at=now - timedelta(days=4))
    )
    reported = services.record_report(
        actor=lead,
        escalation_id=late.pk,
        version=late.version,
        reported_at=now - timedelta(days=2),
        cybertipline_report_id="4564654",
        breach_reason=BreachReason.VOLUME,
    )
    UserProfile.objects.get_or_create(user=moderator)
    pending_redaction = redaction.request_redaction(
        actor=lead,
        escalation_id=open_esc.pk,
        fields=[redaction.choices(open_esc)[0][0]],
        reason="The reference names the wrong ticket.",
    )
    return {
        "clients": clients,
        "moderator": moderator,
        "lead": lead,
        "admin": admin_user,
        "open": open_esc,
        "reported": reported,
        "pending_redaction": pending_redaction,
        "team": Team.objects.create(name="Day shift"),
        "destination": Destination.objects.filter(is_default=False).first(),
        "now": now,
    }


def _local(moment: Any) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%dT%H:%M")


def _page(path: str, data: dict[str, Any], who: str = "moderator") -> Callable[[dict[str, Any]], str]:
    def send(w: dict[str, Any]) -> str:
        response = w["clients"][who].post(path.format(**{k: getattr(v, "pk", v) for k, v in w.items()}), data)
        assert response.status_code in (200, 400), response.status_code
        return response.content.decode()

    return send


def _create_form(**fields: str) -> Callable[[dict[str, Any]], str]:
    def send(w: dict[str, Any]) -> str:
        data = {
            "platform_reference": "ticket-5150",
            "incident_type": "child_pornography",
            "priority": "standard",
            "knowledge_at": _local(w["now"] - timedelta(hours=1)),
            **fields,
        }
        return _page("/escalations/new/", data)(w)

    return send


def _versioned(path: str, who: str, esc: str, **fields: str) -> Callable[[dict[str, Any]], str]:
    def send(w: dict[str, Any]) -> str:
        data = {"version": w[esc].version, **fields}
        return _page(path.replace("{esc}", str(w[esc].pk)), data, who)(w)

    return send


def _admin(path: str, data: Callable[[dict[str, Any]], dict[str, Any]]) -> Callable[[dict[str, Any]], str]:
    def send(w: dict[str, Any]) -> str:
        url = path.format(moderator=w["moderator"].pk, profile=w["moderator"].profile.pk)
        response = w["clients"]["admin"].post(url, data(w))
        assert response.status_code == 200, (response.status_code, response.get("Location"))
        return response.content.decode()

    return send


def _user_form(w: dict[str, Any], **fields: str) -> dict[str, Any]:
    user = w["moderator"]
    data = {
        "username": user.username,
        "first_name": "",
        "last_name": "",
        "email": "",
        "is_active": "on",
        "groups": [g.pk for g in user.groups.all()],
        "date_joined_0": timezone.localtime(user.date_joined).strftime("%Y-%m-%d"),
        "date_joined_1": timezone.localtime(user.date_joined).strftime("%H:%M:%S"),
    }
    data.update(fields)
    return data


def _device_form(model: str, field: str) -> Callable[[dict[str, Any]], str]:
    """The two-factor devices' admin forms, built as the admin builds them (their add pages need a
    secret key the test would have to invent)."""

    def send(w: dict[str, Any]) -> str:
        model_class = apps.get_model(model)
        request = RequestFactory().post("/admin/")
        request.user = w["admin"]
        form_class = admin.site._registry[model_class].get_form(request)
        form = form_class(data={"user": w["moderator"].pk, "name": GIF_LINE, "confirmed": "on", "key": "00" * 20})
        assert not form.is_valid()
        return " ".join(str(message) for message in form.errors.get(field, []))

    return send


def _saved_view(**fields: str) -> Callable[[dict[str, Any]], str]:
    def send(w: dict[str, Any]) -> str:
        client = w["clients"]["moderator"]
        response = client.post("/saved-views/", {"name": "Mine", "query": "status=open", **fields}, follow=True)
        return response.content.decode()

    return send


def _api(method: str, path: str, body: Callable[[dict[str, Any]], Any], **headers: str) -> Callable[..., str]:
    def send(w: dict[str, Any]) -> str:
        client = Client()
        client.force_login(w["lead"])
        url = path.replace("{open}", str(w["open"].pk))
        response = getattr(client, method)(url, json.dumps(body(w)), content_type="application/json", headers=headers)
        assert response.status_code == 400, (response.status_code, response.content[:300])
        return json.dumps(response.json())

    return send


def _export(w: dict[str, Any]) -> str:
    client = Client()
    client.force_login(w["lead"])
    response = client.get("/escalations/", {"q": PNG_LINE, "_export": "csv"})
    assert response.status_code == 400
    return response.content.decode()


def _redaction_request(w: dict[str, Any]) -> str:
    first_value = redaction.choices(w["open"])[0][0]
    return _page("/escalations/{open}/redact/", {"values": first_value, "reason": PNG_LINE}, who="lead")(w)


def _acknowledge(w: dict[str, Any]) -> str:
    """An admin acknowledging a break in the audit trail types the reason on the command line."""
    out = StringIO()
    try:
        call_command("verifyaudit", "--no-record", "--acknowledge", "--by", "boss", "--reason", PNG_LINE, stdout=out)
    except CommandError as exc:
        return out.getvalue() + str(exc)
    return out.getvalue()


# field -> (label in the message, how a person writes it)
WRITE_PATHS: dict[str, tuple[str, Callable[[dict[str, Any]], str]]] = {
    "escalations.Escalation.platform_reference": ("Platform reference", _create_form(platform_reference=PNG_LINE)),
    "escalations.Escalation.account_reference": (
        "Reported account",
        _versioned(
            "/escalations/{esc}/edit/",
            "moderator",
            "open",
            platform_reference="ticket-open",
            incident_type="child_pornography",
            priority="standard",
            knowledge_at=_local(timezone.now() - timedelta(hours=2)),
            account_reference=PNG_LINE,
        ),
    ),
    "escalations.Escalation.urgent_reason": (
        "Urgent reason",
        _create_form(priority="urgent", urgent_reason=PNG_WRAPPED),
    ),
    "escalations.Escalation.notes": ("Notes", _create_form(notes=PNG_WRAPPED)),
    "escalations.Escalation.breach_note": (
        "Breach note",
        _versioned("/escalations/{esc}/breach/", "lead", "reported", breach_reason="other", breach_note=PNG_WRAPPED),
    ),
    "escalations.Escalation.status_reason": (
        "Reason",
        _versioned("/escalations/{esc}/dismiss/", "lead", "open", reason=PNG_WRAPPED),
    ),
    "escalations.Escalation.preservation_location": (
        "Preservation location",
        _versioned("/escalations/{esc}/preservation/", "moderator", "open", preservation_location=PNG_LINE),
    ),
    "escalations.LegalRequest.agency": ("Agency", lambda w: _legal_request(w, agency=PNG_LINE)),
    "escalations.LegalRequest.reference": ("Reference", lambda w: _legal_request(w, reference=PNG_LINE)),
    "escalations.LegalRequest.notes": ("Notes", lambda w: _legal_request(w, notes=PNG_WRAPPED)),
    "escalations.PreservationExtension.reason": (
        "Reason",
        lambda w: _versioned(
            "/escalations/{esc}/extend/",
            "lead",
            "reported",
            until=_local(w["now"] + timedelta(days=800)),
            reason=PNG_WRAPPED,
        )(w),
    ),
    "escalations.EvidenceItem.reference": (
        "Evidence store reference",
        _versioned(
            "/escalations/{esc}/evidence/",
            "moderator",
            "reported",
            reference=PNG_LINE,
            hash_algorithm="sha256",
            digest="ab" * 32,
            size_bytes="1000",
        ),
    ),
    "escalations.DestinationReport.report_id": (
        "Report ID",
        lambda w: _versioned(
            "/escalations/{esc}/destinations/",
            "moderator",
            "reported",
            destination=str(w["destination"].pk),
            reported_at=_local(w["now"] - timedelta(hours=1)),
            report_id=PNG_LINE,
        )(w),
    ),
    "escalations.SavedView.name": ("The view&#x27;s name", _saved_view(name=GIF_LINE)),
    "escalations.SavedView.query": ("The saved view&#x27;s query", _saved_view(query=f"q={PNG_LINE}")),
    "escalations.ServiceToken.name": (
        "Name",
        _page("/tokens/", {"name": GIF_LINE, "scope": "read", "days": "30"}, who="lead"),
    ),
    "escalations.UserProfile.webhook_url": (
        "Webhook URL",
        _page(
            "/accounts/profile/",
            {"time_zone": "UTC", "email_notifications": "on", "webhook_url": f"https://hooks.example/{PNG_LINE}"},
        ),
    ),
    "escalations.ChannelEndpoint.target": (
        "Webhook URL",
        lambda w: _page(
            "/teams/channels/",
            {"team": w["team"].pk, "kind": "slack", "target": f"https://hooks.example/{PNG_LINE}"},
            who="lead",
        )(w),
    ),
    "escalations.Team.name": ("Name", _admin("/admin/escalations/team/add/", lambda w: {"name": PNG_LINE})),
    "escalations.EventEndpoint.name": (
        "Name",
        _admin(
            "/admin/escalations/eventendpoint/add/",
            lambda w: {"name": PNG_LINE, "url": "https://hooks.example/in", "event_types": ["report.recorded"]},
        ),
    ),
    "escalations.EventEndpoint.url": (
        "URL",
        _admin(
            "/admin/escalations/eventendpoint/add/",
            lambda w: {
                "name": "Warehouse",
                "url": f"https://hooks.example/{PNG_LINE}",
                "event_types": ["report.recorded"],
            },
        ),
    ),
    "escalations.RedactionRequest.reason": ("Reason", lambda w: _redaction_request(w)),
    "escalations.RedactionRequest.refusal_reason": (
        "Reason",
        _page("/redactions/{pending_redaction}/refuse/", {"reason": PNG_LINE}, who="admin"),
    ),
    "escalations.AuditBreakAcknowledgement.reason": ("Reason (--reason)", lambda w: _acknowledge(w)),
    "escalations.IdempotencyRecord.key": (
        "Idempotency-Key",
        _api(
            "post",
            "/api/v1/escalations/",
            lambda w: {
                "platform_reference": "ticket-9",
                "incident_type": "child_pornography",
                "knowledge_at": (w["now"] - timedelta(hours=1)).isoformat(),
            },
            **{"Idempotency-Key": PNG_LINE},
        ),
    ),
    "escalations.AccessLog.query": ("The export's query", _export),
    "auth.User.username": (
        "Username",
        _admin("/admin/auth/user/{moderator}/change/", lambda w: _user_form(w, username="u" + PNG_LINE[:140])),
    ),
    "auth.User.first_name": (
        "First name",
        _admin("/admin/auth/user/{moderator}/change/", lambda w: _user_form(w, first_name=PNG_LINE[:92])),
    ),
    "auth.User.last_name": (
        "Last name",
        _admin("/admin/auth/user/{moderator}/change/", lambda w: _user_form(w, last_name=PNG_LINE[:92])),
    ),
    "auth.User.email": (
        "Email address",
        _admin("/admin/auth/user/{moderator}/change/", lambda w: _user_form(w, email=f"{PNG_LINE[:60]}@x.example")),
    ),
    "auth.Group.name": ("Name", _admin("/admin/auth/group/add/", lambda w: {"name": PNG_LINE})),
    "escalations.CoopPublicKey.name": (
        "Name",
        _admin(
            "/admin/escalations/cooppublickey/add/",
            lambda w: {"name": PNG_LINE[:80], "key_text": _coop_pem(), "is_active": "on"},
        ),
    ),
    "otp_totp.TOTPDevice.name": ("Name", _device_form("otp_totp.TOTPDevice", "name")),
    "otp_static.StaticDevice.name": ("Name", _device_form("otp_static.StaticDevice", "name")),
}


def _coop_pem() -> str:
    """A valid Coop public key, so that only the name is wrong."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def _legal_request(w: dict[str, Any], **fields: str) -> str:
    data = {
        "kind": "subpoena",
        "agency": "County Police",
        "reference": "CP-2026-0001",
        "received_at": _local(w["now"] - timedelta(hours=1)),
        "escalations": str(w["reported"].pk),
        "notes": "",
        **fields,
    }
    return _page("/legal-requests/new/", data, who="lead")(w)


def _messages(answer: str) -> list[str]:
    """The error messages on a page (or the whole answer when it is not a page), for a failure's report."""
    found = re.findall(r"(?s)<(?:p|li|ul)[^>]*(?:error|alert)[^>]*>(.*?)</(?:p|li|ul)>", answer)
    return [" ".join(text.split())[:400] for text in found] or [answer[:400]]


def test_every_text_field_is_covered():
    """Each CharField and TextField of every model has a write path below, or an exemption that says
    why no person writes it as text."""
    fields = _text_fields()
    unclassified = [name for name in fields if name not in WRITE_PATHS and name not in EXEMPT]
    assert unclassified == []
    assert [name for name in WRITE_PATHS if name in EXEMPT] == []
    assert sorted(set(WRITE_PATHS) | set(EXEMPT)) == fields  # nothing listed that no longer exists


@pytest.mark.parametrize("field", sorted(WRITE_PATHS))
def test_a_person_cannot_write_an_encoded_png_into(field, world):
    label, write = WRITE_PATHS[field]
    before = _world()
    answer = write(world)
    assert f"{label} contains" in answer and (WHY in answer or WHY_GIF in answer), _messages(answer)
    assert _world() == before


# --- notes, on every path ------------------------------------------------------------------------------


def _api_create(client: Client, w: dict[str, Any]) -> Any:
    body = {
        "platform_reference": "ticket-77",
        "incident_type": "child_pornography",
        "knowledge_at": (w["now"] - timedelta(hours=1)).isoformat(),
        "notes": PNG_WRAPPED,
    }
    return client.post("/api/v1/escalations/", body, content_type="application/json")


@pytest.mark.parametrize("way", sorted(ENCODINGS))
def test_notes_refuse_the_png_written_every_way_on_the_page(way, world):
    before = _world()
    answer = _create_form(notes="See: " + ENCODINGS[way][1](TINY_PNG))(world)
    assert "Notes contains" in answer and "a PNG image in" in answer
    assert _world() == before


def test_notes_refuse_it_through_the_api_create_patch_and_bulk(world, lead):
    client = Client()
    client.force_login(lead)
    before = _world()
    response = _api_create(client, world)
    assert response.status_code == 400
    assert WHY in response.json()["notes"][0]
    esc = world["open"]
    response = client.patch(
        f"/api/v1/escalations/{esc.pk}/",
        {"notes": PNG_WRAPPED, "version": esc.version},
        content_type="application/json",
    )
    assert response.status_code == 400 and WHY in json.dumps(response.json())
    ok = {
        "platform_reference": "ticket-78",
        "incident_type": "child_pornography",
        "knowledge_at": (world["now"] - timedelta(hours=1)).isoformat(),
    }
    response = client.post(
        "/api/v1/escalations/bulk/",
        [ok, {**ok, "platform_reference": "ticket-79", "notes": PNG_WRAPPED}],
        content_type="application/json",
    )
    assert response.status_code == 400 and WHY in json.dumps(response.json())
    assert _world() == before  # all or nothing: the good item was not written either


def test_notes_refuse_it_through_a_token(world, lead):
    _, raw = create_token(actor=lead, name="pipeline", scope="write", expires_at=timezone.now() + timedelta(days=9))
    before = _world()
    response = _api_create(Client(headers={"Authorization": f"Bearer {raw}"}), world)
    assert response.status_code == 400 and WHY in response.json()["notes"][0]
    assert _world() == before


def test_notes_refuse_it_through_the_import(world, lead, tmp_path: Path):
    sheet = tmp_path / "history.csv"
    knowledge = (world["now"] - timedelta(hours=1)).isoformat()
    sheet.write_text(
        "platform_reference,incident_type,knowledge_at,notes\n"
        f"ticket-1,child_pornography,{knowledge},fine\n"
        f'ticket-2,child_pornography,{knowledge},"{PNG_WRAPPED}"\n',
        encoding="utf-8",
    )
    before = _world()
    out = StringIO()
    with pytest.raises(CommandError):
        call_command("importescalations", str(sheet), "--actor", lead.username, stdout=out, stderr=out)
    assert WHY in out.getvalue()
    assert _world() == before


def test_the_admin_changes_no_escalation_at_all(world):
    """The admin shows escalations read-only, so it is not a way round the services' checks."""
    response = world["clients"]["admin"].post(
        f"/admin/escalations/escalation/{world['open'].pk}/change/", {"notes": PNG_WRAPPED}
    )
    assert response.status_code == 403
    assert Escalation.objects.get(pk=world["open"].pk).notes == ""


def test_services_refuse_it_for_every_reason(world, lead):
    """Called from code (what the pages, API, bulk and import all call): each reason field."""
    esc = world["reported"]
    request = legal_services.create_legal_request(
        actor=lead,
        data={
            "kind": "subpoena",
            "agency": "County Police",
            "reference": "CP-1",
            "received_at": world["now"] - timedelta(hours=1),
            "escalations": [esc.pk],
        },
    )
    esc.refresh_from_db()
    before = _world()
    calls = [
        lambda: services.dismiss_escalation(
            actor=lead, escalation_id=world["open"].pk, version=None, reason=PNG_WRAPPED
        ),
        lambda: services.amend_breach(
            actor=lead, escalation_id=esc.pk, version=None, breach_reason="other", breach_note=PNG_WRAPPED
        ),
        lambda: legal_services.extend_preservation(
            actor=lead, escalation_id=esc.pk, version=None, until=world["now"] + timedelta(days=900), reason=PNG_WRAPPED
        ),
        lambda: legal_services.close_legal_request(actor=lead, request_id=request.pk, version=None, reason=PNG_WRAPPED),
        lambda: services.confirm_preservation(
            actor=lead, escalation_id=esc.pk, version=None, preservation_location=PNG_LINE
        ),
    ]
    for call in calls:
        with pytest.raises(services.ValidationError) as exc:
            call()
        assert WHY in " ".join(exc.value.messages)
    assert _world() == before


# --- sign-in: what django-axes keeps of a username --------------------------------------------------


def _sign_in(username: str) -> Any:
    return FormClient().post("/accounts/login/", {"username": username, "password": "wrong"})


def test_a_sign_in_username_with_file_content_is_recorded_as_a_marker(db):
    from axes.models import AccessAttempt

    from escalations.accounts.lockout_username import FILE_CONTENT_MARKER

    response = _sign_in(PNG_WRAPPED)
    assert response.status_code == 200
    assert list(AccessAttempt.objects.values_list("username", flat=True)) == [FILE_CONTENT_MARKER]


def test_a_sign_in_username_longer_than_any_is_cut_not_a_server_error(db):
    """Django's sign-in form lets any length through; the column holds 255 (PostgreSQL refused it)."""
    from axes.models import AccessAttempt

    response = _sign_in("x" * 1000)
    assert response.status_code == 200
    assert list(AccessAttempt.objects.values_list("username", flat=True)) == ["x" * 150]
