"""POST /integrations/coop/preservation/: Coop calls it after filing a CyberTipline report. No
session, no CSRF token (Coop is a server, not a browser): the signature over the raw body is the only
credential. Every refusal writes nothing, is logged and counted in /metrics; nothing is fetched."""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from escalations.integrations import coop_payload, coop_signature
from escalations.integrations.coop_keys import verifying_keys
from escalations.integrations.coop_payload import Refused
from escalations.integrations.coop_service import record_coop_report
from escalations.ops.metrics import record_coop_call

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "coop-signature"


def _read_body(request: HttpRequest) -> bytes:
    """The raw body, refused unread when its declared length is over COOP_MAX_BODY_BYTES, and cut
    off just past the limit when it declares none."""
    limit = settings.COOP_MAX_BODY_BYTES
    declared = request.META.get("CONTENT_LENGTH") or "0"
    too_large = Refused("too_large", f"The body is larger than {limit} bytes (COOP_MAX_BODY_BYTES).", status=413)
    if not declared.isdigit():
        raise Refused("malformed", "Content-Length is not a number.")
    if int(declared) > limit:
        raise too_large
    body = request.read(limit + 1)
    if len(body) > limit:
        raise too_large
    return body


def _verified_key(request: HttpRequest, body: bytes) -> str:
    signature = coop_signature.decode_signature(request.headers.get(SIGNATURE_HEADER))
    if signature is None:
        raise Refused("unsigned", "No valid coop-signature header (base64 of the body's signature).", status=401)
    keys = verifying_keys()
    if not keys:
        raise Refused("no_key", "No Coop public key is configured here to verify the call with.", status=401)
    key = coop_signature.verify(body, signature, keys)
    if key is None:
        raise Refused("bad_signature", "The signature does not verify with any Coop key configured here.", status=401)
    return key.fingerprint


@login_not_required
@csrf_exempt
@never_cache
@require_POST
def preservation(request: HttpRequest) -> JsonResponse:
    try:
        body = _read_body(request)
        fingerprint = _verified_key(request, body)
        call = coop_payload.parse(body)
        outcome = record_coop_report(request=call, key_fingerprint=fingerprint)
    except Refused as refused:
        record_coop_call(refused.reason)
        log.warning(
            "coop call refused: %s (%s)",
            refused.reason,
            refused.status,
            extra={"reason": refused.reason, "status": refused.status, "remote_addr": request.META.get("REMOTE_ADDR")},
        )
        return JsonResponse({"error": refused.message, "reason": refused.reason}, status=refused.status)
    except ImproperlyConfigured as exc:
        # Ours to fix, not Coop's: a 5xx, so Coop retries once it is fixed.
        record_coop_call("misconfigured")
        log.error("coop call not recorded: %s", exc)
        return JsonResponse(
            {"error": "The tracker's Coop settings need an admin.", "reason": "misconfigured"}, status=503
        )
    if outcome.duplicate:
        record_coop_call("duplicate")
    else:
        record_coop_call("created" if outcome.receipt.created_escalation else "recorded")
    log.info(
        "coop call accepted: report %s on escalation %s%s",
        outcome.receipt.report_id,
        outcome.receipt.escalation_id,
        " (a repeat)" if outcome.duplicate else "",
        extra={
            "report_id": outcome.receipt.report_id,
            "escalation_id": outcome.receipt.escalation_id,
            "duplicate": outcome.duplicate,
            "key": fingerprint[:16],
        },
    )
    response = JsonResponse(outcome.answer, status=200)
    if outcome.duplicate:
        response["Idempotent-Replayed"] = "true"
    return response
