"""A deterministic corpus of bad and odd files, for testing that scans survive anything.

``build_corpus(folder, face_photo, library=...)`` writes over a thousand files into ``folder`` and
returns one :class:`Entry` per thing written, saying what a scan should make of it:

- ``"done"``: a readable image, however odd (16-bit, CMYK, palette, tiny, rotated by EXIF...);
  ``faces``, when set, is the exact number of faces it must yield;
- ``"failed"``: cannot be read (truncated, not an image, a decompression bomb, a broken link...);
- ``"either"``: damaged in a way a decoder may or may not shrug off (flipped bytes, the last
  bytes of a JPEG missing); the scan must still end with ``done`` or ``failed``;
- ``"none"``: not a photo of its own (a folder named ``x.jpg``, a named pipe, a second name of
  a file that is already a photo, a link into the library): no Photo row at that path;
- ``"folder-problem"``: a folder that cannot be read: recorded as such, with its reason.

Most cases are tiny (a few bytes to a few hundred pixels), so that a scan of the whole corpus
stays quick: generated valid images in every format and mode, junk, truncated and mutated files;
names in every Unicode normalisation (NFC, NFD, NFKC, NFKD: distinct files on Linux, each stored
exactly as spelled); links of every kind, into the library too; unreadable files and folders
(``needs_unreadable``: meaningful only where permissions bind the scanning process); and files
that change while the scan reads them (``versions``: a test rewrites them during the scan).

Everything is seeded: the same seed gives the same bytes. The real faces come from LFW
(``face_photo`` is one LFW JPEG with exactly one face, upright).
"""

from __future__ import annotations

import io
import os
import random
import struct
import unicodedata
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

import facenet_core.imageio  # noqa: F401  (registers the HEIF plugin, when installed)

SHARED = Path(
    os.environ.get("FACENET_SHARED", Path(__file__).resolve().parents[2].parent / "shared")
)
LFW_IMAGES = SHARED / "datasets" / "lfw-mini" / "images"
FACE_PHOTO = "Abel_Pacheco/Abel_Pacheco_0002.jpg"
"""An LFW photo with one clear frontal face (HOG score ~2.2) and no other face."""

ORIENTED_CROP = (0, 25, 250, 225)
"""The part of the face photo used for the EXIF orientation variants: 250 x 200, displayed."""

SUPPORTED = (".jpg", ".jpeg", ".jpe", ".png", ".webp", ".tif", ".tiff", ".bmp", ".heic", ".heif")

ORIENTATION_UNDO = {
    # the transpose that *stores* an upright image so that EXIF orientation k shows it upright
    1: None,
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_90,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_270,
}


@dataclass(frozen=True)
class Entry:
    """One file (or link, folder, pipe) of the corpus and what a scan should make of it."""

    path: Path
    kind: str
    expect: str  # "done" | "failed" | "either" | "none"
    faces: int | None = None
    reason: str | None = None  # a word the failure reason must contain
    needs_unreadable: bool = False  # only meaningful where chmod 000 stops this process reading
    versions: tuple[bytes, ...] = ()  # contents to cycle through while a scan runs; first=last


def face_photo_path() -> Path:
    return LFW_IMAGES / FACE_PHOTO


# -- encoders --------------------------------------------------------------------------------


def encode(img: Image.Image, fmt: str, **params: object) -> bytes:
    out = io.BytesIO()
    img.save(out, fmt, **params)
    return out.getvalue()


def heic_bytes(img: Image.Image, quality: int = 90) -> bytes | None:
    """``img`` as a HEIC file, or None without an encoder. The app decodes with the decode-only
    pi-heif; the tests encode with pillow-heif's own API (a test dependency), which leaves
    Pillow's HEIF plugin, the decoder under test, as it is."""
    try:
        import pillow_heif
    except ImportError:
        return None
    out = io.BytesIO()
    pillow_heif.from_pillow(img.convert("RGB")).save(out, quality=quality)
    return out.getvalue()


