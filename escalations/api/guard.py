"""The API's first line: before sign-in, sessions or any parser run, a request to /api/ whose body is
larger than its URL takes, or that carries a file, is answered with a JSON 400 that names the rule.

DRF reads a JSON body straight from the request stream, past Django's DATA_UPLOAD_MAX_MEMORY_SIZE
check, so without this a client could make a process read and parse any amount of JSON. The body is
judged by its Content-Length alone: Django reads no further than that (a body without one is read as
empty), so nothing of a refused body is ever read."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.cache import patch_cache_control

from escalations.core.encoded_content import REFUSED_CONTENT_TYPES

API_PREFIX = "/api/"
# The one URL that takes many escalations at once (escalations.api.views, bulk).
BULK_SUFFIX = "/escalations/bulk/"


def body_limit(path: str) -> int:
    """The most bytes a request body to `path` may have."""
    if path.startswith(API_PREFIX) and path.endswith(BULK_SUFFIX):
        return int(settings.API_BULK_MAX_BODY_BYTES)
    return int(settings.DATA_UPLOAD_MAX_MEMORY_SIZE)


def _mebibytes(size: int) -> str:
    return f"{size / (1024 * 1024):g} MB"


def refusal(detail: str) -> JsonResponse:
    response = JsonResponse({"detail": detail}, status=400)
    patch_cache_control(response, no_store=True, private=True)
    return response


class ApiBodyGuardMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path_info.startswith(API_PREFIX):
            return self.get_response(request)
        content_type = request.META.get("CONTENT_TYPE", "").lower().strip()
        if content_type.startswith(REFUSED_CONTENT_TYPES):
            return refusal(
                f"The API takes JSON (Content-Type: application/json), never a file; this request sent "
                f"{content_type.split(';')[0][:80]}."
            )
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return refusal("Content-Length must be a number of bytes.")
        limit = body_limit(request.path_info)
        if length > limit:
            advice = " Send fewer escalations per request." if limit == settings.API_BULK_MAX_BODY_BYTES else ""
            return refusal(
                f"Request body too large: this URL takes at most {limit:,} bytes ({_mebibytes(limit)}) and "
                f"this one has {length:,}.{advice}"
            )
        return self.get_response(request)
