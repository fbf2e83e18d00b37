"""/metrics for Prometheus: readable with the configured bearer token (METRICS_TOKEN) or from an
allowed address (METRICS_ALLOWED_IPS, the direct peer's address, never a forwarded header); refused
with 403 otherwise, and 404 when neither is configured. Never a sign-in redirect: a scraper is not a
person.

django-prometheus's request and database figures come from this process, or from every gunicorn
worker when PROMETHEUS_MULTIPROC_DIR is set (gunicorn.conf.py sets it); ours are computed at scrape
time (escalations.ops.metrics).
"""

from __future__ import annotations

import hmac
import os

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest, multiprocess
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

from escalations.ops.metrics import EscalationsCollector
from escalations.ops.structured_logging import address_in, parse_networks


def allowed(request: HttpRequest) -> bool | None:
    """True when the request may read the metrics, False when not, None when nobody may (nothing
    configured)."""
    token = getattr(settings, "METRICS_TOKEN", "")
    networks = parse_networks(getattr(settings, "METRICS_ALLOWED_IPS", []))
    if not token and not networks:
        return None
    if networks and address_in(request.META.get("REMOTE_ADDR", ""), networks):
        return True
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, given = header.partition(" ")
    return bool(token) and scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


def exposition() -> bytes:
    """The whole page: the process's (or every worker's) registry, then our collector."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        process = generate_latest(registry)
    else:
        process = generate_latest(REGISTRY)
    ours = CollectorRegistry(auto_describe=False)
    ours.register(EscalationsCollector())
    return process + generate_latest(ours)


@login_not_required
@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    verdict = allowed(request)
    if verdict is None:
        return HttpResponse("Not found.\n", status=404, content_type="text/plain")
    if not verdict:
        response = HttpResponse("Forbidden.\n", status=403, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(exposition(), content_type=CONTENT_TYPE_PLAIN_0_0_4)