def _png_chunk(tag: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(tag + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", crc)


def raw_png(width: int, height: int, bit_depth: int, color_type: int, idat: bytes) -> bytes:
    """A PNG from its parts: any size, depth and colour type, with ``idat`` as the zlib data."""
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )


def png16(array: np.ndarray) -> bytes:
    """A 16-bit PNG (grey for 2-D, RGB for H x W x 3, RGBA for H x W x 4), which PIL cannot
    write itself."""
    height, width = array.shape[:2]
    channels = 1 if array.ndim == 2 else array.shape[2]
    color_type = {1: 0, 3: 2, 4: 6}[channels]
    rows = array.astype(">u2").reshape(height, width * channels)
    raw = b"".join(b"\x00" + row.tobytes() for row in rows)
    return raw_png(width, height, 16, color_type, zlib.compress(raw, 9))


def png_bomb(side: int) -> bytes:
    """A real decompression bomb: a ``side`` x ``side`` 8-bit grey PNG of zeros, fully encoded,
    about 1/1000 of its decoded size on disk. Built from one fully-flushed deflate block repeated,
    so it takes milliseconds to make."""
    row = b"\x00" * (side + 1)
    rows_per_block = 1000
    assert side % rows_per_block == 0
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = comp.compress(row * rows_per_block) + comp.flush(zlib.Z_FULL_FLUSH)
    tail = zlib.compressobj(9, zlib.DEFLATED, -15).flush()
    total = len(row) * side
    adler = ((total % 65521) << 16) | 1  # adler32 of `total` zero bytes
    idat = b"\x78\xda" + block * (side // rows_per_block) + tail + struct.pack(">I", adler)
    return raw_png(side, side, 8, 0, idat)


def jpeg_sos_data(data: bytes) -> int:
    """Offset of the first byte of entropy-coded data (just after the SOS header)."""
    i = 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            raise ValueError("not a JPEG marker")
        marker = data[i + 1]
        length = struct.unpack(">H", data[i + 2 : i + 4])[0]
        if marker == 0xDA:
            return i + 2 + length
        i += 2 + length
    raise ValueError("no SOS marker")


def with_app1(jpeg: bytes, payload: bytes, *, length: int | None = None) -> bytes:
    """``jpeg`` with an APP1 segment carrying ``payload`` right after SOI; ``length`` overrides
    the segment's declared length (to lie about it)."""
    declared = len(payload) + 2 if length is None else length
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", declared) + payload + jpeg[2:]


def tiff_ifd(entries: list[tuple[int, int, int, bytes]], *, count: int | None = None) -> bytes:
    """A little-endian TIFF (EXIF) blob with one IFD of ``(tag, type, count, 4 value bytes)``;
    ``count`` overrides the declared number of entries."""
    n = len(entries) if count is None else count
    body = struct.pack("<H", n)
    for tag, typ, cnt, value in entries:
        body += struct.pack("<HHI", tag, typ, cnt) + value.ljust(4, b"\x00")[:4]
    return b"II*\x00" + struct.pack("<I", 8) + body + struct.pack("<I", 0)


def _short(v: int) -> bytes:
    return struct.pack("<H", v)


def _long(v: int) -> bytes:
    return struct.pack("<I", v)


# -- the corpus ------------------------------------------------------------------------------


class Corpus(list[Entry]):
    """The entries, and the folder they were written to (the folder to scan)."""

    def __init__(self, root: Path, entries: list[Entry]) -> None:
        super().__init__(entries)
        self.root = root


class _Writer:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.entries: list[Entry] = []

    def add(self, name: str, data: bytes | None, kind: str, expect: str, **kw: object) -> Path:
        path = self.folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if data is not None:
            path.write_bytes(data)
        self.entries.append(Entry(path, kind, expect, **kw))  # type: ignore[arg-type]
        return path


def build_corpus(
    folder: Path, face_photo: Path, seed: int = 20240611, library: Path | None = None
) -> Corpus:
    """Write the corpus into ``folder`` (created) and return what each entry should become.
    ``library``: the library file that will scan it (links into it are added)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    nrng = np.random.default_rng(seed)
    w = _Writer(folder)
    face_jpeg = face_photo.read_bytes()
    with Image.open(face_photo) as src:
        face = src.convert("RGB")
    for part in (
        _truncated_jpegs,
        _corrupted_jpegs,
        _not_images,
        _bombs,
        _odd_but_valid,
        _orientations_and_exif,
        _names,
        _unicode_normalisations,
        _other_formats_damaged,
        _bulk_valid,
        _bulk_not_images,
        _bulk_damaged,
        _changing,
    ):
        part(w, rng, nrng, face, face_jpeg)
    _links_and_specials(w, face_jpeg, library)
    _unreadable(w, rng, nrng)
    return Corpus(folder, w.entries)


def _truncated_jpegs(
    w: _Writer, rng: random.Random, nrng: np.random.Generator, face: Image.Image, jpeg: bytes
) -> None:
    size = len(jpeg)
    sos = jpeg_sos_data(jpeg)
    cuts = {1, 2, 3, 4, 6, 10, 20, 50, 100, 200, sos - 2, sos - 1, sos, sos + 1, sos + 16}
    cuts |= {size * k // 20 for k in range(1, 20)}
    cuts |= {rng.randrange(sos, size - 64) for _ in range(40)}
    cuts |= {size - 64, size - 16, size - 4}
    for cut in sorted(c for c in cuts if 0 < c < size - 2):
        # cut well before the end: image data is missing, the file must be refused
        w.add(f"truncated/cut_{cut:05d}.jpg", jpeg[:cut], "truncated-jpeg", "failed")
    for cut in (size - 2, size - 1):
        # only the end-of-image marker is missing: decoders may accept it
        w.add(f"truncated/cut_{cut:05d}_no_eoi.jpg", jpeg[:cut], "truncated-jpeg", "either")


def _corrupted_jpegs(
    w: _Writer, rng: random.Random, nrng: np.random.Generator, face: Image.Image, jpeg: bytes
) -> None:
    start = jpeg_sos_data(jpeg)
    end = len(jpeg) - 2
    for i in range(40):
        data = bytearray(jpeg)
        flips = (1, 3, 10, 50, 300)[i % 5]
        for _ in range(flips):
            data[rng.randrange(start, end)] = rng.randrange(256)
        w.add(f"corrupt/entropy_{i:02d}_{flips}.jpg", bytes(data), "corrupt-jpeg", "either")
    # a whole stretch of entropy data zeroed, and a stretch replaced by noise
    data = bytearray(jpeg)
    data[start + 200 : start + 1200] = bytes(1000)
    w.add("corrupt/entropy_zeroed.jpeg", bytes(data), "corrupt-jpeg", "either")
    data = bytearray(jpeg)
    data[start : end - 100] = nrng.integers(0, 256, end - 100 - start, np.uint8).tobytes()
    w.add("corrupt/entropy_noise.jpeg", bytes(data), "corrupt-jpeg", "either")
    # header damage: SOF dimensions zero, and a bogus Huffman table
    sof = jpeg.find(b"\xff\xc0")
    if sof > 0:
        data = bytearray(jpeg)
        data[sof + 5 : sof + 9] = b"\x00\x00\x00\x00"
        w.add("corrupt/sof_zero_size.jpg", bytes(data), "corrupt-jpeg", "failed")
    dht = jpeg.find(b"\xff\xc4")
    if dht > 0:
        data = bytearray(jpeg)
        data[dht + 5 : dht + 21] = b"\xff" * 16
        w.add("corrupt/bad_huffman.jpg", bytes(data), "corrupt-jpeg", "failed")


def _not_images(
    w: _Writer, rng: random.Random, nrng: np.random.Generator, face: Image.Image, jpeg: bytes
) -> None:
    for suffix in (*SUPPORTED, ".JPG", ".PNG", ".HEIC", ".TiFF"):
        name = f"zero/empty{suffix}" if suffix.islower() else f"zero/empty_upper{suffix}"
        w.add(name, b"", "zero-bytes", "failed", reason="not an image")
    text = b"Shopping list:\n- milk\n- eggs\n"
    for suffix in (".jpg", ".png", ".heic", ".heif", ".webp", ".tif", ".bmp"):
        w.add(f"text/list{suffix}", text, "text", "failed", reason="not an image")
    html = b"<!DOCTYPE html><html><head><title>404</title></head><body>Not found</body></html>\n"
    w.add("text/download.jpeg", html, "html", "failed", reason="not an image")
    w.add("text/utf16.png", "a photo, honest".encode("utf-16"), "text", "failed")
    w.add("text/pdf.jpg", b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n", "pdf", "failed")
    w.add("text/zip.png", b"PK\x03\x04" + bytes(26) + b"x.txt", "zip", "failed")
    w.add("text/noise.jpg", nrng.integers(0, 256, 4096, np.uint8).tobytes(), "noise", "failed")
    w.add("text/zeros.png", bytes(4096), "zeros", "failed")
    # right magic, nothing after it
    w.add("magic/soi_only.jpg", b"\xff\xd8", "magic-only", "failed")
    w.add("magic/soi_eoi.jpg", b"\xff\xd8\xff\xd9", "magic-only", "failed")
    w.add("magic/signature_only.png", b"\x89PNG\r\n\x1a\n", "magic-only", "failed")
    w.add("magic/bm_only.bmp", b"BM", "magic-only", "failed")
    w.add("magic/tiff_header_only.tif", b"II*\x00\x08\x00\x00\x00", "magic-only", "failed")
    w.add("magic/riff_only.webp", b"RIFF\x04\x00\x00\x00WEBP", "magic-only", "failed")
    w.add(
        "magic/ftyp_only.heic",
        b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic",
        "magic-only",
        "failed",
    )


def _bombs(
    w: _Writer, rng: random.Random, nrng: np.random.Generator, face: Image.Image, jpeg: bytes
) -> None:
    w.add("bombs/bomb_30000x30000.png", png_bomb(30000), "bomb", "failed", reason="large")
    # a 15000 x 15000 image: above our 200 MP limit but below 2 x Pillow's own default limit
    w.add("bombs/bomb_15000x15000.png", png_bomb(15000), "bomb", "failed", reason="large")
    # headers that claim an enormous size, with almost no data behind them
    idat = zlib.compress(b"\x00" * 100)
    w.add(
        "bombs/claims_100000x100000.png",
        raw_png(100_000, 100_000, 8, 2, idat),
        "bomb",
        "failed",
        reason="large",
    )
    sof = jpeg.find(b"\xff\xc0")
    big = bytearray(jpeg)
    big[sof + 5 : sof + 9] = struct.pack(">HH", 65000, 65000)
    w.add("bombs/claims_65000x65000.jpg", bytes(big), "bomb", "failed", reason="large")
    tiff = tiff_ifd(
        [
            (256, 4, 1, _long(1_000_000)),
            (257, 4, 1, _long(1_000_000)),
            (258, 3, 1, _short(8)),
            (262, 3, 1, _short(1)),
            (273, 4, 1, _long(8)),
            (279, 4, 1, _long(16)),
        ]
    )
    w.add("bombs/claims_1e6x1e6.tif", tiff, "bomb", "failed")
    # a real panorama of 93 MP: above PIL's default bomb limit (89 MP), below ours (200 MP)
    pano = Image.new("L", (31000, 3000), 128)
    pano.paste(face.convert("L").resize((1500, 1500)), (15000, 700))
    w.add("big/panorama_31000x3000.jpg", encode(pano, "JPEG", quality=70), "big", "done", faces=1)


def _odd_but_valid(
    w: _Writer, rng: random.Random, nrng: np.random.Generator, face: Image.Image, jpeg: bytes
) -> None:
    arr = np.asarray(face)
    grey16 = (np.asarray(face.convert("L")).astype(np.uint16) * 257) // 4  # only 14 bits used
    w.add("odd/grey16.png", png16(grey16), "16-bit", "done", faces=1)
    w.add("odd/rgb16.png", png16(arr.astype(np.uint16) * 257), "16-bit", "done", faces=1)
    alpha = np.full((*arr.shape[:2], 1), 65535, np.uint16)
    rgba16 = np.concatenate([arr.astype(np.uint16) * 257, alpha], axis=2)
    w.add("odd/rgba16.png", png16(rgba16), "16-bit", "done", faces=1)
    w.add("odd/grey16.tif", encode(Image.fromarray(grey16), "TIFF"), "16-bit", "done", faces=1)
    w.add("odd/cmyk.jpg", encode(face.convert("CMYK"), "JPEG", quality=92), "cmyk", "done", faces=1)
    w.add("odd/cmyk.tif", encode(face.convert("CMYK"), "TIFF"), "cmyk", "done", faces=1)
    palette = face.convert("P", palette=Image.Palette.ADAPTIVE, colors=256)
    w.add("odd/palette.png", encode(palette, "PNG"), "palette", "done", faces=1)
    w.add("odd/palette_trns.png", encode(palette, "PNG", transparency=0), "palette", "done")
    rgba = face.convert("RGBA")
    rgba_arr = np.asarray(rgba).copy()
    rgba_arr[:40, :40, 3] = 0  # a transparent corner
    w.add("odd/rgba.png", encode(Image.fromarray(rgba_arr), "PNG"), "alpha", "done", faces=1)
    w.add(
        "odd/rgba.webp",
        encode(Image.fromarray(rgba_arr), "WEBP", lossless=True),
        "alpha",
        "done",
        faces=1,
    )
    w.add("odd/la.png", encode(face.convert("LA"), "PNG"), "alpha", "done", faces=1)
    w.add("odd/grey.jpg", encode(face.convert("L"), "JPEG", quality=92), "grey", "done", faces=1)
    w.add("odd/bilevel.bmp", encode(face.convert("1"), "BMP"), "1-bit", "done")
    w.add("odd/bilevel.png", encode(face.convert("1"), "PNG"), "1-bit", "done")
    w.add("odd/plain.bmp", encode(face, "BMP"), "bmp", "done", faces=1)
    w.add("odd/rgba.bmp", encode(Image.fromarray(rgba_arr), "BMP"), "bmp", "done")
    jpeg_variants: dict[str, dict[str, object]] = {
        "odd/progressive.jpg": {"progressive": True},
        "odd/restart_markers.jpg": {"restart_marker_rows": 1},
        "odd/subsampling_444.jpe": {"subsampling": 0},
    }
    for name, options in jpeg_variants.items():
        w.add(name, encode(face, "JPEG", quality=90, **options), "jpeg", "done", faces=1)
    w.add("odd/interlaced.png", encode(face, "PNG", interlace=1), "png", "done", faces=1)
    w.add("odd/lzw.tiff", encode(face, "TIFF", compression="tiff_lzw"), "tiff", "done", faces=1)
    w.add("odd/float32.tif", encode(face.convert("F"), "TIFF"), "tiff", "done", faces=1)
    w.add("odd/int32.tif", encode(face.convert("I"), "TIFF"), "tiff", "done", faces=1)
    frames = [face, face.rotate(90), face.convert("L").convert("RGB")]
    w.add(
        "odd/multipage.tiff",
        encode(frames[0], "TIFF", save_all=True, append_images=frames[1:]),
        "multi-frame",
        "done",
        faces=1,
    )
    w.add(
        "odd/animated_gif_renamed.png",
        encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0),
        "multi-frame",
        "done",
        faces=1,
    )
    w.add(
        "odd/animated.webp",
        encode(
            frames[0], "WEBP", save_all=True, append_images=frames[1:], duration=100, quality=90
        ),
        "multi-frame",
        "done",
        faces=1,
    )
    heic = heic_bytes(face)
    if heic is not None:
        w.add("odd/photo.heic", heic, "heic", "done", faces=1)
        w.add("odd/truncated.heic", heic[: len(heic) // 2], "heic", "failed")
        w.add("odd/truncated_head.heif", heic[:100], "heic", "failed")
        damaged = bytearray(heic)
        for _ in range(20):
            damaged[rng.randrange(len(heic) // 2, len(heic))] = rng.randrange(256)
        w.add("odd/damaged.heic", bytes(damaged), "heic", "either")
    # tiny and extreme shapes
    for wd, ht, suffix in (
        (1, 1, "png"),
        (1, 1, "jpg"),
        (2, 3, "png"),
        (3, 2, "jpeg"),
        (2, 3, "bmp"),
        (1, 1, "webp"),
        (1, 1, "tif"),
    ):
        img = Image.fromarray(nrng.integers(0, 256, (ht, wd, 3), np.uint8))
        fmt = {"jpg": "JPEG", "jpeg": "JPEG", "tif": "TIFF"}.get(suffix, suffix.upper())
        w.add(f"tiny/tiny_{wd}x{ht}.{suffix}", encode(img, fmt), "tiny", "done", faces=0)
    blue = (9, 99, 199)
    for name, img, fmt in (
        ("tiny/tall_1x5000.png", Image.new("RGB", (1, 5000), blue), "PNG"),
        ("tiny/wide_5000x1.jpg", Image.new("RGB", (5000, 1), blue), "JPEG"),
        ("tiny/wide_60000x2.jpg", Image.new("L", (60000, 2), 50), "JPEG"),
        ("tiny/tall_3x20000.png", Image.new("L", (3, 20000), 50), "PNG"),
    ):
        w.add(name, encode(img, fmt), "aspect", "done", faces=0)
    # valid images with the wrong suffix
    w.add("wrong_suffix/really_a_png.jpg", encode(face, "PNG"), "wrong-suffix", "done", faces=1)
    w.add("wrong_suffix/really_a_jpeg.png", jpeg, "wrong-suffix", "done", faces=1)
    w.add("wrong_suffix/really_a_bmp.tiff", encode(face, "BMP"), "wrong-suffix", "done", faces=1)
    w.add(
        "wrong_suffix/really_a_webp.heic",
        encode(face, "WEBP", quality=90),
        "wrong-suffix",
        "done",
        faces=1,
    )


def _orientations_and_exif(
    w: _Writer, rng: random.Random, nrng: np.random.Generator, face: Image.Image, jpeg: bytes
) -> None:
    upright = face.crop(ORIENTED_CROP)  # not square, so that a missed 90 degree turn shows
    for k, undo in ORIENTATION_UNDO.items():
        stored = upright if undo is None else upright.transpose(undo)
        exif = Image.Exif()
        exif[0x0112] = k
        w.add(
            f"orientation/orientation_{k}.jpg",
            encode(stored, "JPEG", quality=95, exif=exif),
            "orientation",
            "done",
            faces=1,
        )
    # orientation 6 on a PNG (eXIf chunk) and a WebP
    exif = Image.Exif()
    exif[0x0112] = 6
    stored = upright.transpose(Image.Transpose.ROTATE_90)
    w.add(
        "orientation/orientation_6.png",
        encode(stored, "PNG", exif=exif),
        "orientation",
        "done",
        faces=1,
    )
    w.add(
        "orientation/orientation_6.webp",
        encode(stored, "WEBP", exif=exif, quality=95),
        "orientation",
        "done",
        faces=1,
    )
    # garbage EXIF on an upright face: the photo must still be read, as stored
    orient = 0x0112
    blobs = {
        "random_bytes": b"Exif\x00\x00" + nrng.integers(0, 256, 300, np.uint8).tobytes(),
        "not_tiff": b"Exif\x00\x00" + b"this is not a tiff header at all" * 4,
        "entry_count_huge": b"Exif\x00\x00" + tiff_ifd([(orient, 3, 1, _short(1))], count=65535),
        "orientation_0": b"Exif\x00\x00" + tiff_ifd([(orient, 3, 1, _short(0))]),
        "orientation_9": b"Exif\x00\x00" + tiff_ifd([(orient, 3, 1, _short(9))]),
        "orientation_65535": b"Exif\x00\x00" + tiff_ifd([(orient, 3, 1, _short(65535))]),
        "orientation_ascii": b"Exif\x00\x00" + tiff_ifd([(orient, 2, 4, b"six\x00")]),
        "orientation_count_5": b"Exif\x00\x00" + tiff_ifd([(orient, 3, 5, _long(0xFFFF_FF00))]),
        "orientation_rational": b"Exif\x00\x00" + tiff_ifd([(orient, 5, 1, _long(8))]),
        "ifd_offset_past_end": b"Exif\x00\x00II*\x00" + _long(0xFFFF_FF00),
        "exif_ifd_self_loop": b"Exif\x00\x00" + tiff_ifd([(0x8769, 4, 1, _long(8))]),
        "exif_ifd_past_end": b"Exif\x00\x00" + tiff_ifd([(0x8769, 4, 1, _long(0x7FFF_FFF0))]),
        "gps_ifd_garbage": b"Exif\x00\x00" + tiff_ifd([(0x8825, 4, 1, _long(12))]),
        "bad_datetime": b"Exif\x00\x00"
        + tiff_ifd([(306, 2, 20, _long(26))])
        + b"9999:99:99 99:99:99\x00",
        "datetime_binary": b"Exif\x00\x00"
        + tiff_ifd([(306, 2, 20, _long(26))])
        + bytes(range(200, 220)),
        "big_endian_garbage": b"Exif\x00\x00MM\x00*" + struct.pack(">I", 8) + b"\xff" * 64,
        "empty": b"Exif\x00\x00",
        "no_exif_header": b"\x00" * 64,
    }
    for name, payload in blobs.items():
        w.add(f"exif/garbage_{name}.jpg", with_app1(jpeg, payload), "garbage-exif", "done", faces=1)
    # an APP1 whose declared length runs past the end of the file / is too short
    w.add(
        "exif/app1_length_too_long.jpg",
        with_app1(jpeg, b"Exif\x00\x00", length=60000),
        "garbage-exif",
        "failed",
    )
    w.add("exif/app1_length_1.jpg", with_app1(jpeg, b"", length=1), "garbage-exif", "either")


def _names(
    w: _Writer, rng: random.Random, nrng: np.random.Generator, face: Image.Image, jpeg: bytes
) -> None:
    names = [
        "names/Zoë Ångström – Été 2019.jpg",
        "names/日本語 の 写真.jpeg",
        "names/emoji 😀🎉.png",
        "names/ leading space.jpg",
        "names/trailing space .jpg",
        "names/many   spaces.JPG",
        "names/Cafe\u0301 (NFD).jpg",
        "names/quotes 'single' \"double\" & $dollar; `tick` #hash %20.jpg",
        "names/line\nbreak.jpg",
        "names/tab\there.jpg",
        "names/.hidden.jpg",
        "names/" + "long" * 60 + ".jpg",
        "names/dots...in...name.jpg.jpg",
        "names/ünïcødé folder/photo.jpg",
    ]
    for name in names:
        data = encode(face, "PNG") if name.endswith(".png") else jpeg
        w.add(name, data, "name", "done", faces=1)
    # a dot file called ".jpg" has no suffix (Python's rule, and most file managers'): not a photo
    w.add("names/no_stem/.jpg", jpeg, "name", "none")
    # names in a legacy 8-bit encoding (an old archive, a camera card): not valid UTF-8, so the
    # library cannot store them; the scan must record them as failed, not crash
    base = os.fsencode(w.folder / "names")
    for raw in (b"/latin1_caf\xe9.jpg", b"/\xe9t\xe9 folder/photo.jpg"):
        path = base + raw
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as f:
                f.write(jpeg)
        except OSError:  # a file system that only takes valid names (macOS, Windows)
            continue
        w.entries.append(Entry(Path(os.fsdecode(path)), "bad-name", "failed", reason="UTF-8"))


def _other_formats_damaged(
    w: _Writer, rng: random.Random, nrng: np.random.Generator, face: Image.Image, jpeg: bytes
) -> None:
    small = face.resize((64, 64))
    bases = {
        "png": encode(small, "PNG"),
        "bmp": encode(small, "BMP"),
        "tif": encode(small, "TIFF"),
        "webp": encode(small, "WEBP", quality=80),
        "gif.png": encode(small, "GIF"),
    }
    for suffix, data in bases.items():
        stem = suffix.split(".")[0]
        for frac in (0.05, 0.3, 0.6, 0.95):
            cut = max(1, int(len(data) * frac))
            w.add(f"damaged/{stem}_cut_{cut:05d}.{suffix}", data[:cut], "truncated", "either")
        for i in range(6):
            damaged = bytearray(data)
            for _ in range(1 + i):  # bytes flipped in the header region
                damaged[rng.randrange(0, min(64, len(data)))] = rng.randrange(256)
            w.add(f"damaged/{stem}_header_{i}.{suffix}", bytes(damaged), "bad-header", "either")
        for i in range(3):
            damaged = bytearray(data)
            for _ in range(20):
                damaged[rng.randrange(len(data) // 4, len(data))] = rng.randrange(256)
            w.add(f"damaged/{stem}_body_{i}.{suffix}", bytes(damaged), "bad-body", "either")


def _links_and_specials(w: _Writer, jpeg: bytes, library: Path | None) -> None:
    folder = w.folder / "links"
    folder.mkdir()
    (folder / "broken.jpg").symlink_to(folder / "nowhere.jpg")
    w.add("links/broken.jpg", None, "broken-link", "failed", reason="broken symbolic link")
    (folder / "loop_a.jpg").symlink_to(folder / "loop_b.jpg")
    (folder / "loop_b.jpg").symlink_to(folder / "loop_a.jpg")
    (folder / "self.png").symlink_to(folder / "self.png")
    for name in ("loop_a.jpg", "loop_b.jpg", "self.png"):
        w.add(f"links/{name}", None, "link-loop", "failed", reason="loop")
    (folder / "up").symlink_to(w.folder)  # a folder loop: links/up -> the corpus root
    (folder / "itself").symlink_to(folder / "itself")  # a folder link to itself
    (folder / "target.jpg").write_bytes(jpeg)
    w.add("links/target.jpg", None, "link-target", "done", faces=1)
    # a relative link to a real photo: the same file, so no photo of its own
    (folder / "alias.jpg").symlink_to("target.jpg")
    w.add("links/alias.jpg", None, "good-link", "none")
    os.link(folder / "target.jpg", folder / "zz_hard_link.jpg")  # a second name of the same file
    w.add("links/zz_hard_link.jpg", None, "hard-link", "none")
    # a folder link inside the root, and one to a folder outside it (photos stored under their
    # real paths there)
    (folder / "same_folder").symlink_to(w.folder / "odd")
    w.add("links/same_folder", None, "folder-link", "none")
    outside = w.folder.parent / f"{w.folder.name}-outside"
    outside.mkdir(exist_ok=True)
    (outside / "out.png").write_bytes(encode(Image.new("RGB", (6, 6), (1, 2, 3)), "PNG"))
    (folder / "outside").symlink_to(outside)
    w.entries.append(Entry(outside / "out.png", "link-outside", "done", faces=0))
    (folder / "dotdot.png").symlink_to("../links/../odd/plain.bmp")  # a longer way to a photo
    w.add("links/dotdot.png", None, "good-link", "none")
    if library is not None:  # links into the library: never photos
        thumbs = library.with_name(library.name + ".thumbnails")
        (folder / "library_thumbnails").symlink_to(thumbs, target_is_directory=True)
        w.add("links/library_thumbnails", None, "into-library", "none")
        (folder / "library.jpg").symlink_to(library)
        w.add("links/library.jpg", None, "into-library", "none")
    # a folder named like a photo (with a real photo inside) and a named pipe named like one
    w.add("folder.jpg/inside.jpg", jpeg, "folder-named-photo", "done", faces=1)
    w.entries.append(Entry(w.folder / "folder.jpg", "folder-named-photo", "none"))
    if hasattr(os, "mkfifo"):
        os.mkfifo(w.folder / "pipe.jpg")
        w.entries.append(Entry(w.folder / "pipe.jpg", "named-pipe", "none"))
    # unreadable: only meaningful where permissions bind the scanning process (not root)
    path = w.add("perm/locked.jpg", jpeg, "no-permission", "failed", needs_unreadable=True)
    path.chmod(0)


# -- the generated bulk: many tiny cases ----------------------------------------------------

_FORMATS = {
    # format: (suffix, modes it can store)
    "PNG": (".png", ("RGB", "RGBA", "L", "LA", "P", "1", "I;16")),
    "JPEG": (".jpg", ("RGB", "L", "CMYK")),
    "BMP": (".bmp", ("RGB", "L", "P", "1")),
    "TIFF": (".tif", ("RGB", "L", "CMYK", "I;16", "F", "RGBA")),
    "WEBP": (".webp", ("RGB", "RGBA")),
    "GIF": (".png", ("P", "L")),  # a GIF named .png: read by its content
}


def tiny_image(rng: random.Random, nrng: np.random.Generator) -> tuple[bytes, str, str, str]:
    """A random valid tiny image: ``(bytes, format, mode, suffix)``, 1-24 px a side."""
    fmt = rng.choice(sorted(_FORMATS))
    suffix, modes = _FORMATS[fmt]
    mode = rng.choice(modes)
    width, height = rng.randint(1, 24), rng.randint(1, 24)
    rgb = Image.fromarray(nrng.integers(0, 256, (height, width, 3), np.uint8))
    if mode == "I;16":
        img = Image.fromarray(nrng.integers(0, 65536, (height, width), np.uint16))
    elif mode == "F":
        img = Image.fromarray(nrng.random((height, width), np.float32))
    else:
        img = rgb.convert(mode)
    params: dict[str, object] = {"lossless": True} if fmt == "WEBP" else {}
    return encode(img, fmt, **params), fmt, mode, suffix


def _bulk_valid(
    w: _Writer, rng: random.Random, nrng: np.random.Generator, face: Image.Image, jpeg: bytes
) -> None:
    for i in range(360):
        data, fmt, mode, suffix = tiny_image(rng, nrng)
        name = f"bulk/valid/{i:03d}_{fmt}_{mode.replace(';', '')}{suffix}"
        w.add(name, data, "bulk-valid", "done", faces=0)


def _bulk_not_images(
    w: _Writer, rng: random.Random, nrng: np.random.Generator, face: Image.Image, jpeg: bytes
) -> None:
    texts = (
        b'{"photo": true}\n',
        b"<?xml version='1.0'?><svg xmlns='http://www.w3.org/2000/svg'/>",
        b"#!/bin/sh\necho not a photo\n",
        b"Date,Amount\n2024-01-01,3.50\n",
    )
    for i in range(200):
        suffix = rng.choice(SUPPORTED)
        kind = i % 4
        if kind == 0:  # text of some kind
            data = rng.choice(texts) * rng.randint(1, 40)
        elif kind == 1:  # random bytes behind a marker no image format starts with
            data = b"NOT-AN-IMAGE" + nrng.integers(0, 256, rng.randint(0, 2000), np.uint8).tobytes()
        elif kind == 2:  # nothing but zeros or one repeated byte
            data = bytes([rng.randrange(256) if i % 8 == 2 else 0]) * rng.randint(1, 5000)
            if data[:1] in (b"\xff", b"\x89", b"B", b"I", b"M", b"R", b"G", b"P"):
                data = b"\x00" * len(data)
        else:  # an image's magic number and then text
            magic = rng.choice([b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"BM", b"II*\x00",
                                b"RIFF\x10\x00\x00\x00WEBP", b"GIF89a"])  # fmt: skip
            data = magic + b" this is where the picture would be" * rng.randint(1, 5)
        w.add(f"bulk/junk/{i:03d}{suffix}", data, "bulk-junk", "failed")


def _bulk_damaged(
    w: _Writer, rng: random.Random, nrng: np.random.Generator, face: Image.Image, jpeg: bytes
) -> None:
    for i in range(150):
        data, fmt, _, suffix = tiny_image(rng, nrng)
        cut = rng.randint(1, max(1, len(data) - 1))
        w.add(f"bulk/truncated/{i:03d}_{fmt}{suffix}", data[:cut], "bulk-truncated", "either")
    for i in range(100):
        data, fmt, _, suffix = tiny_image(rng, nrng)
        damaged = bytearray(data)
        for _ in range(rng.randint(1, 3)):
            damaged[rng.randrange(len(damaged))] = rng.randrange(256)
        w.add(f"bulk/mutated/{i:03d}_{fmt}{suffix}", bytes(damaged), "bulk-mutated", "either")


# -- names in every Unicode normalisation -------------------------------------------------------

UNICODE_NAMES = (
    "Café",  # é: one code point (NFC) or e + combining acute (NFD)
    "Zoë Ångström",
    "naïve résumé",
    "\u212bngström",  # ANGSTROM SIGN: NFC makes it Å (U+00C5)
    "\u2126 ohm",  # OHM SIGN: NFC makes it Greek capital omega
    "ﬁle ﬂower",  # ligatures: NFKC makes them "fi", "fl"
    "Ｆｕｌｌ ｗｉｄｔｈ",  # full-width letters: NFKC makes them ASCII
    "ﾊﾝｶｸ",  # half-width katakana: NFKC makes them full-width
    "①②③ x² H₂O",  # circled and super/subscript digits: NFKC makes them plain
    "한국어 사진",  # Hangul syllables: NFD splits them into jamo
    "Ǆemal ǅ",  # digraph letters: NFKC splits them
    "e\u0323\u0301 order",  # combining marks in an order NFC changes
    "ñandú über ő",
    "Å\u030a double ring",  # a combining mark on a precomposed letter
)


def _unicode_normalisations(
    w: _Writer, rng: random.Random, nrng: np.random.Generator, face: Image.Image, jpeg: bytes
) -> None:
    for i, base in enumerate(UNICODE_NAMES):
        spellings = dict.fromkeys(
            [base, *(unicodedata.normalize(form, base) for form in ("NFC", "NFD", "NFKC", "NFKD"))]
        )
        for j, name in enumerate(spellings):
            if "/" in name or "\x00" in name:
                continue
            # a real face for the first name, tiny images (each different) for the rest
            if i == 0:
                w.add(f"unicode/{name} {j}.jpg", jpeg, "unicode", "done", faces=1)
            else:
                data, _, _, suffix = tiny_image(rng, nrng)
                w.add(f"unicode/{name}{suffix}", data, "unicode", "done", faces=0)
            # the same spellings as folder names
            data, _, _, suffix = tiny_image(rng, nrng)
            w.add(f"unicode/folders/{name}/inside{suffix}", data, "unicode-folder", "done", faces=0)


# -- files that change while they are read --------------------------------------------------


def _changing(
    w: _Writer, rng: random.Random, nrng: np.random.Generator, face: Image.Image, jpeg: bytes
) -> None:
    half = jpeg[: len(jpeg) // 2]
    other = encode(face.transpose(Image.Transpose.FLIP_LEFT_RIGHT), "JPEG", quality=80)
    for i in range(4):
        versions = (jpeg, half, other, b"", jpeg + b"trailer" * (i + 1), jpeg)
        w.add(f"changing/face_{i}.jpg", jpeg, "changing", "either", faces=1, versions=versions)
    for i in range(4):
        a, _, _, suffix = tiny_image(rng, nrng)
        b, _, _, _ = tiny_image(rng, nrng)
        versions = (a, b, a[:3], a)
        w.add(f"changing/tiny_{i}{suffix}", a, "changing", "either", faces=0, versions=versions)


# -- unreadable files and folders ---------------------------------------------------------------


def _unreadable(w: _Writer, rng: random.Random, nrng: np.random.Generator) -> None:
    # a folder that cannot be listed: its photos cannot even be named
    for i in range(3):
        data, _, _, suffix = tiny_image(rng, nrng)
        w.add(f"perm/locked_folder/photo_{i}{suffix}", data, "in-locked-folder", "done",
              faces=0, needs_unreadable=True)  # fmt: skip
    locked = w.folder / "perm" / "locked_folder"
    w.entries.append(Entry(locked, "unreadable-folder", "folder-problem", reason="permission",
                           needs_unreadable=True))  # fmt: skip
    # a folder that can be listed but not entered (no x bit): each file is named, none opened
    for i in range(3):
        data, _, _, suffix = tiny_image(rng, nrng)
        w.add(f"perm/no_entry/photo_{i}{suffix}", data, "no-permission", "failed",
              reason="permission denied", needs_unreadable=True)  # fmt: skip
    for mode, name in ((0o200, "write_only.png"), (0o000, "nothing.tif")):
        data, _, _, _ = tiny_image(rng, nrng)
        path = w.add(f"perm/{name}", data, "no-permission", "failed",
                     reason="permission denied", needs_unreadable=True)  # fmt: skip
        path.chmod(mode)
    (w.folder / "perm" / "no_entry").chmod(0o644)
    locked.chmod(0)


def restore_permissions(entries: list[Entry]) -> None:
    """Make everything readable again (so that temporary folders can be removed)."""
    for entry in entries:
        if entry.needs_unreadable:
            for path in (entry.path.parent, entry.path):
                if path.exists() or path.is_symlink():
                    path.chmod(0o755 if path.is_dir() else 0o644)
