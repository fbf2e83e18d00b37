"""Routes under /api/: v1 (the API itself) and the OpenAPI schema with its docs page."""

from typing import Any

from django.contrib.auth.decorators import login_required
from django.urls import URLPattern, URLResolver, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import DefaultRouter

from escalations.api.auth import HasRoleAndScope
from escalations.api.legal_views import DestinationViewSet, LegalRequestViewSet
from escalations.api.views import EscalationViewSet


def _api_answers_for_itself(patterns: list[Any]) -> list[Any]:
    """The API answers 401/403 itself (session or service token): Django's sign-in redirect must
    not intercept machines."""
    for pattern in patterns:
        if isinstance(pattern, URLPattern):
            pattern.callback.login_required = False  # type: ignore[attr-defined]
        elif isinstance(pattern, URLResolver):
            _api_answers_for_itself(pattern.url_patterns)
    return patterns


router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("escalations", EscalationViewSet, basename="escalation")
router.register("legal-requests", LegalRequestViewSet, basename="legal-request")
router.register("destinations", DestinationViewSet, basename="destination")

v1_patterns = _api_answers_for_itself(list(router.urls))

# The schema is for signed-in people and token holders alike (anyone with a role), and answers a
# stranger with 401 itself; drf-spectacular would serve it to anyone. The docs page is a page:
# strangers are sent to sign in, like everywhere else (DRF marks its views login_required=False,
# so the sign-in middleware alone would let them through). The split view serves the page's start-up
# script from the same URL (?script) instead of inline, so it runs under the prod CSP (script-src 'self').
schema_patterns = [
    *_api_answers_for_itself(
        [path("schema/", SpectacularAPIView.as_view(permission_classes=[HasRoleAndScope]), name="api-schema")]
    ),
    path("docs/", login_required(SpectacularSwaggerSplitView.as_view(url_name="api-schema")), name="api-docs"),
]
