"""Managing the endpoints of the event stream: admins only, every change audited.

A new endpoint, and a changed URL, get a new signing secret (whoever ran the old receiver must not
hold the key that signs for the new one); the secret is returned to be shown once and never again.
Audit events name the receiver's host and a fingerprint of its URL, never the secret nor the URL's
path (which for some receivers is itself a credential)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from escalations.core import services, validation
from escalations.core.people import User
from escalations.core.permissions import is_admin
from escalations.models import AuditAction, EventDelivery, EventEndpoint, EventType
from escalations.reminders.webhook_profile import describe_url
from escalations.reminders.webhook_signing import new_secret

ADMINS_ONLY = "Only an admin may configure where the event stream goes."


def _require_admin(actor: User) -> None:
    if not is_admin(actor):
        raise PermissionDenied(ADMINS_ONLY)


def clean_endpoint(*, name: str, url: str, event_types: list[str]) -> tuple[str, str, list[str]]:
    """The endpoint's fields as stored; ValidationError naming each bad field. Nothing is fetched."""
    errors: dict[str, list[str]] = {}
    try:
        name = validation.clean_text(name, "Name", required=True, max_length=100)
    except ValidationError as exc:
        errors["name"] = exc.messages
    try:
        url = validation.clean_webhook_url(url)
        if not url:
            errors["url"] = ["URL is required: the https address that receives the events."]
    except ValidationError as exc:
        errors["url"] = exc.messages
    if len(url) > 500:
        errors["url"] = ["URL is too long: at most 500 characters."]
    unknown = sorted(set(event_types) - set(EventType.values))
    if unknown:
        errors["event_types"] = [
            f"Unknown event types: {', '.join(unknown)}; choose from {', '.join(EventType.values)}."
        ]
    elif not event_types:
        errors["event_types"] = ["Event types: choose at least one."]
    if errors:
        raise ValidationError(errors)
    ordered = [t for t in EventType.values if t in event_types]
    return name, url, ordered


@transaction.atomic
def add_endpoint(
    *, actor: User, name: str, url: str, event_types: list[str], active: bool = True
) -> tuple[EventEndpoint, str]:
    """A new endpoint; returns it and its signing secret (to show once)."""
    _require_admin(actor)
    name, url, event_types = clean_endpoint(name=name, url=url, event_types=event_types)
    secret = new_secret()
    endpoint = EventEndpoint.objects.create(
        name=name, url=url, secret=secret, event_types=event_types, active=active, created_by=actor
    )
    services.record_account_event(
        actor=actor,
        action=AuditAction.EVENT_ENDPOINT_ADDED,
        changes={
            "endpoint": endpoint.pk,
            "name": name,
            "url": describe_url(url),
            "event_types": event_types,
            "active": active,
        },
    )
    return endpoint, secret


@transaction.atomic
def change_endpoint(
    *, actor: User, endpoint_id: int, name: str, url: str, event_types: list[str], active: bool
) -> tuple[EventEndpoint, str]:
    """Change an endpoint; returns it and its new secret when the URL changed ("" otherwise)."""
    _require_admin(actor)
    endpoint = EventEndpoint.objects.select_for_update().get(pk=endpoint_id)
    name, url, event_types = clean_endpoint(name=name, url=url, event_types=event_types)
    changes: dict[str, Any] = {}
    for field, before, after in (
        ("name", endpoint.name, name),
        ("url", describe_url(endpoint.url), describe_url(url)),
        ("event_types", endpoint.event_types, event_types),
        ("active", endpoint.active, active),
    ):
        if before != after:
            changes[field] = [before, after]
    if not changes:
        return endpoint, ""
    secret = new_secret() if url != endpoint.url else ""
    endpoint.name, endpoint.url, endpoint.event_types, endpoint.active = name, url, event_types, active
    if secret:
        endpoint.secret = secret
        changes["secret"] = "replaced: the URL changed"  # noqa: S105 - what happened, not its value
    endpoint.save()
    services.record_account_event(
        actor=actor, action=AuditAction.EVENT_ENDPOINT_CHANGED, changes={"endpoint": endpoint.pk, **changes}
    )
    return endpoint, secret


@transaction.atomic
def replace_secret(*, actor: User, endpoint_id: int) -> str:
    """A new signing secret for the endpoint (returned, to show once); the old one stops at once."""
    _require_admin(actor)
    endpoint = EventEndpoint.objects.select_for_update().get(pk=endpoint_id)
    endpoint.secret = new_secret()
    endpoint.save(update_fields=["secret", "updated_at"])
    services.record_account_event(
        actor=actor,
        action=AuditAction.EVENT_ENDPOINT_SECRET_REPLACED,
        changes={"endpoint": endpoint.pk, "secret": "replaced on request"},
    )
    return endpoint.secret


@transaction.atomic
def deliver_again(*, actor: User, delivery_ids: list[int]) -> int:
    """Deliveries given up on (or not yet sent) go out at the next sweep, with a fresh count of
    attempts; the same webhook-id, so a receiver that had one still drops it. Returns how many."""
    _require_admin(actor)
    count = EventDelivery.objects.filter(pk__in=delivery_ids, sent_at__isnull=True).update(
        failed_at=None, attempts=0, next_attempt_at=timezone.now(), claimed_until=None, claim_token=""
    )
    if count:
        services.record_account_event(
            actor=actor, action=AuditAction.EVENT_DELIVERY_RETRIED, changes={"deliveries": sorted(delivery_ids)[:100]}
        )
    return count
