"""What people type (escalations/validation.py): each refusal names the field, so a moderator can fix the
input at once; references stay text, never file content."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.utils import timezone

from escalations.core import validation
from escalations.core.encoded_content import ENCODED_DATA_LIMIT
from escalations.policy import PolicyConfig
from tests.encoded_media import ENCODINGS, TINY_PNG, noise

CFG = PolicyConfig()
SECOND = timedelta(seconds=1)
NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)
LABEL = "Platform reference"
SHA256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
PNG_BASE64 = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
)


def message(exc: pytest.ExceptionInfo[ValidationError]) -> str:
    return " ".join(exc.value.messages)


# --- clean_reference -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "ticket-1001",
        "https://mod.example/content/12345?x=1",
        SHA256,
        f"sha256:{SHA256}",
        "user:8841/post:99?tab=reports#r2",
        "Bericht Nr. 4711 \u2013 Kanal «Allgemein»",  # non-ASCII text is fine
        "https://mod.example/metadata:view?id=7",  # "data:" inside a word is not a data: URI
    ],
)
def test_reference_accepts_ids_urls_and_hashes(value):
    assert validation.clean_reference(value, LABEL) == value


def test_reference_is_trimmed():
    assert validation.clean_reference("  ticket-1001 \n", LABEL) == "ticket-1001"


@pytest.mark.parametrize("value", [None, "", "   ", "\n\t"])
def test_reference_required(value):
    with pytest.raises(ValidationError) as exc:
        validation.clean_reference(value, LABEL)
    assert message(exc).startswith("Platform reference is required")
    assert validation.clean_reference(value, "Preservation location", required=False) == ""


def test_reference_length_limit_2048():
    ok = "x." * 1024
    assert len(ok) == 2048
    assert validation.clean_reference(ok, LABEL) == ok
    with pytest.raises(ValidationError) as exc:
        validation.clean_reference(ok + "x", LABEL)
    assert "Platform reference is too long" in message(exc)
    assert "2048" in message(exc)
    assert "2049" in message(exc)


@pytest.mark.parametrize(
    "value",
    [
        "ticket\x001001",  # NUL
        "ticket\x07",  # bell
        "ticket-1001\nticket-1002",  # newline inside
        "ticket-1001\rx",
        "ticket\t1001",
        "ticket-\u202e1001",  # right-to-left override: shows a different reference than is stored
        "ticket-\u200b1001",  # zero-width space
        "\ufeffticket-1001",  # byte-order mark
        "ticket-1001\u2028ticket-1002",  # Unicode line separator: a second line all the same
        "ticket-1001\u2029x",  # paragraph separator
    ],
)
def test_reference_refuses_control_and_invisible_characters(value):
    with pytest.raises(ValidationError) as exc:
        validation.clean_reference(value, "Preservation location")
    assert message(exc).startswith("Preservation location contains control or invisible characters")


@pytest.mark.parametrize(
    "value",
    [
        f"data:image/png;base64,{PNG_BASE64[:20]}",
        f"DATA:image/png;base64,{PNG_BASE64[:20]}",
        f"Data:Image/PNG;Base64,{PNG_BASE64[:20]}",
        "data:,hello",
        "data:text/plain;charset=utf-8,hi",
        "data:image/svg+xml;utf8,<svg/>",
        f"see data:image/jpeg;base64,{PNG_BASE64[:10]}",
        f"https://mod.example/view?src=data:image/png;base64,{PNG_BASE64[:10]}",
    ],
)
def test_reference_refuses_data_uris_in_any_case(value):
    with pytest.raises(ValidationError) as exc:
        validation.clean_reference(value, LABEL)
    text = message(exc)
    assert text.startswith("Platform reference contains a data: URI")
    assert "never paste the material itself" in text


def test_reference_refuses_an_encoded_image():
    assert len(PNG_BASE64) >= 120
    with pytest.raises(ValidationError) as exc:
        validation.clean_reference(PNG_BASE64, LABEL)
    assert message(exc) == (
        "Platform reference contains what looks like encoded file content (a PNG image in base64). "
        "Enter only the platform's ID or internal URL; never paste the material itself."
    )
    # Inside an otherwise ordinary URL too.
    with pytest.raises(ValidationError):
        validation.clean_reference(f"https://mod.example/x?blob={PNG_BASE64}", LABEL)


def test_long_runs_that_are_not_file_content_pass():
    """A run's length alone no longer refuses it (120 characters used to): a GCS signed URL carries
    a 512-character signature, an RS256 JWT one of 342. Repeated letters carry no data at all."""
    assert validation.clean_reference("A" * 2048, LABEL) == "A" * 2048
    signature = noise(256).hex()
    url = f"https://storage.googleapis.com/vault/item.bin?X-Goog-Expires=900&X-Goog-Signature={signature}"
    assert validation.clean_reference(url, LABEL) == url
    # Separators break the run: a long but ordinary URL is fine.
    url = "https://mod.example/" + "/".join(["section-12345.v2"] * 20) + "?x=1"
    assert len(url) > 300
    assert validation.clean_reference(url, LABEL) == url


def test_high_entropy_data_is_refused_beyond_the_limit_whatever_it_decodes_to():
    limit = ENCODED_DATA_LIMIT
    assert validation.clean_reference(noise(limit).hex(), LABEL)
    with pytest.raises(ValidationError) as exc:
        validation.clean_reference(noise(limit + 1).hex(), LABEL)
    assert message(exc) == (
        f"Platform reference contains a long run of encoded data (about {limit + 1} bytes of hexadecimal data): "
        "more than an ID, a signed link or a list of digests holds, so it looks like file content. "
        "Enter only the platform's ID or internal URL; never paste the material itself."
    )


def test_reference_message_names_the_label_passed_in():
    for label in ("Platform reference", "Preservation location", "Evidence ticket"):
        with pytest.raises(ValidationError) as exc:
            validation.clean_reference("data:,x", label)
        assert message(exc).startswith(f"{label} contains")


# --- clean_text ----------------------------------------------------------------------------------------


def test_text_allows_newlines_and_tabs():
    text = "Account sent images to a minor.\n\tSee ticket-1001.\r\nEscalated by night shift."
    assert validation.clean_text(text, "Notes", required=True) == text


def test_text_required_and_optional():
    with pytest.raises(ValidationError) as exc:
        validation.clean_text("  ", "Urgent reason", required=True)
    assert message(exc) == "Urgent reason is required."
    assert validation.clean_text(None, "Notes", required=False) == ""
    assert validation.clean_text("  fine  ", "Notes", required=False) == "fine"


def test_text_length_limit():
    longest = "ab " * 1333 + "a"  # words, not one encoded-looking run
    assert len(longest) == 4000
    assert validation.clean_text(longest, "Notes", required=False) == longest
    with pytest.raises(ValidationError) as exc:
        validation.clean_text(longest + "b", "Notes", required=False)
    assert message(exc).startswith("Notes is too long: at most 4000 characters")
    with pytest.raises(ValidationError) as exc:
        validation.clean_text("x" * 11, "Dismissal reason", required=True, max_length=10)
    assert "Dismissal reason is too long: at most 10 characters (this one has 11)" in message(exc)


@pytest.mark.parametrize("value", ["bad\x00text", "bad\u202etext", "bad\x1btext", "bad\u200btext"])
def test_text_refuses_control_characters(value):
    with pytest.raises(ValidationError) as exc:
        validation.clean_text(value, "Notes", required=False)
    assert message(exc).startswith("Notes contains control or invisible characters")


def test_text_refuses_a_data_uri():
    with pytest.raises(ValidationError) as exc:
        validation.clean_text(f"look: DATA:image/png;base64,{PNG_BASE64[:8]}", "Notes", required=False)
    assert message(exc) == (
        "Notes contains a data: URI, which is file content. Describe it in words; never paste the material itself."
    )


@pytest.mark.parametrize(("way", "shown"), [("base64 wrapped at 76 (MIME)", "base64"), ("Ascii85", "Ascii85")])
def test_text_refuses_file_content(way, shown):
    text = "Offender sent this:\n" + ENCODINGS[way][1](TINY_PNG) + "\nPlease check."
    with pytest.raises(ValidationError) as exc:
        validation.clean_text(text, "Urgent reason", required=True)
    assert message(exc) == (
        f"Urgent reason contains what looks like encoded file content (a PNG image in {shown}). "
        "Describe it in words; never paste the material itself."
    )
    assert exc.value.error_list[0].code == "file_content"


def test_text_that_only_repeats_a_letter_passes():
    assert validation.clean_text("a" * 130, "Notes", required=False) == "a" * 130


def test_notes_hold_10000_characters():
    note = ("Context for the night shift about account 88412. " * 210)[: validation.NOTES_MAX_LENGTH - 1] + "."
    assert len(note) == validation.NOTES_MAX_LENGTH
    assert validation.clean_text(note, "Notes", required=False, max_length=validation.NOTES_MAX_LENGTH) == note
    with pytest.raises(ValidationError) as exc:
        validation.clean_text(note + "x", "Notes", required=False, max_length=validation.NOTES_MAX_LENGTH)
    assert message(exc) == "Notes is too long: at most 10000 characters (this one has 10001)."


# --- clean_report_id -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "canonical"),
    [
        ("4564654", "4564654"),
        (4564654, "4564654"),
        ("  4564654 ", "4564654"),
        ("0045", "45"),
        ("1" * 19, "1" * 19),
        ("9" * 19, "9" * 19),
    ],
)
def test_report_id_accepted_and_canonical(value, canonical):
    assert validation.clean_report_id(value) == canonical


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, "CyberTipline report ID is required"),
        ("", "CyberTipline report ID is required"),
        ("   ", "CyberTipline report ID is required"),
        ("45 12", "CyberTipline report ID must be digits only"),
        ("12a", "CyberTipline report ID must be digits only"),
        ("-45", "CyberTipline report ID must be digits only"),
        ("+45", "CyberTipline report ID must be digits only"),
        ("4.5", "CyberTipline report ID must be digits only"),
        ("1_000", "CyberTipline report ID must be digits only"),
        ("\u0661\u0662\u0663", "CyberTipline report ID must be digits only"),  # Arabic-Indic digits
        ("\uff11\uff12\uff13", "CyberTipline report ID must be digits only"),  # fullwidth digits
        ("\u00b2", "CyberTipline report ID must be digits only"),  # superscript: isdigit() but not a number
        ("1" * 20, "CyberTipline report ID is too long: at most 19 digits"),
        ("0", "CyberTipline report ID can't be 0"),
        ("000", "CyberTipline report ID can't be 0"),
        (0, "CyberTipline report ID can't be 0"),
    ],
)
def test_report_id_refused(value, expected):
    with pytest.raises(ValidationError) as exc:
        validation.clean_report_id(value)
    assert message(exc).startswith(expected)


# --- check_knowledge_at --------------------------------------------------------------------------------


def test_knowledge_at_in_the_past_or_now_is_accepted():
    with time_machine.travel(NOW, tick=False):
        now = timezone.now()
        validation.check_knowledge_at(now, now, CFG)
        validation.check_knowledge_at(now - timedelta(days=30), now, CFG)


def test_knowledge_at_clock_skew_boundary():
    with time_machine.travel(NOW, tick=False):
        now = timezone.now()
        validation.check_knowledge_at(now + timedelta(minutes=5), now, CFG)  # exactly the skew: accepted
        with pytest.raises(ValidationError) as exc:
            validation.check_knowledge_at(now + timedelta(minutes=5) + SECOND, now, CFG)
    assert message(exc).startswith("Knowledge obtained can't be in the future")
    assert "time zone in your profile" in message(exc)


def test_knowledge_at_future_check_compares_instants_not_wall_clocks():
    # 14:04 in Berlin is 12:04 UTC: within the skew, although the wall clock reads two hours ahead.
    berlin = ZoneInfo("Europe/Berlin")
    validation.check_knowledge_at(datetime(2026, 6, 15, 14, 4, tzinfo=berlin), NOW, CFG)
    with pytest.raises(ValidationError):
        validation.check_knowledge_at(datetime(2026, 6, 15, 8, 6, tzinfo=ZoneInfo("America/New_York")), NOW, CFG)


def test_knowledge_at_skew_follows_config():
    strict = PolicyConfig(clock_skew=timedelta(0))
    validation.check_knowledge_at(NOW, NOW, strict)
    with pytest.raises(ValidationError):
        validation.check_knowledge_at(NOW + SECOND, NOW, strict)


def test_future_message_shows_now_in_the_users_time_zone():
    with time_machine.travel(NOW, tick=False), timezone.override(ZoneInfo("America/New_York")):
        now = timezone.now()
        with pytest.raises(ValidationError) as exc:
            validation.check_knowledge_at(now + timedelta(hours=1), now, CFG)
    assert "(it is now 2026-06-15 08:00 EDT)" in message(exc)


def test_knowledge_at_before_2000_refused():
    validation.check_knowledge_at(datetime(2000, 1, 1, tzinfo=UTC), NOW, CFG)
    # New Year's Eve 1999 in New York is already 2000 in UTC.
    validation.check_knowledge_at(datetime(1999, 12, 31, 20, 0, tzinfo=ZoneInfo("America/New_York")), NOW, CFG)
    with pytest.raises(ValidationError) as exc:
        validation.check_knowledge_at(datetime(1999, 12, 31, 23, 59, 59, tzinfo=UTC), NOW, CFG)
    assert message(exc) == "Knowledge obtained is before the year 2000; check the year."


def test_knowledge_at_required():
    with pytest.raises(ValidationError) as exc:
        validation.check_knowledge_at(None, NOW, CFG)
    assert message(exc).startswith("Knowledge obtained is required")


# --- check_reported_at ---------------------------------------------------------------------------------

KNOWLEDGE = NOW - timedelta(hours=6)


def test_reported_at_equal_to_knowledge_accepted():
    validation.check_reported_at(KNOWLEDGE, KNOWLEDGE, NOW, CFG)


def test_reported_at_before_knowledge_refused():
    with pytest.raises(ValidationError) as exc:
        validation.check_reported_at(KNOWLEDGE - SECOND, KNOWLEDGE, NOW, CFG)
    text = message(exc)
    assert text.startswith("Reported at can't be before knowledge was obtained")
    assert "(2026-06-15 06:00 UTC)" in text  # the knowledge time, shown so both can be checked


def test_reported_at_before_knowledge_shows_knowledge_in_users_zone():
    with timezone.override(ZoneInfo("Europe/Berlin")), pytest.raises(ValidationError) as exc:
        validation.check_reported_at(KNOWLEDGE - SECOND, KNOWLEDGE, NOW, CFG)
    assert "(2026-06-15 08:00 CEST)" in message(exc)


def test_reported_at_clock_skew_boundary():
    with time_machine.travel(NOW, tick=False):
        now = timezone.now()
        validation.check_reported_at(now + timedelta(minutes=5), KNOWLEDGE, now, CFG)
        with pytest.raises(ValidationError) as exc:
            validation.check_reported_at(now + timedelta(minutes=5) + SECOND, KNOWLEDGE, now, CFG)
    assert message(exc) == "Reported at can't be in the future (it is now 2026-06-15 12:00 UTC)."


def test_reported_at_required():
    with pytest.raises(ValidationError) as exc:
        validation.check_reported_at(None, KNOWLEDGE, NOW, CFG)
    assert message(exc).startswith("Reported at is required")
