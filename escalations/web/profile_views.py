"""A person's own profile: time zone, reminder channels and webhook."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.forms import Form
from django.http import HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.views.generic import FormView

from escalations.core.people import AuthenticatedHttpRequest
from escalations.core.validation import (
    clean_webhook_url,
)
from escalations.models import (
    UserProfile,
)
from escalations.models.time_zones import canonical_zone, canonical_zones


class TimeZoneInput(forms.TextInput):
    """A text input with the canonical zones as its <datalist>: the browser filters the list as one
    types ("york" finds America/New_York), with no script, so it works under the strict CSP."""

    list_id = "time-zone-list"

    def __init__(self) -> None:
        super().__init__(attrs={"list": self.list_id, "autocomplete": "off", "spellcheck": "false"})

    def render(self, name: str, value: Any, attrs: dict[str, Any] | None = None, renderer: Any = None) -> SafeString:
        options = format_html_join(
            "", '<option value="{}">{}</option>', ((zone, zone.replace("_", " ")) for zone in canonical_zones())
        )
        return format_html(
            '{}<datalist id="{}">{}</datalist>', super().render(name, value, attrs, renderer), self.list_id, options
        )


class TimeZoneField(forms.CharField):
    widget = TimeZoneInput

    def to_python(self, value: Any) -> str:
        text = super().to_python(value) or ""
        if not text:
            return text
        zone = canonical_zone(text)
        if zone is None:
            raise ValidationError(
                f"{text[:64]!r} is not a time zone on the list: type a city or region and pick from the list "
                "(for example America/New_York or Europe/Berlin).",
                code="invalid_choice",
            )
        return zone


class ProfileForm(forms.ModelForm):
    time_zone = TimeZoneField(
        label="Time zone",
        max_length=64,
        help_text="Times are shown and typed in this zone. The database keeps UTC. Type a city or region to "
        "search the list.",
    )
    webhook_url = forms.URLField(
        label="Webhook URL",
        required=False,
        max_length=500,
        assume_scheme="https",
        help_text="Optional: an https URL (a Slack-compatible incoming webhook, say) that receives each "
        "reminder as JSON, signed the Standard Webhooks way. A new URL gets a new signing secret.",
    )

    class Meta:
        model = UserProfile
        fields = ["time_zone", "email_notifications", "in_app_notifications", "webhook_url"]
        labels = {
            "time_zone": "Time zone",
            "email_notifications": "Send reminders by email",
            "in_app_notifications": "Show reminders in the app (the bell)",
        }
        help_texts = {"time_zone": "Times are shown and typed in this zone. The database keeps UTC."}

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        # A zone stored under an old alias ("US/Eastern") is offered as its canonical name.
        stored = self.initial.get("time_zone")
        if stored:
            self.initial["time_zone"] = canonical_zone(stored) or stored

    def clean_webhook_url(self) -> str:
        try:
            return clean_webhook_url(self.cleaned_data.get("webhook_url", ""))
        except ValidationError as exc:
            raise ValidationError(exc.messages) from None


class ProfileView(FormView):
    """Any signed-in person may set their own time zone, role or not."""

    request: AuthenticatedHttpRequest

    template_name = "registration/profile.html"
    form_class = ProfileForm

    def get_form_kwargs(self) -> dict[str, Any]:
        kwargs = super().get_form_kwargs()
        user = self.request.user
        kwargs["instance"] = UserProfile.objects.filter(user=user).first() or UserProfile(user=user)
        return kwargs

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        from django_otp import user_has_device

        from escalations.reminders.channel_endpoints import describe
        from escalations.reminders.endpoints import active
        from escalations.web.channel_views import ChannelForm

        own = active().filter(user=self.request.user).order_by("kind")
        return {
            **super().get_context_data(**kwargs),
            "two_factor_on": user_has_device(self.request.user),
            "own_channels": [(c, describe(c.kind, c.target)) for c in own],
            "channel_form": ChannelForm(auto_id="channel_%s"),
        }

    def form_valid(self, form: Form) -> HttpResponse:
        from escalations.reminders.webhook_profile import SECRET_REPLACED_NOTICE, save_profile

        previous_url = form.initial.get("webhook_url") or ""
        profile = form.save(commit=False)  # type: ignore[attr-defined]
        new_secret = save_profile(actor=self.request.user, profile=profile, previous_url=previous_url)
        messages.success(self.request, "Profile saved.")
        if new_secret:
            messages.warning(self.request, SECRET_REPLACED_NOTICE)
        return HttpResponseRedirect(reverse("profile"))
