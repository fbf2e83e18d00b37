"""SCIM 2.0 provisioning (escalations/accounts/scim_views.py): the bearer tokens an identity provider
(Okta, Entra ID) uses, stored as a hash only, and what the tracker keeps about an account the
provider manages: its externalId, and whether the provider deleted it (the row stays, deactivated:
the audit trail names people)."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class ScimToken(models.Model):
    """An identity provider's credential for /scim/v2/. Only a hash is stored; the token is shown
    once, when an admin creates it (the admin, or `manage.py createscimtoken`)."""

    name = models.CharField(max_length=80, unique=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # The first characters of the token, to tell tokens apart in lists and logs; not secret.
    prefix = models.CharField(max_length=16, db_index=True, editable=False)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["name"]
        verbose_name = "SCIM token"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"


class ScimIdentity(models.Model):
    """An account as the identity provider knows it. `deleted_at`: the provider deleted it; the
    account is deactivated and answers 404 to SCIM, and a later create with the same userName
    brings the same account back (its audit history stays with it)."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="scim_identity")
    external_id = models.CharField(max_length=200, blank=True, db_index=True)
    # The emails as the provider sent them ([{value, type, primary}]), handed back as they were sent;
    # the primary one is the account's email.
    emails = models.JSONField(default=list, blank=True)
    token = models.ForeignKey(ScimToken, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "SCIM identity"
        verbose_name_plural = "SCIM identities"

    def __str__(self) -> str:
        return f"{self.user_id} ({self.external_id or 'no externalId'})"


class ScimGroupIdentity(models.Model):
    """The externalId a provider gave a group: a role group ("role-lead") or a team ("team-7")."""

    resource_id = models.CharField(max_length=40, unique=True)
    external_id = models.CharField(max_length=200, blank=True)

    class Meta:
        verbose_name = "SCIM group identity"
        verbose_name_plural = "SCIM group identities"

    def __str__(self) -> str:
        return f"{self.resource_id} ({self.external_id or 'no externalId'})"
