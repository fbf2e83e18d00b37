"""Finds file content hidden in text: base64, base32, hexadecimal or base85 (Ascii85 and RFC 1924)
however it is wrapped, split or shifted, uuencode, decimal byte values, escapes and bits, when it
decodes to a file that the magic-byte library (puremagic) recognises, or when a value carries more
high-entropy data than any real reference, signed URL or list of digests does.

Pure functions, no Django: escalations.core.validation turns a finding into a message on the field.

How a value is read, for each encoding:
1. Runs. A run is a stretch of the encoding's characters in which the separators that people (and
   attackers) use to wrap or split encoded text do not end it: whitespace and line breaks, dots,
   dashes, commas, colons, quotes, brackets, percent signs are dropped and mark where a piece starts.
   Any other character ends the run. "0x89, 0x50" and "\\x89\\x50" count as hexadecimal.
2. Magic bytes. At the start of the run, and of each piece in it whose next characters look encoded
   (capitals, digits and symbols mixed, not the start of a word), a prefix is decoded and handed to
   puremagic. A binary type (an image, a video, a recording, an archive, a document...) matched by a
   signature of at least three bytes is refused, however short the run: a 1x1 PNG is 92 base64
   characters. A prefix that decodes to readable text (base64 of base64, percent-encoding) is read
   again, once.
3. Entropy. Windows of a run whose characters are as varied as random data in that encoding (how many
   distinct characters, and a mix of capitals, small letters, digits and symbols that words do not
   have) count as encoded data, in decoded bytes. More than ENCODED_DATA_LIMIT bytes in one value is
   refused whatever it decodes to: a file with its header cut off, a compressed or encrypted archive.

What passes (tests/core/test_encoded_content.py holds the corpus): words in any language, digests (a
SHA-256 is 32 bytes; 16 of them fit, one per line or not), UUIDs, long ticket IDs, URLs, the token
of a signed URL (an S3 X-Amz-Signature, a GCS X-Goog-Signature of 256 bytes, a JWT).

Also read: base64 written backwards; base64 split by words put between its pieces (read again without
them); a file after a few junk bytes (the library is asked from each of the first MAX_JUNK_BYTES
offsets of the start of a run, where a strong signature is needed: _strong); and bytes written one by
one other ways, uuencode, decimal values, octal or hex escapes among plain characters and strings of
bits (escalations.core.byte_encodings), refused by their magic bytes, or whatever they hold when a
block is longer than anyone types. Of two readings that find a file, the one whose signature says
more (_evidence: its bytes that are not zero) names it.

Deliberate steganography (bytes spelt as words, an encoding of one's own) is beyond any such check;
the limit on each field's length bounds what one value can carry.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from itertools import accumulate, pairwise
from operator import itemgetter

import puremagic

from escalations.core import byte_encodings

# Bytes of high-entropy encoded data one value may carry: a GCS signed URL's signature (256 bytes),
# an RS256 JWT (about 400), 16 SHA-256 digests. A picture with its header is refused by its magic
# bytes at any size; one without needs more than this to be worth anything.
ENCODED_DATA_LIMIT = 640

# Characters in a window of the entropy rule; the shortest run worth decoding for magic bytes
# (16 base64 characters are 12 bytes, room for every signature we act on).
WINDOW = 64
MIN_MAGIC_CHARS = 16
# Decoded bytes handed to puremagic: every signature of a media or archive format sits within them
# (a tar's "ustar" at 257 is the deepest).
MAGIC_PREFIX_BYTES = 272
# puremagic's confidence is its signature's length in tenths. Two-byte signatures (a bitmap's "BM",
# an executable's "MZ") match one random string in a few thousand: we act on three bytes or more.
MIN_SIGNATURE_BYTES = 3
# A run made only of digests (MD5 to SHA-512 in hex) is a list of digests: one random digest in a few
# hundred thousand starts with a three-byte signature (a JPEG's ff d8 ff), so such a list needs four.
DIGEST_HEX_LENGTHS = frozenset({32, 40, 56, 64, 96, 128})
MIN_SIGNATURE_BYTES_IN_DIGESTS = 4
# A third of puremagic's signatures name no MIME type: formats so obscure that the library itself
# can't say what they hold (a Quicken price history is 03 00 00 00). Those need six bytes.
UNTYPED_SIGNATURE_BYTES = 6
# Hexadecimal spelt in digits alone ("01000000") is how text full of numbers reads: a signature
# shorter than six bytes counts only if a letter comes within its first six bytes (a GIF's "GIF89a"
# is six bytes, all digits in hex; "%PDF-" has one; an icon's 00 00 01 00 and a list of numbers
# have none).
DIGIT_SIGNATURE_BYTES = 6
# Calls to the library per value (each reads its whole table): text built so that every piece begins
# like a signature would otherwise cost seconds. Past this the value is refused; in the corpus no
# value of text needs more than a few.
MAX_LIBRARY_CALLS = 64
MAX_DEPTH = 1  # decoded text is read again once (base64 of base64), no deeper
# Junk bytes put before a file so that its magic bytes are not at its start: the library is asked
# about the decoded bytes from each of the first few offsets too.
MAX_JUNK_BYTES = 8
JUNK_SIGNATURE_BYTES = 4

_SEPARATORS = frozenset(" \t\r\n\f\v.,;:'\"`\\|<>-_()[]{}*~^!?#@$&+=/%")


@dataclass(frozen=True)
class Finding:
    """What was found. `file_type` names the file ("PNG image") when its magic bytes matched; None
    means high-entropy data beyond the limit. `data_bytes`: how much data the encoded text carries."""

    encoding: str
    file_type: str | None
    data_bytes: int
    nested: bool = False
    # Too many runs that begin like a file's header to check them all: refused rather than let the
    # one after them through unchecked.
    too_many_headers: bool = False

    def describe(self) -> str:
        how = f"{self.encoding}, encoded twice" if self.nested else self.encoding
        if self.file_type:
            return f"{_article(self.file_type)} {self.file_type} in {how}"
        if self.too_many_headers:
            return f"more than {MAX_LIBRARY_CALLS} runs of {how} that begin like a file"
        return f"about {self.data_bytes} bytes of {how} data"


def _article(name: str) -> str:
    """ "an MP4 video", "a PNG image": initialisms are read letter by letter."""
    word = name.split()[0]
    if word.isupper():
        return "an" if word[0] in "AEFHILMNORSX" else "a"
    return "an" if word[0].lower() in "aeiou" else "a"


@dataclass(frozen=True)
class _Codec:
    name: str
    alphabet: frozenset[str]
    soft: frozenset[str]  # dropped (a piece starts after them) instead of ending the run
    bits_per_char: float
    quantum: int  # characters decoded together
    decode: Callable[[str], bytes]
    looks_random: Callable[[str], bool]  # a WINDOW of the run
    gate: Callable[[str], bool]  # the head of a piece: worth decoding for magic bytes?


@dataclass
class _Run:
    chars: str
    starts: list[int]  # where each piece begins in `chars`, 0 first
    lengths: list[int]


@dataclass
class _Budget:
    calls: int = 0


def _runs(text: str, codec: _Codec) -> Iterator[_Run]:
    # A stretch of the alphabet's characters and separators (re's \s is str.isspace) is a run if it
    # holds a piece at all; the regular expressions walk the text in C, not a character at a time.
    # Stretches shorter than MIN_MAGIC_CHARS hold shorter runs, which every caller passes over.
    stretch, piece = _run_patterns(codec.alphabet, codec.soft)
    for found in stretch.finditer(text):
        pieces = piece.findall(found.group())
        if not pieces:
            continue
        lengths = [len(p) for p in pieces]
        yield _Run("".join(pieces), [0, *accumulate(lengths[:-1])], lengths)


@cache
def _run_patterns(alphabet: frozenset[str], soft: frozenset[str]) -> tuple[re.Pattern[str], re.Pattern[str]]:
    letters = "".join(re.escape(ch) for ch in sorted(alphabet))
    separators = "".join(re.escape(ch) for ch in sorted(soft - alphabet))
    return re.compile(f"[{letters}{separators}\\s]{{{MIN_MAGIC_CHARS},}}"), re.compile(f"[{letters}]+")


# --- what random data looks like in each encoding --------------------------------------------------


def _entropy(window: str) -> float:
    n = len(window)
    return -sum(count / n * math.log2(count / n) for count in Counter(window).values())


def _classes(window: str) -> tuple[int, int, int, int]:
    """Capitals, small letters, digits, anything else."""
    if window.isascii():
        # Each character replaced by its class's sign, counted in C.
        kinds = window.translate(_KINDS)
        upper, lower, digits = kinds.count("A"), kinds.count("a"), kinds.count("0")
        return upper, lower, digits, len(window) - upper - lower - digits
    upper = lower = digits = other = 0
    for ch in window:
        if "A" <= ch <= "Z":
            upper += 1
        elif "a" <= ch <= "z":
            lower += 1
        elif "0" <= ch <= "9":
            digits += 1
        else:
            other += 1
    return upper, lower, digits, other


_HEX_CHARS = frozenset("0123456789abcdefABCDEF")


def _class_changes(window: str) -> int:
    """How often the next character is of another class (capital, small letter, digit, symbol)."""
    if window.isascii():
        # One change between each two stretches of one class.
        return max(len(_SAME_KIND.findall(window.translate(_KINDS))) - 1, 0)
    kinds = [_kind(ch) for ch in window]
    return sum(1 for before, after in pairwise(kinds) if before != after)


def _kind(ch: str) -> str:
    if "A" <= ch <= "Z":
        return "A"
    if "a" <= ch <= "z":
        return "a"
    return "0" if "0" <= ch <= "9" else "."


# Each ASCII character's class as _kind names it, for str.translate; and a stretch of one class.
_KINDS = str.maketrans({chr(code): _kind(chr(code)) for code in range(128)})
_SAME_KIND = re.compile(r"A+|a+|0+|\.+")


_VOWELS = frozenset("aeiouAEIOU")
# Every ASCII character but the vowels deleted.
_ONLY_VOWELS = str.maketrans("", "", "".join(chr(code) for code in range(128) if chr(code) not in _VOWELS))


def _vowel_share(window: str) -> float:
    """Vowels among the letters: a third or more in words of every language written in Latin
    letters, a fifth in random data."""
    if window.isascii():
        upper, lower, _, _ = _classes(window)
        letters_count = upper + lower
        return len(window.translate(_ONLY_VOWELS)) / letters_count if letters_count else 0.0
    letters = [ch for ch in window if ch.isalpha()]
    return sum(ch in _VOWELS for ch in letters) / len(letters) if letters else 0.0


# The thresholds below keep about 97% of the windows of random data in each encoding (the 1st
# percentile of each statistic) and none of the windows of text in the corpus the tests use (licence
# and copyright texts, Django's translations into ~100 languages, Python's own sources), where the
# most random-looking text windows sit below them.


def _random_hex(window: str) -> bool:
    # 64 random hex characters: 16 distinct, entropy 3.8 bits, a quarter to a half letters. Numbers
    # and zero padding are not data.
    _, _, digits, _ = _classes(window)
    folded = window.lower()
    return len(set(folded)) >= 13 and len(window) - digits >= 12 and digits >= 24 and _entropy(folded) >= 3.55


def _random_base32(window: str) -> bool:
    # RFC 4648 base32 is A-Z and 2-7: 28 distinct characters in 64, 12 of them digits, a fifth of the
    # letters vowels. Capitals in prose have vowels and few digits.
    folded = window.upper()
    return (
        len(set(folded)) >= 23 and _classes(window)[2] >= 4 and _vowel_share(window) <= 0.33 and _entropy(folded) >= 4.3
    )


def _random_base64(window: str) -> bool:
    # Random base64: 41 distinct characters in 64, the class (capital, small letter, digit, symbol)
    # changing at 41 of 63 steps. Words change class at their start only, and half their letters or
    # so are vowels; even names and years run together (the spaces are removed) stay far below.
    upper, lower, digits, other = _classes(window)
    return (
        len(set(window)) >= 34
        and upper >= 12
        and lower >= 12
        and digits + other >= 3
        and _class_changes(window) >= 30
        and _vowel_share(window) <= 0.35
        and _entropy(window) >= 4.9
    )


def _random_base85(window: str) -> bool:
    # Random base85: 45 distinct characters in 64, a quarter of them symbols, the class changing at
    # 46 of 63 steps.
    upper, lower, _, other = _classes(window)
    return (
        len(set(window)) >= 38
        and other >= 10
        and upper >= 8
        and lower >= 8
        and _class_changes(window) >= 36
        and _vowel_share(window) <= 0.4
        and _entropy(window) >= 5.05
    )


# Whether a piece starts like encoded data rather than a word, and so is worth decoding for magic
# bytes. A binary header encodes to capitals (zero bytes are "A" in base64), digits and symbols; a
# word is small letters after a capital; a number alone is a number (a 19-digit ID is not hex).


def _hex_gate(head: str) -> bool:
    digits = _classes(head[:64])[2]
    return 2 <= digits < len(head[:64])


def _base32_gate(head: str) -> bool:
    return _classes(head[:64])[2] >= 1


def _not_hex(head: str) -> bool:
    # Hexadecimal is read as hexadecimal: decoding a digest as base64 would only make noise.
    return _ALL_HEX.fullmatch(head, 0, MIN_MAGIC_CHARS) is None


_ALL_HEX = re.compile("[0-9a-fA-F]*")


def _base64_gate(head: str) -> bool:
    upper, _, digits, other = _classes(head[:MIN_MAGIC_CHARS])
    return _not_hex(head) and (upper >= 3 or (upper >= 1 and digits + other >= 1))


def _base85_gate(head: str) -> bool:
    upper, lower, digits, other = _classes(head[:MIN_MAGIC_CHARS])
    mixed = (other >= 1 and digits >= 1 and upper + lower >= 2) or _class_changes(head[:MIN_MAGIC_CHARS]) >= 8
    return _not_hex(head) and mixed


# --- decoders of a run's prefix --------------------------------------------------------------------


def _b64(chars: str, urlsafe: bool) -> bytes:
    chars = chars[: len(chars) - len(chars) % 4]
    return base64.b64decode(chars, altchars=b"-_" if urlsafe else None, validate=True)


def _b32(chars: str) -> bytes:
    chars = chars[: len(chars) - len(chars) % 8]
    if chars and _BASE32_ONLY.fullmatch(chars):
        # What b32decode returns, without its loop in Python: base32's characters spelt as int()'s
        # digits of base 32, read as one number.
        return int(chars.translate(_BASE32_AS_DIGITS), 32).to_bytes(len(chars) * 5 // 8, "big")
    return base64.b32decode(chars, casefold=True)


_BASE32_ONLY = re.compile("[A-Za-z2-7]*")
_BASE32_AS_DIGITS = str.maketrans(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567" + "abcdefghijklmnopqrstuvwxyz",
    "0123456789abcdefghijklmnopqrstuv" + "0123456789abcdefghijklmnop",
)


def _hex(chars: str) -> bytes:
    return bytes.fromhex(chars[: len(chars) - len(chars) % 2])


def _base85_prefix(chars: str, decode: Callable[[str], bytes], zero: str | None) -> bytes:
    """Whole groups of five from the start until one doesn't decode: a run of base85 goes on into
    the words after it, and a group of those can overflow (which the standard library refuses)."""
    out = bytearray()
    position = 0
    digits = _BASE85_DIGITS.get(decode)
    # Only the alphabet's characters (and Ascii85's "z"): the library skips whitespace, which runs
    # never hold, and the rest is refused here as there.
    if digits is not None and chars.isascii() and not _BASE85_SKIPPED.search(chars):
        # The same groups decoded by arithmetic: each call to the library's decoder costs as much as
        # the whole group's sum.
        values = chars.encode("ascii").translate(digits)
        while position < len(chars):
            if zero is not None and chars[position] == zero:
                out += b"\0\0\0\0"
                position += 1
                continue
            if position + 5 > len(chars):
                break
            a, b, c, d, e = values[position : position + 5]
            if 255 in (a, b, c, d, e):  # not a digit of this alphabet: the library refuses it too
                break
            number = (((a * 85 + b) * 85 + c) * 85 + d) * 85 + e
            if number > 0xFFFFFFFF:  # overflow, which the library refuses
                break
            out += number.to_bytes(4, "big")
            position += 5
        return bytes(out)
    while position < len(chars):
        if zero is not None and chars[position] == zero:  # Ascii85's "z": four zero bytes
            out += b"\0\0\0\0"
            position += 1
            continue
        group = chars[position : position + 5]
        if len(group) < 5:
            break
        try:
            out += decode(group)
        except ValueError:
            break
        position += 5
    return bytes(out)


def _digit_table(alphabet: str) -> bytes:
    """Each byte's value as a digit of `alphabet`, 255 for bytes that are none."""
    table = bytearray([255] * 256)
    for value, ch in enumerate(alphabet):
        table[ord(ch)] = value
    return bytes(table)


