"""The fast detector of file content in text gives exactly what the detector gave before it was made
faster (tests/core/encoded_content_reference.py, frozen): the same Finding, or None, for every
sample of the detector's own corpus, for Django's translations, and for a few thousand values made
here with a fixed seed: prose in several languages, references, URLs, digests, UUIDs, JWTs, and file
headers in every encoding, wrapped, split, shifted, reversed, after junk bytes, in prose, and
mutated at random."""

from __future__ import annotations

import base64
import hashlib
import random
import uuid
from collections.abc import Iterator

import pytest

from escalations.core.encoded_content import find_encoded_content
from tests.core import encoded_content_reference as reference
from tests.core.test_encoded_content import LEGITIMATE, RS256_JWT, translations
from tests.encoded_media import AFTER_JUNK, ENCODINGS, MEDIA, TINY_PNG_BASE64, noise


def _same(text: str) -> None:
    expected = reference.find_encoded_content(text)
    found = find_encoded_content(text)
    # Findings of the two modules are instances of two classes: compared field by field.
    assert (None if found is None else vars(found)) == (None if expected is None else vars(expected)), text[:300]


# --- the corpus of the detector's tests ------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(LEGITIMATE))
def test_what_people_type(name):
    _same(LEGITIMATE[name])


@pytest.mark.parametrize("way", sorted(ENCODINGS) + sorted(AFTER_JUNK))
def test_media_written_every_way(way):
    encode = {**ENCODINGS, **AFTER_JUNK}[way][1]
    for data, _ in MEDIA.values():
        text = encode(data)
        for variant in (text, "look: " + text + " thanks", "«" + text + "»", "see attached\r\n\r\n" + text + "."):
            _same(variant)
    _same(encode(noise(ENCODED_EXTRA, seed=7)))
    _same(encode(hashlib.shake_256(b"x").digest(ENCODED_EXTRA)))


ENCODED_EXTRA = 740  # past the limit on high-entropy data


def test_translations():
    # Every tenth note: the whole catalogue through both detectors would take minutes.
    for _, text in translations()[::10]:
        _same(text)


def test_the_corpus_special_cases():
    decoy = base64.b64encode(b"\xff\xd8\xfe" + noise(12)).decode()
    _same(" ! ".join([decoy] * 69) + " ! " + TINY_PNG_BASE64)
    chunks = [base64.b64encode(noise(200, seed=n)).decode() for n in range(4)]
    _same(" (next) ".join(chunks))
    _same(chunks[0])
    blob = base64.b64encode(noise(740)).decode()
    _same("Context for the night shift. " * 40 + blob + " Please follow up with the parent. " * 40)


# --- values made here -------------------------------------------------------------------------------

PROSE = [
    "Account u/88412 sent three images to a 13-year-old user between 02:10 and 02:45 UTC on 10 March.",
    "Reported by the child's parent through the in-app form (ticket TKT-77001). Account suspended at 03:02.",
    "Live contact with a minor; threat of an in-person meeting.",
    "Flagged by hash match; account suspended.",
    "Adult content after review; not reportable.",
    "Preservation period over; no open legal process.",
    "Das Konto hat am 10. März um 02:10 Uhr drei Bilder an eine Dreizehnjährige geschickt.",
    "Le compte a envoyé trois images à une utilisatrice de 13 ans le 10 mars entre 02h10 et 02h45 UTC.",
    "Konto wysłało trzy zdjęcia trzynastoletniej użytkowniczce. Zgłoszone przez rodzica.",
    "Аккаунт отправил три изображения тринадцатилетней пользовательнице. Сообщил родитель.",
    "أرسل الحساب ثلاث صور إلى مستخدمة عمرها 13 عامًا. أبلغ أحد الوالدين؛ تم تعليق الحساب.",
    "该账户向一名13岁的用户发送了三张图片。家长举报；账户已被封禁，内容已保存。",  # noqa: RUF001
    "このアカウントは13歳の利用者に画像を3枚送信しました。",
    "Tài khoản đã gửi ba hình ảnh cho một người dùng 13 tuổi. Phụ huynh đã báo cáo.",
    "CHILD IN IMMEDIATE DANGER. LIVESTREAM ONGOING FROM ACCOUNT 88412. CALL POLICE NOW.",
    "Urgent Review Needed For Account Reported By Parent After Midnight Livestream With Minor",
    "grep -E '^[a-f0-9]{64}$' evidence.txt | sort -u > hashes.txt && echo \"\\x41\\n\"",
    "Parent's callback: +1 (555) 010-4477, 221B Baker Street, London NW1 6XE.",
    '{"case": 88412, "items": [1, 2, 3], "reporter": "parent", "channel": "in-app"}',
    "Ｆｕｌｌ－ｗｉｄｔｈ ｌｅｔｔｅｒｓ ａｎｄ ｄｉｇｉｔｓ １２３４５",  # noqa: RUF001
]


