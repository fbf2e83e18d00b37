"""Images hidden in text the other ways: uuencode (with or without its begin line), decimal byte
values, octal or hex escapes among plain characters, strings of bits, base64 written backwards, the
encodings with a few junk bytes before the file, and base64 split by words. Each is decoded and
refused by the file's magic bytes, and a long block of any of them is refused whatever it holds;
what people really type still passes. On the page the message names the field and says why, and
nothing is written."""

from __future__ import annotations

import base64
import binascii
import textwrap
from typing import Any

import pytest
from django.core.exceptions import ValidationError

from escalations.core import services, validation
from escalations.core.encoded_content import find_encoded_content
from escalations.models import AuditEvent, Escalation
from tests.conftest import escalation_data
from tests.encoded_media import (
    AFTER_JUNK,
    ENCODINGS,
    MEDIA,
    MEDIA_WITH_STRONG_SIGNATURES,
    TINY_PNG,
    TINY_PNG_BASE64,
    jpeg,
    noise,
)

# The files of the attacks as reported: a 7,000-byte JPEG, 2,600 bytes as decimal values.
JPEG_7000 = jpeg() + noise(7000 - len(jpeg()))
JPEG_2600 = JPEG_7000[:2600]


def _uu(data: bytes, begin: bool) -> str:
    lines = [binascii.b2a_uu(data[i : i + 45]).decode().rstrip("\n") for i in range(0, len(data), 45)]
    return ("begin 644 photo.jpg\n" if begin else "") + "\n".join(lines) + ("\n`\nend" if begin else "")


ATTACKS = {
    "uuencoded 7,000-byte JPEG with its begin line": (_uu(JPEG_7000, True), "uuencode", "JPEG image"),
    "uuencoded 7,000-byte JPEG, lines alone": (_uu(JPEG_7000, False), "uuencode", "JPEG image"),
    "2,600 bytes as decimal values": (",".join(str(b) for b in JPEG_2600), "decimal byte values", "JPEG image"),
    "octal escapes": (
        "".join(f"\\{b:03o}" if not 32 < b < 127 else chr(b) for b in TINY_PNG),
        "octal or hex escapes",
        "PNG image",
    ),
    "bits": (" ".join(f"{b:08b}" for b in TINY_PNG), "bits", "PNG image"),
    "base64 backwards": (TINY_PNG_BASE64[::-1], "base64, reversed", "PNG image"),
    "a junk byte before base64": (base64.b64encode(b"\x00" + TINY_PNG).decode(), "base64", "PNG image"),
    "junk bytes before hex": ((b"\x07\x08\x09" + TINY_PNG).hex(), "hexadecimal", "PNG image"),
    "junk bytes before base32": (base64.b32encode(b"\x01\x02" + TINY_PNG).decode(), "base32", "PNG image"),
    "a junk byte before Ascii85": (base64.a85encode(b"\x05" + TINY_PNG).decode(), "Ascii85", "PNG image"),
    "the 1x1 PNG split by words": (" and ".join(textwrap.wrap(TINY_PNG_BASE64, 6)), "base64", "PNG image"),
}


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_each_attack_is_found_by_its_magic_bytes(attack: str) -> None:
    text, encoding, file_type = ATTACKS[attack]
    found = find_encoded_content(text)
    assert found is not None, f"{attack} passed"
    assert found.encoding == encoding and found.file_type == file_type, found


@pytest.mark.parametrize("way", sorted(AFTER_JUNK))
@pytest.mark.parametrize("media", MEDIA_WITH_STRONG_SIGNATURES)
def test_media_after_junk_bytes_is_found(media: str, way: str) -> None:
    data, name = MEDIA[media]
    encoding, encode = AFTER_JUNK[way]
    found = find_encoded_content(encode(data))
    assert found is not None and found.file_type is not None and name in found.file_type, found
    assert found.encoding == encoding


@pytest.mark.parametrize(
    "way", ["uuencode lines alone", "decimal byte values", "octal escapes (a C string)", "bits", "bits run together"]
)
def test_a_long_block_of_bytes_written_one_by_one_is_refused_whatever_its_header(way: str) -> None:
    found = find_encoded_content(ENCODINGS[way][1](noise(400, seed=3)))
    assert found is not None and found.file_type is None, found


LEGITIMATE = {
    "a SHA-256": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "a UUID": "123e4567-e89b-12d3-a456-426614174000",
    "a JWT": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2"
    "MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
    "a signed URL": "https://bucket.s3.amazonaws.com/e/1.jpg?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature="
    "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "a long ticket ID": "PLATFORM-TS-2026-000000123456789-REVIEW-QUEUE-7",
    "prose with numbers": "Seen on 3, 4 and 5 May; 12, 15, 9 and 22 reports a day, 2 accounts, 1 minor aged 14.",
    "a list of IP addresses": "192.168.1.1, 10.0.0.2, 172.16.4.9, 8.8.8.8, 1.1.1.1, 9.9.9.9, 10.1.2.3, 100.64.0.1, "
    "203.0.113.5, 198.51.100.7",
    "phone numbers": "+1 555 123 4567, +44 20 7946 0958, (202) 555-0143",
    "a Windows path and a typed newline": "Saved to C:\\Users\\mod\\Desktop\\notes.txt; the log says \\n twice \\n.",
    "an upper-case reason": "CHILD IN IMMEDIATE DANGER. LIVESTREAM ONGOING FROM ACCOUNT 88412. OFFENDER NEARBY.",
    "counts in a table": "week 1 2 3 4 5 6 7 8 9 10 11 12\nreports 4 6 3 8 2 9 5 7 4 6 3 8",
}


@pytest.mark.parametrize("name", sorted(LEGITIMATE))
def test_what_people_type_still_passes(name: str) -> None:
    assert find_encoded_content(LEGITIMATE[name]) is None


def test_a_png_split_by_words_is_named_a_png_not_a_font() -> None:
    with pytest.raises(ValidationError) as refused:
        validation.refuse_file_content(" and ".join(textwrap.wrap(TINY_PNG_BASE64, 6)), "Username")
    message = refused.value.messages[0]
    assert message.startswith("Username contains what looks like encoded file content (a PNG image in base64)")
    assert "font" not in message


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_the_services_refuse_each_attack_in_notes_and_write_nothing(attack: str, moderator: Any) -> None:
    text = ATTACKS[attack][0]
    before = (Escalation.objects.count(), AuditEvent.objects.count())
    with pytest.raises(ValidationError) as refused:
        services.create_escalation(actor=moderator, data=escalation_data(notes=text))
    assert "Notes" in str(refused.value) and "file content" in str(refused.value)
    assert (Escalation.objects.count(), AuditEvent.objects.count()) == before


def test_the_page_refuses_a_uuencoded_jpeg_in_notes_with_the_fields_name(moderator: Any, client_for: Any) -> None:
    client = client_for(moderator)
    before = (Escalation.objects.count(), AuditEvent.objects.count())
    data = escalation_data(notes=_uu(JPEG_7000, True))
    data["knowledge_at"] = data["knowledge_at"].strftime("%Y-%m-%dT%H:%M")
    response = client.post("/escalations/new/", data)
    assert response.status_code == 200
    page = response.content.decode()
    assert "Notes contains what looks like encoded file content (a JPEG image in uuencode)" in page
    assert (Escalation.objects.count(), AuditEvent.objects.count()) == before