# The digits of each decoder: Ascii85's are "!" to "u" ("z" is handled apart, and is no digit inside
# a group); RFC 1924's are the library's own alphabet.
_BASE85_DIGITS: dict[Callable[[str], bytes], bytes] = {
    base64.a85decode: _digit_table("".join(chr(code) for code in range(ord("!"), ord("u") + 1))),
    base64.b85decode: _digit_table(
        "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz!#$%&()*+-;<=>?@^_`{|}~"
    ),
}


_BASE85_SKIPPED = re.compile(r"[ \t\n\r\v]")


def _a85(chars: str) -> bytes:
    return _base85_prefix(chars, base64.a85decode, "z")


def _b85(chars: str) -> bytes:
    return _base85_prefix(chars, base64.b85decode, None)


_DIGITS = "0123456789"
_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_LOWER = _UPPER.lower()
_B64 = _UPPER + _LOWER + _DIGITS
_B85 = _B64 + "!#$%&()*+-;<=>?@^_`{|}~"
_A85 = "".join(chr(code) for code in range(ord("!"), ord("u") + 1)) + "z"


def _soft(alphabet: str) -> frozenset[str]:
    return frozenset(_SEPARATORS - set(alphabet))


CODECS: tuple[_Codec, ...] = (
    _Codec("hexadecimal", frozenset(_HEX_CHARS), _soft(""), 4, 2, _hex, _random_hex, _hex_gate),
    _Codec("base32", frozenset(_UPPER + "234567"), _soft(""), 5, 8, _b32, _random_base32, _base32_gate),
    _Codec("base32", frozenset(_LOWER + "234567"), _soft(""), 5, 8, _b32, _random_base32, _base32_gate),
    _Codec("base64", frozenset(_B64 + "+/"), _soft("+/"), 6, 4, lambda c: _b64(c, False), _random_base64, _base64_gate),
    _Codec("base64", frozenset(_B64 + "-_"), _soft("-_"), 6, 4, lambda c: _b64(c, True), _random_base64, _base64_gate),
    # Ascii85 skips whitespace by its own rules, and so do we.
    _Codec("Ascii85", frozenset(_A85), frozenset(), 6.4, 5, _a85, _random_base85, _base85_gate),
    _Codec("base85", frozenset(_B85), frozenset(), 6.4, 5, _b85, _random_base85, _base85_gate),
)

