"""What the tracker keeps about a person beyond Django's user (time zone, channels, webhook) and the
teams that share need-to-know."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from escalations.models.time_zones import canonical_zones


def time_zone_choices() -> list[tuple[str, str]]:
    """Canonical zones only (escalations/models/time_zones.py): no "US/Eastern"-style aliases."""
    return [(name, name) for name in canonical_zones()]


class UserProfile(models.Model):
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="profile")
    time_zone = models.CharField(max_length=64, default="UTC", choices=time_zone_choices)
    email_notifications = models.BooleanField("Email", default=True)
    in_app_notifications = models.BooleanField("In-app", default=True)
    webhook_url = models.URLField("Webhook URL", max_length=500, blank=True)
    # Signs each webhook request (escalations/webhook_signing.py); generated, shown to the owner so
    # the receiver can verify; replaced whenever the URL changes.
    webhook_secret = models.CharField(max_length=64, blank=True)
    # With PASSWORD_SIGN_IN off, only break-glass accounts (these, and every superuser) may still sign
    # in with a password: the way in when the identity provider is down or misconfigured.
    break_glass = models.BooleanField(
        "Break-glass account",
        default=False,
        help_text="May sign in with a password even when PASSWORD_SIGN_IN is off (superusers always may).",
    )

    def __str__(self) -> str:
        return f"{self.user} ({self.time_zone})"


class Team(models.Model):
    """People who share a queue. With RESTRICT_MODERATORS_TO_ASSIGNED on, a moderator also reads the
    escalations assigned to anyone in a team they belong to (escalations.core.selectors.visible_q).
    Admins keep the teams in the admin, which logs who changed them."""

    name = models.CharField(max_length=100, unique=True)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="teams", blank=True)

    class Meta:
        ordering = ("name",)

    def __str__(self) -> str:
        return self.name
