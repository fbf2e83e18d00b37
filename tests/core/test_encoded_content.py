"""The detector of file content hidden in text (escalations/encoded_content.py), both ways: media
written as text in every way an attacker tried is found and named; what people really type passes
(digests, UUIDs, signed URLs, ticket IDs, prose in many languages, Django's translations into about
a hundred of them)."""

from __future__ import annotations

import ast
import base64
import hashlib
import json
import random
import uuid
from pathlib import Path

import django
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from escalations.core import encoded_content
from escalations.core.encoded_content import ENCODED_DATA_LIMIT, MAX_LIBRARY_CALLS, find_encoded_content
from tests.encoded_media import ENCODINGS, MEDIA, TINY_PNG, TINY_PNG_BASE64, encoded, noise

# --- what must be refused --------------------------------------------------------------------------


def test_the_1x1_png_of_the_attack_is_92_characters_and_refused():
    assert len(TINY_PNG_BASE64) == 92
    found = find_encoded_content(TINY_PNG_BASE64)
    assert found is not None
    assert found.describe() == "a PNG image in base64"


@pytest.mark.parametrize("way", sorted(ENCODINGS))
@pytest.mark.parametrize("media", sorted(MEDIA))
def test_media_is_found_written_every_way(media, way):
    data, name = MEDIA[media]
    encoding, encode = ENCODINGS[way]
    found = find_encoded_content(encode(data))
    assert found is not None, f"{media} written as {way} passed"
    assert found.file_type is not None and name in found.file_type, found
    assert found.encoding == encoding
    assert found.nested == (way == "base64 of base64")


@pytest.mark.parametrize("way", sorted(ENCODINGS))
def test_long_high_entropy_data_is_refused_whatever_its_header(way):
    """Data with no header (one cut off, or compressed, or encrypted) beyond the limit."""
    text = ENCODINGS[way][1](noise(ENCODED_DATA_LIMIT + 100, seed=7))
    found = find_encoded_content(text)
    assert found is not None, f"{len(text)} characters of {way} passed"
    assert found.file_type is None
    assert found.data_bytes > ENCODED_DATA_LIMIT
    assert "bytes of" in found.describe()


def test_the_same_data_in_a_note_with_words_around_it_is_refused():
    blob = base64.b64encode(noise(ENCODED_DATA_LIMIT + 100)).decode()
    note = "Context for the night shift. " * 40 + blob + " Please follow up with the parent. " * 40
    assert len(note) < 10_000
    found = find_encoded_content(note)
    assert found is not None and found.encoding == "base64"


def test_data_split_over_several_runs_adds_up():
    chunks = [base64.b64encode(noise(200, seed=n)).decode() for n in range(4)]  # 800 bytes in four
    note = " (next) ".join(chunks)
    assert find_encoded_content(chunks[0]) is None
    found = find_encoded_content(note)
    assert found is not None and found.data_bytes > ENCODED_DATA_LIMIT


def test_many_runs_that_begin_like_a_file_are_refused_not_skipped():
    """The library is called a bounded number of times per value; decoys that each begin like a
    signature can't push a real file past that bound unchecked."""
    decoy = base64.b64encode(b"\xff\xd8\xfe" + noise(12)).decode()  # begins like a JPEG, isn't one
    text = " ! ".join([decoy] * (MAX_LIBRARY_CALLS + 5)) + " ! " + TINY_PNG_BASE64
    found = find_encoded_content(text)
    assert found is not None
    assert found.too_many_headers or found.file_type == "PNG image"


@given(data=st.binary(min_size=ENCODED_DATA_LIMIT + 200, max_size=2000), way=st.sampled_from(sorted(ENCODINGS)))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
def test_any_long_data_that_is_not_text_is_refused(data, way):
    # As random as a compressed or encrypted file: no repeats (a block repeated over and over is
    # neither, and the windows of the entropy rule would all see the same few bytes).
    data = hashlib.shake_256(data).digest(ENCODED_DATA_LIMIT + 200)
    assert find_encoded_content(ENCODINGS[way][1](data[: ENCODED_DATA_LIMIT + 200])) is not None


@given(
    media=st.sampled_from(sorted(MEDIA)),
    way=st.sampled_from(sorted(ENCODINGS)),
    before=st.sampled_from(["", "look: ", "Notes\n", "ticket-1001 ", "«", "(", "see attached\r\n\r\n"]),
    after=st.sampled_from(["", " thanks", ".", "\n-- \nsent from my phone", ")", "»"]),
)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_media_is_found_whatever_surrounds_it(media, way, before, after):
    data, name = MEDIA[media]
    found = find_encoded_content(before + ENCODINGS[way][1](data) + after)
    assert found is not None and found.file_type is not None and name in found.file_type


# --- what must pass --------------------------------------------------------------------------------

_rng = random.Random(15)