_HEX_PREFIX = re.compile(r"(?:0[xX]|\\[xX])(?=[0-9a-fA-F]{2})")


def _prepared(text: str, codec: _Codec) -> str:
    if codec.name == "hexadecimal":
        return _HEX_PREFIX.sub(" ", text)
    if codec.name == "Ascii85":
        return text.replace("<~", " ").replace("~>", " ")  # Adobe's frame around Ascii85
    return text


# --- magic bytes -----------------------------------------------------------------------------------

# Base64 of JSON (a JWT's header) or of HTML is text; what it holds is read again as text.
_TEXT_TYPES = ("text/", "message/", "application/json", "application/xml", "application/javascript")
_NOUNS = {"image": "image", "video": "video", "audio": "audio recording", "font": "font"}


@cache
def _signature_heads() -> dict[int, frozenset[bytes]]:
    """The first bytes of each of puremagic's header signatures, by offset: an exact, cheap test
    that spares a call to the library (which reads its whole table of ~1,400 rows) for bytes that
    can't match any signature long enough to act on."""
    heads: dict[int, set[bytes]] = {}
    for row in puremagic.magic_header_array:
        if len(row.byte_match) >= MIN_SIGNATURE_BYTES and 0 <= row.offset < MAGIC_PREFIX_BYTES:
            heads.setdefault(row.offset, set()).add(row.byte_match[:MIN_SIGNATURE_BYTES])
    return {offset: frozenset(found) for offset, found in heads.items()}


