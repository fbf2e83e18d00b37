"""After the report, thin views as in escalations.web.escalation_views: law-enforcement requests (list, new, detail,
respond, close), an escalation's preservation extension and release, its evidence items and report
destinations, and the help page. Every rule lives in escalations.legal.services."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Count, Prefetch
from django.forms import Form
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.generic import FormView, TemplateView, View

from escalations import policy
from escalations.compliance import access_log, exports, record_exports
from escalations.core import holds
from escalations.core.display import shown
from escalations.core.people import AuthenticatedHttpRequest, RequestUser, signed_in
from escalations.core.permissions import AUDITOR, LEAD, Action, can, require, roles_of
from escalations.legal import selectors as legal_selectors
from escalations.legal import services as legal_services
from escalations.models import (
    PRESERVATION_KINDS,
    AuditAction,
    Escalation,
    LegalRequest,
    LegalRequestKind,
    LegalRequestStatus,
    format_key,
)
from escalations.web.base import add_service_errors
from escalations.web.escalation_forms import ReasonForm
from escalations.web.escalation_views import EscalationActionView
from escalations.web.form_fields import VersionedForm
from escalations.web.legal_forms import (
    CloseLegalRequestForm,
    DestinationReportForm,
    EvidenceItemForm,
    ExtendPreservationForm,
    LegalRequestFilterForm,
    LegalRequestForm,
    RespondLegalRequestForm,
    parse_escalation_ids,
)

LEGAL_READERS = frozenset({LEAD, AUDITOR})
PAGE_SIZE = 50
# Escalations named per request on the list (all of them on the request's page).
LISTED_ESCALATIONS = 10


def require_legal_reader(user: RequestUser) -> None:
    """Leads manage law-enforcement requests; auditors read them; nobody else sees them."""
    if not roles_of(user) & LEGAL_READERS:
        raise PermissionDenied("Law-enforcement requests are for leads and auditors.")


class LegalReaderMixin:
    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        require_legal_reader(request.user)
        return super().dispatch(request, *args, **kwargs)  # type: ignore[misc]


def response_state(request: LegalRequest, now: Any) -> str:
    """The response deadline's state, as the deadline badges show it."""
    if request.status != LegalRequestStatus.OPEN:
        return policy.DeadlineState.MET if request.responded_at else policy.DeadlineState.NOT_APPLICABLE
    if request.response_due_at is None:
        return ""
    # "Due soon" from the same moment the legal_response_due_soon reminder goes out.
    soon = policy.PolicyConfig.from_settings().legal_response_due_soon
    return policy.state_at(request.response_due_at, request.response_due_at - soon, now)


# --- legal requests -------------------------------------------------------------------------------


class LegalRequestListView(LegalReaderMixin, TemplateView):
    """Every request, those whose response is overdue first, then newest first; filters `status` and
    `kind`. A value that is not one of the choices is shown as an error on its filter and ignored.
    `?_export=csv|xlsx` downloads every matching request (leads and auditors)."""

    template_name = "legal/request_list.html"

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        fmt = request.GET.get(exports.EXPORT_PARAM)
        if fmt is None:
            return super().get(request, *args, **kwargs)
        require(request.user, Action.EXPORT)
        if fmt not in exports.FORMATS:
            return exports.bad_request(f"Unknown export format {fmt[:20]!r}: use csv or xlsx.")
        _form, requests = self.filtered(timezone.now())
        return record_exports.export_legal_requests(  # type: ignore[return-value]
            signed_in(request), fmt=fmt, queryset=requests, query=request.GET.urlencode()
        )

    def filtered(self, now: Any) -> tuple[LegalRequestFilterForm, Any]:
        """The filter form and the requests it selects (a value that is not a choice is ignored)."""
        params = {k: v for k, v in self.request.GET.items() if k in ("status", "kind")}
        form = LegalRequestFilterForm(params or None)
        chosen = {"status": "", "kind": ""}
        if form.is_bound:
            form.is_valid()
            for name in chosen:
                if name not in form.errors:
                    chosen[name] = form.cleaned_data.get(name) or ""
        return form, legal_selectors.legal_request_list(now, **chosen)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        now = timezone.now()
        form, requests = self.filtered(now)
        # A request may cover hundreds of escalations: the list names the first few of each (its
        # page names them all), which keeps the page, and the access-log rows it writes, bounded.
        requests = requests.annotate(escalation_count=Count("escalations")).prefetch_related(
            Prefetch(
                "escalations",
                queryset=Escalation.objects.only("pk").order_by("pk")[:LISTED_ESCALATIONS],
                to_attr="listed_escalations",
            )
        )
        page = Paginator(requests, PAGE_SIZE).get_page(self.request.GET.get("page"))
        rows = [
            {
                "request": r,
                "due_state": response_state(r, now),
                "more": r.escalation_count - len(r.listed_escalations),
            }
            for r in page.object_list
        ]
        # Need-to-know: one access-log row per escalation the page names.
        access_log.viewed_many(
            self.request,
            [esc.pk for row in rows for esc in row["request"].listed_escalations],
            what="legal requests",
            query=self.request.GET.urlencode(),
        )
        context.update(
            filter_form=form,
            page_obj=page,
            rows=rows,
            can_manage=can(self.request.user, Action.MANAGE_LEGAL),
            export_links=exports.export_links(self.request) if can(self.request.user, Action.EXPORT) else None,
            now=now,
            query=_query_without_page(self.request),
        )
        return context


