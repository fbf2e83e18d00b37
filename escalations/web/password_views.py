"""Changing one's own password, with the current one: Django's PasswordChangeView, with messages
that name their field, the current password checked through authenticate() (so wrong guesses count
toward the sign-in lockout, as at sign-in), an audit event, and this session kept (Django's
update_session_auth_hash) while every other session of the person ends at its next request."""

from __future__ import annotations

from typing import Any

from axes.handlers.proxy import AxesProxyHandler
from django.contrib import messages
from django.contrib.auth import authenticate, logout, password_validation
from django.contrib.auth import forms as auth_forms
from django.contrib.auth import views as auth_views
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.urls import reverse_lazy

from escalations.accounts import two_factor
from escalations.core import services
from escalations.models import AuditAction
from escalations.web.lockout_views import locked_out


class PasswordChangeForm(auth_forms.PasswordChangeForm):
    error_messages = {
        **auth_forms.PasswordChangeForm.error_messages,
        "password_incorrect": "Current password: not accepted. Type the password you signed in with.",
        "password_mismatch": "New password again: it differs from the new password. Type the same one twice.",
    }

    def __init__(self, user: Any, *args: Any, request: HttpRequest, **kwargs: Any) -> None:
        super().__init__(user, *args, **kwargs)
        self.request = request
        self.refused = False
        self.fields["old_password"].label = "Current password"
        self.fields["new_password1"].label = "New password"
        self.fields["new_password2"].label = "New password again"
        for name, label in (("old_password", "Current password"), ("new_password1", "New password")):
            self.fields[name].error_messages["required"] = f"{label}: required."
        self.fields["new_password2"].error_messages["required"] = "New password again: required."
        # Django's help is an HTML list; the page's help is one paragraph.
        self.fields["new_password1"].help_text = " ".join(password_validation.password_validators_help_texts())

    def clean_old_password(self) -> str:
        old = self.cleaned_data["old_password"]
        # authenticate() with the request, not check_password(): django-axes counts a wrong one.
        proven = authenticate(self.request, username=self.user.get_username(), password=old)
        if proven is None or proven.pk != self.user.pk:
            self.refused = True
            raise ValidationError(self.error_messages["password_incorrect"], code="password_incorrect")
        return str(old)

    def clean(self) -> dict[str, Any]:
        # As SetPasswordForm.clean, with the validators' errors under the new password (not the
        # repeated one) and naming it: "New password: This password is too short. …".
        self.validate_passwords("new_password1", "new_password2")
        password = self.cleaned_data.get("new_password1")
        if password and "new_password2" not in self.errors:
            try:
                password_validation.validate_password(password, self.user)
            except ValidationError as error:
                self.add_error("new_password1", [f"New password: {message}" for message in error.messages])
        return self.cleaned_data


class PasswordChangeView(auth_views.PasswordChangeView):
    template_name = "registration/password_change.html"
    form_class = PasswordChangeForm
    success_url = reverse_lazy("profile")

    def get_form_kwargs(self) -> dict[str, Any]:
        return {**super().get_form_kwargs(), "request": self.request}

    def form_valid(self, form: PasswordChangeForm) -> HttpResponse:  # type: ignore[override]
        with transaction.atomic():
            response = super().form_valid(form)  # saves, then update_session_auth_hash keeps this session
            services.record_account_event(actor=self.request.user, action=AuditAction.PASSWORD_CHANGED)
        two_factor.note_password_proven(self.request)
        messages.success(self.request, "Password changed. Your other sessions have ended; this one goes on.")
        return response

    def form_invalid(self, form: PasswordChangeForm) -> HttpResponse:  # type: ignore[override]
        request = self.request
        credentials = {"username": request.user.get_username()}
        if form.refused and AxesProxyHandler.is_locked(request, credentials):
            logout(request)
            return locked_out(request, credentials=credentials)
        return super().form_invalid(form)
