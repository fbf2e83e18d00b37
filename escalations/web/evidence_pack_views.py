"""Evidence packs for an audit or a court: one escalation's (a printable page, and the same as signed
JSON) and a period's (signed JSON of the compliance report's escalations). Leads and auditors only
(Action.EXPORT); each is recorded as an export in the audit trail and the access log before it is made,
so a pack holds its own making."""

from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from escalations.compliance import access_log, evidence_pack, exports
from escalations.core import pack_signing, services, validation
from escalations.core.people import AuthenticatedHttpRequest
from escalations.core.permissions import Action, require
from escalations.web.base import get_escalation
from escalations.web.period_forms import CompliancePeriodForm

JSON_PARAM = "format"
# Ed25519 signs the whole message at once: a period pack is built in memory, so it is bounded.
PERIOD_PACK_MAX = 10_000


def _signing_refused() -> HttpResponse:
    return HttpResponse(
        "This deployment has no evidence-pack signing key, so no pack is made: an unsigned pack proves "
        "nothing. An administrator sets EVIDENCE_PACK_SIGNING_KEY (python manage.py makepackkey makes one).",
        status=503,
        content_type="text/plain; charset=utf-8",
    )


def _download(document: dict[str, Any], filename: str) -> HttpResponse:
    response = HttpResponse(
        json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False), content_type="application/json"
    )
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@require_GET
def escalation_evidence_pack(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    require(request.user, Action.EXPORT)
    escalation = get_escalation(pk, request.user)
    try:
        pack_signing.signing_key()
    except pack_signing.SigningKeyMissing:
        return _signing_refused()
    as_json = request.GET.get(JSON_PARAM) == "json"
    export = f"{escalation.key}-evidence-pack.{'json' if as_json else 'html'}"
    services.record_export(actor=request.user, export=export, query="", rows=1, escalation=escalation)
    access_log.exported(request, export, "", escalation)
    now = timezone.now()
    signed = pack_signing.sign(evidence_pack.escalation_pack(escalation, now=now, generated_by=request.user))
    if as_json:
        return _download(signed, f"{escalation.key}-evidence-pack-{now:%Y%m%dT%H%M%SZ}.json")
    return render(request, "escalations/evidence_pack.html", {"escalation": escalation, "signed": signed})


@require_GET
def period_evidence_pack(request: AuthenticatedHttpRequest) -> HttpResponse:
    require(request.user, Action.EXPORT)
    form = CompliancePeriodForm(request.GET)
    if not form.is_valid():
        return exports.bad_request(" ".join(form.messages()))
    try:
        pack_signing.signing_key()
    except pack_signing.SigningKeyMissing:
        return _signing_refused()
    start, end = form.cleaned_data["start"], form.cleaned_data["end"]
    start_at, end_at = exports.period_bounds(start, end)
    include_test = request.GET.get("include_test") == "1"
    queryset = exports.compliance_queryset(start_at, end_at, include_test)
    count = queryset.count()
    if count > PERIOD_PACK_MAX:
        return exports.bad_request(
            f"The period holds {count} escalations, more than one pack holds ({PERIOD_PACK_MAX}): "
            "choose a shorter period (start, end). Nothing was exported."
        )
    export = f"compliance-{start:%Y-%m-%d}-to-{end:%Y-%m-%d}-evidence-pack.json"
    query = request.GET.urlencode()
    try:
        # The filters are copied into the audit trail and the access log: no file content in them.
        validation.refuse_file_content(query, "The export's query")
    except ValidationError as exc:
        return exports.bad_request(" ".join(exc.messages) + " Nothing was exported.")
    services.record_export(actor=request.user, export=export, query=query, rows=count)
    access_log.exported(request, export, query)
    now = timezone.now()
    pack = evidence_pack.period_pack(
        queryset,
        start=start.isoformat(),
        end=end.isoformat(),
        include_test=include_test,
        now=now,
        generated_by=request.user,
    )
    return _download(pack_signing.sign(pack), export)