def _token(size: int) -> bytes:
    return _rng.randbytes(size)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _sha(n: int) -> str:
    return hashlib.sha256(f"item-{n}".encode()).hexdigest()


_JWT_PAYLOAD = {
    "sub": "moderator-8841",
    "iss": "https://sso.platform.example",
    "aud": "evidence-store",
    "exp": 1767225600,
    "scope": "evidence:read case:88412",
    "jti": str(uuid.UUID(int=_rng.getrandbits(128))),
}
RS256_JWT = ".".join(
    [
        _b64url(b'{"alg":"RS256","typ":"JWT","kid":"2026-03-key-1"}'),
        _b64url(json.dumps(_JWT_PAYLOAD).encode()),
        _b64url(_token(256)),
    ]
)
GCS_SIGNED_URL = (
    "https://storage.googleapis.com/evidence-vault-prod/cases/88412/item-0007.bin?X-Goog-Algorithm=GOOG4-RSA-SHA256"
    "&X-Goog-Credential=evidence-reader%40platform-prod.iam.gserviceaccount.com%2F20260310%2Fus-central1%2Fstorage"
    "%2Fgoog4_request&X-Goog-Date=20260310T181309Z&X-Goog-Expires=900&X-Goog-SignedHeaders=host"
    "&X-Goog-Signature=" + _token(256).hex()  # an RSA-2048 signature: 512 hex characters
)
S3_PRESIGNED_URL = (
    "https://evidence-vault.s3.us-east-1.amazonaws.com/cases/88412/item-0007.bin?X-Amz-Algorithm=AWS4-HMAC-SHA256"
    "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20260310%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20260310T000000Z"
    "&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature=" + _token(32).hex()
)
CLOUDFRONT_SIGNED_URL = (
    "https://d111111abcdef8.cloudfront.net/cases/88412/item.bin?Expires=1767225600&Signature="
    + base64.b64encode(_token(128)).decode().translate(str.maketrans("+=/", "-_~"))
    + "&Key-Pair-Id=K2JCJMDEHXQW5F"
)
AZURE_SAS_URL = (
    "https://evidencevault.blob.core.windows.net/cases/88412/item-0007.bin?sv=2022-11-02&ss=b&srt=o&sp=r"
    "&se=2026-03-11T00:00:00Z&spr=https&sig="
    + base64.b64encode(_token(32)).decode().replace("+", "%2B").replace("/", "%2F").replace("=", "%3D")
)

