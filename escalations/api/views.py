"""The REST API under /api/v1/: thin views over the same services, selectors and FilterSet as the
pages. Writes run inside write_frame.acting_via(...) so a token's name is on every audit event."""

from __future__ import annotations

from datetime import UTC
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.drainage import set_override
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import mixins, pagination, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.exceptions import ValidationError as DRFValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from escalations.api import serializers as s
from escalations.api.auth import acting_via
from escalations.api.errors import ApiSchema, field_errors, validation_body
from escalations.api.idempotency import HEADER as IDEMPOTENCY_HEADER
from escalations.api.idempotency import run_once
from escalations.api.parsers import BulkJSONParser
from escalations.compliance import access_log
from escalations.core import batch_create, selectors, services, write_frame
from escalations.core.filters import EscalationFilter
from escalations.core.people import User
from escalations.core.permissions import Action, require
from escalations.legal import services as legal_services
from escalations.models import AccessKind, Destination, DestinationReport, Escalation, EvidenceItem

BULK_LIMIT = 1000

# Request examples for the documentation (and for schemathesis, which sends them as they are).
NEW_ESCALATION = {
    "platform_reference": "content:8812733",
    "incident_type": "child_pornography",
    "priority": "standard",
    "knowledge_at": "2026-03-01T14:05:00Z",
    "notes": "Flagged by hash match; account suspended.",
}
NEW_ESCALATION_EXAMPLES = [
    OpenApiExample("Log an escalation", value=NEW_ESCALATION, request_only=True),
    OpenApiExample(
        "Bring in history with its report",
        value={
            **NEW_ESCALATION,
            "platform_reference": "content:8812734",
            "reported_at": "2026-03-01T16:30:00Z",
            "cybertipline_report_id": "4564654",
        },
        request_only=True,
    ),
]


# The bulk body is a list, and its example is written as one: drf-spectacular would wrap a list
# serializer's request example in a list again (an example no server accepts) unless told not to.
BULK_INPUT = s.EscalationCreateInput(many=True)
set_override(BULK_INPUT, "many", False)

INVALID_CURSOR = "Not a cursor of this list: follow the next or previous link of an earlier answer."


class EscalationCursor(pagination.CursorPagination):
    ordering = "-id"
    page_size = 50
    max_page_size = 500
    page_size_query_param = "page_size"

    def decode_cursor(self, request: Request) -> pagination.Cursor | None:
        """A cursor we handed out, or a 400 naming `cursor`: DRF answers 404 for one it can't read,
        and passes on any position it can, which (ordered by id) must be an id, or the query fails."""
        try:
            cursor = super().decode_cursor(request)
        except NotFound:
            cursor = None
        else:
            position = None if cursor is None else cursor.position
            if position is None or (position.isascii() and position.isdigit() and len(position) <= 18):
                return cursor
        raise DRFValidationError({self.cursor_query_param: [INVALID_CURSOR]})


def _user(username: str | None) -> User | None:
    """The active moderator or lead named `username`. One message for every other name, whether
    nobody has it or its holder may not be assigned (no role, an auditor, deactivated): an API client
    must not learn which usernames exist."""
    if username in (None, ""):
        return None
    user = selectors.assignable_users().filter(username=username).first()
    if user is None:
        raise ValidationError({"assignee": [f"No active moderator or lead is named {username!r}."]})
    return user


def _create_one(actor: User, data: dict[str, Any]) -> Escalation:
    """Create, and for history brought along, record its report: one escalation's whole intake."""
    fields: dict[str, Any] = {name: data[name] for name in services.EDITABLE_FIELDS if name in data}
    fields["is_test"] = data.get("is_test", False)
    require(actor, Action.CREATE)  # before the assignee's name is looked up
    if data.get("assignee"):
        fields["assignee"] = _user(data["assignee"])
    # A pipeline's escalation waits for a moderator to take it, unless the pipeline names one; a
    # person's is theirs, as on the page.
    escalation = services.create_escalation(actor=actor, data=fields, assign_to_actor=not write_frame.current_via())
    if data.get("reported_at") or data.get("cybertipline_report_id"):
        escalation = _record_brought_report(actor, escalation, data)
    return escalation