def _could_match(data: bytes) -> bool:
    return _any_head(data, *_signature_lookup())


_Lookup = tuple[Callable[[bytes], tuple[bytes, ...]], tuple[frozenset[bytes], ...]]


def _any_head(data: bytes, slices: Callable[[bytes], tuple[bytes, ...]], heads: tuple[frozenset[bytes], ...]) -> bool:
    # The bytes at every offset are cut at once and looked up in C: this runs for every piece of
    # every run, and a loop in Python over the offsets was most of the cost of a value.
    return any(map(frozenset.__contains__, heads, slices(data)))


def _lookup(heads: dict[int, frozenset[bytes]], size: int) -> _Lookup:
    offsets = sorted(heads)
    # An empty slice last, which matches nothing, so that the getter returns a tuple for one offset too.
    slices = itemgetter(*(slice(offset, offset + size) for offset in offsets), slice(0, 0))
    return slices, (*(heads[offset] for offset in offsets), frozenset())


@cache
def _signature_lookup() -> _Lookup:
    return _lookup(_signature_heads(), MIN_SIGNATURE_BYTES)


def _strong(signature: bytes) -> bool:
    """A signature that bytes after junk must match: four bytes or more, mostly not zero. Zero-heavy
    ones (an icon's 00 00 01 00, a font's 00 01 00 00 00) turn up inside any binary data, and short
    ones somewhere among the first few offsets of random data."""
    return len(signature) >= JUNK_SIGNATURE_BYTES and signature.count(0) * 2 < len(signature)