LEGITIMATE = {
    "SHA-256": _sha(1),
    "SHA-256 in capitals": _sha(2).upper(),
    "SHA-256 with its algorithm": f"sha256:{_sha(3)}",
    "SHA-512": hashlib.sha512(b"x").hexdigest(),
    "SHA-1": hashlib.sha1(b"x").hexdigest(),  # noqa: S324 - a digest people record, not a use of SHA-1
    "MD5": hashlib.md5(b"x").hexdigest(),  # noqa: S324
    "a digest that begins like a JPEG": "ffd8ffe0" + _sha(4)[8:],
    "a digest that begins like a PNG": "89504e47" + _sha(5)[8:],
    "16 SHA-256 one per line": "\n".join(_sha(n) for n in range(16)),
    "16 SHA-256 with labels": "\n".join(f"item {n}: sha256 {_sha(n)} ({1000 + n * 37} bytes)" for n in range(16)),
    "20 SHA-256 comma separated": ", ".join(_sha(n) for n in range(20)),
    "32 MD5": "\n".join(hashlib.md5(str(n).encode()).hexdigest() for n in range(32)),  # noqa: S324
    "PDQ hash": _token(32).hex(),
    "PhotoDNA hash in base64 (144 bytes)": base64.b64encode(_token(144)).decode(),
    "UUID": str(uuid.UUID(int=_rng.getrandbits(128))),
    "20 UUIDs": " ".join(str(uuid.UUID(int=_rng.getrandbits(128))) for _ in range(20)),
    "UUID without dashes": uuid.UUID(int=_rng.getrandbits(128)).hex,
    "JWT (HS256)": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0Ij"
    "oxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
    "JWT (RS256)": RS256_JWT,
    "URL with a bearer JWT": "https://evidence.platform.example/download?token=" + RS256_JWT,
    "GCS signed URL": GCS_SIGNED_URL,
    "S3 presigned URL": S3_PRESIGNED_URL,
    "CloudFront signed URL": CLOUDFRONT_SIGNED_URL,
    "Azure SAS URL": AZURE_SAS_URL,
    "19-digit snowflake ID": "1793340123456789012",
    "long numeric ticket": "TKT-20260310-000000884120077",
    "long alphanumeric ticket": "CASE-7F3A9C2E-4B1D-8F6A-0C3E-5B7D9F1A2C4E",
    "ULID": "01ARZ3NDEKTSV4RRFFQ69G5FAV",
    "KSUID": "0ujtsYcgvSTl8PAuAdqWYSMnLOv",
    "MongoDB ObjectId": "507f1f77bcf86cd799439011",
    "Google Drive URL": "https://drive.google.com/file/d/1BxiMVs0XRA5nFMdKvBdBZjgmUUqptlbs74OgvE2upms/view",
    "YouTube URL": "https://www.youtube.com/watch?v=dQw4w9WgXcQ&list=PLrAXtmErZgOeiKm4sgNOknGvNjby9efdf",
    "internal URL": "https://admin.internal.example/moderation/queue/items/7f3a9c2e-4b1d-8f6a-0c3e-5b7d9f1a2c4e"
    "/review?tab=history&from=2026-03-10T12:00:00Z",
    "evidence store reference": "evs://vault-3/case/88412/item/0007",
    "S3 URI with a digest": f"s3://evidence-vault/2026/03/10/{_sha(6)}.bin",
    "IPv6 address": "2001:0db8:85a3:0000:0000:8a2e:0370:7334",
    "PGP fingerprint": "4A3B 2C1D 9E8F 7A6B 5C4D  3E2F 1A0B 9C8D 7E6F 5A4B",
    "Bitcoin address": "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq",
    "Ethereum address": "0x742d35Cc6634C0532925a3b844Bc454e4438f44e",
    "Message-ID": "Message-ID: <CAF=Yz1+9kQx3nJ7pL2mW8vR4tB6hD0sG5cE1aN@mail.gmail.com>",
    "Slack permalink": "https://platform.slack.com/archives/C04B7QK2M8N/p1712345678901234?thread_ts=1712345600.123456",
    "Discord message link": "https://discord.com/channels/613425648685547541/697138785317814292/1793340123456789012",
    "TikTok URL": "https://www.tiktok.com/@user.name_123/video/7344567890123456789",
    "git commit": "commit 9fceb02d0ae598e95dc970b74767f19372d61af8",
    "a note in English": (
        "Account u/88412 sent three images to a 13-year-old user between 02:10 and 02:45 UTC on 10 March. "
        "Reported by the child's parent through the in-app form (ticket TKT-77001). Account suspended at 03:02; "
        "content removed and preserved in the evidence store (case 88412, items 1-3). NCMEC report filed 04:15. "
    )
    * 10,
    "German": "Das Konto hat am 10. März um 02:10 Uhr drei Bilder an eine Dreizehnjährige geschickt. Gemeldet "
    "über das Formular; Ticket TKT-77001. Konto gesperrt, Inhalte gesichert.",
    "French": "Le compte a envoyé trois images à une utilisatrice de 13 ans le 10 mars entre 02h10 et 02h45 UTC.",
    "Polish": "Konto wysłało trzy zdjęcia trzynastoletniej użytkowniczce. Zgłoszone przez rodzica.",
    "Turkish": "Hesap 13 yaşındaki bir kullanıcıya üç görüntü gönderdi. Ebeveyn tarafından bildirildi.",  # noqa: RUF001
    "Russian": "Аккаунт отправил три изображения тринадцатилетней пользовательнице. Сообщил родитель.",
    "Arabic": "أرسل الحساب ثلاث صور إلى مستخدمة عمرها 13 عامًا. أبلغ أحد الوالدين؛ تم تعليق الحساب.",
    "Hebrew": "החשבון שלח שלוש תמונות למשתמשת בת 13. ההורה דיווח; החשבון הושעה.",
    "Hindi": "खाते ने 13 वर्षीय उपयोगकर्ता को तीन चित्र भेजे। माता-पिता ने रिपोर्ट किया; खाता निलंबित।",
    "Chinese": "该账户向一名13岁的用户发送了三张图片。家长举报；账户已被封禁，内容已保存。",  # noqa: RUF001
    "Japanese": "このアカウントは13歳の利用者に画像を3枚送信しました。保護者が報告し、アカウントは停止されました。",
    "Korean": "해당 계정은 13세 사용자에게 이미지 세 장을 보냈습니다. 보호자가 신고했고 계정은 정지되었습니다.",
    "Vietnamese": "Tài khoản đã gửi ba hình ảnh cho một người dùng 13 tuổi. Phụ huynh đã báo cáo.",
    "an urgent reason in capitals": "CHILD IN IMMEDIATE DANGER. LIVESTREAM ONGOING FROM ACCOUNT 88412. OFFENDER "
    "SAYS HE WILL MEET HER TONIGHT AT 22:00 NEAR THE SCHOOL. CALL POLICE NOW.",
    "Title Case": "Urgent Review Needed For Account Reported By Parent After Midnight Livestream With Minor " * 8,
    "a pasted log": "\n".join(
        f"2026-03-10T02:{10 + n:02d}:{n * 7 % 60:02d}Z msg {1793340123456789012 + n} from u/88412 to "
        f"u/{5540 + n} flagged hash {_sha(n)[:12]}"
        for n in range(25)
    ),
    "names and years": "\n".join(f"(c) 2003-20{n:02d} Name{n} Surname{n}, Example Inc." for n in range(40)),
    "a shell command": "grep -E '^[a-f0-9]{64}$' evidence.txt | sort -u > hashes.txt && wc -l hashes.txt",
    "a regular expression": r"^(?:ESC-)?\d{6}$|^[A-Z]{2,5}-\d+$",
    "phone and address": "Parent's callback: +1 (555) 010-4477, 221B Baker Street, London NW1 6XE.",
    "markup": '<b>Reported</b> via form &amp; email; see <a href="https://mod.example/t/1">ticket</a>',
    "JSON": '{"case": 88412, "items": [1, 2, 3], "reporter": "parent", "channel": "in-app"}',
    "references of several destinations": "NCMEC CT# 4564654 / NCA URN 01-2026-0000457 / AFP ACCCE-2026-1234",
    "a list of numbers": ", ".join(str(n * 1_000_003 % 99_991) for n in range(300)),
}


