"""Find the XMP packets of a photo: embedded in JPEG, PNG, TIFF, WebP or HEIC, and in sidecars.

Each container is walked by its own structure, reading headers and seeking past pixel data, so
reading tags costs a few small reads per photo rather than a decode:

- JPEG: APP1 ``http://ns.adobe.com/xap/1.0/`` (the standard packet) and APP1
  ``http://ns.adobe.com/xmp/extension/`` chunks (ExtendedXMP: packets above 64 KiB, split by
  GUID and offset, reassembled for the GUID the standard packet names in ``HasExtendedXMP``).
- PNG: the ``iTXt`` chunk with keyword ``XML:com.adobe.xmp`` (possibly zlib-compressed).
- WebP: the RIFF ``XMP `` chunk. TIFF: tag 700 of the first IFD (through Pillow, which reads
  only the IFD).
- Anything else (HEIC, AVIF, raw files): the ``<x:xmpmeta>...</x:xmpmeta>`` packet located in
  the bytes, which is where every writer puts it whatever the box or IFD holding it.
"""

from __future__ import annotations

import mmap
import re
import struct
import zlib
from pathlib import Path
from typing import BinaryIO

from facenet_core.tags.rdf import MAX_PACKET_BYTES, XmpError

_JPEG_STD = b"http://ns.adobe.com/xap/1.0/\x00"
_JPEG_EXT = b"http://ns.adobe.com/xmp/extension/\x00"
_HAS_EXT = re.compile(rb"HasExtendedXMP\s*(?:=\s*[\"']|>)\s*([0-9A-Fa-f]{32})")
_SCAN_LIMIT = 256 * 1024 * 1024
_TIFF_SUFFIXES = {".tif", ".tiff"}


def sidecar_candidates(photo: Path) -> list[Path]:
    """Sidecar names in the order they are preferred: ``IMG.jpg.xmp`` (digiKam, Immich, ours),
    then ``IMG.xmp`` (Lightroom, darktable's older default, Capture One)."""
    out = []
    for base in (photo.name, photo.stem):
        for ext in (".xmp", ".XMP"):
            out.append(photo.with_name(base + ext))
    return out


def find_sidecar(photo: Path) -> Path | None:
    """The sidecar of a photo, or None."""
    for candidate in sidecar_candidates(photo):
        if candidate.is_file():
            return candidate
    return None


def embedded_packets(path: Path) -> list[bytes]:
    """The XMP packets inside a photo file (standard first, then extended); may be empty.

    Raises ``OSError`` when the file cannot be read and :class:`XmpError` when its structure is
    broken or a packet is too large.
    """
    with path.open("rb") as f:
        head = f.read(16)
        f.seek(0)
        if head.startswith(b"\xff\xd8"):
            return _jpeg(f)
        if head.startswith(b"\x89PNG\r\n\x1a\n"):
            return _png(f)
        if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
            return _webp(f)
        if head[:4] in (b"II*\x00", b"MM\x00*") and path.suffix.lower() in _TIFF_SUFFIXES:
            return _tiff(path)
        return _scan(f)


def _check(size: int) -> None:
    if size > MAX_PACKET_BYTES:
        raise XmpError(f"XMP packet too large ({size / 2**20:.1f} MiB)")


def _jpeg(f: BinaryIO) -> list[bytes]:
    f.seek(2)
    standard: bytes | None = None
    extended: dict[bytes, dict[int, bytes]] = {}
    sizes: dict[bytes, int] = {}
    refused: str | None = None
    while True:
        byte = f.read(1)
        if not byte:
            break
        if byte != b"\xff":
            continue  # tolerate garbage between segments as decoders do
        marker = f.read(1)
        while marker == b"\xff":
            marker = f.read(1)
        if not marker or marker in (b"\xd9", b"\xda"):  # end of image, start of scan
            break
        if marker[0] in range(0xD0, 0xD8) or marker == b"\x01":
            continue
        raw_len = f.read(2)
        if len(raw_len) < 2:
            break
        length = struct.unpack(">H", raw_len)[0] - 2
        if length < 0:
            raise XmpError("broken JPEG segment")
        if marker != b"\xe1":
            f.seek(length, 1)
            continue
        payload = f.read(length)
        if payload.startswith(_JPEG_STD):
            standard = payload[len(_JPEG_STD) :]
        elif payload.startswith(_JPEG_EXT) and len(payload) >= len(_JPEG_EXT) + 40:
            body = payload[len(_JPEG_EXT) :]
            guid = body[:32]
            full, offset = struct.unpack(">II", body[32:40])
            if full > MAX_PACKET_BYTES:
                refused = f"ExtendedXMP too large ({full / 2**20:.1f} MiB): left out"
                continue
            sizes[guid] = full
            extended.setdefault(guid, {})[offset] = body[40:]
    packets = [standard] if standard else []
    if extended:
        match = _HAS_EXT.search(standard or b"")
        wanted: bytes | None = match.group(1) if match else None
        if wanted is None and len(extended) == 1:
            wanted = next(iter(extended))
        if wanted is not None and wanted in extended:
            guid = wanted
            buf = bytearray(sizes[guid])
            for offset, data in extended[guid].items():
                buf[offset : offset + len(data)] = data[: max(0, sizes[guid] - offset)]
            packets.append(bytes(buf))
    if refused is not None:
        raise XmpError(refused, packets)
    return packets


def _png(f: BinaryIO) -> list[bytes]:
    f.seek(8)
    packets = []
    while True:
        header = f.read(8)
        if len(header) < 8:
            break
        length, kind = struct.unpack(">I4s", header)
        if kind == b"IEND":
            break
        if kind != b"iTXt":
            f.seek(length + 4, 1)
            continue
        _check(length)
        data = f.read(length)
        f.seek(4, 1)
        keyword, _, rest = data.partition(b"\x00")
        if keyword != b"XML:com.adobe.xmp" or len(rest) < 2:
            continue
        compressed = rest[0] == 1
        # language tag and translated keyword, each NUL-terminated
        _, _, rest = rest[2:].partition(b"\x00")
        _, _, body = rest.partition(b"\x00")
        if compressed:
            inflater = zlib.decompressobj()
            try:
                body = inflater.decompress(body, MAX_PACKET_BYTES + 1)
            except zlib.error as exc:
                raise XmpError(f"broken compressed XMP in PNG ({exc})") from exc
            _check(len(body))
        packets.append(body)
    return packets


def _webp(f: BinaryIO) -> list[bytes]:
    f.seek(12)
    while True:
        header = f.read(8)
        if len(header) < 8:
            return []
        kind, length = struct.unpack("<4sI", header)
        if kind == b"XMP ":
            _check(length)
            return [f.read(length)]
        f.seek(length + (length & 1), 1)


def _tiff(path: Path) -> list[bytes]:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            raw = getattr(img, "tag_v2", {}).get(700)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise XmpError(f"unreadable TIFF header ({exc})") from exc
    if raw is None:
        return []
    data = bytes(raw) if not isinstance(raw, str) else raw.encode("utf-8")
    _check(len(data))
    return [data]


def _scan(f: BinaryIO) -> list[bytes]:
    try:
        view = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    except ValueError:  # empty file
        return []
    with view:
        limit = min(len(view), _SCAN_LIMIT)
        start = view.find(b"<x:xmpmeta", 0, limit)
        if start < 0:
            return []
        end = view.find(b"</x:xmpmeta>", start, min(limit, start + MAX_PACKET_BYTES + 16))
        if end < 0:
            raise XmpError("XMP packet without its end (or too large)")
        return [bytes(view[start : end + len(b"</x:xmpmeta>")])]
