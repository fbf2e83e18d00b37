"""Small media files made here (no file is shipped or fetched) and every way of writing them as text
that the tracker must refuse: base64 wrapped in lines or split by dots, spaces or dashes, Ascii85,
base85, base32, hex (plain, spaced, as a byte array), the same after junk bytes, reversed or split by
words, uuencode, decimal byte values, octal escapes, bits, and the 92-character 1x1 PNG. Shared by the
detector's tests, the validation tests and the hostile-input suite."""

from __future__ import annotations

import base64
import binascii
import gzip
import io
import random
import struct
import textwrap
import zipfile
import zlib
from collections.abc import Callable, Iterator

# A 1x1 grey PNG, the smallest a PNG encoder writes: 67 bytes, 92 characters of base64.
TINY_PNG_BASE64 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAAAAAA6fptVAAAACklEQVR42mNgAAAAAgAB5Sfe/AAAAABJRU5ErkJggg=="
TINY_PNG = base64.b64decode(TINY_PNG_BASE64)


def noise(size: int, seed: int = 15) -> bytes:
    """Bytes as random as compressed or encrypted data, the same on every run."""
    return random.Random(seed).randbytes(size)


def png(width: int = 4, height: int = 4) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + noise(4 * width, seed=row) for row in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


GIF = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00,"
    b"\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)


def jpeg(size: int = 160) -> bytes:
    """A JFIF header, a quantisation table's start and entropy-coded noise."""
    return bytes.fromhex("ffd8ffe000104a46494600010100000100010000ffdb004300") + noise(size) + b"\xff\xd9"


def webp(size: int = 60) -> bytes:
    return b"RIFF" + struct.pack("<I", size + 12) + b"WEBPVP8 " + struct.pack("<I", size) + noise(size)


def mp4(size: int = 60) -> bytes:
    return struct.pack(">I", 24) + b"ftypisom" + b"\x00\x00\x02\x00isomiso2" + noise(size)


def zip_archive() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("a.jpg", jpeg())
    return buffer.getvalue()


PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"

# name: (bytes, what the refusal calls it)
MEDIA: dict[str, tuple[bytes, str]] = {
    "1x1 png": (TINY_PNG, "PNG image"),
    "4x4 png": (png(), "PNG image"),
    "gif": (GIF, "GIF image"),
    "jpeg": (jpeg(), "JPEG image"),
    "webp": (webp(), "WEBP image"),
    "mp4": (mp4(), "MP4 video"),
    "zip": (zip_archive(), "file"),
    "pdf": (PDF, "PDF"),
    "gzip": (gzip.compress(noise(50), mtime=0), "GZIP file"),
}


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _fullwidth(text: str) -> str:
    return "".join(chr(ord(ch) + 0xFEE0) if "!" <= ch <= "~" else ch for ch in text)


def _uu(data: bytes, begin: bool) -> str:
    lines = [binascii.b2a_uu(data[i : i + 45]).decode().rstrip("\n") for i in range(0, len(data), 45)]
    if not begin:
        return "\n".join(lines)
    return "begin 644 photo.jpg\n" + "\n".join(lines) + "\n`\nend"


def _c_char(byte: int) -> str:
    """A byte as a C string literal writes it: printable as itself, the rest in octal."""
    return chr(byte) if 32 < byte < 127 and chr(byte) not in '\\"' else f"\\{byte:03o}"