@cache
def _strong_heads() -> dict[int, frozenset[bytes]]:
    heads: dict[int, set[bytes]] = {}
    for row in puremagic.magic_header_array:
        if _strong(row.byte_match) and 0 <= row.offset < MAGIC_PREFIX_BYTES:
            heads.setdefault(row.offset, set()).add(row.byte_match[:JUNK_SIGNATURE_BYTES])
    return {offset: frozenset(found) for offset, found in heads.items()}


def _could_match_strong(data: bytes) -> bool:
    return _any_head(data, *_strong_lookup())


@cache
def _strong_lookup() -> _Lookup:
    return _lookup(_strong_heads(), JUNK_SIGNATURE_BYTES)


@cache
def _strong_after_junk_lookup() -> _Lookup:
    """The strong heads after each count of junk bytes, 1 to MAX_JUNK_BYTES, in one lookup: bytes
    that match none of them can skip every junk offset at once."""
    shifted: dict[int, set[bytes]] = {}
    for skip in range(1, MAX_JUNK_BYTES + 1):
        for offset, found in _strong_heads().items():
            shifted.setdefault(skip + offset, set()).update(found)
    return _lookup({offset: frozenset(found) for offset, found in shifted.items()}, JUNK_SIGNATURE_BYTES)


def _name(matches: list[puremagic.PureMagicWithConfidence]) -> str:
    """ "PNG image"; "PDF or FDF file" when the signature is shared; the type's own name failing all else."""
    mimes = list(dict.fromkeys(m.mime_type.lower() for m in matches if m.mime_type))
    noun = _NOUNS.get(mimes[0].split("/")[0], "file") if mimes else "file"
    if len(mimes) == 1:
        subtype = mimes[0].split("/")[1].removeprefix("x-")
        if subtype.isalnum() and len(subtype) <= 8:
            return f"{subtype.upper()} {noun}"
    extensions = list(dict.fromkeys(m.extension.lstrip(".").upper() for m in matches if m.extension))
    if not extensions:
        return f"{matches[0].name} ({noun})"
    if len(extensions) <= 2:
        return f"{' or '.join(extensions)} {noun}"
    return f"{', '.join(extensions[:3])} or another {noun} type"


