"""The admin's SCIM tokens page: superusers create a token (its secret shown once, on the page that
answers the form, never stored or sent in a message cookie) and revoke tokens. Both are audited
(escalations.accounts.scim_tokens). Tokens are never deleted: the audit trail names them."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from escalations.accounts import scim_tokens
from escalations.models import ScimToken


class ScimTokenForm(forms.Form):
    name = forms.CharField(
        max_length=80, help_text="Who uses it, e.g. “Okta production”. The token is shown once, after saving."
    )


@admin.register(ScimToken)
class ScimTokenAdmin(admin.ModelAdmin):
    list_display = ("name", "prefix", "created_by", "created_at", "last_used_at", "revoked_at")
    readonly_fields = ("name", "prefix", "created_by", "created_at", "last_used_at", "revoked_at")
    actions = ["revoke"]

    def has_module_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.is_active and request.user.is_superuser)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.has_module_permission(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self.has_module_permission(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.action(description="Revoke selected SCIM tokens")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ScimToken]) -> None:
        for token in queryset:
            scim_tokens.revoke_token(actor=request.user, token=token)  # type: ignore[arg-type]
        messages.success(request, f"Revoked {queryset.count()} SCIM token(s).")

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context: Any = None) -> HttpResponse:
        # This view replaces the admin's own add view, and with it the admin's permission check.
        if not self.has_add_permission(request):
            raise PermissionDenied("Only a superuser may create SCIM tokens.")
        form = ScimTokenForm(request.POST or None)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Add SCIM token",
            "form": form,
        }
        if request.method == "POST" and form.is_valid():
            try:
                token, raw = scim_tokens.create_token(actor=request.user, name=form.cleaned_data["name"])  # type: ignore[arg-type]
            except ValidationError as exc:
                for field, errors in exc.message_dict.items():
                    for error in errors:
                        form.add_error(field if field in form.fields else None, error)
            else:
                context.update({"title": "SCIM token created", "token": token, "raw": raw, "form": None})
        return TemplateResponse(request, "accounts/scim_token_add.html", context)
