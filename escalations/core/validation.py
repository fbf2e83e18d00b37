"""Rules for what people type. Each check names the field and the rule in its message, so a
moderator can fix the input at once; services call these, forms show the messages on the field."""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from datetime import UTC, datetime
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError

from escalations.core.display import shown
from escalations.core.encoded_content import Finding, find_encoded_content
from escalations.policy import PolicyConfig

# Length caps of what people type, each one a real entry fits with room to spare:
# - a reference (content, account, ticket, evidence store): an ID or an internal URL, 2,048 characters,
#   the longest URL that browsers and proxies reliably carry (and the column's size);
# - a reason (urgent, breach, dismissal, closing, reopening, extension, release): 4,000 characters,
#   some 600 words, a page and a half;
# - notes: 10,000 characters, some 1,500 words, three printed pages. More than that is a case file,
#   which belongs in the platform's own system, referenced by its ID.
REFERENCE_MAX_LENGTH = 2048
REASON_MAX_LENGTH = 4000
NOTES_MAX_LENGTH = 10_000
REPORT_ID_MAX_DIGITS = 19  # NCMEC's report ID is a long integer
EARLIEST_PLAUSIBLE = datetime(2000, 1, 1, tzinfo=UTC)

_DATA_URI = re.compile(r"(?i)\bdata:[a-z0-9.+-]*/?[a-z0-9.+-]*[;,]")

DESCRIBE_INSTEAD = "Describe it in words; never paste the material itself."
REFERENCE_INSTEAD = "Enter only the platform's ID or internal URL; never paste the material itself."


def _has_control_characters(value: str, allow_newlines: bool = False) -> bool:
    # Zl/Zp (U+2028, U+2029) break a line as a newline does, so a one-line reference refuses them too.
    refused = ("Cc", "Cf") if allow_newlines else ("Cc", "Cf", "Zl", "Zp")
    allowed = {"\n", "\r", "\t"} if allow_newlines else set()
    return any(unicodedata.category(ch) in refused and ch not in allowed for ch in value)


def _content_message(label: str, finding: Finding, advice: str) -> str:
    what = finding.describe()
    if finding.file_type:
        return f"{label} contains what looks like encoded file content ({what}). {advice}"
    if finding.too_many_headers:
        return f"{label} contains {what}, which looks like file content. {advice}"
    return (
        f"{label} contains a long run of encoded data ({what}): more than an ID, a signed link or a list of "
        f"digests holds, so it looks like file content. {advice}"
    )


def refuse_file_content(value: str, label: str, *, advice: str = DESCRIBE_INSTEAD) -> None:
    """The check every text a person writes goes through, on every path (pages, API, bulk, import,
    admin): a data: URI, or file content hidden as base64, base32, hex or base85 however it is
    wrapped or split (escalations.core.encoded_content), is refused with a message that names the field
    and says why. Raises ValidationError (code "file_content")."""
    if _DATA_URI.search(value):
        raise ValidationError(f"{label} contains a data: URI, which is file content. {advice}", code="file_content")
    finding = find_encoded_content(value)
    if finding is not None:
        raise ValidationError(_content_message(label, finding, advice), code="file_content")


def _too_long(label: str, value: str, max_length: int) -> ValidationError:
    return ValidationError(
        f"{label} is too long: at most {max_length} characters (this one has {len(value)}).", code="max_length"
    )


def clean_reference(
    value: str | None, label: str, *, required: bool = True, max_length: int = REFERENCE_MAX_LENGTH
) -> str:
    """A reference into the platform (content, account, ticket, evidence store): text only, one line."""
    value = (value or "").strip()
    if not value:
        if required:
            raise ValidationError(f"{label} is required: enter the platform's ID or internal URL.")
        return value
    if len(value) > max_length:
        raise _too_long(label, value, max_length)
    if _has_control_characters(value):
        raise ValidationError(f"{label} contains control or invisible characters; type it on one line as plain text.")
    refuse_file_content(value, label, advice=REFERENCE_INSTEAD)
    return value