def _record_brought_report(actor: User, escalation: Escalation, data: dict[str, Any]) -> Escalation:
    return services.record_report(
        actor=actor,
        escalation_id=escalation.pk,
        version=escalation.version,
        reported_at=data.get("reported_at"),
        cybertipline_report_id=data.get("cybertipline_report_id"),
        breach_reason=data.get("breach_reason", ""),
        breach_note=data.get("breach_note", ""),
    )


@extend_schema(tags=["escalations"])
class EscalationViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet[Escalation],
):
    schema = ApiSchema()
    serializer_class = s.EscalationSerializer
    lookup_value_regex = r"[0-9]+"  # ASCII digits: \d would also route other scripts' digits
    pagination_class = EscalationCursor
    filter_backends = [DjangoFilterBackend]
    filterset_class = EscalationFilter

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        # Machines and people alike get UTC from the API (ISO 8601 with Z), whatever the time zone a
        # signed-in person chose for the pages.
        timezone.activate(UTC)
        super().initial(request, *args, **kwargs)

    def get_queryset(self) -> Any:
        # Need-to-know: list and retrieve see only what the caller may read (404 for the rest).
        return selectors.escalations(self.request.user).select_related("created_by", "preservation_confirmed_by")

    # Need-to-know: a read through the API is recorded like a read of the page: the detail,
    # its audit events and reminders name the escalation; a list names the filter it was asked with.
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        response = super().list(request, *args, **kwargs)
        access_log.record(request, kind=AccessKind.VIEWED, what="api list", query=request.META.get("QUERY_STRING", ""))
        return response

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        response = super().retrieve(request, *args, **kwargs)
        access_log.viewed(request, int(kwargs["pk"]), what="api detail")
        return response

    def _answer(self, escalation: Escalation, code: int = status.HTTP_200_OK) -> Response:
        escalation = selectors.escalation_detail(escalation.pk)
        return Response(s.EscalationSerializer(escalation).data, status=code)

    def _input(self, serializer_class: type[Any], request: Request) -> dict[str, Any]:
        serializer = serializer_class(data=request.data)
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)

    @extend_schema(
        request=s.EscalationCreateInput,
        responses={201: s.EscalationSerializer},
        parameters=[
            OpenApiParameter(
                IDEMPOTENCY_HEADER,
                str,
                OpenApiParameter.HEADER,
                required=False,
                description="Repeat a create safely: the same key and body answer the first result again.",
            ),
            OpenApiParameter(
                "Idempotent-Replayed",
                str,
                OpenApiParameter.HEADER,
                response=[201],
                description='"true" when this is the first answer to the same Idempotency-Key, replayed.',
            ),
        ],
        examples=NEW_ESCALATION_EXAMPLES,
    )
    def create(self, request: Request) -> Response:
        def do() -> Response:
            data = self._input(s.EscalationCreateInput, request)
            with write_frame.acting_via(acting_via(request)), transaction.atomic():
                escalation = _create_one(request.user, data)
            return self._answer(escalation, status.HTTP_201_CREATED)

        return run_once(request, do)

    @extend_schema(
        request=s.EscalationEditInput,
        responses={200: s.EscalationSerializer},
        examples=[
            OpenApiExample(
                "Correct the notes", value={"notes": "Second account found.", "version": 1}, request_only=True
            )
        ],
    )
    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        data = self._input(s.EscalationEditInput, request)
        version = data.pop("version", None)
        with write_frame.acting_via(acting_via(request)):
            escalation = services.edit_escalation(
                actor=request.user, escalation_id=self._pk(pk), version=version, data=data
            )
        return self._answer(escalation)

    def _pk(self, pk: str | None) -> int:
        return get_object_or_404(selectors.visible_to(self.request.user, Escalation.objects.only("pk")), pk=pk).pk

    def _act(self, request: Request, pk: str | None, serializer_class: type[Any], call: Any) -> Response:
        data = self._input(serializer_class, request)
        version = data.pop("version", None)
        escalation_id = self._pk(pk)
        with write_frame.acting_via(acting_via(request)):
            escalation = call(actor=request.user, escalation_id=escalation_id, version=version, **data)
        return self._answer(escalation)

    @extend_schema(
        request=s.ReportInput,
        responses={200: s.EscalationSerializer},
        examples=[
            OpenApiExample(
                "Record the report ID",
                value={"reported_at": "2026-03-01T16:30:00Z", "cybertipline_report_id": "4564655"},
                request_only=True,
            )
        ],
    )
    @action(detail=True, methods=["post"])
    def report(self, request: Request, pk: str | None = None) -> Response:
        return self._act(request, pk, s.ReportInput, services.record_report)

    @extend_schema(
        request=s.CorrectReportInput,
        responses={200: s.EscalationSerializer},
        description=(
            "Correct a recorded report: its time, CyberTipline report ID or breach reason (only the fields sent "
            "change). The reason is required; the audit trail keeps it with the old and new values."
        ),
        examples=[
            OpenApiExample(
                "Correct a mistyped report ID",
                value={"cybertipline_report_id": "4564656", "reason": "Typed 4564655; NCMEC's receipt says 4564656."},
                request_only=True,
            )
        ],
    )
    @action(detail=True, methods=["post"], url_path="correct-report")
    def correct_report(self, request: Request, pk: str | None = None) -> Response:
        return self._act(request, pk, s.CorrectReportInput, services.correct_report)

    @extend_schema(
        request=s.PreservationInput,
        responses={200: s.EscalationSerializer},
        examples=[
            OpenApiExample(
                "Confirm preservation",
                value={"preservation_location": "evidence-store://2026/8812733"},
                request_only=True,
            )
        ],
    )
    @action(detail=True, methods=["post"])
    def preservation(self, request: Request, pk: str | None = None) -> Response:
        return self._act(request, pk, s.PreservationInput, services.confirm_preservation)

    @extend_schema(
        request=s.AssignInput,
        responses={200: s.EscalationSerializer},
        examples=[OpenApiExample("Unassign", value={"assignee": None}, request_only=True)],
    )
    @action(detail=True, methods=["post"])
    def assign(self, request: Request, pk: str | None = None) -> Response:
        # The role first: whoever may not assign learns nothing from how a username is answered.
        require(request.user, Action.ASSIGN)
        data = self._input(s.AssignInput, request)
        data["assignee"] = _user(data.get("assignee"))
        version = data.pop("version", None)
        escalation_id = self._pk(pk)
        with write_frame.acting_via(acting_via(request)):
            escalation = services.assign_escalation(
                actor=request.user, escalation_id=escalation_id, version=version, assignee=data["assignee"]
            )
        return self._answer(escalation)

    @extend_schema(
        request=s.ReasonInput,
        responses={200: s.EscalationSerializer},
        examples=[OpenApiExample("Dismiss", value={"reason": "Adult content; not reportable."}, request_only=True)],
    )
    @action(detail=True, methods=["post"])
    def dismiss(self, request: Request, pk: str | None = None) -> Response:
        return self._act(request, pk, s.ReasonInput, services.dismiss_escalation)

    @extend_schema(
        request=s.CloseInput,
        responses={200: s.EscalationSerializer},
        examples=[
            OpenApiExample(
                "Close",
                value={"reason": "Preservation period over; kept by policy.", "retained": True},
                request_only=True,
            )
        ],
    )
    @action(detail=True, methods=["post"])
    def close(self, request: Request, pk: str | None = None) -> Response:
        return self._act(request, pk, s.CloseInput, services.close_escalation)

    @extend_schema(
        request=s.ReasonInput,
        responses={200: s.EscalationSerializer},
        examples=[
            OpenApiExample(
                "Reopen", value={"reason": "Dismissed by mistake: the review was incomplete."}, request_only=True
            )
        ],
    )
    @action(detail=True, methods=["post"])
    def reopen(self, request: Request, pk: str | None = None) -> Response:
        return self._act(request, pk, s.ReasonInput, services.reopen_escalation)

    @extend_schema(
        methods=["GET"], request=None, responses={200: s.EvidenceItemSerializer(many=True)}, description=None
    )
    @extend_schema(
        methods=["POST"],
        request=s.EvidenceItemInput,
        responses={201: s.EvidenceItemSerializer},
        examples=[
            OpenApiExample(
                "Record an evidence item",
                value={
                    "reference": "evidence-store://2026/8812733/item-1",
                    "hash_algorithm": "sha256",
                    "digest": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
                    "size_bytes": 48213,
                },
                request_only=True,
            )
        ],
    )
    @action(detail=True, methods=["get", "post"], url_path="evidence-items", pagination_class=None, filter_backends=[])
    def evidence_items(self, request: Request, pk: str | None = None) -> Response:
        """The escalation's evidence items (metadata only); POST records one (moderators and leads)."""
        escalation_id = self._pk(pk)
        if request.method == "POST":
            data = self._input(s.EvidenceItemInput, request)
            version = data.pop("version", None)
            with write_frame.acting_via(acting_via(request)):
                item = legal_services.add_evidence_item(
                    actor=request.user, escalation_id=escalation_id, version=version, **data
                )
            return Response(s.EvidenceItemSerializer(item).data, status=status.HTTP_201_CREATED)
        access_log.viewed(request, escalation_id, what="api evidence items")
        items = EvidenceItem.objects.filter(escalation_id=escalation_id).select_related("preserved_by")
        return Response(s.EvidenceItemSerializer(items, many=True).data)

    @extend_schema(methods=["GET"], request=None, responses={200: s.DestinationReportSerializer(many=True)})
    @extend_schema(
        methods=["POST"],
        request=s.DestinationReportInput,
        responses={200: s.DestinationReportSerializer},
        examples=[
            OpenApiExample(
                "Reported to the Canadian Centre too",
                value={"destination": "c3p", "reported_at": "2026-03-01T17:00:00Z", "report_id": "2026-0412"},
                request_only=True,
            ),
            OpenApiExample("Still to be reported to the NCA", value={"destination": "nca"}, request_only=True),
        ],
    )
    @action(detail=True, methods=["get", "post"], pagination_class=None, filter_backends=[])
    def destinations(self, request: Request, pk: str | None = None) -> Response:
        """Where the escalation was (or must still be) reported besides NCMEC; POST records one, or
        corrects it (one per destination)."""
        escalation_id = self._pk(pk)
        if request.method == "POST":
            data = self._input(s.DestinationReportInput, request)
            version = data.pop("version", None)
            code = data.pop("destination")
            destination = Destination.objects.filter(code=code).only("pk").first()
            with write_frame.acting_via(acting_via(request)):
                report = legal_services.report_to_destination(
                    actor=request.user,
                    escalation_id=escalation_id,
                    version=version,
                    destination_id=destination.pk if destination else 0,
                    reported_at=data.get("reported_at"),
                    report_id=data.get("report_id", ""),
                )
            report = DestinationReport.objects.select_related("destination").get(pk=report.pk)
            return Response(s.DestinationReportSerializer(report).data)
        access_log.viewed(request, escalation_id, what="api destinations")
        reports = (
            DestinationReport.objects.filter(escalation_id=escalation_id)
            .select_related("destination")
            .order_by("destination__name", "pk")
        )
        return Response(s.DestinationReportSerializer(reports, many=True).data)

    @extend_schema(responses={200: s.AuditEventSerializer(many=True)})
    @action(detail=True, methods=["get"], url_path="audit-events", pagination_class=None, filter_backends=[])
    def audit_events(self, request: Request, pk: str | None = None) -> Response:
        escalation = get_object_or_404(selectors.visible_to(request.user, Escalation.objects.only("pk")), pk=pk)
        events = selectors.timeline(escalation)
        access_log.viewed(request, escalation, what="api audit events")
        return Response(s.AuditEventSerializer(events, many=True).data)

    @extend_schema(responses={200: s.ReminderSerializer(many=True)})
    @action(detail=True, methods=["get"], pagination_class=None, filter_backends=[])
    def reminders(self, request: Request, pk: str | None = None) -> Response:
        escalation = get_object_or_404(selectors.visible_to(request.user, Escalation.objects.only("pk")), pk=pk)
        access_log.viewed(request, escalation, what="api reminders")
        return Response(s.ReminderSerializer(escalation.reminders.order_by("due_at", "pk"), many=True).data)

    @extend_schema(
        request=BULK_INPUT,
        responses={201: s.EscalationSerializer(many=True)},
        description=(
            f"Create up to {BULK_LIMIT} escalations, all or nothing: any error and none is created. The body "
            f"may be up to {settings.API_BULK_MAX_BODY_BYTES:,} bytes (every other URL: "
            f"{settings.DATA_UPLOAD_MAX_MEMORY_SIZE:,})."
        ),
        examples=[
            OpenApiExample(
                "Two at once",
                value=[NEW_ESCALATION, {**NEW_ESCALATION, "platform_reference": "content:8812735"}],
                request_only=True,
            )
        ],
    )
    @action(detail=False, methods=["post"], pagination_class=None, filter_backends=[], parser_classes=[BulkJSONParser])
    def bulk(self, request: Request) -> Response:
        items = request.data
        if not isinstance(items, list):
            return Response({"detail": ["Send a JSON list of escalations."]}, status=status.HTTP_400_BAD_REQUEST)
        if not 1 <= len(items) <= BULK_LIMIT:
            return Response(
                {"detail": [f"Send between 1 and {BULK_LIMIT} escalations (got {len(items)})."]},
                status=status.HTTP_400_BAD_REQUEST,
            )
        created, errors = bulk_create(request, items)
        if errors:
            return Response({"errors": errors}, status=status.HTTP_400_BAD_REQUEST)
        return Response(s.EscalationSerializer(created, many=True).data, status=status.HTTP_201_CREATED)


