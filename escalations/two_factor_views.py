"""The two-factor pages: the code step after the password, and django-two-factor-auth's enrolment,
backup-code and disable pages, each adapted to write the audit trail and to keep the session's
two-factor note (escalations.two_factor) true."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import django_otp
from axes.handlers.proxy import AxesProxyHandler
from django import forms
from django.conf import settings
from django.contrib.auth import logout
from django.contrib.auth.signals import user_login_failed
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseBase, HttpResponseRedirect
from django.shortcuts import resolve_url
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.generic import FormView
from django_otp.models import Device
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice
from two_factor import views as tf

from . import services, two_factor
from .models import AuditAction
from .views import locked_out

CODE_HELP = "The 6-digit code your authenticator app shows now, or one of your backup codes."


class CodeForm(forms.Form):
    otp_token = forms.CharField(
        label="Code",
        max_length=32,
        help_text=CODE_HELP,
        error_messages={"required": "Code: enter the 6-digit code from your authenticator app, or a backup code."},
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "autofocus": True, "spellcheck": "false"}),
    )

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user
        self.device: Device | None = None

    def clean_otp_token(self) -> str:
        code = "".join(self.cleaned_data["otp_token"].split()).replace("-", "").lower()
        self.device = verify_code(self.user, code)
        if self.device is None:
            raise forms.ValidationError(
                "Code: not accepted. Enter the code your authenticator app shows now (it changes every "
                "30 seconds), or a backup code you have not used yet."
            )
        return code


def verify_code(user: Any, code: str) -> Device | None:
    """The device that accepts `code`: six digits go to the authenticator, anything else to the
    backup codes (each works once). django-otp counts failures per device and makes the next try
    wait longer (1 s, 2 s, 4 s, …), so guessing fails even across many sign-ins."""
    kind: type[Device] = TOTPDevice if code.isdigit() and len(code) == 6 else StaticDevice
    with transaction.atomic():
        for device in django_otp.devices_for_user(user, confirmed=True, for_verify=True):
            if isinstance(device, kind) and device.verify_token(code):
                return device
    return None


def _safe_next(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return target
    return resolve_url(settings.LOGIN_REDIRECT_URL)


class VerifyView(FormView):
    """The second step of signing in. A wrong code counts as a failed sign-in for django-axes: the
    fifth within 15 minutes signs the person out and locks the username like five wrong passwords."""

    template_name = "registration/otp_verify.html"
    form_class = CodeForm

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if two_factor.state(request) != "verify":
            return HttpResponseRedirect(_safe_next(request))
        return super().dispatch(request, *args, **kwargs)

    def get_form_kwargs(self) -> dict[str, Any]:
        return {**super().get_form_kwargs(), "user": self.request.user}

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return {**super().get_context_data(**kwargs), "next": _safe_next(self.request)}

    def form_valid(self, form: CodeForm) -> HttpResponse:
        assert form.device is not None
        # A new session key once both factors are proven, as Django does after the password.
        self.request.session.cycle_key()
        django_otp.login(self.request, form.device)
        return HttpResponseRedirect(_safe_next(self.request))

    def form_invalid(self, form: CodeForm) -> HttpResponse:
        request = self.request
        if "otp_token" in form.data:
            credentials = {"username": request.user.get_username()}  # the sign-in form's field (axes' default)
            user_login_failed.send(sender=__name__, credentials=credentials, request=request)
            if AxesProxyHandler.is_locked(request, credentials):
                logout(request)
                return locked_out(request, credentials=credentials)
        return super().form_invalid(form)


verify = two_factor.step(never_cache(VerifyView.as_view()))


def _audit(request: HttpRequest, action: str, **changes: Any) -> None:
    services.record_account_event(actor=request.user, action=action, changes=changes)


class EnrolView(tf.SetupView):
    """Set up an authenticator: scan the QR code (or type the key), then prove it with one code."""

    def get_context_data(self, form: Any, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(form, **kwargs)
        context["two_factor_required"] = two_factor.required_for(self.request.user)
        if "otpauth_url" in context:
            context["issuer"] = settings.TWO_FACTOR_ISSUER
            context["otpauth_url"] = tf.core.get_otpauth_url(
                self.request.user.get_username(), context["secret_key"], settings.TWO_FACTOR_ISSUER
            )
        return context

    def get_success_url(self) -> str:
        # Always the "it is on" page (it offers the backup codes), which then leads where they were going.
        done = reverse("two_factor:setup_complete")
        target = self.get_redirect_url()
        return f"{done}?{urlencode({'next': target})}" if target else done

    def get_form(self, step: str | None = None, **kwargs: Any) -> Any:
        form = super().get_form(step, **kwargs)
        if "token" in form.fields:
            form.fields["token"].label = "Code"
            form.fields["token"].help_text = "The 6 digits your authenticator app shows for this account now."
            form.fields["token"].error_messages.update(
                required="Code: enter the 6 digits your authenticator app shows.",
                invalid="Code: digits only, the 6 your authenticator app shows.",
                max_value="Code: 6 digits at most.",
                min_value="Code: digits only, the 6 your authenticator app shows.",
            )
            form.error_messages = {
                **form.error_messages,
                "invalid_token": "Code: not accepted. Check that the phone's clock is right and type the code "
                "the app shows now (it changes every 30 seconds).",
            }
        return form

    def done(self, form_list: Any, **kwargs: Any) -> HttpResponse:
        with transaction.atomic():
            response = super().done(form_list, **kwargs)
            _audit(self.request, AuditAction.TWO_FACTOR_ENABLED, method="authenticator app (TOTP)")
        two_factor.remember(self.request, self.request.user)
        return response


class SetupCompleteView(tf.SetupCompleteView):
    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return {**super().get_context_data(**kwargs), "next": _safe_next(self.request)}


class QRCodeView(tf.QRGeneratorView):
    """The enrolment QR code, an SVG drawn here from the key in the session (nothing leaves us)."""

    def get_issuer(self) -> str:
        return str(settings.TWO_FACTOR_ISSUER)


class BackupCodesView(tf.BackupTokensView):
    def form_valid(self, form: Any) -> HttpResponse:
        with transaction.atomic():
            response = super().form_valid(form)
            _audit(self.request, AuditAction.BACKUP_CODES_ISSUED, codes=self.number_of_tokens)
        return response


class DisableView(tf.DisableView):
    """Turning two factors off is the owner's choice (with a code); with REQUIRE_2FA a lead or admin
    is sent straight back to set it up again."""

    def get_form(self, form_class: Any = None) -> Any:
        form = super().get_form(form_class)
        form.fields["understand"].error_messages["required"] = "Yes, I am sure: tick it to turn two-factor sign-in off."
        return form

    def form_valid(self, form: Any) -> HttpResponse:
        with transaction.atomic():
            response = super().form_valid(form)
            _audit(self.request, AuditAction.TWO_FACTOR_DISABLED)
        two_factor.remember(self.request, self.request.user)
        return response
