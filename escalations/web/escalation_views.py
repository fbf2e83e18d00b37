"""Thin views: check the role, hand the input to a service, show the outcome. No rules here."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.forms import Form
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html_join
from django.views.generic import FormView, TemplateView, View
from django_filters.views import FilterView
from django_tables2 import RequestConfig, SingleTableMixin

from escalations import policy
from escalations.compliance import access_log, exports
from escalations.compliance.exports import TableExportMixin
from escalations.core import authority_selectors, availability, rule_selectors, selectors, services, write_frame
from escalations.core.filters import EscalationFilter, list_url
from escalations.core.people import AuthenticatedHttpRequest, RequestUser
from escalations.core.permissions import Action, can, require
from escalations.legal import authority_services
from escalations.legal import selectors as legal_selectors
from escalations.models import Escalation, Status, format_key
from escalations.web.authority_forms import CreateWithTriageForm, triage_answers
from escalations.web.base import BoundedLazyPaginator, RoleRequiredMixin, add_service_errors, get_escalation
from escalations.web.escalation_forms import (
    AmendBreachForm,
    AssignForm,
    CloseForm,
    EditEscalationForm,
    PreservationForm,
    ReasonForm,
    RecordReportWithBreachForm,
)
from escalations.web.form_fields import initial_from
from escalations.web.saved_views import list_query, saved_views_of
from escalations.web.tables import BULK_FORM_ID, PAGE_SIZE, EscalationTable, shown_fields_only


class ShownFieldsTableMixin:
    """SingleTableMixin's get_table with the page's rows loading only the columns the table shows
    (the export builds its own queryset from get_table_data and is not narrowed)."""

    def get_table(self, **kwargs: Any) -> EscalationTable:
        view: Any = self
        table = view.get_table_class()(data=shown_fields_only(view.get_table_data()), **kwargs)
        configured: EscalationTable = RequestConfig(view.request, paginate=view.get_table_pagination(table)).configure(
            table
        )
        return configured


class MyQueueView(RoleRequiredMixin, TableExportMixin, ShownFieldsTableMixin, SingleTableMixin, TemplateView):
    """The user's active escalations; `?_export=csv|xlsx` exports them (leads and auditors)."""

    request: AuthenticatedHttpRequest

    template_name = "escalations/queue.html"
    table_class = EscalationTable
    paginator_class = BoundedLazyPaginator
    table_pagination = {"per_page": PAGE_SIZE}
    export_name = "my-queue"
    export_title = "My queue"

    def get_table_data(self) -> QuerySet[Escalation]:
        return selectors.visible_to(self.request.user, selectors.my_queue(self.request.user))

    def get_table_kwargs(self) -> dict[str, Any]:
        return {"exclude": ("select",)}


class EscalationListView(RoleRequiredMixin, TableExportMixin, ShownFieldsTableMixin, SingleTableMixin, FilterView):
    """All escalations, filtered and sorted; `?_export=csv|xlsx` exports every matching row (leads
    and auditors). Leads and auditors also get row checkboxes for the bulk form."""

    request: AuthenticatedHttpRequest

    template_name = "escalations/list.html"
    table_class = EscalationTable
    filterset_class = EscalationFilter
    paginator_class = BoundedLazyPaginator
    table_pagination = {"per_page": PAGE_SIZE}
    export_name = "escalations"
    export_title = "All escalations"

    def get_queryset(self) -> QuerySet[Escalation]:
        return selectors.escalations(self.request.user).order_by(*selectors.NEXT_ACTION_ORDER)

    def get_table_kwargs(self) -> dict[str, Any]:
        return {} if can(self.request.user, Action.EXPORT) else {"exclude": ("select",)}

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        user = self.request.user
        context["list_query"] = list_query(self.request.GET)
        context["saved_views"] = saved_views_of(user)
        if can(user, Action.EXPORT):
            context["bulk"] = {
                "form_id": BULK_FORM_ID,
                "assign": can(user, Action.ASSIGN),
                # The options written here from two columns: a model instance and a template loop per
                # person cost more than the rest of the form (a few hundred moderators).
                "assignee_options": format_html_join(
                    "",
                    '<option value="{}">{}</option>',
                    selectors.assignable_users().values_list("pk", get_user_model().USERNAME_FIELD),
                )
                if can(user, Action.ASSIGN)
                else "",
            }
        return context