def _query_without_page(request: HttpRequest) -> str:
    query = request.GET.copy()
    query.pop("page", None)
    return query.urlencode()


class LegalRequestCreateView(FormView):
    request: AuthenticatedHttpRequest

    template_name = "legal/request_new.html"
    form_class = LegalRequestForm

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        require(request.user, Action.MANAGE_LEGAL)
        return super().dispatch(request, *args, **kwargs)

    def get_initial(self) -> dict[str, Any]:
        """Prefilled from the link that led here: an escalation's page, or a request being renewed."""
        initial: dict[str, Any] = {"received_at": timezone.localtime().replace(second=0, microsecond=0)}
        params = self.request.GET
        if params.get("kind") in LegalRequestKind.values:
            initial["kind"] = params["kind"]
        try:
            ids = parse_escalation_ids(", ".join(params.getlist("escalations")))
        except ValidationError:
            ids = []
        if ids:
            initial["escalations"] = ", ".join(format_key(pk) for pk in ids)
        renews = params.get("renews", "")
        if renews.isascii() and renews.isdigit() and len(renews) <= 18:
            renewed = LegalRequest.objects.filter(pk=int(renews), kind__in=PRESERVATION_KINDS).first()
            if renewed is not None:
                initial["renews"] = renewed.key
                initial["kind"] = LegalRequestKind.RENEWAL_2703F
                initial["agency"] = renewed.agency
                if not ids:
                    initial["escalations"] = ", ".join(e.key for e in renewed.escalations.order_by("pk"))
        return initial

    def form_valid(self, form: Form) -> HttpResponse:
        try:
            created = legal_services.create_legal_request(actor=self.request.user, data=form.cleaned_data)
        except ValidationError as exc:
            add_service_errors(form, exc)
            return self.form_invalid(form)
        text = f"{created.key} recorded: {created.get_kind_display()} from {created.agency}."
        if created.hold_until:
            text += f" It holds preservation until {shown(created.hold_until, empty='—')}."
        messages.success(self.request, text)
        twins = legal_selectors.same_agency_and_reference(created.agency, created.reference, exclude_pk=created.pk)
        if twins:
            messages.warning(
                self.request,
                f"{', '.join(t.key for t in twins)} {'has' if len(twins) == 1 else 'have'} the same agency and "
                f"reference ({created.agency}, ref. {created.reference}). If {created.key} is the same request "
                "recorded twice, close it as a duplicate.",
            )
        return HttpResponseRedirect(reverse("legal_request_detail", args=[created.pk]))


def get_legal_request(pk: int) -> LegalRequest:
    try:
        return LegalRequest.objects.select_related("created_by", "renews").get(pk=pk)
    except LegalRequest.DoesNotExist:
        raise Http404("No legal request with that number.") from None


def legal_request_context(request: HttpRequest, legal: LegalRequest, **forms: Form) -> dict[str, Any]:
    user = request.user
    manage = can(user, Action.MANAGE_LEGAL)
    now = timezone.now()
    initial = {"version": legal.version}
    actions = {
        "respond": manage and legal.status == LegalRequestStatus.OPEN,
        "close": manage and legal.status != LegalRequestStatus.CLOSED,
        "renew": manage and legal.kind in PRESERVATION_KINDS,
    }
    respond_form = forms.get("respond_form") or RespondLegalRequestForm(initial=initial, auto_id="respond_%s")
    close_form = forms.get("close_form") or CloseLegalRequestForm(initial=initial, auto_id="close_%s")
    return {
        "legal": legal,
        "linked": list(legal.escalations.order_by("pk")),
        "renewals": list(legal.renewals.order_by("received_at", "pk")),
        "due_state": response_state(legal, now),
        "hold_ended": legal.hold_until is not None and legal.hold_until <= now,
        "is_preservation": legal.kind in PRESERVATION_KINDS,
        "actions": actions,
        "respond_form": respond_form,
        "close_form": close_form,
        # A form whose section the request's state no longer offers still shows why it was refused.
        "hidden_forms": [
            form for form, shown in ((respond_form, actions["respond"]), (close_form, actions["close"])) if not shown
        ],
    }


