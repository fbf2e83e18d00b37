"""Bytes written out one by one as text, the other ways besides base64, base32, hex and base85
(escalations.core.encoded_content reads those): uuencode, lists of decimal byte values, octal or hex
escapes among plain characters (a C string, Python's bytes), strings of bits. Nobody types these in a
note or a reference, so a block of them is decoded and looked at for a file's magic bytes, and a
long one is refused whatever it holds (see each LIMIT below).

Pure functions: each reader yields the blocks it finds as Block(encoding, data, long), `long` when the
block alone is more of that encoding than anyone types.
"""

from __future__ import annotations

import binascii
import re
from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class Block:
    encoding: str
    data: bytes
    long: bool
    # Where in `data` a file may begin (after plain characters kept before the first escape, too).
    starts: tuple[int, ...] = (0,)
    # Bytes written as plain characters among the escapes ("\\x89PNG"): a reading of the text as
    # hexadecimal alone misses them.
    mixed: bool = False


# Distinct byte values a long block must have to count as data: text full of small numbers ("0 0 1
# 0 ...", a table of counts) repeats a few values; a file's bytes take many.
MIN_DISTINCT = 24

# --- uuencode --------------------------------------------------------------------------------------

# A full uuencoded line carries 45 bytes in 61 characters, "M" first. Two of them, or a begin line,
# are uuencode beyond doubt.
UU_FULL_LINE = 61
UU_LIMIT_BYTES = 90
_UU_SLACK = 24  # characters of words typed before or after a uuencoded line on the same line
_UU_CHARS = re.compile(r"[ -`]*")  # the characters of a uuencoded line
_UU_BEGIN = re.compile(r"^\s*begin(?:-base64)?\s+[0-7]{3,4}\s+\S.*$")


def _uu_line(line: str) -> bytes | None:
    if len(line) < 2 or not _UU_CHARS.fullmatch(line):
        return None
    count = (ord(line[0]) - 32) & 63
    if count == 0:
        return None
    expected = 1 + (count + 2) // 3 * 4
    # Some encoders add a check character, and trailing spaces are often trimmed (a space is 0).
    if not (expected - 3 <= len(line) <= expected + 1):
        return None
    try:
        return binascii.a2b_uu(line)
    except binascii.Error:
        return None


def _uu_line_loose(line: str) -> bytes | None:
    """A uuencoded line, or one with a few words typed before or after it on the same line: the
    reading that decodes the most."""
    found = _uu_line(line)
    if found is not None or len(line) < 2:
        return found
    best: bytes | None = None
    for head in range(min(_UU_SLACK, len(line) - 1)):
        # Every reading from here begins with line[head] and, to decode, is made of uuencode's
        # characters alone, at least two and as many as that first one announces (less three, see
        # _uu_line). When the characters from here fall short, none can, and the loop below (which
        # cuts and tries dozens of readings) is spared: words in small letters stop almost every head.
        stretch = _UU_CHARS.match(line, head)
        reach = stretch.end() - head if stretch else 0
        if reach < 2:
            continue
        count = (ord(line[head]) - 32) & 63
        if count == 0 or reach < 1 + (count + 2) // 3 * 4 - 3:
            continue
        rest = line[head:]
        tails = [len(rest)] + [j for j in range(len(rest) - 1, max(len(rest) - _UU_SLACK, 0), -1) if rest[j] == " "]
        for tail in tails:
            decoded = _uu_line(rest[:tail].rstrip() if tail < len(rest) else rest)
            if decoded is not None and (best is None or len(decoded) > len(best)):
                best = decoded
    return best


