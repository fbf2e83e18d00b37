"""API authentication, permission and throttling: people by their browser session, machines by
service token (Authorization: Bearer esct_…)."""

from __future__ import annotations

import logging
from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions, permissions, throttling
from rest_framework.request import Request

from escalations.accounts import tokens
from escalations.core.people import User
from escalations.core.permissions import Action, can
from escalations.models import ServiceToken, TokenScope

log = logging.getLogger(__name__)


class ServiceTokenAuthentication(authentication.BaseAuthentication):
    """A token acts as the lead who created it, limited to its scope; audit events name the token."""

    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[User, ServiceToken] | None:
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        keyword, _, raw = header.partition(" ")
        # The scheme name is case-insensitive (RFC 9110, section 11.1).
        if keyword.lower() != self.keyword.lower() or not raw.strip():
            raise exceptions.AuthenticationFailed("Send the token as: Authorization: Bearer <token>.")
        token = tokens.authenticate(raw.strip())
        if token is None:
            raise exceptions.AuthenticationFailed("Unknown, revoked or expired token.")
        return token.created_by, token

    def authenticate_header(self, request: Request) -> str:
        return self.keyword


class HasRoleAndScope(permissions.BasePermission):
    """Anyone with a role may read; writing needs a session or a write-scoped token. What each
    role may change is decided again by the services."""

    message = "You have no role in the escalation tracker, or this token's scope does not allow it."

    def has_permission(self, request: Request, view: Any) -> bool:
        if not can(request.user, Action.VIEW):
            return False
        token = request.auth if isinstance(request.auth, ServiceToken) else None
        if token is not None and request.method not in permissions.SAFE_METHODS and token.scope != TokenScope.WRITE:
            self.message = "This token is read-only: its scope does not allow changes."
            return False
        return True


class ServiceTokenThrottle(throttling.SimpleRateThrottle):
    """Machines are throttled per token (429 with Retry-After); people in the browser are not."""

    scope = "service_token"

    def allow_request(self, request: Request, view: Any) -> bool:
        # The counters live in the shared cache (Redis in production). If it is unreachable, logging an
        # escalation matters more than counting: let the request through and say so in the log.
        try:
            return super().allow_request(request, view)
        except Exception as exc:  # any cache backend's connection error
            log.warning("API throttle cache unavailable, request let through unthrottled: %s", type(exc).__name__)
            return True

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        if isinstance(request.auth, ServiceToken):
            return f"throttle_token_{request.auth.pk}"
        return None


class ServiceTokenScheme(OpenApiAuthenticationExtension):
    target_class = ServiceTokenAuthentication
    name = "serviceToken"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "http", "scheme": "bearer", "description": "A service token created by a lead."}


def acting_via(request: Request) -> str:
    return f"token:{request.auth.name}" if isinstance(request.auth, ServiceToken) else ""
