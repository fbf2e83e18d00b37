"""The admin's page for Coop's public keys (registered from apps.ready: the admin module sits on
this package's layer). Adding or changing one goes through coop_keys.save_coop_key (checked and
audited); a key is deactivated, never deleted, so the receipts' fingerprints keep their meaning."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.http import HttpRequest

from escalations.core import validation
from escalations.core.people import signed_in
from escalations.integrations.coop_keys import save_coop_key
from escalations.integrations.coop_signature import BadPublicKey, load_public_key
from escalations.models import CoopPublicKey


class CoopPublicKeyForm(forms.ModelForm):
    class Meta:
        model = CoopPublicKey
        fields = ("name", "key_text", "is_active")

    def clean_name(self) -> str:
        return validation.clean_text(self.cleaned_data.get("name"), "Name", required=True, max_length=80)

    def clean_key_text(self) -> str:
        text = str(self.cleaned_data.get("key_text") or "")
        try:
            load_public_key(text)
        except BadPublicKey as exc:
            raise ValidationError(str(exc)) from None
        return text.strip()


class CoopPublicKeyAdmin(admin.ModelAdmin):
    form = CoopPublicKeyForm
    list_display = ("name", "fingerprint", "is_active", "created_by", "created_at")
    readonly_fields = ("fingerprint", "created_by", "created_at")

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: CoopPublicKey, form: Any, change: bool) -> None:
        save_coop_key(actor=signed_in(request).user, key=obj)


def register() -> None:
    if not admin.site.is_registered(CoopPublicKey):
        admin.site.register(CoopPublicKey, CoopPublicKeyAdmin)
