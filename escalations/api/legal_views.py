"""The API after the report: law-enforcement requests (leads record and change them, auditors read
them, as on the pages) and the destinations an escalation may be reported to. Thin views over
escalations.legal.services and selectors, the pages' own."""

from __future__ import annotations

from datetime import UTC
from typing import Any

from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import mixins, pagination, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from escalations.api import serializers as s
from escalations.api.auth import acting_via
from escalations.api.errors import ApiSchema
from escalations.compliance import access_log
from escalations.core import write_frame
from escalations.core.permissions import Action, require
from escalations.legal import services as legal_services
from escalations.models import Destination, LegalRequest

NEW_LEGAL_REQUEST = {
    "kind": "2703f_preservation",
    "agency": "FBI Field Office, Denver",
    "reference": "DN-2026-0142",
    "received_at": "2026-03-01T15:00:00Z",
    "response_due_at": "2026-03-15T15:00:00Z",
    "escalations": [1],
    "notes": "Preserve the account and its messages.",
}


class LegalRequestCursor(pagination.CursorPagination):
    ordering = "-id"
    page_size = 50
    max_page_size = 200
    page_size_query_param = "page_size"


@extend_schema(tags=["legal requests"])
class LegalRequestViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[LegalRequest]):
    """Law-enforcement requests. Leads and auditors read them; leads record, answer and close them."""

    schema = ApiSchema()
    serializer_class = s.LegalRequestSerializer
    lookup_value_regex = r"[0-9]{1,18}"
    pagination_class = LegalRequestCursor

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        timezone.activate(UTC)
        super().initial(request, *args, **kwargs)
        require(request.user, Action.VIEW_LEGAL)

    def get_queryset(self) -> Any:
        return LegalRequest.objects.select_related("created_by").prefetch_related("escalations")

    # Need-to-know: a request names escalations; reading it is recorded like the pages' reads.
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        response = super().list(request, *args, **kwargs)
        ids = [pk for row in response.data.get("results", []) for pk in row["escalations"]]
        access_log.viewed_many(request, ids, what="api legal requests", query=request.META.get("QUERY_STRING", ""))
        return response

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        response = super().retrieve(request, *args, **kwargs)
        access_log.viewed_many(request, response.data["escalations"], what="api legal request")
        return response

    def _answer(self, legal_request: LegalRequest, code: int = status.HTTP_200_OK) -> Response:
        fresh = self.get_queryset().get(pk=legal_request.pk)
        return Response(s.LegalRequestSerializer(fresh).data, status=code)

    def _input(self, serializer_class: type[Any], request: Request) -> dict[str, Any]:
        serializer = serializer_class(data=request.data)
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)

    def _request_id(self, pk: str | None) -> int:
        return get_object_or_404(LegalRequest.objects.only("pk"), pk=pk).pk

    @extend_schema(
        request=s.LegalRequestInput,
        responses={201: s.LegalRequestSerializer},
        examples=[OpenApiExample("Record a 2703(f) request", value=NEW_LEGAL_REQUEST, request_only=True)],
    )
    def create(self, request: Request) -> Response:
        data = self._input(s.LegalRequestInput, request)
        with write_frame.acting_via(acting_via(request)):
            created = legal_services.create_legal_request(actor=request.user, data=data)
        return self._answer(created, status.HTTP_201_CREATED)

    @extend_schema(
        request=s.RespondLegalRequestInput,
        responses={200: s.LegalRequestSerializer},
        examples=[OpenApiExample("Answered", value={"responded_at": "2026-03-02T10:00:00Z"}, request_only=True)],
    )
    @action(detail=True, methods=["post"])
    def respond(self, request: Request, pk: str | None = None) -> Response:
        data = self._input(s.RespondLegalRequestInput, request)
        request_id = self._request_id(pk)
        with write_frame.acting_via(acting_via(request)):
            answered = legal_services.respond_legal_request(
                actor=request.user,
                request_id=request_id,
                version=data.get("version"),
                responded_at=data.get("responded_at"),
            )
        return self._answer(answered)

    @extend_schema(
        request=s.ReasonInput,
        responses={200: s.LegalRequestSerializer},
        examples=[
            OpenApiExample("Withdrawn", value={"reason": "Withdrawn by the agency by email."}, request_only=True)
        ],
    )
    @action(detail=True, methods=["post"])
    def close(self, request: Request, pk: str | None = None) -> Response:
        data = self._input(s.ReasonInput, request)
        request_id = self._request_id(pk)
        with write_frame.acting_via(acting_via(request)):
            closed = legal_services.close_legal_request(
                actor=request.user, request_id=request_id, version=data.get("version"), reason=data["reason"]
            )
        return self._answer(closed)


@extend_schema(tags=["destinations"])
class DestinationViewSet(mixins.ListModelMixin, viewsets.GenericViewSet[Destination]):
    """Where an escalation may be reported (NCMEC and others), with their rules; anyone with a role."""

    schema = ApiSchema()
    serializer_class = s.DestinationSerializer
    pagination_class = None

    def get_queryset(self) -> Any:
        return Destination.objects.order_by("-is_default", "name")