def render_legal_request(request: HttpRequest, legal: LegalRequest, **forms: Form) -> HttpResponse:
    """The request's page, with an access-log row for each escalation it covers (need-to-know)."""
    context = legal_request_context(request, legal, **forms)
    access_log.viewed_many(request, [esc.pk for esc in context["linked"]], what=legal.key)
    return render(request, "legal/request_detail.html", context)


class LegalRequestDetailView(LegalReaderMixin, View):
    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        return render_legal_request(request, get_legal_request(pk))


class LegalRequestActionView(View):
    """POST a change to one request; errors are shown on the request's page, the input kept."""

    request: AuthenticatedHttpRequest

    http_method_names = ["get", "post"]
    form_class: type[VersionedForm] = VersionedForm
    prefix = ""

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        require(request.user, Action.MANAGE_LEGAL)
        return super().dispatch(request, *args, **kwargs)

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        legal = get_legal_request(pk)
        return HttpResponseRedirect(reverse("legal_request_detail", args=[legal.pk]) + f"#{self.prefix}")

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        legal = get_legal_request(pk)
        data = request.POST.copy()
        form = self.form_class(data, auto_id=f"{self.prefix}_%s")
        if form.is_valid():
            try:
                changed = self.perform(legal, form.cleaned_data)
            except ValidationError as exc:
                add_service_errors(form, exc)
                # Base the next attempt on the version now shown on the page.
                legal = get_legal_request(pk)
                data["version"] = str(legal.version)
                form.data = data
            else:
                messages.success(request, self.success_message(changed))
                return HttpResponseRedirect(reverse("legal_request_detail", args=[changed.pk]))
        return render_legal_request(request, legal, **{f"{self.prefix}_form": form})

    def perform(self, legal: LegalRequest, data: dict[str, Any]) -> LegalRequest:
        raise NotImplementedError

    def success_message(self, legal: LegalRequest) -> str:
        raise NotImplementedError


class RespondLegalRequestView(LegalRequestActionView):
    form_class = RespondLegalRequestForm
    prefix = "respond"

    def perform(self, legal: LegalRequest, data: dict[str, Any]) -> LegalRequest:
        return legal_services.respond_legal_request(
            actor=self.request.user, request_id=legal.pk, version=data["version"], responded_at=data["responded_at"]
        )

    def success_message(self, legal: LegalRequest) -> str:
        text = f"{legal.key}: response recorded ({shown(legal.responded_at, empty='—')})."
        if legal.hold_until:
            text += f" Its hold still applies until {shown(legal.hold_until, empty='—')}."
        return text


class CloseLegalRequestView(LegalRequestActionView):
    form_class = CloseLegalRequestForm
    prefix = "close"

    def perform(self, legal: LegalRequest, data: dict[str, Any]) -> LegalRequest:
        return legal_services.close_legal_request(
            actor=self.request.user, request_id=legal.pk, version=data["version"], reason=data["reason"]
        )

    def success_message(self, legal: LegalRequest) -> str:
        return f"{legal.key} closed: it no longer holds preservation or blocks release."


# --- an escalation's preservation, release, evidence and destinations ------------------------------


def _open_requests_text(escalation: Escalation) -> str:
    pending = holds.open_requests(escalation)
    return ", ".join(f"{r.key} ({r.get_kind_display()}, {r.agency}, ref. {r.reference})" for r in pending)


class ExtendPreservationView(EscalationActionView):
    action = Action.EXTEND_PRESERVATION
    form_class = ExtendPreservationForm
    title = "Extend preservation"
    submit_label = "Extend preservation"
    success_message = "{key}: preservation extended."

    def get_initial(self) -> dict[str, Any]:
        return {"version": self.escalation.version}

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["intro"] = (
            f"Preservation currently ends {shown(self.escalation.preserve_until, empty='—')}. A lead may keep the "
            "evidence longer, voluntarily (18 U.S.C. 2258A(h)(4)); the reason is kept in the audit trail."
        )
        return context

    def perform(self, data: dict[str, Any]) -> Escalation:
        return self._call(legal_services.extend_preservation, data, until=data["until"], reason=data["reason"])


