"""Redaction's pages: a lead asks from the escalation's page; an admin decides at /redactions/.
Thin: the rules are escalations.core.redaction's."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST
from django.views.generic import FormView

from escalations.compliance import access_log
from escalations.core import redaction
from escalations.core.permissions import Action, require, require_admin
from escalations.core.validation import REASON_MAX_LENGTH
from escalations.models import RedactionRequest
from escalations.web.base import add_service_errors, get_escalation

ADMINS_ONLY = "Only an admin (staff) approves or refuses redactions."
RECENT = 50


class RedactionRequestForm(forms.Form):
    values = forms.MultipleChoiceField(
        label="Values to remove",
        widget=forms.CheckboxSelectMultiple,
        help_text="Every value each field holds or held on this escalation. Tick each one that must go.",
    )
    reason = forms.CharField(
        label="Reason",
        max_length=REASON_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text='Why it must go. Describe it ("base64 pasted into Notes"); never repeat it.',
    )

    def __init__(self, *args: Any, choices: list[tuple[str, str]], **kwargs: Any):
        super().__init__(*args, **kwargs)
        values = self.fields["values"]
        assert isinstance(values, forms.MultipleChoiceField)
        values.choices = choices


class RefuseForm(forms.Form):
    reason = forms.CharField(
        label="Why it is refused",
        max_length=REASON_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="The lead who asked is told.",
    )


class RedactionRequestView(FormView):
    """/escalations/<pk>/redact/: a lead chooses the values and says why."""

    template_name = "redactions/request.html"
    form_class = RedactionRequestForm

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        require(request.user, Action.REQUEST_REDACTION)
        self.escalation = get_escalation(kwargs["pk"], request.user)
        return super().dispatch(request, *args, **kwargs)

    def get_form_kwargs(self) -> dict[str, Any]:
        return {**super().get_form_kwargs(), "choices": redaction.choices(self.escalation)}

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        # The form shows the start of each value: a read of the record, like its page.
        access_log.viewed(self.request, self.escalation, what="redaction request")
        context.update(
            escalation=self.escalation,
            pending=redaction.pending().filter(escalation=self.escalation),
        )
        return context

    def form_valid(self, form: RedactionRequestForm) -> HttpResponse:
        try:
            request = redaction.request_redaction(
                actor=self.request.user,
                escalation_id=self.escalation.pk,
                fields=form.cleaned_data["values"],
                reason=form.cleaned_data["reason"],
            )
        except ValidationError as exc:
            if hasattr(exc, "error_dict") and "fields" in exc.error_dict:
                # The service's "fields" are this form's "values".
                form.add_error("values", exc.error_dict.pop("fields"))
            add_service_errors(form, exc)
            return self.form_invalid(form)
        messages.success(
            self.request,
            f"{request.key} requested. An admin other than you decides; until then the values stay.",
        )
        return HttpResponseRedirect(reverse("escalations:detail", args=[self.escalation.pk]))


def redaction_list(request: HttpRequest) -> HttpResponse:
    """/redactions/: what awaits a decision, and the latest decisions."""
    require_admin(request.user, ADMINS_ONLY)
    decided = (
        RedactionRequest.objects.exclude(approved_at__isnull=True, refused_at__isnull=True)
        .select_related("escalation", "requested_by", "approved_by", "refused_by")
        .order_by("-requested_at", "-pk")[:RECENT]
    )
    pending = redaction.pending().order_by("requested_at", "pk")
    return render(request, "redactions/list.html", {"pending": pending, "decided": decided})


def _request_of(pk: int) -> RedactionRequest:
    return get_object_or_404(
        RedactionRequest.objects.select_related("escalation", "requested_by", "approved_by", "refused_by"), pk=pk
    )


def redaction_detail(request: HttpRequest, pk: int, refuse_form: RefuseForm | None = None) -> HttpResponse:
    """/redactions/<pk>/: the request (fields and lengths, never the values) and the decision."""
    require_admin(request.user, ADMINS_ONLY)
    item = _request_of(pk)
    context = {
        "item": item,
        "labels": redaction.field_labels(item.escalation, item.fields),
        "marker": redaction.marker_for(item, request.user, timezone.now()),
        "refuse_form": refuse_form or RefuseForm(),
        "own": item.requested_by_id == request.user.pk,
    }
    return render(request, "redactions/detail.html", context, status=400 if refuse_form is not None else 200)


@require_POST
def redaction_approve(request: HttpRequest, pk: int) -> HttpResponse:
    require_admin(request.user, ADMINS_ONLY)
    item = _request_of(pk)
    try:
        done = redaction.approve_redaction(actor=request.user, request_id=item.pk)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return HttpResponseRedirect(reverse("redaction_detail", args=[item.pk]))
    counts = done.summary
    messages.success(
        request,
        f"{done.key} approved: {done.escalation.key}'s values replaced by the marker in the record, "
        f"{counts.get('audit_events', 0)} audit events and {counts.get('access_log', 0)} access-log rows.",
    )
    return HttpResponseRedirect(reverse("redactions"))


@require_POST
def redaction_refuse(request: HttpRequest, pk: int) -> HttpResponse:
    require_admin(request.user, ADMINS_ONLY)
    item = _request_of(pk)
    form = RefuseForm(request.POST)
    if not form.is_valid():
        return redaction_detail(request, pk, refuse_form=form)
    try:
        redaction.refuse_redaction(actor=request.user, request_id=item.pk, reason=form.cleaned_data["reason"])
    except ValidationError as exc:
        add_service_errors(form, exc)
        return redaction_detail(request, pk, refuse_form=form)
    messages.success(request, f"{item.key} refused; {item.requested_by.get_username()} is told why.")
    return HttpResponseRedirect(reverse("redactions"))