def _reference(rng: random.Random) -> str:
    kind = rng.randrange(12)
    digest = hashlib.sha256(rng.randbytes(8)).hexdigest()
    return [
        f"content:{rng.getrandbits(40)}",
        f"account:{rng.randrange(10**6)}",
        f"import:{rng.randrange(10**8):08d}",
        f"TKT-{rng.randrange(10**6)}",
        str(uuid.UUID(int=rng.getrandbits(128))),
        digest,
        digest.upper()[: rng.choice([32, 40, 64])],
        f"https://admin.internal.example/queue/{uuid.UUID(int=rng.getrandbits(128))}/review?tab=history",
        f"s3://evidence-vault/2026/03/10/{digest}.bin",
        base64.urlsafe_b64encode(rng.randbytes(rng.randrange(8, 200))).decode().rstrip("="),
        RS256_JWT,
        f"evs://vault-{rng.randrange(9)}/case/{rng.randrange(10**5)}/item/{rng.randrange(10**4):04d}",
    ][kind]


def _prose(rng: random.Random, size: int) -> str:
    parts: list[str] = []
    while sum(map(len, parts)) < size:
        parts.append(rng.choice(PROSE) if rng.random() < 0.8 else _reference(rng))
    return rng.choice([" ", "\n", " ", "\r\n"]).join(parts)[:size]


def _junk(rng: random.Random, data: bytes) -> bytes:
    return rng.randbytes(rng.randrange(1, 9)) + data


def _split(rng: random.Random, text: str) -> str:
    width = rng.choice([1, 2, 4, 6, 8, 10, 17, 40, 64, 76])
    pieces = [text[i : i + width] for i in range(0, len(text), width)]
    return rng.choice([" ", ".", "-", "\n", "\r\n", ", ", " and ", ":", "%", " ! "]).join(pieces)


def _encoded(rng: random.Random) -> str:
    data, _ = MEDIA[rng.choice(sorted(MEDIA))]
    if rng.random() < 0.3:
        data = _junk(rng, data)
    if rng.random() < 0.2:
        data = data[: rng.randrange(4, len(data) + 1)]
    encode = rng.choice([encode for _, encode in [*ENCODINGS.values(), *AFTER_JUNK.values()]])
    text = encode(data)
    roll = rng.random()
    if roll < 0.2:
        text = _split(rng, text)
    elif roll < 0.3:
        text = text[::-1]
    elif roll < 0.4:
        text = text[rng.randrange(1, 6) :]
    if rng.random() < 0.5:
        text = _prose(rng, rng.randrange(0, 300)) + rng.choice([" ", "\n", ": ", "(", ""]) + text
    if rng.random() < 0.5:
        text += rng.choice([" ", "\n", ")", "."]) + _prose(rng, rng.randrange(0, 300))
    return text


def _mutated(rng: random.Random, text: str) -> str:
    chars = list(text)
    for _ in range(rng.randrange(1, 6)):
        if not chars:
            break
        at = rng.randrange(len(chars))
        roll = rng.random()
        if roll < 0.4:
            chars[at] = chr(rng.choice([rng.randrange(32, 127), rng.randrange(0x80, 0x3000)]))
        elif roll < 0.7:
            del chars[at : at + rng.randrange(1, 8)]
        else:
            # Separators, Ascii85's "z" and frame, an escape's backslash, and whitespace beyond ASCII.
            chars.insert(at, rng.choice(" \n\t.-=+/_~<>z\\x0\x1c\x85\xa0\u2028\u3000"))
    return "".join(chars)


def _values(seed: int, count: int) -> Iterator[str]:
    rng = random.Random(seed)
    for _ in range(count):
        roll = rng.random()
        if roll < 0.2:
            text = _reference(rng)
        elif roll < 0.35:
            text = _prose(rng, rng.choice([40, 200, 1000, 2000]))
        elif roll < 0.45:
            text = rng.choice(["\n", ", ", " "]).join(
                hashlib.sha256(rng.randbytes(4)).hexdigest() for _ in range(rng.randrange(1, 20))
            )
        elif roll < 0.5:
            way = rng.choice(sorted(ENCODINGS))
            text = ENCODINGS[way][1](rng.randbytes(rng.randrange(100, 900)))
        else:
            text = _encoded(rng)
        yield _mutated(rng, text) if rng.random() < 0.3 else text


@pytest.mark.parametrize("seed", range(8))
def test_values_made_here(seed):
    for text in _values(seed, 400):
        _same(text)