class RequestReleaseView(EscalationActionView):
    action = Action.RELEASE
    form_class = ReasonForm
    title = "Request release"
    submit_label = "Request release"
    success_message = "{key}: release requested. A different lead approves it."

    def get_initial(self) -> dict[str, Any]:
        return {"version": self.escalation.version}

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        end = self.escalation.preserve_until
        ended = end is not None and end <= timezone.now()
        intro = (
            f"Preservation {'ended' if ended else 'ends'} {shown(end, empty='—')}. After that, ask for the preserved "
            "evidence to be released; a different lead approves. Not possible while a legal request is open."
        )
        pending = _open_requests_text(self.escalation)
        if pending:
            intro += f" Open now: {pending}."
        context["intro"] = intro
        return context

    def perform(self, data: dict[str, Any]) -> Escalation:
        return self._call(legal_services.request_release, data, reason=data["reason"])


class ApproveReleaseView(EscalationActionView):
    action = Action.RELEASE
    form_class = VersionedForm
    title = "Approve release"
    submit_label = "Approve release"
    success_message = "{key}: release approved. The evidence may now be released; then close the escalation."

    def get_initial(self) -> dict[str, Any]:
        return {"version": self.escalation.version}

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        esc = self.escalation
        if esc.released_at is not None:
            by = esc.released_by.get_username() if esc.released_by else "?"
            intro = f"Released {shown(esc.released_at, empty='—')} by {by}."
        elif esc.release_requested_at is None:
            intro = "Nobody has requested this escalation's release yet."
        else:
            asked = (
                esc.audit_events.filter(action=AuditAction.RELEASE_REQUESTED)
                .select_related("actor")
                .order_by("-at")
                .first()
            )
            who = esc.release_requested_by.get_username() if esc.release_requested_by else "?"
            intro = f"{who} requested release {shown(esc.release_requested_at, empty='—')}"
            intro += f": {asked.reason}" if asked and asked.reason else "."
            intro += " Approve only if you are a different lead and agree."
        context["intro"] = intro
        return context

    def perform(self, data: dict[str, Any]) -> Escalation:
        return self._call(legal_services.approve_release, data)


class EvidenceItemView(EscalationActionView):
    action = Action.CONFIRM_PRESERVATION
    form_class = EvidenceItemForm
    title = "Record a preserved evidence item"
    submit_label = "Record evidence item"
    intro = (
        "Metadata only: where the platform's evidence store keeps the item, its hash and its size. Never "
        "upload, paste or link the content."
    )
    success_message = "{key}: evidence item recorded."

    def get_initial(self) -> dict[str, Any]:
        return {"version": self.escalation.version, "hash_algorithm": "sha256"}

    def perform(self, data: dict[str, Any]) -> Escalation:
        legal_services.add_evidence_item(
            actor=self.request.user,
            escalation_id=self.escalation.pk,
            version=data["version"],
            reference=data["reference"],
            hash_algorithm=data["hash_algorithm"],
            digest=data["digest"],
            size_bytes=data["size_bytes"],
            is_context=data.get("is_context", False),
        )
        return self.escalation


class DestinationReportView(EscalationActionView):
    action = Action.RECORD_REPORT
    form_class = DestinationReportForm
    title = "Report to a destination"
    submit_label = "Record report"
    intro = (
        "Record a report to a body besides NCMEC (Canada, the UK, Australia, …); the CyberTipline report is "
        "recorded with 'Record report'. Each destination has its own report target, preservation rule and "
        "report-ID format; the escalation keeps the strictest. Leave the time and report ID empty to record a "
        "destination it must still be reported to."
    )
    success_message = "{key}: destination report recorded."

    def get_initial(self) -> dict[str, Any]:
        # No time filled in: empty time and report ID is how a person records "still to be reported"
        # (a prefilled time would turn that into "Report ID is required"). The register's "File"
        # link names the authority.
        return {"version": self.escalation.version, "destination": self.request.GET.get("destination")}

    def perform(self, data: dict[str, Any]) -> Escalation:
        legal_services.report_to_destination(
            actor=self.request.user,
            escalation_id=self.escalation.pk,
            version=data["version"],
            destination_id=data["destination"].pk,
            reported_at=data["reported_at"],
            report_id=data["report_id"],
        )
        return self.escalation


# --- help ------------------------------------------------------------------------------------------


class HelpView(TemplateView):
    """For everyone signed in, role or not."""

    template_name = "legal/help.html"