def file_type(data: bytes, *, min_signature: int = MIN_SIGNATURE_BYTES) -> str | None:
    """What binary file `data` begins with, named for a person ("PNG image"), or None. Text formats
    (JSON, HTML) are not files here: what they hold is text."""
    found = _file_type(data, min_signature)
    return found[0] if found else None


def _spelt_in_digits(data: bytes, match: puremagic.PureMagicWithConfidence) -> bool:
    # Bytes whose hex has no letter ("01000000", a Windows metafile; "00000100", an icon), from the
    # signature on: text full of numbers spells them by chance. A real header soon has a letter
    # ("%PDF-1." is 255044462d312e).
    span = data[match.offset : match.offset + max(len(match.byte_match), DIGIT_SIGNATURE_BYTES)]
    return all(byte >> 4 <= 9 and byte & 15 <= 9 for byte in span)


def _file_type(
    data: bytes, min_signature: int, *, from_hex: bool = False, strong: bool = False
) -> tuple[str, int] | None:
    """(name, how much its signature says: _evidence) of the best match. Read from hexadecimal, a short signature
    followed by more bytes spelt in digits alone is not taken (see DIGIT_SIGNATURE_BYTES)."""
    if len(data) < min_signature or not _could_match(data):
        return None
    try:
        matches = puremagic.magic_string(data)
    except (puremagic.PureError, ValueError):
        return None
    binary = [
        m
        for m in matches
        if len(m.byte_match) >= (min_signature if m.mime_type else max(min_signature, UNTYPED_SIGNATURE_BYTES))
        and not (from_hex and len(m.byte_match) < DIGIT_SIGNATURE_BYTES and _spelt_in_digits(data, m))
        and m.offset >= 0
        and not m.mime_type.lower().startswith(_TEXT_TYPES)
        and (not strong or (_strong(m.byte_match) and bool(m.mime_type)))
    ]
    if not binary:
        return None
    best = max(_evidence(m.byte_match) for m in binary)
    return _name([m for m in binary if _evidence(m.byte_match) == best]), best


def _evidence(signature: bytes) -> int:
    """How much a matched signature says: its bytes that are not zero. Zero bytes are everywhere in
    binary data (a font's 00 01 00 00 00 is one byte of evidence, a PNG's eight bytes are eight)."""
    return len(signature) - signature.count(0)


# --- the scan --------------------------------------------------------------------------------------


def _decode(codec: _Codec, chars: str) -> bytes | None:
    try:
        return codec.decode(chars)
    except (ValueError, binascii.Error, OverflowError):
        return None


def _readable(data: bytes) -> str | None:
    """The text `data` spells, if it is text (a few bad bytes at the end allowed: the run may go on
    past the encoded part, into the words after it). Its first bytes decide most cases cheaply."""
    if _printable_share(data[:48]) < 0.9:
        return None
    text = data.decode("utf-8", errors="replace")
    return text if _printable_share(data) >= 0.9 else None


# Deletion tables: the ASCII characters that count as readable (printable, or a line break or a tab);
# every ASCII character and the replacement character, leaving the others.
_ASCII_READABLE = str.maketrans("", "", "".join(chr(code) for code in range(32, 127)) + "\n\r\t")
_ASCII_AND_REPLACEMENT = str.maketrans("", "", "".join(chr(code) for code in range(128)) + "\ufffd")


def _printable_share(data: bytes) -> float:
    text = data.decode("utf-8", errors="replace")
    if not text:
        return 0.0
    if text.isprintable() and "\ufffd" not in text:
        return 1.0  # every character counted below: the common case of text, decided in C
    # Counted in C for ASCII, which decides itself by its code; only the rest is asked one by one.
    ascii_readable = len(text) - len(text.translate(_ASCII_READABLE))
    others = text.translate(_ASCII_AND_REPLACEMENT)
    return (ascii_readable + sum(map(str.isprintable, others))) / len(text)


def _a_word(codec: _Codec, piece: str) -> bool:
    """A piece that is a word ("sent", "Account"): encoded data does not begin so. Hex is exempt: its
    bytes written apart ("ff d8 ff") are pieces of letters too, and its gate wants digits anyway."""
    return codec.name != "hexadecimal" and len(piece) >= 2 and piece.isalpha() and piece[1:].islower()


_TOO_MANY = ("", -1)