@pytest.mark.parametrize("name", sorted(LEGITIMATE))
def test_what_people_type_passes(name):
    assert find_encoded_content(LEGITIMATE[name]) is None


def translations() -> list[tuple[str, str]]:
    """Every translation in Django's catalogue, each language's joined into notes of 10,000 characters."""
    notes: list[tuple[str, str]] = []
    for path in sorted(Path(django.__file__).parent.glob("conf/locale/*/LC_MESSAGES/django.po")):
        strings: list[str] = []
        current: list[str] = []
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.startswith("msgstr "):
                current = [ast.literal_eval(line.split(" ", 1)[1])]
            elif line.startswith('"') and current:
                current.append(ast.literal_eval(line))
            elif current:
                strings.append("".join(current))
                current = []
        text = "\n".join(s for s in strings if s)
        language = path.parts[-3]
        notes.extend((f"{language} {start}", text[start : start + 10_000]) for start in range(0, len(text), 10_000))
    return notes


def test_translations_into_every_language_pass():
    notes = translations()
    assert len({name.split()[0] for name, _ in notes}) > 90
    flagged = [(name, finding) for name, text in notes if (finding := find_encoded_content(text))]
    assert flagged == []


_WORDS = sorted(
    {
        word
        for text in LEGITIMATE.values()
        for word in text.replace("\n", " ").split(" ")
        if word and not any(ch.isdigit() for ch in word) and len(word) < 20
    }
)


@given(
    st.lists(
        st.one_of(
            st.sampled_from(_WORDS),
            st.integers(0, 10**19).map(str),
            st.sampled_from([",", ".", ";", "\n", " - ", ":", "(", ")"]),
        ),
        max_size=400,
    )
)
@settings(max_examples=200, deadline=None)
def test_any_text_of_words_and_numbers_passes(pieces):
    assert find_encoded_content(" ".join(pieces)) is None


@given(st.lists(st.binary(min_size=1, max_size=64), min_size=1, max_size=16), st.sampled_from(["\n", ", ", " "]))
@settings(max_examples=200, deadline=None)
def test_any_list_of_16_sha256_digests_passes(contents, separator):
    assert find_encoded_content(separator.join(hashlib.sha256(c).hexdigest() for c in contents)) is None


@given(st.lists(st.uuids(), min_size=1, max_size=30), st.sampled_from(["\n", ", ", " "]))
@settings(max_examples=100, deadline=None)
def test_any_list_of_uuids_passes(uuids, separator):
    assert find_encoded_content(separator.join(str(u) for u in uuids)) is None


# --- names in the messages --------------------------------------------------------------------------


def test_file_types_are_named_for_people():
    assert encoded_content.file_type(TINY_PNG) == "PNG image"
    assert encoded_content.file_type(MEDIA["jpeg"][0]) == "JPEG image"
    assert encoded_content.file_type(MEDIA["mp4"][0]) == "MP4 video"
    assert encoded_content.file_type(b'{"alg":"RS256","typ":"JWT"}') is None  # JSON is text
    assert encoded_content.file_type(b"BM" + noise(40)) is None  # two bytes are no evidence


def test_descriptions():
    assert find_encoded_content(base64.a85encode(TINY_PNG).decode()).describe() == "a PNG image in Ascii85"
    twice = base64.b64encode(TINY_PNG_BASE64.encode()).decode()
    assert find_encoded_content(twice).describe() == "a PNG image in base64, encoded twice"
    assert find_encoded_content(base64.b64encode(MEDIA["mp4"][0]).decode()).describe() == "an MP4 video in base64"
    assert list(dict(encoded(b"x")))  # every way has a name
