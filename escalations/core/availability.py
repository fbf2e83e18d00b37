"""Why an action that a person's role allows is refused right now, in the words the service would
use, so that a page shows the button disabled with its reason instead of a form that can only fail.
Reads only what the page already loaded (the escalation, its open legal requests): no query.

The services stay the authority (they check again when the form is sent); this mirrors their rules
for the moment the page is drawn."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from escalations.core.display import shown
from escalations.core.people import RequestUser
from escalations.models import Escalation, LegalRequest, Status


def _blocked_by(open_requests: Sequence[LegalRequest]) -> str:
    names = ", ".join(f"{r.key} ({r.get_kind_display()})" for r in open_requests)
    return f"Not while a legal request is open: {names}."


def refusals(
    esc: Escalation, user: RequestUser, now: datetime, open_requests: Sequence[LegalRequest]
) -> dict[str, str]:
    """{action: why it is refused now} for close, request_release and approve_release (the others
    are simply not offered in a state that refuses them)."""
    why: dict[str, str] = {}
    if esc.status != Status.REPORTED:
        return why
    held = ""
    if esc.preserve_until is None or now < esc.preserve_until:
        held = f"Preservation runs until {shown(esc.preserve_until)} (18 U.S.C. 2258A(h), or a hold)."
    elif open_requests:
        held = _blocked_by(open_requests)
    if held:
        why["close"] = held
        why["request_release"] = held
        why["approve_release"] = held
    if esc.release_requested_at is not None and esc.release_requested_by_id == getattr(user, "pk", None):
        why["approve_release"] = "You asked for this release: a different lead approves it."
    return why
