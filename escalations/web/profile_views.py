"""A person's own profile: time zone, reminder channels and webhook."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.forms import Form
from django.http import HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.views.generic import FormView

from escalations.core.validation import (
    clean_webhook_url,
)
from escalations.models import (
    UserProfile,
)


class ProfileForm(forms.ModelForm):
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

    def clean_webhook_url(self) -> str:
        try:
            return clean_webhook_url(self.cleaned_data.get("webhook_url", ""))
        except ValidationError as exc:
            raise ValidationError(exc.messages) from None


class ProfileView(FormView):
    """Any signed-in person may set their own time zone, role or not."""

    template_name = "registration/profile.html"
    form_class = ProfileForm

    def get_form_kwargs(self) -> dict[str, Any]:
        kwargs = super().get_form_kwargs()
        user: Any = self.request.user
        kwargs["instance"] = UserProfile.objects.filter(user=user).first() or UserProfile(user=user)
        return kwargs

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        from django_otp import user_has_device

        return {**super().get_context_data(**kwargs), "two_factor_on": user_has_device(self.request.user)}

    def form_valid(self, form: Form) -> HttpResponse:
        from escalations.reminders.webhook_profile import SECRET_REPLACED_NOTICE, save_profile

        previous_url = form.initial.get("webhook_url") or ""
        profile = form.save(commit=False)  # type: ignore[attr-defined]
        new_secret = save_profile(actor=self.request.user, profile=profile, previous_url=previous_url)
        messages.success(self.request, "Profile saved.")
        if new_secret:
            messages.warning(self.request, SECRET_REPLACED_NOTICE)
        return HttpResponseRedirect(reverse("profile"))
