"""Small media files made here (no file is shipped or fetched) and every way of writing them as text
that the tracker must refuse: base64 wrapped in lines or split by dots, spaces or dashes, Ascii85,
base85, base32, hex (plain, spaced, as a byte array) and the 92-character 1x1 PNG. Shared by the
detector's tests, the validation tests and the hostile-input suite."""

from __future__ import annotations

import base64
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
}


def encoded(data: bytes) -> Iterator[tuple[str, str]]:
    """(name of the way, the text) for every way in ENCODINGS."""
    for name, (_, encode) in ENCODINGS.items():
        yield name, encode(data)