# name: (how the detector names the encoding, how to write bytes that way)
ENCODINGS: dict[str, tuple[str, Callable[[bytes], str]]] = {
    "base64": ("base64", _b64),
    "base64 without padding": ("base64", lambda d: _b64(d).rstrip("=")),
    "base64url": ("base64", lambda d: base64.urlsafe_b64encode(d).decode().rstrip("=")),
    "base64 wrapped at 76 (MIME)": ("base64", lambda d: "\n".join(textwrap.wrap(_b64(d), 76))),
    "base64 wrapped at 64, CRLF (PEM)": ("base64", lambda d: "\r\n".join(textwrap.wrap(_b64(d), 64))),
    "base64 split by dots": ("base64", lambda d: ".".join(textwrap.wrap(_b64(d), 10))),
    "base64 split by spaces every 4": ("base64", lambda d: " ".join(textwrap.wrap(_b64(d), 4))),
    "base64 one character at a time": ("base64", lambda d: " ".join(_b64(d))),
    "base64 split by dashes": ("base64", lambda d: "-".join(textwrap.wrap(_b64(d), 8))),
    "base64 in a sentence": ("base64", lambda d: f"see the attached image: {_b64(d)} thanks"),
    "base64 split in a sentence": (
        "base64",
        lambda d: "Account sent this " + " ".join(textwrap.wrap(_b64(d), 20)) + " to the minor",
    ),
    "base64 in a URL": ("base64", lambda d: "https://mod.example/view?img=" + base64.urlsafe_b64encode(d).decode()),
    "base64 in full-width letters": ("base64", lambda d: _fullwidth(_b64(d))),
    "base64 of base64": ("base64", lambda d: _b64(_b64(d).encode())),
    "Ascii85": ("Ascii85", lambda d: base64.a85encode(d).decode()),
    "Ascii85 framed and wrapped (Adobe)": ("Ascii85", lambda d: base64.a85encode(d, wrapcol=40, adobe=True).decode()),
    "base85 (RFC 1924)": ("base85", lambda d: base64.b85encode(d).decode()),
    "base32": ("base32", lambda d: base64.b32encode(d).decode()),
    "base32 small letters, no padding": ("base32", lambda d: base64.b32encode(d).decode().lower().rstrip("=")),
    "base32 wrapped": ("base32", lambda d: "\n".join(textwrap.wrap(base64.b32encode(d).decode(), 60))),
    "hex": ("hexadecimal", lambda d: d.hex()),
    "HEX": ("hexadecimal", lambda d: d.hex().upper()),
    "hex bytes spaced": ("hexadecimal", lambda d: " ".join(f"{b:02x}" for b in d)),
    "hex bytes with colons": ("hexadecimal", lambda d: ":".join(f"{b:02x}" for b in d)),
    "hex as a C array": ("hexadecimal", lambda d: ", ".join(f"0x{b:02x}" for b in d)),
    "hex as escapes": ("hexadecimal", lambda d: "".join(f"\\x{b:02x}" for b in d)),
    "hex wrapped at 64": ("hexadecimal", lambda d: "\n".join(textwrap.wrap(d.hex(), 64))),
    "base64 split by words": ("base64", lambda d: " and ".join(textwrap.wrap(_b64(d), 6))),
    "base64 reversed": ("base64, reversed", lambda d: _b64(d)[::-1]),
    # Bytes written one by one, the other ways.
    "uuencode with a begin line": ("uuencode", lambda d: _uu(d, begin=True)),
    "uuencode lines alone": ("uuencode", lambda d: _uu(d, begin=False)),
    "decimal byte values": ("decimal byte values", lambda d: ", ".join(str(b) for b in d)),
    "decimal byte values spaced": ("decimal byte values", lambda d: " ".join(str(b) for b in d)),
    "octal escapes (a C string)": ("octal or hex escapes", lambda d: "".join(_c_char(b) for b in d)),
    "a Python bytes literal": ("octal or hex escapes", lambda d: repr(d)),
    "bits": ("bits", lambda d: " ".join(f"{b:08b}" for b in d)),
    "bits run together": ("bits", lambda d: "".join(f"{b:08b}" for b in d)),
}


# Magic bytes not at the start: a few junk bytes put before the file. Found by a signature of four
# bytes or more, mostly not zero (escalations.core.encoded_content._strong): a three-byte one (a
# JPEG's ff d8 ff, gzip's 1f 8b 08) at any of the first few offsets would refuse one signed link in a
# few thousand; those files are refused after junk only when they are long (the entropy rule).
AFTER_JUNK: dict[str, tuple[str, Callable[[bytes], str]]] = {
    "base64 after a junk byte": ("base64", lambda d: _b64(b"\x00" + d)),
    "base64 after three junk bytes": ("base64", lambda d: _b64(b"abc" + d)),
    "hex after junk bytes": ("hexadecimal", lambda d: (b"\x07\x08\x09" + d).hex()),
    "base32 after junk bytes": ("base32", lambda d: base64.b32encode(b"\x01\x02" + d).decode()),
    "Ascii85 after a junk byte": ("Ascii85", lambda d: base64.a85encode(b"\x05" + d).decode()),
}
MEDIA_WITH_STRONG_SIGNATURES = ("1x1 png", "4x4 png", "gif", "webp", "mp4", "zip", "pdf")


def encoded(data: bytes) -> Iterator[tuple[str, str]]:
    """(name of the way, the text) for every way in ENCODINGS."""
    for name, (_, encode) in ENCODINGS.items():
        yield name, encode(data)
