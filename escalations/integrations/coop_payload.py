"""The body of Coop's call to the preservation endpoint, read strictly:

    {"user": {"id": "...", "typeId": "..."},
     "reportedMedia": [{"id": "...", "typeId": "..."}, ...],
     "reportId": "<digits>"}

Coop writes it with its keys sorted and no spaces, as UTF-8, and may send it as text/plain (it sets
no Content-Type), so the media type is not checked: the signature over the exact bytes is what counts."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError

from escalations.core import validation

# The most media items one call may carry: the evidence items an escalation holds (EVIDENCE_ITEMS_MAX)
# is checked by the service; this bounds the work before that.
MAX_MEDIA = 10_000
TYPE_ID_MAX_LENGTH = 200


class Refused(Exception):
    """A call we answer 4xx: `reason` is the metrics label, `message` what Coop's log shows."""

    def __init__(self, reason: str, message: str, status: int = 400):
        self.reason = reason
        self.message = message
        self.status = status
        super().__init__(message)


@dataclass(frozen=True)
class Item:
    id: str
    type_id: str


@dataclass(frozen=True)
class PreservationRequest:
    report_id: str
    user: Item
    media: tuple[Item, ...]


def _item(value: Any, where: str) -> Item:
    if not isinstance(value, dict):
        raise Refused("invalid", f"{where} must be an object with id and typeId.")
    unknown = sorted(set(value) - {"id", "typeId"})
    if unknown:
        raise Refused("invalid", f"{where} has fields Coop does not send: {', '.join(unknown)}.")
    item_id, type_id = value.get("id"), value.get("typeId")
    if not isinstance(item_id, str) or not item_id.strip():
        raise Refused("invalid", f"{where}.id is required (a string: the platform's own ID).")
    if not isinstance(type_id, str) or not type_id.strip():
        raise Refused("invalid", f"{where}.typeId is required (a string: Coop's item type).")
    try:
        clean_id = validation.clean_reference(item_id, f"{where}.id")
        clean_type = validation.clean_text(type_id, f"{where}.typeId", required=True, max_length=TYPE_ID_MAX_LENGTH)
    except ValidationError as exc:
        raise Refused("invalid", " ".join(exc.messages)) from None
    return Item(id=clean_id, type_id=clean_type)


def parse(body: bytes) -> PreservationRequest:
    """The request in `body`, or Refused naming what is wrong (reason "malformed" for what is not
    JSON, "invalid" for JSON that is not Coop's request)."""
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise Refused("malformed", "The body is not JSON in UTF-8.") from None
    if not isinstance(data, dict):
        raise Refused("invalid", "The body must be a JSON object with user, reportedMedia and reportId.")
    missing = [name for name in ("user", "reportedMedia", "reportId") if name not in data]
    if missing:
        raise Refused("invalid", f"Missing: {', '.join(missing)} (Coop sends user, reportedMedia and reportId).")
    unknown = sorted(set(data) - {"user", "reportedMedia", "reportId"})
    if unknown:
        raise Refused("invalid", f"Fields Coop does not send: {', '.join(unknown)}.")
    raw_id = data["reportId"]
    if not isinstance(raw_id, str) or not (raw_id.isascii() and raw_id.isdigit()):
        raise Refused("invalid", "reportId must be a string of digits: the CyberTipline report ID NCMEC returned.")
    try:
        report_id = validation.clean_report_id(raw_id)
    except ValidationError as exc:
        raise Refused("invalid", f"reportId: {' '.join(exc.messages)}") from None
    user = _item(data["user"], "user")
    media = data["reportedMedia"]
    if not isinstance(media, list):
        raise Refused("invalid", "reportedMedia must be a list of {id, typeId} (it may be empty).")
    if len(media) > MAX_MEDIA:
        raise Refused("invalid", f"reportedMedia has {len(media)} items; at most {MAX_MEDIA}.")
    items = tuple(_item(value, f"reportedMedia[{i}]") for i, value in enumerate(media))
    return PreservationRequest(report_id=report_id, user=user, media=items)
