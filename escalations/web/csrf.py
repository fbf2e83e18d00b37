"""CSRF under `Referrer-Policy: no-referrer`.

With no-referrer, browsers send `Origin: null` on our own form posts (the Fetch standard serialises
the origin as null under that policy), and Django's CsrfViewMiddleware refuses a null origin. The
browser still says where the request came from in `Sec-Fetch-Site`, a header pages cannot set. This
middleware, placed just before Django's, reads a null Origin as our own origin only when the browser
marks the request same-origin; Django's middleware then checks the origin and the CSRF token as
always, and anything else (a null origin from elsewhere, a foreign origin) reaches it unchanged.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse


class SameOriginNullOriginMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        meta = request.META
        if meta.get("HTTP_ORIGIN") == "null" and meta.get("HTTP_SEC_FETCH_SITE") == "same-origin":
            # get_host() validates the Host against ALLOWED_HOSTS (a bad one is a 400, as anywhere).
            meta["HTTP_ORIGIN"] = f"{request.scheme}://{request.get_host()}"
        return self.get_response(request)