class _Rollback(Exception):
    pass


def bulk_create(request: Request, items: list[Any]) -> tuple[list[Escalation], dict[str, Any]]:
    """Create every item or none; errors keyed by the item's index in the list. The intakes are
    checked and written as one batch (batch_create); a report brought along is then recorded on its
    escalation as a single create's is."""
    require(request.user, Action.CREATE)  # before any assignee's name is looked up
    # A pipeline's escalations wait for a moderator to take them, unless it names one (as _create_one).
    via = acting_via(request)
    errors: dict[str, Any] = {}
    intakes: list[dict[str, Any]] = []
    reports: list[dict[str, Any]] = []
    indexes: list[int] = []
    users: dict[str, User | None] = {}
    # One reader for every item: its fields are stateless, and building a serializer copies them all.
    reader = s.EscalationCreateInput()
    for index, item in enumerate(items):
        try:
            data = dict(reader.run_validation(item))
        except DRFValidationError:
            # The message as a serializer of its own words it (is_valid() words a missing body apart).
            refused = s.EscalationCreateInput(data=item)
            refused.is_valid()
            errors[str(index)] = field_errors(refused.errors)
            continue
        fields: dict[str, Any] = {name: data[name] for name in services.EDITABLE_FIELDS if name in data}
        fields["is_test"] = data.get("is_test", False)
        name = data.get("assignee")
        if name:
            try:
                if name not in users:
                    users[name] = _user(name)
            except ValidationError as exc:
                errors[str(index)] = validation_body(exc)
                continue
            fields["assignee"] = users[name]
        intakes.append(fields)
        reports.append(data)
        indexes.append(index)
    if errors:
        # All or nothing: what could not be read already refuses the batch; say what else is wrong.
        checked = batch_create.check_escalations(actor=request.user, items=intakes, assign_to_actor=not via)
        errors.update({str(indexes[i]): validation_body(exc) for i, exc in checked.items()})
        return [], dict(sorted(errors.items(), key=lambda pair: int(pair[0])))
    created: list[Escalation] = []
    try:
        with write_frame.acting_via(via), transaction.atomic():
            result = batch_create.create_escalations(
                actor=request.user, items=intakes, assign_to_actor=not via, all_or_nothing=True
            )
            if result.errors:
                errors.update({str(indexes[i]): validation_body(exc) for i, exc in result.errors.items()})
                raise _Rollback
            for position, escalation in sorted(result.created.items()):
                data = reports[position]
                if data.get("reported_at") or data.get("cybertipline_report_id"):
                    try:
                        with transaction.atomic():
                            escalation = _record_brought_report(request.user, escalation, data)
                    except ValidationError as exc:
                        errors[str(indexes[position])] = validation_body(exc)
                created.append(escalation)
            if errors:
                raise _Rollback
    except _Rollback:
        return [], dict(sorted(errors.items(), key=lambda pair: int(pair[0])))
    ids = [escalation.pk for escalation in created]
    # created_by too: the answer names each escalation's creator (one query, not one per item).
    return list(selectors.escalations().select_related("created_by").filter(pk__in=ids).order_by("pk")), {}
