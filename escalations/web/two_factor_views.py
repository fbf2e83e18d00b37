"""The two-factor pages: the code step after the password, the password asked again before a first
authenticator is added, and django-two-factor-auth's enrolment, backup-code and disable pages, each
adapted to write the audit trail. Turning two factors off and new backup codes take a current code
typed on that form; a wrong code anywhere counts toward the sign-in lockout."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import django_otp
from axes.handlers.proxy import AxesProxyHandler
from django import forms
from django.conf import settings
from django.contrib.auth import authenticate, logout
from django.contrib.auth.signals import user_login_failed
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseBase, HttpResponseRedirect
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.generic import FormView
from django_otp.models import Device
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice
from two_factor import views as tf

from escalations.accounts import lockout, two_factor
from escalations.accounts.security_events import WRONG_CODE_SENDER, devices_audited_by_view
from escalations.core import services
from escalations.core.people import AuthenticatedHttpRequest, User
from escalations.models import AuditAction
from escalations.web.home_views import landing_url
from escalations.web.lockout_views import locked_out

CODE_HELP = "The 6-digit code your authenticator app shows now, or one of your backup codes."


class CodeForm(forms.Form):
    otp_token = forms.CharField(
        label="Code",
        max_length=32,
        help_text=CODE_HELP,
        error_messages={"required": "Code: enter the 6-digit code from your authenticator app, or a backup code."},
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "autofocus": True, "spellcheck": "false"}),
    )

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user
        self.device: Device | None = None
        # A code was typed and refused: a guess, which counts toward the lockout (an empty field does not).
        self.code_refused = False

    def clean_otp_token(self) -> str:
        code = "".join(self.cleaned_data["otp_token"].split()).replace("-", "").lower()
        self.device = verify_code(self.user, code)
        if self.device is None:
            self.code_refused = True
            raise forms.ValidationError(
                "Code: not accepted. Enter the code your authenticator app shows now (it changes every "
                "30 seconds), or a backup code you have not used yet."
            )
        return code


def verify_code(user: User, code: str) -> Device | None:
    """The device that accepts `code`: six digits go to the authenticator, anything else to the
    backup codes (each works once). django-otp counts failures per device and makes the next try
    wait longer (1 s, 2 s, 4 s, …), so guessing fails even across many sign-ins."""
    kind: type[Device] = TOTPDevice if code.isdigit() and len(code) == 6 else StaticDevice
    with transaction.atomic():
        for device in django_otp.devices_for_user(user, confirmed=True, for_verify=True):
            if isinstance(device, kind) and device.verify_token(code):
                return device
    return None


def count_wrong_code(request: HttpRequest) -> HttpResponse | None:
    """A wrong code is a failed sign-in for django-axes, like a wrong password: the one that reaches
    the limit signs the person out and answers the lockout page (returned); otherwise None."""
    credentials = {"username": request.user.get_username()}  # the sign-in form's field (axes' default)
    user_login_failed.send(sender=WRONG_CODE_SENDER, credentials=credentials, request=request)
    if AxesProxyHandler.is_locked(request, credentials):
        logout(request)
        return locked_out(request, credentials=credentials)
    return None


def _method(device: Device) -> str:
    return "backup code" if isinstance(device, StaticDevice) else "authenticator app (TOTP)"


def _safe_next(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return target
    return landing_url(request.user)


def _audit(request: AuthenticatedHttpRequest, action: str, **changes: Any) -> None:
    services.record_account_event(actor=request.user, action=action, changes=changes)


class VerifyView(FormView):
    """The second step of signing in. A wrong code counts as a failed sign-in for django-axes: the
    fifth within 15 minutes signs the person out and locks the username like five wrong passwords,
    and a right password in between does not forget them (escalations.accounts.lockout); the right code does."""

    request: AuthenticatedHttpRequest

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
        request = self.request
        # A new session key once both factors are proven, as Django does after the password.
        request.session.cycle_key()
        django_otp.login(request, form.device)
        lockout.forget_failures(request, request.user.get_username())
        _audit(request, AuditAction.TWO_FACTOR_VERIFIED, method=_method(form.device))
        return HttpResponseRedirect(_safe_next(request))

    def form_invalid(self, form: CodeForm) -> HttpResponse:
        if form.code_refused and (locked := count_wrong_code(self.request)) is not None:
            return locked
        return super().form_invalid(form)


verify = two_factor.open_while("verify")(never_cache(VerifyView.as_view()))


class ConfirmPasswordForm(forms.Form):
    password = forms.CharField(
        label="Password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password", "autofocus": True}),
        error_messages={"required": "Password: enter the password you sign in with."},
    )

    def __init__(self, *args: Any, request: HttpRequest, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.request = request
        self.refused = False

    def clean_password(self) -> str:
        password = self.cleaned_data["password"]
        user = self.request.user
        # authenticate() with the request: django-axes counts a wrong one and refuses while locked.
        proven = authenticate(self.request, username=user.get_username(), password=password)
        if proven is None or proven.pk != user.pk:
            self.refused = True
            raise forms.ValidationError("Password: not accepted. Type the password you sign in with.")
        return password


@method_decorator([sensitive_post_parameters("password"), never_cache], name="dispatch")
class ConfirmPasswordView(FormView):
    """The password again, before a first authenticator is added to an account whose sign-in was more
    than TWO_FACTOR_PASSWORD_FRESH_MINUTES ago: a session left open, or taken, cannot put a phone of
    someone else's on the account. Wrong passwords count toward the lockout as at sign-in."""

    template_name = "registration/confirm_password.html"
    form_class = ConfirmPasswordForm

    def get_form_kwargs(self) -> dict[str, Any]:
        return {**super().get_form_kwargs(), "request": self.request}

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return {
            **super().get_context_data(**kwargs),
            "next": _safe_next(self.request),
            "fresh_minutes": settings.TWO_FACTOR_PASSWORD_FRESH_MINUTES,
        }

    def form_valid(self, form: ConfirmPasswordForm) -> HttpResponse:
        two_factor.note_password_proven(self.request)
        return HttpResponseRedirect(_safe_next(self.request))

    def form_invalid(self, form: ConfirmPasswordForm) -> HttpResponse:
        request = self.request
        credentials = {"username": request.user.get_username()}
        if form.refused and AxesProxyHandler.is_locked(request, credentials):
            logout(request)
            return locked_out(request, credentials=credentials)
        return super().form_invalid(form)