def clean_text(value: str | None, label: str, *, required: bool, max_length: int = REASON_MAX_LENGTH) -> str:
    """Free text (notes, reasons, names): newlines allowed, a length cap, no file content."""
    value = (value or "").strip()
    if required and not value:
        raise ValidationError(f"{label} is required.")
    if len(value) > max_length:
        raise _too_long(label, value, max_length)
    if _has_control_characters(value, allow_newlines=True):
        raise ValidationError(f"{label} contains control or invisible characters; remove them.")
    refuse_file_content(value, label)
    return value


def check_knowledge_at(knowledge_at: datetime | None, now: datetime, cfg: PolicyConfig) -> None:
    if knowledge_at is None:
        raise ValidationError("Knowledge obtained is required: when did the platform first know?")
    if knowledge_at > now + cfg.clock_skew:
        raise ValidationError(
            f"Knowledge obtained can't be in the future (it is now {shown(now)}). Check the date and the "
            "time zone in your profile."
        )
    if knowledge_at < EARLIEST_PLAUSIBLE:
        raise ValidationError("Knowledge obtained is before the year 2000; check the year.")


def check_reported_at(reported_at: datetime | None, knowledge_at: datetime, now: datetime, cfg: PolicyConfig) -> None:
    if reported_at is None:
        raise ValidationError("Reported at is required: when was the report sent to NCMEC?")
    if reported_at > now + cfg.clock_skew:
        raise ValidationError(f"Reported at can't be in the future (it is now {shown(now)}).")
    if reported_at < knowledge_at:
        raise ValidationError(
            f"Reported at can't be before knowledge was obtained ({shown(knowledge_at)}). Check both times."
        )


def clean_report_id(value: str | int | None, label: str = "CyberTipline report ID") -> str:
    text = str(value if value is not None else "").strip()
    if not text:
        raise ValidationError(f"{label} is required: the number NCMEC returned.")
    if not text.isascii() or not text.isdigit():
        raise ValidationError(f"{label} must be digits only (for example 4564654), no letters or spaces.")
    if len(text) > REPORT_ID_MAX_DIGITS:
        raise ValidationError(f"{label} is too long: at most {REPORT_ID_MAX_DIGITS} digits.")
    # NCMEC's ID is a number: "0045" and "45" are the same report, so store the canonical digits.
    canonical = str(int(text))
    if canonical == "0":
        raise ValidationError(f"{label} can't be 0; enter the number NCMEC returned.")
    return canonical


def clean_webhook_url(value: str | None) -> str:
    """Webhooks go to https URLs; http only to loopback, and only where the setting allows it (dev,
    tests). Nothing is fetched when the URL is saved."""
    value = (value or "").strip()
    if not value:
        return ""
    if _has_control_characters(value):
        raise ValidationError("Webhook URL contains control characters.")
    refuse_file_content(value, "Webhook URL", advice="Enter the receiver's address only.")
    parts = urlsplit(value)
    host = parts.hostname or ""
    if parts.scheme == "https" and host:
        # An address typed as such is vetted now; a name is vetted when it is resolved, at each send
        # (resolving it here would tell the person which internal names exist).
        from escalations.core.public_address import REFUSED_MESSAGE, is_loopback, is_public

        try:
            ipaddress.ip_address(host)
        except ValueError:
            literal = False
        else:
            literal = True
        loopback_allowed = getattr(settings, "WEBHOOK_ALLOW_HTTP_LOOPBACK", False) and is_loopback(host)
        if literal and not is_public(host) and not loopback_allowed:
            raise ValidationError(f"Webhook URL: {REFUSED_MESSAGE}.")
        return value
    if parts.scheme == "http" and getattr(settings, "WEBHOOK_ALLOW_HTTP_LOOPBACK", False):
        try:
            loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if loopback:
            return value
    raise ValidationError("Webhook URL must start with https:// and name a host.")