# More than a page or two of rows at once is not a selection anyone made by hand.
BULK_MAX_IDS = 500


def parse_ids(values: list[str]) -> tuple[list[int], list[str]]:
    """Escalation numbers from the checkboxes, in order, without repeats; and what wasn't one."""
    ids: list[int] = []
    bad: list[str] = []
    for raw in values:
        text = raw.strip()
        # ASCII digits of bounded length: a number the database's bigint holds.
        if text.isascii() and text.isdigit() and len(text) <= 18 and int(text) > 0:
            if int(text) not in ids:
                ids.append(int(text))
        else:
            bad.append(text[:20])
    return ids, bad


class BulkActionView(RoleRequiredMixin, View):
    """POST ids (checkboxes) and action: `assign` (leads; with `assignee`) gives each selected
    escalation to that person through services.assign_escalation, so each change is audited, and
    reports what was assigned and what failed and why; `export` (leads and auditors) downloads the
    selected rows as CSV (audited)."""

    http_method_names = ["post"]

    def post(self, request: AuthenticatedHttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        action = request.POST.get("action", "")
        if action == "assign":
            require(request.user, Action.ASSIGN)
        elif action == "export":
            require(request.user, Action.EXPORT)
        else:
            return exports.bad_request("Unknown bulk action: choose assign or export.")
        back = HttpResponseRedirect(list_url(list_query(request.POST.get("query", ""))))
        ids, bad = parse_ids(request.POST.getlist("ids"))
        if len(ids) + len(bad) > BULK_MAX_IDS:
            messages.error(request, f"Select at most {BULK_MAX_IDS} escalations at once.")
            return back
        if not ids:
            messages.error(request, "Select at least one escalation first (tick its box in the table).")
            return back
        if action == "export":
            return self.export(request, ids)
        return self.assign(request, ids, bad, back)

    def export(self, request: AuthenticatedHttpRequest, ids: list[int]) -> HttpResponse:
        queryset = selectors.escalations(request.user).filter(pk__in=ids).order_by("-knowledge_at", "-pk")
        return exports.export_queryset(  # type: ignore[return-value]
            request,
            export="escalations-selected",
            fmt=exports.CSV,
            queryset=queryset,
            columns=exports.escalation_columns(timezone.now()),
            query="ids=" + ",".join(str(pk) for pk in ids),
            title="Selected escalations",
        )

    def assign(
        self, request: AuthenticatedHttpRequest, ids: list[int], bad: list[str], back: HttpResponse
    ) -> HttpResponse:
        raw = request.POST.get("assignee", "").strip()
        assignee = None
        if raw.isascii() and raw.isdigit() and len(raw) <= 18:
            assignee = selectors.assignable_users().filter(pk=int(raw)).first()
        if assignee is None:
            messages.error(request, "Choose the moderator or lead to assign the selected escalations to.")
            return back
        name = assignee.get_username()
        current = dict(Escalation.objects.filter(pk__in=ids).values_list("pk", "assignee_id"))
        assigned: list[str] = []
        failed = [f"{text!r} (not an escalation number)" for text in bad]
        for pk in ids:
            key = format_key(pk)
            if pk not in current:
                failed.append(f"{key} (no such escalation)")
                continue
            if current[pk] == assignee.pk:
                failed.append(f"{key} (already assigned to {name})")
                continue
            try:
                services.assign_escalation(actor=request.user, escalation_id=pk, version=None, assignee=assignee)
            except ValidationError as exc:
                failed.append(f"{key} ({' '.join(exc.messages)})")
            except Escalation.DoesNotExist:
                failed.append(f"{key} (no such escalation)")
            else:
                assigned.append(key)
        if assigned:
            noun = "escalation" if len(assigned) == 1 else "escalations"
            messages.success(request, f"Assigned {len(assigned)} {noun} to {name}: {', '.join(assigned)}.")
        if failed:
            messages.warning(request, f"{len(failed)} not assigned: {'; '.join(failed)}")
        return back


class EscalationCreateView(RoleRequiredMixin, FormView):
    request: AuthenticatedHttpRequest

    action = Action.CREATE
    form_class = CreateWithTriageForm
    template_name = "escalations/form.html"
    extra_context = {"title": "Log an escalation", "submit_label": "Log escalation"}

    def get_initial(self) -> dict[str, Any]:
        return {"knowledge_at": timezone.localtime().replace(second=0, microsecond=0)}

    def form_valid(self, form: Form) -> HttpResponse:
        try:
            escalation = authority_services.create_with_triage(
                actor=self.request.user, data=form.cleaned_data, answers=triage_answers(form.cleaned_data)
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
            return self.form_invalid(form)
        messages.success(self.request, f"{escalation.key} logged. Report target: see the deadlines below.")
        warn_same_reference(self.request, escalation)
        return HttpResponseRedirect(reverse("escalations:detail", args=[escalation.pk]))


def warn_same_reference(request: HttpRequest, escalation: Escalation) -> None:
    """Logging the same content or account twice is allowed, but worth a look: say which ones."""
    others = selectors.related_escalations(
        escalation.platform_reference,
        escalation.account_reference,
        exclude_pk=escalation.pk,
        limit=5,
        user=request.user,
    )
    same_content = [o.key for o in others if o.platform_reference == escalation.platform_reference]
    same_account = [o.key for o in others if o.key not in same_content]
    if same_content:
        messages.warning(
            request,
            f"The same platform reference is on {', '.join(same_content)}. Logging it again is allowed; "
            "check whether it is the same incident.",
        )
    if same_account:
        messages.warning(
            request, f"The same reported account is on {', '.join(same_account)}: see Related escalations."
        )


def _pending_acks(escalation: Escalation, user: RequestUser, entries: list[dict[str, Any]]) -> list[Any]:
    """The reminders that reached someone and nobody acknowledged yet, newest first (at most 5), for
    the Acknowledge buttons: read from the timeline's delivery attempts, no query of their own."""
    if not (can(user, Action.ACKNOWLEDGE) and escalation.is_active):
        return []
    pending: dict[int, Any] = {}
    for entry in entries:
        attempt = entry.get("attempt")
        if attempt is None or not attempt.ok:
            continue
        reminder = attempt.delivery.reminder
        if reminder.cancelled_at is None and selectors.unacknowledged(reminder):
            pending[reminder.pk] = reminder
    return sorted(pending.values(), key=lambda r: (r.due_at, r.pk), reverse=True)[:5]


class EscalationDetailView(RoleRequiredMixin, TemplateView):
    template_name = "escalations/detail.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        user = self.request.user
        escalation = get_escalation(kwargs["pk"], user)
        # Need-to-know: this read is recorded (one INSERT) before anything of it is rendered.
        access_log.viewed(self.request, escalation)
        now = timezone.now()
        # The rule versions this escalation was judged by, and the configuration they make (two queries).
        judged = rule_selectors.escalation_rules(escalation)
        cfg = judged.cfg
        deadlines = [
            {
                "deadline": d,
                "state": d.state(now),
                "time_left": policy.humanize_delta(policy.time_left(d.due_at, now)) if d.due_at else "",
                "rules": judged.for_kind(d.kind),
            }
            for d in policy.deadlines(escalation, cfg)
        ]
        active = escalation.is_active
        reported = escalation.status == Status.REPORTED
        release = can(user, Action.RELEASE) and reported and escalation.released_at is None
        after_report = legal_selectors.after_report(escalation, now, user, cfg=cfg)
        refused = availability.refusals(escalation, user, now, after_report.open_requests)
        entries = selectors.timeline_entries(escalation)
        context.update(
            escalation=escalation,
            deadlines=deadlines,
            judged=judged,
            state=policy.escalation_state(escalation, now, cfg),
            entries=entries,
            pending_acks=_pending_acks(escalation, user, entries),
            after_report=after_report,
            register=authority_selectors.register(escalation, now, cfg),
            preservation_ended=escalation.preserve_until is not None and escalation.preserve_until <= now,
            # The two limits behind ncmec_deletion_at, from policy's own numbers: no deadline arithmetic here.
            ncmec_after_open=(
                escalation.ncmec_opened_at + policy.NCMEC_UNFINISHED_LIFETIME if escalation.ncmec_opened_at else None
            ),
            ncmec_after_change=(
                escalation.ncmec_last_change_at + policy.NCMEC_AFTER_LAST_CHANGE
                if escalation.ncmec_last_change_at
                else None
            ),
            ncmec_time_left=(
                policy.humanize_delta(policy.time_left(after_report.ncmec_deletion_at, now))
                if after_report.ncmec_deletion_at
                else ""
            ),
            refused=refused,
            actions={
                "edit": can(user, Action.EDIT) and active,
                "report": can(user, Action.RECORD_REPORT) and escalation.status == Status.OPEN,
                "correct_report": can(user, Action.CORRECT_REPORT) and reported,
                "take": can(user, Action.TAKE) and active and escalation.assignee_id is None,
                "preservation": can(user, Action.CONFIRM_PRESERVATION) and active,
                "assign": can(user, Action.ASSIGN) and active,
                "dismiss": can(user, Action.DISMISS) and escalation.status == Status.OPEN,
                "close": can(user, Action.CLOSE) and escalation.status == Status.REPORTED,
                "reopen": can(user, Action.REOPEN) and not active,
                "breach": can(user, Action.AMEND_BREACH) and escalation.reported_on_time is False,
                "export": can(user, Action.EXPORT),
                "redact": can(user, Action.REQUEST_REDACTION),
                "reevaluate": can(user, Action.REEVALUATE_RULES) and active,
                "legal_request": can(user, Action.MANAGE_LEGAL),
                "extend": can(user, Action.EXTEND_PRESERVATION) and reported,
                "request_release": release and escalation.release_requested_at is None,
                "approve_release": release and escalation.release_requested_at is not None,
                "add_evidence": can(user, Action.CONFIRM_PRESERVATION) and active,
                "report_destination": can(user, Action.RECORD_REPORT) and active,
                "confirm_knowledge": (
                    can(user, Action.CONFIRM_KNOWLEDGE)
                    and active
                    and escalation.knowledge_unconfirmed_since is not None
                ),
            },
        )
        return context


class EscalationActionView(RoleRequiredMixin, FormView):
    """One form that changes one escalation through one service call."""

    request: AuthenticatedHttpRequest

    template_name = "escalations/action.html"
    title = ""
    submit_label = "Save"
    intro = ""
    initial_fields: tuple[str, ...] = ()
    success_message = "{key} saved."

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        require(request.user, self.action)
        self.escalation = get_escalation(kwargs["pk"], request.user)
        return super().dispatch(request, *args, **kwargs)

    def get_initial(self) -> dict[str, Any]:
        return initial_from(self.escalation, self.initial_fields)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context.update(escalation=self.escalation, title=self.title, submit_label=self.submit_label, intro=self.intro)
        return context

    def render_to_response(self, context: dict[str, Any], **response_kwargs: Any) -> HttpResponse:
        # Need-to-know: the form shows the escalation (first shown, or again with errors); a saved
        # change redirects instead and is in the audit trail.
        name = self.request.resolver_match.url_name if self.request.resolver_match else ""
        access_log.viewed(self.request, self.escalation, what=f"{(name or 'action').replace('_', ' ')} form")
        return super().render_to_response(context, **response_kwargs)

    def perform(self, data: dict[str, Any]) -> Escalation:
        raise NotImplementedError

    def form_valid(self, form: Form) -> HttpResponse:
        try:
            escalation = self.perform(form.cleaned_data)
        except write_frame.StaleVersionError as exc:
            form.add_error(None, f"{exc.message} Your input is kept below.")
            # Keep what the user typed, but base the next attempt on the version they now see.
            data = form.data.copy()  # type: ignore[attr-defined]
            data["version"] = str(exc.escalation.version)
            form.data = data
            self.escalation = exc.escalation
            return self.form_invalid(form)
        except ValidationError as exc:
            add_service_errors(form, exc)
            return self.form_invalid(form)
        messages.success(self.request, self.success_message.format(key=escalation.key))
        return HttpResponseRedirect(reverse("escalations:detail", args=[escalation.pk]))

    def _call(self, service: Any, form_data: dict[str, Any], **fields: Any) -> Escalation:
        result: Escalation = service(
            actor=self.request.user, escalation_id=self.escalation.pk, version=form_data["version"], **fields
        )
        return result


class EscalationEditView(EscalationActionView):
    action = Action.EDIT
    form_class = EditEscalationForm
    template_name = "escalations/form.html"
    title = "Edit escalation"
    submit_label = "Save changes"
    initial_fields = services.EDITABLE_FIELDS
    success_message = "{key} updated."

    def perform(self, data: dict[str, Any]) -> Escalation:
        fields = {name: data[name] for name in self.initial_fields}
        escalation = self._call(services.edit_escalation, data, data=fields)
        warn_same_reference(self.request, escalation)
        return escalation


class RecordReportView(EscalationActionView):
    action = Action.RECORD_REPORT
    form_class = RecordReportWithBreachForm
    title = "Record the CyberTipline report"
    submit_label = "Record report"
    intro = "Enter when the report was sent to NCMEC and the report ID NCMEC returned."
    initial_fields = ("reported_at", "cybertipline_report_id", "breach_reason", "breach_note")
    success_message = "{key}: report recorded. Next: confirm the content is preserved."

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if self.escalation.status == Status.REPORTED:
            # Recorded already: changing it is a correction, with a reason.
            return HttpResponseRedirect(reverse("escalations:correct_report", args=[self.escalation.pk]))
        return super().get(request, *args, **kwargs)

    def get_initial(self) -> dict[str, Any]:
        initial = super().get_initial()
        if initial.get("reported_at") is None:
            initial["reported_at"] = timezone.localtime().replace(second=0, microsecond=0)
        return initial

    def perform(self, data: dict[str, Any]) -> Escalation:
        return self._call(
            services.record_report,
            data,
            reported_at=data["reported_at"],
            cybertipline_report_id=data["cybertipline_report_id"],
            breach_reason=data.get("breach_reason", ""),
            breach_note=data.get("breach_note", ""),
        )


class AmendBreachView(EscalationActionView):
    action = Action.AMEND_BREACH
    form_class = AmendBreachForm
    title = "Amend breach reason"
    submit_label = "Save breach reason"
    intro = "Why was this report recorded after its target? The change is kept in the audit trail."
    initial_fields = ("breach_reason", "breach_note")
    success_message = "{key}: breach reason amended."

    def perform(self, data: dict[str, Any]) -> Escalation:
        return self._call(
            services.amend_breach, data, breach_reason=data["breach_reason"], breach_note=data["breach_note"]
        )


class PreservationView(EscalationActionView):
    action = Action.CONFIRM_PRESERVATION
    form_class = PreservationForm
    title = "Confirm preservation"
    submit_label = "Confirm preserved now"
    intro = (
        "Confirm that the reported content is preserved in the platform's evidence store. Enter where it is "
        "kept (a reference, never the content). The time of confirmation is now."
    )
    initial_fields = ("preservation_location",)
    success_message = "{key}: preservation confirmed."

    def perform(self, data: dict[str, Any]) -> Escalation:
        return self._call(services.confirm_preservation, data, preservation_location=data["preservation_location"])


class AssignView(EscalationActionView):
    action = Action.ASSIGN
    form_class = AssignForm
    title = "Assign"
    submit_label = "Assign"
    initial_fields = ("assignee",)
    success_message = "{key} assigned."

    def perform(self, data: dict[str, Any]) -> Escalation:
        return self._call(services.assign_escalation, data, assignee=data["assignee"])


class ReasonActionView(EscalationActionView):
    form_class = ReasonForm
    service: Any = None

    def get_initial(self) -> dict[str, Any]:
        return {"version": self.escalation.version}

    def perform(self, data: dict[str, Any]) -> Escalation:
        return self._call(type(self).service, data, reason=data["reason"])


class DismissView(ReasonActionView):
    action = Action.DISMISS
    service = staticmethod(services.dismiss_escalation)
    title = "Dismiss"
    submit_label = "Dismiss escalation"
    intro = "Dismiss only when review shows there is nothing to report. The reason is kept in the audit trail."
    success_message = "{key} dismissed."


class CloseView(ReasonActionView):
    action = Action.CLOSE
    service = staticmethod(services.close_escalation)
    title = "Close"
    submit_label = "Close escalation"
    form_class = CloseForm
    intro = (
        "Close once the preservation period has ended, no law-enforcement request is open, and the "
        "evidence was released (requested by one lead, approved by another) or is kept voluntarily."
    )
    success_message = "{key} closed."

    def perform(self, data: dict[str, Any]) -> Escalation:
        return self._call(services.close_escalation, data, reason=data["reason"], retained=data.get("retained", False))


class ReopenView(ReasonActionView):
    action = Action.REOPEN
    service = staticmethod(services.reopen_escalation)
    title = "Reopen"
    submit_label = "Reopen escalation"
    intro = "Reopening makes the escalation's deadlines apply again."
    success_message = "{key} reopened."
