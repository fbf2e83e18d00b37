"""Who a person is at the company's identity provider (OpenID Connect): the provider's issuer and its
subject (`sub`, stable for the life of the account there, unlike an email address or a username),
linked to one of our users. Made at a person's first sign-in through the provider
(escalations.accounts.oidc_backend); later sign-ins find the person by it alone."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class ProviderIdentity(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="provider_identities")
    issuer = models.CharField(max_length=500)
    subject = models.CharField(max_length=255)
    created_at = models.DateTimeField(auto_now_add=True)
    last_sign_in_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=("issuer", "subject"), name="provider_identity_unique")]
        verbose_name_plural = "provider identities"

    def __str__(self) -> str:
        return f"{self.user} at {self.issuer}"