def uuencode(text: str) -> Iterator[Block]:
    lines: list[str] = []
    for raw in text.replace("\r", "\n").split("\n"):
        line = raw.rstrip()
        # A block pasted into one line: full lines one after the other.
        if len(line) > UU_FULL_LINE and line.startswith("M") and " " not in line.strip()[:UU_FULL_LINE]:
            lines += [line[i : i + UU_FULL_LINE] for i in range(0, len(line), UU_FULL_LINE)]
        else:
            lines.append(line)
    data = bytearray()
    full = 0
    begun = False
    for line in [*lines, ""]:
        decoded = _uu_line_loose(line) if line not in ("`", "end") else None
        if decoded is not None:
            data += decoded
            full += len(line) >= UU_FULL_LINE - 1 and line[0] == "M"
            continue
        if data:
            yield Block("uuencode", bytes(data), (full >= 2 or begun) and len(data) >= UU_LIMIT_BYTES // 2)
        data, full = bytearray(), 0
        begun = bool(_UU_BEGIN.match(line)) or (begun and line in ("`", "end"))


# --- decimal byte values ---------------------------------------------------------------------------

# "137, 80, 78, 71, 13, 10, 26, 10": numbers 0-255 apart by commas, semicolons or spaces. Dots and
# other signs end a list, so IP addresses, dates, phone numbers and prices are not one.
DECIMAL_MIN_FOR_MAGIC = 8
DECIMAL_LIMIT = 96
_DECIMAL_LIST = re.compile(
    r"(?<![\w.])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\s*[,;]\s*|\s+)){7,}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?![\w.])"
)


def decimal_lists(text: str) -> Iterator[Block]:
    for match in _DECIMAL_LIST.finditer(text):
        values = [int(n) for n in re.findall(r"\d+", match.group())]
        data = bytes(values)
        yield Block("decimal byte values", data, len(data) > DECIMAL_LIMIT and len(set(data)) >= MIN_DISTINCT)


# --- octal and hex escapes -------------------------------------------------------------------------

# "\211PNG\r\n\032\n", b'\x89PNG\r\n\x1a\n': escapes among plain characters.
ESCAPES_LIMIT = 64
_ESCAPE = re.compile(r"\\(?:[0-7]{1,3}|x[0-9a-fA-F]{2}|[nrtabfv\\'\"])|[ -~]")
_SIMPLE = {"n": 10, "r": 13, "t": 9, "a": 7, "b": 8, "f": 12, "v": 11, "\\": 92, "'": 39, '"': 34}
# Plain characters between escapes that still belong to one string, and kept before the first.
_ESCAPE_GAP = 40
_LEAD = 16
_QUOTES = frozenset("'\"")


def escapes(text: str) -> Iterator[Block]:
    if "\\" not in text:
        return
    data = bytearray()
    numeric = 0  # octal and hex escapes in the current string
    escaped = 0  # every escape in it
    since = 0  # plain characters since the last escape
    lead = ""  # plain characters just before the first escape (a file's "%PDF-1.4", "RIFF")
    lead_length = 0
    position = 0

    def block() -> Block:
        long = numeric > ESCAPES_LIMIT and len(set(data)) >= MIN_DISTINCT
        starts = (0, lead_length) if lead_length else (0,)
        return Block("octal or hex escapes", bytes(data), long, starts, mixed=len(data) > escaped)

    for match in _ESCAPE.finditer(text):
        token = match.group()
        if match.start() != position or (len(token) == 1 and data and since >= _ESCAPE_GAP):
            if escaped >= 2:
                yield block()
            data, numeric, escaped, since, lead, lead_length = bytearray(), 0, 0, 0, "", 0
        position = match.end()
        if len(token) == 1:
            if data:
                data.append(ord(token))
                since += 1
            else:
                # A quote or a space starts the string (b'...', "...").
                lead = "" if token.isspace() or token in _QUOTES else (lead + token)[-_LEAD:]
            continue
        body = token[1:]
        is_numeric = body[0] == "x" or body[0] in "01234567"
        if not data and not is_numeric and not lead:
            continue  # "\\n" typed in prose on its own is a newline, not the start of a string of bytes
        if not data:
            data += lead.encode("ascii")
            lead_length = len(lead)
        if body[0] == "x":
            data.append(int(body[1:], 16))
        elif body[0] in "01234567":
            data.append(int(body, 8) & 0xFF)
        else:
            data.append(_SIMPLE[body])
        numeric += is_numeric
        escaped += 1
        since = 0
    if escaped >= 2:
        yield block()


# --- bits ------------------------------------------------------------------------------------------

# "10001001 01010000 01001110": bytes as eight binary digits, apart or run together.
BITS_LIMIT_BYTES = 32
_BITS = re.compile(r"(?<![\w.])(?:[01]{8}(?:[\s,;:_-]+|$|(?=[01]{8}))){4,}")


def bits(text: str) -> Iterator[Block]:
    for match in _BITS.finditer(text):
        digits = re.sub(r"[^01]", "", match.group())
        digits = digits[: len(digits) - len(digits) % 8]
        data = bytes(int(digits[i : i + 8], 2) for i in range(0, len(digits), 8))
        yield Block("bits", data, len(data) > BITS_LIMIT_BYTES and len(set(data)) >= MIN_DISTINCT // 2)


READERS = (uuencode, decimal_lists, escapes, bits)


def blocks(text: str) -> Iterator[Block]:
    for reader in READERS:
        yield from reader(text)