def _file_at_small_offsets(
    data: bytes, min_signature: int, from_hex: bool, budget: _Budget, junk: bool = True
) -> tuple[str, int] | None:
    """The file `data` holds at its start or, with `junk`, after a few junk bytes put before it
    (MAX_JUNK_BYTES), which would otherwise hide its magic bytes from the library; _TOO_MANY past the
    budget. After junk only a strong signature counts (_strong)."""
    last = min(MAX_JUNK_BYTES, max(len(data) - min_signature, 0)) if junk else 0
    # Most data matches no signature at any offset: one look at all of them at once settles it.
    if not _could_match(data) and (last == 0 or not _any_head(data, *_strong_after_junk_lookup())):
        return None
    for skip in range(last + 1):
        shifted = data[skip:]
        if not (_could_match(shifted) if skip == 0 else _could_match_strong(shifted)):
            continue
        budget.calls += 1
        if budget.calls > MAX_LIBRARY_CALLS:
            return _TOO_MANY
        found = _file_type(shifted, min_signature, from_hex=from_hex, strong=skip > 0)
        if found:
            return found
    return None


def _magic(codec: _Codec, run: _Run, depth: int, budget: _Budget) -> tuple[Finding, int] | None:
    """The file at the start of the run or of one of its pieces, with its signature's length."""
    prefix_chars = int(MAGIC_PREFIX_BYTES * 8 / codec.bits_per_char) + codec.quantum
    digests_only = codec.name == "hexadecimal" and all(n in DIGEST_HEX_LENGTHS for n in run.lengths)
    min_signature = MIN_SIGNATURE_BYTES_IN_DIGESTS if digests_only else MIN_SIGNATURE_BYTES
    carried = int(len(run.chars) * codec.bits_per_char / 8)
    # Pieces start further and further on: from the first that leaves fewer than MIN_MAGIC_CHARS,
    # every head is too short to read.
    last_start = len(run.chars) - MIN_MAGIC_CHARS
    for start, length in zip(run.starts, run.lengths, strict=True):
        if start > last_start:
            break
        if _a_word(codec, run.chars[start : start + length]):
            continue
        head = run.chars[start : start + prefix_chars]
        if len(head) < MIN_MAGIC_CHARS or not codec.gate(head):
            continue
        # After stray characters the encoded text may begin at any character of the run's first quantum.
        for shift in range(codec.quantum if start == 0 else 1):
            data = _decode(codec, head[shift:])
            if not data:
                continue
            # Junk bytes go before the file, at the start of the run; the start of every piece in it
            # is looked at too, but only as it stands.
            found = _file_at_small_offsets(data, min_signature, codec.name == "hexadecimal", budget, start == 0)
            if found == _TOO_MANY:
                return Finding(codec.name, None, carried, nested=depth > 0, too_many_headers=True), 0
            if found:
                return Finding(codec.name, found[0], carried, nested=depth > 0), found[1]
            inner_text = _readable(data) if depth < MAX_DEPTH else None
            inner = _scan(inner_text, depth + 1, budget) if inner_text else None
            if inner:
                return Finding(codec.name, inner.file_type, inner.data_bytes, nested=True), 0
    return None