confirm_password = two_factor.open_while("enroll")(ConfirmPasswordView.as_view())


class EnrolView(tf.SetupView):
    """Set up an authenticator: scan the QR code (or type the key), then prove it with one code.

    Only a session that gave a code already, or one without an authenticator whose password was given
    moments ago, gets here (two_factor.enrolment_needs): someone with the password alone must not add
    a phone of their own and so pass the code step with it."""

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if request.user.is_authenticated:
            needs = two_factor.enrolment_needs(request)
            if needs != "nothing":
                here = request.get_full_path() if request.method == "GET" else request.path
                target = reverse("two_factor_verify") if needs == "code" else reverse("confirm_password")
                return HttpResponseRedirect(f"{target}?{urlencode({'next': here})}")
        return super().dispatch(request, *args, **kwargs)

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
        with transaction.atomic(), devices_audited_by_view():
            response = super().done(form_list, **kwargs)
            _audit(self.request, AuditAction.TWO_FACTOR_ENABLED, method="authenticator app (TOTP)")
        two_factor.forget_password_proof(self.request)
        return response


class SetupCompleteView(tf.SetupCompleteView):
    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return {**super().get_context_data(**kwargs), "next": _safe_next(self.request)}


class QRCodeView(tf.QRGeneratorView):
    """The enrolment QR code, an SVG drawn here from the key in the session (nothing leaves us)."""

    def get_issuer(self) -> str:
        return str(settings.TWO_FACTOR_ISSUER)


class BackupCodesView(tf.BackupTokensView):
    """New backup codes take a current code (from the app, or a backup code, used up), typed on this
    form. The new codes are in the answer to that POST only, as a token's secret is: later visits say
    how many are left, so a session left open does not hand them out."""

    form_class = CodeForm

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        # django-two-factor-auth makes the (empty) backup-code device on first view: this page audits
        # the codes it issues, the device signals stay quiet.
        with devices_audited_by_view():
            return super().dispatch(request, *args, **kwargs)

    def get_form_kwargs(self) -> dict[str, Any]:
        return {**super().get_form_kwargs(), "user": self.request.user}

    def form_valid(self, form: Any) -> HttpResponse:
        with transaction.atomic():
            super().form_valid(form)  # replaces the codes; its redirect is not used
            _audit(
                self.request,
                AuditAction.BACKUP_CODES_ISSUED,
                codes=self.number_of_tokens,
                confirmed_with=_method(form.device),
            )
        codes = list(self.get_device().token_set.values_list("token", flat=True))
        fresh = self.get_form_class()(user=self.request.user)
        return self.render_to_response(self.get_context_data(form=fresh, fresh_codes=codes))

    def form_invalid(self, form: Any) -> HttpResponse:
        if form.code_refused and (locked := count_wrong_code(self.request)) is not None:
            return locked
        return super().form_invalid(form)


class DisableForm(CodeForm):
    understand = forms.BooleanField(
        label="Yes, I am sure",
        error_messages={"required": "Yes, I am sure: tick it to turn two-factor sign-in off."},
    )


class DisableView(tf.DisableView):
    """Turning two factors off is the owner's choice, with a current code typed on the form; with
    REQUIRE_2FA a lead or admin is sent straight back to set it up again."""

    form_class = DisableForm

    def get_form_kwargs(self) -> dict[str, Any]:
        return {**super().get_form_kwargs(), "user": self.request.user}

    def form_valid(self, form: Any) -> HttpResponse:
        with transaction.atomic(), devices_audited_by_view():
            response = super().form_valid(form)
            _audit(self.request, AuditAction.TWO_FACTOR_DISABLED, confirmed_with=_method(form.device))
        return response

    def form_invalid(self, form: Any) -> HttpResponse:
        if form.code_refused and (locked := count_wrong_code(self.request)) is not None:
            return locked
        return super().form_invalid(form)
