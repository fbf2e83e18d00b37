"""The rules pages, thin: /rules/ (every rule in force, pending and past, with its citation, dates and
how many active escalations it governs), one rule's versions with what a pending rule would change
(leads), a new version (admins), and a lead's re-evaluation of an escalation under the current rules."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase, HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.views.generic import FormView, TemplateView

from escalations.core import rule_selectors, rule_services
from escalations.core.people import AuthenticatedHttpRequest
from escalations.core.permissions import Action, can, is_admin, require, require_admin
from escalations.core.validation import REASON_MAX_LENGTH
from escalations.models import Escalation, Rule
from escalations.models.rules import Certainty, Limit, RuleStatus, Unit
from escalations.web.base import RoleRequiredMixin, add_service_errors
from escalations.web.escalation_views import ReasonActionView
from escalations.web.form_fields import LocalDateTimeField


class RulesView(RoleRequiredMixin, TemplateView):
    action = Action.VIEW_RULES
    template_name = "rules/list.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context.update(
            page=rule_selectors.rules_page(timezone.now()),
            can_preview=can(self.request.user, Action.PREVIEW_RULES),
            can_change=is_admin(self.request.user),
        )
        return context


class RuleDetailView(RoleRequiredMixin, TemplateView):
    """One rule: every version, newest first; for a pending rule, a lead sees what it would change
    (from the date they choose, or for every clock)."""

    action = Action.VIEW_RULES
    template_name = "rules/detail.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        versions = list(Rule.objects.filter(code=kwargs["code"]).select_related("created_by").order_by("-version"))
        if not versions:
            raise Http404("No such rule.")
        latest = versions[0]
        preview = None
        from_error = ""
        effective_from: datetime | None = None
        if latest.status == RuleStatus.PENDING and can(self.request.user, Action.PREVIEW_RULES):
            typed = self.request.GET.get("from", "").strip()
            if typed:
                try:
                    effective_from = timezone.make_aware(datetime.strptime(typed, "%Y-%m-%d"))  # noqa: DTZ007
                except ValueError:
                    from_error = "From must be a date written YYYY-MM-DD; showing every clock instead."
            preview = rule_selectors.preview(latest, effective_from)
        context.update(
            latest=latest,
            versions=versions,
            preview=preview,
            preview_from=effective_from,
            from_error=from_error,
            listed=preview.moves[: rule_selectors.PREVIEW_LISTED] if preview else [],
            can_change=is_admin(self.request.user),
        )
        return context


class RuleVersionForm(forms.Form):
    title = forms.CharField(max_length=200)
    limit = forms.ChoiceField(choices=Limit.choices)
    amount = forms.IntegerField(min_value=1, required=False)
    second_amount = forms.IntegerField(min_value=1, required=False, label="Second amount (urgent, after last change)")
    unit = forms.ChoiceField(choices=Unit.choices)
    window_start = forms.TimeField(required=False, help_text="HH:MM, for a time-of-day rule.")
    window_end = forms.TimeField(required=False)
    time_zone = forms.CharField(max_length=64, required=False)
    applies_to = forms.CharField(max_length=120, required=False)
    citation = forms.CharField(max_length=200)
    link_text = forms.CharField(max_length=200)
    source = forms.CharField(max_length=200, required=False)
    effective_from = LocalDateTimeField(required=False)
    effective_to = LocalDateTimeField(required=False, help_text="Exclusive: the first moment it no longer applies.")
    status = forms.ChoiceField(choices=RuleStatus.choices)
    certainty = forms.ChoiceField(choices=Certainty.choices)
    notes = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)
    reason = forms.CharField(
        label="Why this change", max_length=REASON_MAX_LENGTH, widget=forms.Textarea(attrs={"rows": 3})
    )


class RuleNewVersionView(FormView):
    """Admins only: a change to a rule is its next version; the old stays, and so do the escalations
    judged by it until a lead re-evaluates them."""

    request: AuthenticatedHttpRequest
    form_class = RuleVersionForm
    template_name = "rules/new_version.html"

    latest: Rule

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        require(request.user, Action.VIEW_RULES)
        require_admin(request.user, "Only an admin may change a rule.")
        latest = Rule.objects.filter(code=kwargs["code"]).order_by("-version").first()
        if latest is None:
            raise Http404("No such rule.")
        self.latest = latest
        return super().dispatch(request, *args, **kwargs)

    def get_initial(self) -> dict[str, Any]:
        return {name: getattr(self.latest, name) for name in rule_services.VERSIONED_FIELDS}

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["latest"] = self.latest
        return context

    def form_valid(self, form: forms.Form) -> HttpResponse:
        data = {name: form.cleaned_data[name] for name in rule_services.VERSIONED_FIELDS}
        for name in ("source", "notes", "applies_to", "time_zone"):
            data[name] = data[name] or ""
        changed = {name: value for name, value in data.items() if getattr(self.latest, name) != value}
        try:
            rule = rule_services.rule_new_version(
                actor=self.request.user, code=self.latest.code, data=changed, reason=form.cleaned_data["reason"]
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
            return self.form_invalid(form)
        messages.success(self.request, f"{rule.code} is now version {rule.version}.")
        return HttpResponseRedirect(reverse("rule_detail", args=[rule.code]))


class ReevaluateRulesView(ReasonActionView):
    action = Action.REEVALUATE_RULES
    service = staticmethod(rule_services.reevaluate_rules)
    title = "Re-evaluate under the current rules"
    submit_label = "Re-evaluate"
    intro = (
        "The escalation's deadlines are computed again under the latest version of every rule, and the "
        "rule versions it is judged by are replaced. The reason, and every deadline that moves, are kept "
        "in the audit trail."
    )
    success_message = "{key} re-evaluated under the current rules."

    def perform(self, data: dict[str, Any]) -> Escalation:
        return self._call(type(self).service, data, reason=data["reason"])