def _random_stretches(codec: _Codec, chars: str) -> Iterator[tuple[int, int]]:
    """(start, end) of the parts of `chars` covered by windows that look like random data."""
    if len(chars) < WINDOW:
        return
    last = len(chars) - WINDOW
    positions = list(range(0, last + 1, WINDOW // 4))
    if positions[-1] != last:
        positions.append(last)
    current: tuple[int, int] | None = None
    for position in positions:
        if not codec.looks_random(chars[position : position + WINDOW]):
            continue
        if current is not None and position <= current[1]:
            current = (current[0], position + WINDOW)
        else:
            if current is not None:
                yield current
            current = (position, position + WINDOW)
    if current is not None:
        yield current


_WORD = re.compile(r"^[A-Za-z][a-z]*$")


def _joined(pieces: list[str]) -> _Run:
    chars = "".join(pieces)
    return _Run(chars, [0], [len(chars)])


def _without_words(run: _Run) -> Iterator[_Run]:
    """The run read again without the words put between its pieces ("iVBORw and 0KGgo and ..."), which
    shift every byte after them: the same word every other piece, or words among pieces of one width."""
    if len(run.starts) < 3:
        return
    pieces = [run.chars[start : start + length] for start, length in zip(run.starts, run.lengths, strict=True)]
    words = [_WORD.match(piece) is not None for piece in pieces]
    # The same word put between pieces (a quarter of them or more), and the words typed before the data.
    word, count = (
        Counter(piece for piece, is_word in zip(pieces, words, strict=True) if is_word).most_common(1)[0]
        if any(words)
        else ("", 0)
    )
    if count >= 3 and count * 4 >= len(pieces):
        kept = [piece for piece in pieces if piece != word]
        if len(kept) >= 2:
            yield _joined(kept)
        while kept and _WORD.match(kept[0]):
            kept.pop(0)
        if len(kept) >= 2:
            yield _joined(kept)
    width = Counter(run.lengths).most_common(1)[0][0]
    kept = [piece for piece, is_word in zip(pieces, words, strict=True) if not (is_word and len(piece) != width)]
    if kept and len(kept) < len(pieces):
        yield _joined(kept)


def _best(best: tuple[Finding, int] | None, found: tuple[Finding, int] | None) -> tuple[Finding, int] | None:
    # Text encoded one way is often valid in another too (base64 holds long runs of base32's
    # letters): the longest signature matched tells which reading is the file.
    if found and (best is None or found[1] > best[1]):
        return found
    return best


def _byte_blocks(text: str, depth: int, budget: _Budget) -> tuple[tuple[Finding, int] | None, Finding | None]:
    """Bytes written one by one (escalations.core.byte_encodings): (a file found, a block too long)."""
    best: tuple[Finding, int] | None = None
    too_much: Finding | None = None
    for block in byte_encodings.blocks(text):
        found = None
        for start in block.starts:
            found = found or _file_at_small_offsets(block.data[start:], MIN_SIGNATURE_BYTES, False, budget, start == 0)
        if found == _TOO_MANY:
            return (Finding(block.encoding, None, len(block.data), nested=depth > 0, too_many_headers=True), 0), None
        if found:
            # Of two readings that find the same signature, the one that reads all of the text wins:
            # escapes among plain characters over hexadecimal, which sees only the escapes.
            rank = found[1] + (1 if block.mixed else 0)
            best = _best(best, (Finding(block.encoding, found[0], len(block.data), nested=depth > 0), rank))
        elif block.long and too_much is None:
            too_much = Finding(block.encoding, None, len(block.data), nested=depth > 0)
    return best, too_much


def _carried(codec: _Codec, chars: str) -> int:
    """Bytes of data the random-looking stretches of `chars` carry."""
    return sum(int((end - start) * codec.bits_per_char / 8) for start, end in _random_stretches(codec, chars))


def _scan_best(text: str, depth: int, budget: _Budget) -> tuple[tuple[Finding, int] | None, Finding | None]:
    """(the file found with its signature's length, data beyond the limit)."""
    text = unicodedata.normalize("NFKC", text)  # full-width letters are letters
    best: tuple[Finding, int] | None = None
    too_much: Finding | None = None
    for codec in CODECS:
        data_bytes = 0
        for run in _runs(_prepared(text, codec), codec):
            if len(run.chars) < MIN_MAGIC_CHARS:
                continue
            best = _best(best, _magic(codec, run, depth, budget))
            carried = _carried(codec, run.chars)
            if codec.name == "base64":
                for variant in _without_words(run):
                    best = _best(best, _magic(codec, variant, depth, budget))
                    carried = max(carried, _carried(codec, variant.chars))
            data_bytes += carried
        if data_bytes > ENCODED_DATA_LIMIT and too_much is None:
            too_much = Finding(codec.name, None, data_bytes, nested=depth > 0)
    # After the codecs, so that "\\x89\\x50..." reads as hexadecimal, as it always did, when both find
    # the same file; with a budget of their own, which the codecs' calls can't have spent.
    in_bytes, long_block = _byte_blocks(text, depth, _Budget())
    if in_bytes and in_bytes[0].too_many_headers:
        return in_bytes, None
    return _best(best, in_bytes), too_much or long_block


def _scan(text: str, depth: int, budget: _Budget) -> Finding | None:
    best, too_much = _scan_best(text, depth, budget)
    return best[0] if best else too_much


def _reversed(text: str) -> tuple[Finding, int] | None:
    """Base64 written backwards ("==gg...OBVi"): its magic bytes, read the right way round."""
    backwards = unicodedata.normalize("NFKC", text)[::-1]
    best: tuple[Finding, int] | None = None
    budget = _Budget()
    for codec in CODECS:
        if codec.name != "base64":
            continue
        for run in _runs(backwards, codec):
            if len(run.chars) >= MIN_MAGIC_CHARS:
                best = _best(best, _magic(codec, run, MAX_DEPTH, budget))
    if best is None or best[0].file_type is None:
        return None
    found = best[0]
    return Finding("base64, reversed", found.file_type, found.data_bytes), best[1]


def find_encoded_content(text: str) -> Finding | None:
    """The first encoded file content in `text` (see the module's docstring), or None."""
    forward, too_much = _scan_best(text, 0, _Budget())
    backwards = _reversed(text)
    # Both readings may find a file: the longer signature tells which is the file (forward if equal).
    best = _best(forward, backwards)
    return best[0] if best else too_much


# Our forms never upload anything, so any body of these types is a file on its way in. Refusing it
# here, from the headers alone, means no byte of it is parsed, buffered to disk or saved.
REFUSED_CONTENT_TYPES = ("multipart/", "image/", "video/", "audio/", "application/octet-stream", "application/zip")
