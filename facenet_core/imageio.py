"""Open any supported photo as an upright RGB array, with errors a person can act on."""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from facenet_core.errors import UserError

# Refuse images above this many pixels (decompression bombs); 200 MP covers any real camera.
MAX_PIXELS = 200_000_000
# Pillow's own bomb check (a warning, an error in ``open_photo``, above ~89 MP) would refuse real
# photos below our limit, such as 100 MP camera files and stitched panoramas: make it agree.
Image.MAX_IMAGE_PIXELS = MAX_PIXELS

HEIF_DECODER: str | None = None
"""Which package decodes HEIC/HEIF photos: ``"pi-heif"`` (the dependency: decode-only, so no GPL
x265 encoder ships with the app), ``"pillow-heif"`` (an older install that still has the full
build; it decodes the same), or None (HEIC files are then refused as unreadable)."""

try:
    import pi_heif

    pi_heif.register_heif_opener()
    HEIF_DECODER = "pi-heif"
except ImportError:  # pragma: no cover - depends on the install
    try:
        import pillow_heif

        pillow_heif.register_heif_opener()
        HEIF_DECODER = "pillow-heif"
    except ImportError:
        pass


class ImageLoadError(UserError):
    """A photo could not be read; ``reason`` says why in words a person understands."""

    def __init__(self, path: Path | str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = Path(path)
        self.reason = reason


def _to_rgb(img: Image.Image) -> Image.Image:
    if img.mode == "RGB":
        return img
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16-bit or 32-bit greyscale: scale the real range down to 8 bits instead of clipping
        arr = np.asarray(img, dtype=np.float64)
        hi = float(arr.max()) or 1.0
        grey = Image.fromarray(np.clip(arr * (255.0 / hi), 0, 255).astype(np.uint8))
        return grey.convert("RGB")
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        # composite transparent pixels onto white, as a viewer shows them
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return img.convert("RGB")


@dataclass
class LoadedPhoto:
    """A photo as RGB ``uint8`` in its displayed orientation, possibly decoded at reduced size.

    ``scale`` is pixels of ``image`` per pixel of the full photo (1.0 when decoded at full size);
    ``width`` and ``height`` are the full photo's displayed size.
    """

    image: np.ndarray
    scale: float
    width: int
    height: int
    taken_at: datetime | None


_EXIF_IFD = 0x8769
_DATETIME_ORIGINAL = 36867
_DATETIME = 306
_ORIENTATION = 0x0112


def _taken_at(exif: Image.Exif) -> datetime | None:
    raw = exif.get_ifd(_EXIF_IFD).get(_DATETIME_ORIGINAL) or exif.get(_DATETIME)
    if not isinstance(raw, str):
        return None
    try:
        return datetime.strptime(raw.strip("\x00 ")[:19], "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None


VIDEO_SUFFIXES = frozenset({".mp4", ".mov", ".m4v", ".avi", ".mkv", ".3gp"})
"""Videos (read through OpenCV's video reader): a scan stores their faces as tracks."""


def is_video(path: Path | str) -> bool:
    """Whether ``path`` names a video (by its suffix)."""
    return Path(path).suffix.lower() in VIDEO_SUFFIXES


def open_video_frame(path: Path | str, at_s: float | None = None) -> LoadedPhoto:
    """One frame of a video as RGB ``uint8``: the one at ``at_s`` seconds, or the middle one
    (what stands for the video in the Photos grid and the viewer). :class:`ImageLoadError`
    when the video cannot be decoded."""
    import cv2  # only videos need it here

    path = Path(path)
    if not path.is_file():
        raise ImageLoadError(path, "file not found")
    capture = cv2.VideoCapture(str(path))
    try:
        if not capture.isOpened():
            raise ImageLoadError(path, "cannot decode the video (not a video file, or damaged)")
        fps = float(capture.get(cv2.CAP_PROP_FPS) or 0.0)
        count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        index = count // 2 if at_s is None or fps <= 0 else int(at_s * fps)
        capture.set(cv2.CAP_PROP_POS_FRAMES, max(0, min(index, count - 1)))
        ok, frame = capture.read()
        if not ok or frame is None:
            raise ImageLoadError(path, "cannot decode the video (no frame could be read)")
    finally:
        capture.release()
    image = np.ascontiguousarray(frame[:, :, ::-1])
    return LoadedPhoto(image, 1.0, image.shape[1], image.shape[0], None)


def open_photo(
    path: Path | str, *, reduce_to: int | None = None, max_pixels: int = MAX_PIXELS
) -> LoadedPhoto:
    """Read ``path`` upright (EXIF orientation applied) as RGB ``uint8``.

    ``reduce_to``: when given, a JPEG whose longer side is at least twice this is decoded at
    1/2, 1/4 or 1/8 scale by libjpeg (far cheaper than decoding in full and resizing), keeping
    the longer side >= ``reduce_to``. Raises :class:`ImageLoadError` for anything that is not a
    readable image, with a reason a person understands. A video gives its middle frame
    (:func:`open_video_frame`).
    """
    path = Path(path)
    if is_video(path):
        return open_video_frame(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            # Decode from bytes read in one go, never from the file: Pillow maps uncompressed
            # files (BMP, PPM, TIFF) into memory, and a file cut short while mapped (another
            # program rewriting it during a scan) kills the process with SIGBUS.
            with Image.open(io.BytesIO(path.read_bytes())) as img:
                full_w, full_h = img.size
                if full_w * full_h > max_pixels:
                    raise ImageLoadError(
                        path,
                        f"image is {full_w}x{full_h} pixels, above the limit of "
                        f"{max_pixels:,}; it may be a decompression bomb",
                    )
                if full_w < 1 or full_h < 1:
                    raise ImageLoadError(path, "image has no pixels")
                exif = img.getexif()
                img.seek(0)  # first frame of animated images
                if reduce_to and img.format == "JPEG" and max(full_w, full_h) >= 2 * reduce_to:
                    factor = reduce_to / max(full_w, full_h)
                    img.draft("RGB", (max(1, int(full_w * factor)), max(1, int(full_h * factor))))
                scale = img.size[0] / full_w
                upright = ImageOps.exif_transpose(img)
                image = np.ascontiguousarray(np.asarray(_to_rgb(upright)))
                if exif.get(_ORIENTATION, 1) in (5, 6, 7, 8):
                    full_w, full_h = full_h, full_w
                return LoadedPhoto(image, scale, full_w, full_h, _taken_at(exif))
    except ImageLoadError:
        raise
    except FileNotFoundError:
        raise ImageLoadError(path, "file not found") from None
    except PermissionError:
        raise ImageLoadError(path, "permission denied: the file cannot be read") from None
    except IsADirectoryError:
        raise ImageLoadError(path, "is a folder, not an image") from None
    except UnidentifiedImageError:
        raise ImageLoadError(path, "not an image in a supported format, or corrupt") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageLoadError(path, "image is too large (decompression bomb protection)") from None
    except OSError as exc:
        if exc.errno is not None:  # the file system's error (a link loop, a bad disk...)
            raise ImageLoadError(path, f"cannot read the file ({exc.strerror})") from None
        raise ImageLoadError(path, f"image data is damaged or truncated ({exc})") from None
    except (SyntaxError, ValueError, EOFError) as exc:
        raise ImageLoadError(path, f"image data is damaged or truncated ({exc})") from None
    except MemoryError:
        raise ImageLoadError(path, "image is too large to decode in the memory available") from None


def load_image(path: Path | str, *, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Read ``path`` as RGB ``uint8`` (H, W, 3) at full size in its displayed orientation."""
    return open_photo(path, max_pixels=max_pixels).image
