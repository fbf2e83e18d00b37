"""One error shape for the API: {"field": ["message", ...]} per field, "detail" for the rest."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import exception_handler

from escalations.core.write_frame import StaleVersionError
from escalations.models import Escalation


def validation_body(error: DjangoValidationError) -> dict[str, Any]:
    if hasattr(error, "error_dict"):
        body = dict(error.message_dict)
        if "__all__" in body:
            body["detail"] = body.pop("__all__")
        return body
    return {"detail": error.messages}


def field_errors(errors: Any) -> Any:
    """A serializer's errors in the API's shape: what DRF calls "non_field_errors" (e.g. a body that
    is not a JSON object) is "detail", as the services' whole-record messages are."""
    if isinstance(errors, dict) and api_settings.NON_FIELD_ERRORS_KEY in errors:
        errors = dict(errors)
        errors["detail"] = errors.pop(api_settings.NON_FIELD_ERRORS_KEY)
    return errors


def handle(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, StaleVersionError):
        return Response({"detail": exc.message, "version": exc.escalation.version}, status=status.HTTP_409_CONFLICT)
    if isinstance(exc, DjangoValidationError):
        return Response(validation_body(exc), status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, Escalation.DoesNotExist):
        return Response({"detail": "No escalation with that id."}, status=status.HTTP_404_NOT_FOUND)
    response = exception_handler(exc, context)
    if response is not None and isinstance(exc, exceptions.ValidationError):
        response.data = field_errors(response.data)
    return response


# --- The error answers, documented on every operation ----------------------------------------------


class ErrorSerializer(serializers.Serializer[Any]):
    detail = serializers.CharField(help_text="What went wrong, in words a person can act on.")


class ConflictSerializer(serializers.Serializer[Any]):
    detail = serializers.CharField(help_text="Who changed the escalation, or why the Idempotency-Key conflicts.")
    version = serializers.IntegerField(
        required=False, help_text="The escalation's current version (stale version only): read it, then retry."
    )


# {"field": ["message", ...], "detail": [...]} (or "detail": "..." for an unreadable body); bulk
# answers {"errors": {"<index>": {"field": [...]}}}.
VALIDATION_ERRORS: dict[str, Any] = {
    "type": "object",
    "description": "A message per field; `detail` for the whole request; bulk: `errors` keyed by item index.",
    "additionalProperties": {
        "anyOf": [
            {"type": "array", "items": {"type": "string"}},
            {"type": "string"},
            {"type": "object"},
        ]
    },
}


class ApiSchema(AutoSchema):
    """AutoSchema that also documents the error answers (400/401/403/404/409/429) each operation
    can give, with their bodies and headers, so that clients (and schemathesis) can rely on them."""

    def get_override_parameters(self) -> list[Any]:
        return [
            *super().get_override_parameters(),
            OpenApiParameter("WWW-Authenticate", str, OpenApiParameter.HEADER, response=[401], description="Bearer"),
            OpenApiParameter(
                "Retry-After", int, OpenApiParameter.HEADER, response=[429], description="Seconds to wait."
            ),
        ]

    def _get_response_bodies(self, direction: Any = "response") -> dict[str, Any]:
        responses: dict[str, Any] = super()._get_response_bodies(direction)
        if direction != "response":
            return responses
        errors: dict[str, Any] = {
            "401": OpenApiResponse(ErrorSerializer, "No session and no valid token (unknown, revoked or expired)."),
            "403": OpenApiResponse(ErrorSerializer, "Your role, or the token's scope, does not allow this."),
            "429": OpenApiResponse(ErrorSerializer, "Too many requests from this token: wait Retry-After seconds."),
            "400": OpenApiResponse(
                VALIDATION_ERRORS,
                "Refused input (a field, a page cursor, JSON that is malformed or nested too deep, a body over "
                "the size limit): nothing was written.",
            ),
        }
        if "{" in self.path:
            errors["404"] = OpenApiResponse(ErrorSerializer, "No such escalation.")
        if self.method not in ("GET", "HEAD", "OPTIONS"):
            errors["409"] = OpenApiResponse(
                ConflictSerializer, "A stale version, or an Idempotency-Key reused with another body."
            )
        for code, response in errors.items():
            if code not in responses:
                responses[code] = self._get_response_for_code(response, code, direction=direction)
        return dict(sorted(responses.items()))
