"""Django's error answers (settings.urls handler400/403/404/500) in JSON under /api/: a machine that
asks for an API URL that does not exist, or meets an error outside DRF's views, gets JSON like every
other API answer, never an HTML page. Elsewhere Django's own pages (templates/404.html and so on)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults

from escalations.api.guard import API_PREFIX


def _api(request: HttpRequest) -> bool:
    return request.path_info.startswith(API_PREFIX)


def bad_request(request: HttpRequest, exception: Any) -> HttpResponse:
    if _api(request):
        return JsonResponse({"detail": "Bad request."}, status=400)
    return defaults.bad_request(request, exception)


def permission_denied(request: HttpRequest, exception: Any) -> HttpResponse:
    if _api(request):
        return JsonResponse({"detail": "You do not have permission to perform this action."}, status=403)
    return defaults.permission_denied(request, exception)


def page_not_found(request: HttpRequest, exception: Any) -> HttpResponse:
    if _api(request):
        return JsonResponse({"detail": "No such API URL."}, status=404)
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    if _api(request):
        return JsonResponse({"detail": "Server error: try again; if it persists, tell an admin."}, status=500)
    return defaults.server_error(request)
