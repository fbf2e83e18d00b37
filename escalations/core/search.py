"""The lists' `q`: what a person pastes to find an escalation. An ESC key, and any part of a platform
reference, a reported account or a CyberTipline report ID, in any case ("7788" finds "TICKET-7788").

On PostgreSQL the partial match is answered by trigram indexes (pg_trgm, GIN, on UPPER(column): the
expression Django's icontains compares), so its cost follows the matches, not the table. SQLite has
no such index: there the partial match reads at most SEARCH_SCAN_ROWS of the newest escalations
(a range of the primary key), exact matches still reach every row by their indexes, and the list
says so. Fewer than MIN_PARTIAL characters match exactly only (a trigram needs three)."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.db.models import Q, Subquery, Value
from django.db.models.functions import Coalesce

from escalations.core.validation import REPORT_ID_MAX_DIGITS
from escalations.models import KEY_PREFIX, Escalation

MIN_PARTIAL = 3
# A pasted value longer than any reference is not a search anyone means; matched exactly only.
MAX_PARTIAL = 300
# Trigram index names (migration): platform reference, reported account, report ID.
TRIGRAM_INDEXES = ("escalation_ref_trgm", "escalation_account_trgm", "escalation_report_id_trgm")


def _is_number(text: str) -> bool:
    return text.isascii() and text.isdigit() and len(text) <= REPORT_ID_MAX_DIGITS


def scan_rows() -> int:
    return max(int(settings.SEARCH_SCAN_ROWS), 1)


@dataclass(frozen=True)
class Search:
    condition: Q
    # What was searched, in words, for the list to say.
    described: str


def search(value: str, vendor: str) -> Search:
    """The condition for `q` = `value` (stripped, not empty) on a database of `vendor`."""
    exact = Q(platform_reference=value) | Q(account_reference=value)
    condition = Q(pk__in=[])
    upper = value.upper()
    # ASCII digits of a bounded length only: int() refuses over 4,300 digits (a 500 otherwise),
    # and no key or report ID is longer than REPORT_ID_MAX_DIGITS.
    number = upper[len(KEY_PREFIX) :]
    if upper.startswith(KEY_PREFIX) and _is_number(number):
        condition |= Q(pk=int(number))
    if _is_number(value):
        condition |= Q(cybertipline_report_id=str(int(value)))
    fields = "ESC keys, platform references, reported accounts and CyberTipline report IDs"
    if len(value) < MIN_PARTIAL or len(value) > MAX_PARTIAL:
        why = f"fewer than {MIN_PARTIAL}" if len(value) < MIN_PARTIAL else f"more than {MAX_PARTIAL}"
        return Search(
            exact | condition, f"Searched {fields} equal to “{value[:80]}” ({why} characters: exact matches only)."
        )
    partial = (
        Q(platform_reference__icontains=value)
        | Q(account_reference__icontains=value)
        | Q(cybertipline_report_id__icontains=value)
    )
    # The partial match covers the exact one (any case); the key and the report ID as a number
    # (leading zeros dropped) stay beside it.
    if vendor == "postgresql":
        return Search(condition | partial, f"Searched {fields} containing “{value[:80]}”, in any case.")
    limit = scan_rows()
    # The primary key of the limit-th newest escalation (0 when there are fewer): a range the
    # rowid answers, so the LIKE reads at most `limit` rows.
    floor = Coalesce(Subquery(Escalation.objects.order_by("-pk").values("pk")[limit - 1 : limit]), Value(0))
    return Search(
        exact | condition | (partial & Q(pk__gte=floor)),
        f"Searched {fields} containing “{value[:80]}”, in any case, among the {limit:,} newest escalations "
        "(exact matches among all of them).",
    )
